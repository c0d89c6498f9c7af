// Issue 13 on the DMP route, over real sockets (gateway, outbox, local DMP peer with mutual TLS):
// - a retry after a crash sends the same bytes: the registry sees an identical re-send, not XDSNonIdenticalHash;
// - XDSNonIdenticalHash for our own uniqueId is checked against the registry (ITI-18): delivered when the registry
//   holds our document with our hash (an earlier attempt got through), dead when it holds another document;
// - a poison document (its build blows the time limit) is dead with its reason while the gateway answers /healthz
//   throughout and the other patients' documents — and the later one of the same patient — are delivered.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountDomainRoutes } from '../../src/api/domain-routes.js';
import { startServer } from '../../src/api/app.js';
import { configFrom, type Config } from '../../src/config.js';
import { sendIti41 } from '../../src/connectors/dmp/client.js';
import { dmpConnector, vihfOf } from '../../src/connectors/dmp/connector.js';
import { buildIti41Request } from '../../src/connectors/dmp/iti41.js';
import { loadOrganisationCredentials } from '../../src/connectors/dmp/tls.js';
import { documentRequestOf } from '../../src/documents/message.js';
import { buildDocument } from '../../src/documents/pipeline.js';
import { loadDocumentSettings } from '../../src/documents/settings.js';
import type { DmpDestinationConfig } from '../../src/outbox/config.js';
import { DeliveryError } from '../../src/outbox/connector.js';
import { startDispatcher, type RunningDispatcher } from '../../src/services/outbox-dispatch.js';
import type { DmpPeer } from '../../src/sandbox/dmp/server.js';
import { startTestPeer } from '../sandbox/dmp-support.js';
import { generateTestPki, type TestPki } from '../../src/sandbox/pki.js';
import type { OutboxMessage } from '../../src/store/outbox-repository.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { waitFor } from '../outbox/receiver.js';

const json = { 'content-type': 'application/json' };
const fixture = (name: string): Record<string, unknown> => JSON.parse(readFileSync(`test/fixtures/ppp/${name}.json`, 'utf8')) as Record<string, unknown>;
/** A PPP whose problems hold `words` words of free text: its PDF takes seconds and hundreds of MB to build. */
function heavy(name: string, id: string, words: number): Record<string, unknown> {
  const doc = fixture(name);
  const detail = Array.from({ length: words }, (_, i) => `mot${i}`).join(' ');
  return { ...doc, id, problems: (doc.problems as Record<string, unknown>[]).map((p, i) => (i === 0 ? { ...p, detail } : p)) };
}

let dir: string;
let pki: TestPki;
let peer: DmpPeer;
let store: ResourceStore;
let config: Config;
let gateway: { url: string; close(): Promise<void> };
const settings = loadDocumentSettings();
const sourceId = '1.2.250.1.999.42.0';

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'passerelle-dmp-robust-'));
  pki = await generateTestPki({ dir: path.join(dir, 'certs') });
  peer = await startTestPeer(pki, {
    dataFile: path.join(dir, 'peer.sqlite'),
    repositoryUniqueId: '1.2.250.1.999.42.9.7',
    requireSubmissionSignature: true,
  });
  config = configFrom({
    port: 0,
    dataDir: dir,
    log: { level: 'silent' },
    outbox: {
      pollMs: 50,
      rendering: { timeoutMs: 4_000, maxMemoryMb: 256 },
      destinations: {
        dmp: {
          kind: 'dmp',
          url: peer.iti41Url,
          tls: { pkcs12: pki.files.orgP12, passphrase: pki.passphrase, ca: pki.files.ca },
          baseDelayMs: 50,
          maxDelayMs: 200,
          circuit: { failureThreshold: 1000, openMs: 1000 },
        },
      },
      routes: [{ on: 'ppp.stored', destination: 'dmp' }],
    },
  });
  store = await openSqliteStore({ file: config.database });
  gateway = await startServer({ store, config, logger: pino({ level: 'silent' }), mounts: [mountDomainRoutes] });
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  await peer?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function post(body: unknown): Promise<OutboxMessage> {
  const res = await fetch(`${gateway.url}/ppp`, { method: 'POST', headers: json, body: JSON.stringify(body) });
  const text = await res.text();
  expect(res.status, text.slice(0, 500)).toBe(200);
  return (await store.outbox.list({ limit: 100, offset: 0 })).items.at(-1) as OutboxMessage;
}
const dmp = (): DmpDestinationConfig => config.outbox.destinations.dmp as DmpDestinationConfig;
/** A connector whose clock is `minutes` from now (the peer takes a VIHF issued within 10 min before, 5 min after). */
const connectorAt = (minutes: number) => dmpConnector(dmp(), { settings, sourceId, now: () => new Date(Date.now() + minutes * 60_000) });
const deliver = (c: ReturnType<typeof dmpConnector>, m: OutboxMessage) => c.deliver(m, { signal: AbortSignal.timeout(30_000) });

