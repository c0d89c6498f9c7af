// The second route: the same document as a PDSm (IHE MHD ITI-65) transaction Bundle, POSTed over mutual TLS to a FHIR
// recipient that checks the Bundle (SubmissionSet List, DocumentReference + Binary with matching SHA-1 and size, INS
// subject, RPLC target known). The same PPP gives the same uniqueId on both routes.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/api/app.js';
import { mountDomainRoutes } from '../../src/api/domain-routes.js';
import { provideDocumentBundle } from '../../src/connectors/pdsm/bundle.js';
import { configFrom } from '../../src/config.js';
import { documentRequestOf } from '../../src/documents/message.js';
import { buildDocument } from '../../src/documents/pipeline.js';
import { loadDocumentSettings } from '../../src/documents/settings.js';
import { startDispatcher, type RunningDispatcher } from '../../src/services/outbox-dispatch.js';
import { generateTestPki } from '../../src/sandbox/pki.js';
import { startPdsmPeer, type PdsmPeer } from '../../src/sandbox/pdsm/server.js';
import type { OutboxMessage } from '../../src/store/outbox-repository.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { waitFor } from '../outbox/receiver.js';

const fixture = (): Record<string, unknown> => JSON.parse(readFileSync('test/fixtures/ppp/ppp-12-medicines.json', 'utf8')) as Record<string, unknown>;
const settings = loadDocumentSettings();

let dir: string;
let peer: PdsmPeer;
let store: ResourceStore;
let gateway: { url: string; close(): Promise<void> };
let dispatcher: RunningDispatcher;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'passerelle-pdsm-'));
  const pki = await generateTestPki({ dir: path.join(dir, 'certs') });
  peer = await startPdsmPeer({ tls: { key: pki.pem.serverKey, cert: pki.pem.server, ca: pki.pem.ca } });
  const config = configFrom({
    port: 0,
    dataDir: dir,
    log: { level: 'silent' },
    outbox: {
      pollMs: 50,
      destinations: {
        pdsm: { kind: 'pdsm', url: peer.fhirBase, tls: { pkcs12: pki.files.orgP12, passphrase: pki.passphrase, ca: pki.files.ca }, baseDelayMs: 50, maxDelayMs: 200 },
        lost: { kind: 'pdsm', url: `${peer.url}/nowhere`, tls: { pkcs12: pki.files.orgP12, passphrase: pki.passphrase, ca: pki.files.ca }, baseDelayMs: 50, maxDelayMs: 200 },
      },
      routes: [
        { on: 'ppp.stored', destination: 'pdsm' },
        { on: 'ppp.stored', destination: 'lost' },
      ],
    },
  });
  store = await openSqliteStore({ file: config.database });
  gateway = await startServer({ store, config, logger: pino({ level: 'silent' }), mounts: [mountDomainRoutes] });
  dispatcher = startDispatcher(store, config.outbox, { documents: { settings, sourceId: `${config.documents.oidRoot}.0` } });
}, 60_000);

afterAll(async () => {
  await dispatcher?.stop(100);
  await gateway?.close();
  await peer?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

const post = (body: unknown) => fetch(`${gateway.url}/ppp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const of = async (destination: string): Promise<OutboxMessage[]> => (await store.outbox.list({ destination, limit: 10, offset: 0 })).items;
const done = (id: string) => async () => ['delivered', 'dead'].includes((await store.outbox.get(id))?.state ?? '');

describe('PDSm (ITI-65) route', () => {
  it('delivers the PPP as a Provide Document Bundle the recipient accepts; a revision replaces it', async () => {
    expect((await post(fixture())).status).toBe(200);
    const [m] = await of('pdsm');
    await waitFor(done(m.id), 30_000, 'the ITI-65 delivery');
    expect((await store.outbox.get(m.id))?.state).toBe('delivered');
    const [doc] = peer.documents();
    expect(`urn:oid:${doc.uniqueId}`).toBe(m.idempotencyKey);
    expect(doc.patient).toMatch(/^urn:oid:1\.2\.250\.1\.213\.1\.4\.(8|10)\|[0-9AB]{15}$/);
    expect(doc.content.toString('utf8')).toContain('<nonXMLBody>');
    expect(doc.documentReference.type?.coding?.[0]).toMatchObject({ code: '18776-5' });

    expect((await post({ ...fixture(), note: 'Révision' })).status).toBe(200);
    const second = (await of('pdsm')).find((x) => x.id !== m.id) as OutboxMessage;
    await waitFor(done(second.id), 30_000, 'the replacement');
    expect((await store.outbox.get(second.id))?.state).toBe('delivered');
    expect(peer.documents().map((d) => d.status)).toEqual(['superseded', 'current']);
    expect(peer.documents()[1].documentReference.relatesTo?.[0]).toMatchObject({ code: 'replaces', target: { identifier: { value: `urn:oid:${doc.uniqueId}` } } });
  }, 60_000);

  it('a recipient that refuses (HTTP 404) sends the message dead with the OperationOutcome text', async () => {
    const [m] = await of('lost');
    await waitFor(done(m.id), 30_000, 'the refused delivery');
    const dead = await store.outbox.get(m.id);
    expect(dead).toMatchObject({ state: 'dead', attempts: 1 });
    expect(dead?.lastError).toMatch(/^HTTP 404: request: POST \/nowhere: only POST \/fhir/);
  }, 60_000);

  it('carries the same metadata as the ITI-41 route: uniqueId, entryUUID, hash and size of the same CDA', async () => {
    const [m] = await of('pdsm');
    const built = await buildDocument(documentRequestOf(m.payload), settings, { sourceId: '1.2.250.1.999.42.0' });
    const bundle = provideDocumentBundle(built.submission);
    const ref = bundle.entry?.find((e) => e.resource?.resourceType === 'DocumentReference')?.resource as { masterIdentifier: { value: string }; identifier: { value: string }[]; content: { attachment: { size: number; hash: string } }[] };
    const entry = built.submission.documents[0].entry;
    expect(ref.masterIdentifier.value).toBe(`urn:oid:${entry.uniqueId}`);
    expect(ref.identifier[0].value).toBe(entry.entryUuid);
    expect(ref.content[0].attachment).toMatchObject({ size: entry.size, hash: Buffer.from(entry.hash, 'hex').toString('base64') });
  });
});
