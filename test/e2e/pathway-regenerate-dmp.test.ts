// The PPP document follows the decisions, end to end over real sockets with the local DMP peer (ITI-41 over mutual TLS):
// a PPP of a qualified patient is registered (v1); it is sent to the MT and the PHO (no new document); they decide on
// recommendations through the FHIR API (PUT Task); `regenerateDocument` merges the decisions into the document and
// submits it again: v2 is registered and REPLACES v1 (RPLC), its PDF shows the decisions with their motifs; run again
// with nothing new, it writes nothing. On the embedded SQLite store and on PostgreSQL.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Bundle, CarePlan, Task } from '@medplum/fhirtypes';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountDomainRoutes } from '../../src/api/domain-routes.js';
import { startServer } from '../../src/api/app.js';
import { configFrom, type Config } from '../../src/config.js';
import { loadDocumentSettings } from '../../src/documents/settings.js';
import { CS } from '../../src/fhir/canonical.js';
import { idFor } from '../../src/fhir/ids.js';
import { pathwayStatusOf } from '../../src/services/pathway/careplan-state.js';
import { regenerateDocument } from '../../src/services/pathway/regenerate.js';
import { startDispatcher, type RunningDispatcher } from '../../src/services/outbox-dispatch.js';
import { generateTestPki, type TestPki } from '../../src/sandbox/pki.js';
import { startDmpPeer, type DmpPeer } from '../../src/sandbox/dmp/server.js';
import type { OutboxMessage } from '../../src/store/outbox-repository.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { openPgStore } from '../../src/store/pg-store.js';
import { pdfText } from '../documents/pdf-text.js';
import { waitFor } from '../outbox/receiver.js';
import { dropPgSchema, PG_TEST_URL, pgUnreachable } from '../support/pg.js';
import { available } from '../support/shared.js';

const REPOSITORY = '1.2.250.1.999.42.9.7';
const json = { 'content-type': 'application/json' };
const PPP_ID = 'PPP-REGEN-1';

/** The hospital fixture (a QUAL patient) with no decision yet and not sent. */
function freshPpp(): Record<string, unknown> {
  const d = JSON.parse(readFileSync('test/fixtures/ppp/hospital-sync-rcp.json', 'utf8')) as Record<string, unknown> & { recommendations: { decisions?: unknown[] }[] };
  d.id = PPP_ID;
  delete d.sentAt;
  for (const r of d.recommendations) r.decisions = [];
  return d;
}