describe('retries send the same bytes (no dispatcher: the connector is driven by hand)', () => {
  it('a second attempt minutes later, after a crash lost the first outcome, is an identical re-send', async () => {
    const m = await post(fixture('hospital-sync-rcp'));
    await deliver(connectorAt(-4), m);
    const registered = peer.documents().map((d) => [d.uniqueId, d.hash]);
    expect(registered).toHaveLength(2); // the CDA and the XAdES signature of the submission set
    // The gateway died before recording the outcome: the next process claims it again, later, as attempt 2.
    await deliver(connectorAt(4), { ...m, attempts: m.attempts + 1 });
    expect(peer.documents().map((d) => [d.uniqueId, d.hash])).toEqual(registered);
  }, 60_000);

  it('XDSNonIdenticalHash on our uniqueId: checked by ITI-18 — our document with our hash is delivered, another is dead', async () => {
    const m = await post(fixture('ppp-12-medicines'));
    // An earlier attempt (before retries were deterministic) got through signed at another time.
    const request = documentRequestOf(m.payload);
    const built = await buildDocument(request, settings, { sourceId });
    const creds = await loadOrganisationCredentials({ pkcs12Path: pki.files.orgP12, passphrase: pki.passphrase, caPath: pki.files.ca });
    const earlier = buildIti41Request(built.submission, creds, vihfOf(dmp(), built.header), {
      to: dmp().url,
      encoding: 'mtom',
      messageId: 'a1b2c3d4-0000-4000-8000-000000000001',
      now: new Date(Date.now() - 120_000),
      signingTime: new Date(Date.now() - 120_000),
    });
    expect((await sendIti41(earlier, { url: dmp().url, credentials: creds })).disposition).toBe('success');
    const before = peer.documents().length;
    await deliver(connectorAt(0), { ...m, attempts: 2 }); // resolved, not thrown
    expect(peer.documents()).toHaveLength(before);
    // Another document under the same uniqueId (the payload changed by hand): that is a real conflict.
    const tampered = { ...m, payload: { ...(m.payload as object), document: { ...(m.payload as { document: object }).document, note: 'autre contenu' } } };
    const failure = await deliver(connectorAt(0), tampered).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(DeliveryError);
    expect((failure as DeliveryError).transient).toBe(false);
    expect((failure as DeliveryError).message).toMatch(/XDSNonIdenticalHash/);
  }, 60_000);
});

describe('a poison document cannot take the gateway down', () => {
  let dispatcher: RunningDispatcher;
  afterAll(async () => {
    await dispatcher?.stop(100);
  });

  it('its build is stopped at the limit and it goes dead with the reason; /healthz answers throughout; the others are delivered', async () => {
    dispatcher = startDispatcher(store, config.outbox, { documents: { settings, sourceId } });
    const poison = await post(heavy('hospital-sync-rcp', 'PPP-POISON-1', 100_000)); // ~8 s and ~400 MB in one thread
    const later = await post({ ...fixture('hospital-sync-rcp'), id: 'PPP-AFTER-POISON' }); // same patient, after it
    const other = await post(fixture('consultation-born-abroad')); // another patient
    let probes = 0;
    let slowest = 0;
    const settledAll = async () => {
      const t = performance.now();
      const health = await fetch(`${gateway.url}/healthz`);
      slowest = Math.max(slowest, performance.now() - t);
      expect(health.status).toBe(200);
      probes++;
      const states = await Promise.all([poison, later, other].map(async (m) => (await store.outbox.get(m.id))?.state));
      return states.every((s) => s === 'delivered' || s === 'dead');
    };
    await waitFor(settledAll, 60_000, 'every message settled');
    expect(probes).toBeGreaterThan(3);
    expect(slowest).toBeLessThan(2_000); // generous: the point is that the loop was never stuck for the build's seconds
    const dead = await store.outbox.get(poison.id);
    expect(dead?.state).toBe('dead');
    expect(dead?.lastError).toMatch(/document cannot be built: building the document took longer than 4000 ms/);
    expect((await store.outbox.get(later.id))?.state).toBe('delivered');
    expect((await store.outbox.get(other.id))?.state).toBe('delivered');
  }, 90_000);
});