function regenerateFlow(dialect: 'sqlite' | 'postgresql'): void {
  const schema = `regen_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  let dir: string;
  let pki: TestPki;
  let peer: DmpPeer;
  let store: ResourceStore;
  let config: Config;
  let gateway: { url: string; close(): Promise<void> };
  let dispatcher: RunningDispatcher;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'passerelle-regen-'));
    pki = await generateTestPki({ dir: path.join(dir, 'certs') });
    peer = await startDmpPeer({
      port: 0,
      tls: { key: pki.pem.serverKey, cert: pki.pem.server, ca: pki.pem.ca },
      vihfTrust: pki.pem.ca,
      dataFile: path.join(dir, 'peer.sqlite'),
      repositoryUniqueId: REPOSITORY,
      requireSubmissionSignature: true,
    });
    config = configFrom({
      port: 0,
      dataDir: dir,
      log: { level: 'silent' },
      outbox: {
        pollMs: 50,
        destinations: {
          dmp: {
            kind: 'dmp',
            url: peer.iti41Url,
            tls: { pkcs12: pki.files.orgP12, passphrase: pki.passphrase, ca: pki.files.ca },
            baseDelayMs: 50,
            maxDelayMs: 200,
            maxAttempts: 20,
            circuit: { failureThreshold: 1000, openMs: 1000 },
          },
        },
        routes: [{ on: 'ppp.stored', destination: 'dmp' }],
      },
    });
    store = dialect === 'sqlite' ? await openSqliteStore({ file: config.database }) : await openPgStore({ url: PG_TEST_URL, schema, poolSize: 4 });
    gateway = await startServer({ store, config, logger: pino({ level: 'silent' }), mounts: [mountDomainRoutes] });
    dispatcher = startDispatcher(store, config.outbox, { documents: { settings: loadDocumentSettings(), sourceId: `${config.documents.oidRoot}.0` } });
  }, 60_000);

  afterAll(async () => {
    await dispatcher?.stop(100);
    await gateway?.close();
    await peer?.close();
    await store?.close();
    if (dialect === 'postgresql') await dropPgSchema(schema);
    rmSync(dir, { recursive: true, force: true });
  });

  const messages = async (): Promise<OutboxMessage[]> => (await store.outbox.list({ limit: 100, offset: 0 })).items.sort((a, b) => a.seq - b.seq);
  const settled = (id: string) => async () => ['delivered', 'dead'].includes((await store.outbox.get(id))?.state ?? '');
  const clinical = () => peer.documents().filter((d) => d.content.toString('utf8').includes('<ClinicalDocument'));
  const pdfOf = (cda: Buffer): Buffer => Buffer.from(/<text mediaType="application\/pdf" representation="B64">([^<]+)<\/text>/.exec(cda.toString('utf8'))?.[1] ?? '', 'base64');
  const textOf = (cda: Buffer): string => pdfText(pdfOf(cda)).flatMap((p) => p.lines).join('\n');
  const ctx = (at: Date) => ({ now: at, actor: 'scheduler', config, fhirBase: `${gateway.url}/fhir` });
  const taskId = (reco: string, actor: string): string => idFor('Task', '800000317', 'ppp', PPP_ID, 'reco-validation', reco, actor);
  const decide = async (reco: string, actor: string, code: string, motif: string): Promise<void> => {
    const task = (await (await fetch(`${gateway.url}/fhir/Task/${taskId(reco, actor)}`)).json()) as Task;
    expect(task.status).toBe('requested');
    const decided: Task = {
      ...task,
      status: 'completed',
      lastModified: '2026-12-08T09:30:00+01:00',
      output: [{ type: { text: 'decision' }, valueCodeableConcept: { coding: [{ system: CS.pppDecision, code }] } }, { type: { text: 'motif' }, valueString: motif }],
    };
    const res = await fetch(`${gateway.url}/fhir/Task/${task.id}`, { method: 'PUT', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(decided) });
    expect(res.status, await res.clone().text()).toBe(200);
  };

  let carePlan: string;
  let first: OutboxMessage;

  it('v1: the PPP of a qualified patient is registered; sending it to the MT and the PHO adds no document', async () => {
    const res = await fetch(`${gateway.url}/ppp`, { method: 'POST', headers: json, body: JSON.stringify(freshPpp()) });
    expect(res.status).toBe(200);
    carePlan = ((await res.json()) as Bundle).entry?.map((e) => e.resource).find((r) => r?.resourceType === 'CarePlan')?.id as string;
    [first] = await messages();
    expect(first?.idempotencyKey).toMatch(/\.1$/);
    await waitFor(settled(first!.id), 30_000, 'the v1 delivery');
    expect((await store.outbox.get(first!.id))?.state).toBe('delivered');
    expect(textOf(clinical()[0]!.content)).toContain('Médecin traitant : décision en attente');

    const sent = await fetch(`${gateway.url}/ppp/${carePlan}/send`, { method: 'POST' });
    expect(sent.status).toBe(200);
    expect(await messages()).toHaveLength(1);
  }, 60_000);

  it('v2: the decisions made on the Tasks are merged into the document, which replaces v1 (RPLC) and shows them', async () => {
    await decide('R1', 'MT', 'retenu', 'Accord du médecin traitant');
    await decide('R2', 'PHO', 'non-retenu', 'Rupture de stock chez le grossiste');
    expect(await messages()).toHaveLength(1); // a decision alone sends nothing

    const at = new Date('2026-12-09T08:00:00.000Z');
    const r = await regenerateDocument(store, carePlan, ctx(at));
    expect(r).toMatchObject({ changed: true, merged: 2 });
    const second = (await messages()).find((m) => m.id !== first.id) as OutboxMessage;
    expect(second).toBeDefined();
    expect(second.idempotencyKey).not.toBe(first.idempotencyKey);
    expect((second.payload as { ids: { replaces?: string } }).ids.replaces).toBe(first.idempotencyKey.slice('urn:oid:'.length));
    await waitFor(settled(second.id), 30_000, 'the v2 delivery');
    expect((await store.outbox.get(second.id))?.state, (await store.outbox.get(second.id))?.lastError).toBe('delivered');

    const docs = clinical();
    expect(docs.map((d) => d.status)).toEqual(['Deprecated', 'Approved']);
    expect(docs[1]!.replaces).toBe(docs[0]!.entryUuid);
    expect(docs[1]!.content.toString('utf8')).toMatch(/<relatedDocument typeCode="RPLC">/);
    const text = textOf(docs[1]!.content).replace(/\s+/g, ' ');
    expect(text).toMatch(/Médecin traitant : Retenu[^—]*— motif : Accord du médecin traitant/);
    expect(text).toMatch(/Pharmacien d'officine : Non retenu[^—]*— motif : Rupture de stock chez le grossiste/);

    // The case holds the document with its decisions; the CarePlan says when it was regenerated.
    const kase = await store.pathway.getCase(carePlan);
    const recos = (kase?.document as { recommendations: { id: string; decisions: { actor: string; decision: string; reason?: string }[] }[] }).recommendations;
    expect(recos.find((x) => x.id === 'R1')?.decisions).toEqual([expect.objectContaining({ actor: 'MT', decision: 'retenu', reason: 'Accord du médecin traitant' })]);
    const plan = (await store.read<CarePlan>('CarePlan', carePlan)) as CarePlan;
    expect(pathwayStatusOf(plan)).toMatchObject({ step: 'attente-decisions', documentUpdated: at.toISOString() });
    expect((await store.auditLog({ entity: `CarePlan/${carePlan}`, limit: 100 })).some((a) => a.action === 'ppp.regenerate')).toBe(true);
  }, 60_000);

  it('run again with nothing new: nothing is written', async () => {
    const before = { version: (await store.read<CarePlan>('CarePlan', carePlan))?.meta?.versionId, messages: (await messages()).length, case: await store.pathway.getCase(carePlan) };
    const r = await regenerateDocument(store, carePlan, ctx(new Date('2026-12-10T08:00:00.000Z')));
    expect(r.changed).toBe(false);
    expect({ version: (await store.read<CarePlan>('CarePlan', carePlan))?.meta?.versionId, messages: (await messages()).length, case: await store.pathway.getCase(carePlan) }).toEqual(before);
  });
}

describe('regeneration on SQLite', () => regenerateFlow('sqlite'));

const pgDown = await pgUnreachable();
const havePg = available('PostgreSQL', pgDown === undefined, 'the regeneration end to end on PostgreSQL');
describe.skipIf(!havePg)('regeneration on PostgreSQL', () => regenerateFlow('postgresql'));
