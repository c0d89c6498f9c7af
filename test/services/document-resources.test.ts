// Documents as FHIR resources (services/document-resources.ts), on a real SQLite file and on PostgreSQL: a PPP's
// document built for delivery is stored once as two Binaries (CDA and PDF, the exact bytes) and a DocumentReference
// whose references resolve, whose delivery status follows the attempts' outcomes, and which a new version replaces.
// Retries write nothing new; only the attempt holding the lease records an outcome; a failure to record fails the
// attempt as a transient failure (the dispatcher's contract), never silently.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Binary, DocumentReference, Resource } from '@medplum/fhirtypes';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFrom } from '../../src/config.js';
import { buildMessageDocument, type DocumentConnectorDeps } from '../../src/connectors/dmp/connector.js';
import { documentMessageOf } from '../../src/documents/message.js';
import { loadDocumentSettings } from '../../src/documents/settings.js';
import { deliveriesOf, deliveryOf, DOCUMENT_DELIVERY_EXTENSION, documentReferenceId } from '../../src/fhir/document-reference.js';
import { DeliveryError, type Connector } from '../../src/outbox/connector.js';
import { Dispatcher } from '../../src/outbox/dispatcher.js';
import { documentResources, type DocumentResources } from '../../src/services/document-resources.js';
import { submitDocument, type SubmissionContext } from '../../src/services/submission.js';
import type { OutboxMessage } from '../../src/store/outbox-repository.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { openPgStore } from '../../src/store/pg-store.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { waitFor } from '../outbox/receiver.js';
import { PG_TEST_URL, pgUnreachable } from '../support/pg.js';
import { available } from '../support/shared.js';

const fixture = (): Record<string, unknown> => JSON.parse(readFileSync('test/fixtures/ppp/hospital-sync-rcp.json', 'utf8')) as Record<string, unknown>;
const config = configFrom({
  outbox: {
    dispatcher: false,
    destinations: {
      dmp: { kind: 'dmp', url: 'https://127.0.0.1:9/never', tls: { pkcs12: 'unused.p12' } },
      pdsm: { kind: 'pdsm', url: 'https://127.0.0.1:9/fhir' },
    },
    routes: [
      { on: 'ppp.stored', destination: 'dmp' },
      { on: 'ppp.stored', destination: 'pdsm' },
    ],
  },
});
const ctx = (): SubmissionContext => ({ now: '2026-11-22T10:00:00+01:00', actor: 'test', fhirBase: 'http://x/fhir', outbox: config.outbox, documents: config.documents });
const settings = loadDocumentSettings();
const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('base64');
const bytesOf = (b: Binary | undefined): Buffer => Buffer.from(b?.data ?? '', 'base64');
const idOf = (url: string | undefined): string => (url ?? '').replace(/^Binary\//, '');

type Dialect = 'sqlite' | 'postgresql';
const PG_SCHEMA = `passerelle_docres_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;

function documentResourcesSuite(dialect: Dialect): void {
  let dir: string;
  let store: ResourceStore;
  let resources: DocumentResources;
  let deps: DocumentConnectorDeps;
  let clock = new Date('2026-11-22T09:05:00Z');

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'passerelle-docres-'));
    store = dialect === 'sqlite' ? await openSqliteStore({ file: path.join(dir, 'db.sqlite') }) : await openPgStore({ url: PG_TEST_URL, schema: PG_SCHEMA, poolSize: 4 });
    resources = documentResources(store, { destinations: config.outbox.destinations, now: () => clock });
    deps = { settings, sourceId: `${config.documents.oidRoot}.0`, onBuilt: resources.recordBuilt };
  });
  afterAll(async () => {
    await store?.close();
    if (dialect === 'postgresql') {
      const c = new pg.Client({ connectionString: PG_TEST_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS "${PG_SCHEMA}" CASCADE`);
      await c.end();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const claim = async (owner = 'p1'): Promise<OutboxMessage[]> => store.outbox.claim({ owner, limit: 10, leaseMs: 60_000 });
  const docRefOf = async (m: OutboxMessage): Promise<DocumentReference> =>
    (await store.read<DocumentReference>('DocumentReference', documentReferenceId(documentMessageOf(m.payload).ids.id))) as DocumentReference;

  let dmp: OutboxMessage;
  let pdsm: OutboxMessage;
  let first: DocumentReference;

  it('a built document is stored once: two Binaries of the exact bytes, a DocumentReference whose references resolve', async () => {
    await submitDocument(store, 'ppp', fixture(), ctx());
    const claimed = await claim();
    dmp = claimed.find((m) => m.destination === 'dmp') as OutboxMessage;
    pdsm = claimed.find((m) => m.destination === 'pdsm') as OutboxMessage;
    // Both destinations store the same version at once (several processes on PostgreSQL): one DocumentReference.
    const building = { settings, sourceId: deps.sourceId };
    const [a, b] = [await buildMessageDocument(dmp, building), await buildMessageDocument(pdsm, building)];
    expect(a.built.cda.equals(b.built.cda)).toBe(true);
    await Promise.all([resources.recordBuilt(dmp, a.request, a.built), resources.recordBuilt(pdsm, b.request, b.built)]);
    const { built } = a;
    first = await docRefOf(dmp);
    expect(first).toMatchObject({
      status: 'current',
      docStatus: 'final',
      masterIdentifier: { system: 'urn:ietf:rfc:3986', value: `urn:oid:${built.header.ids.id}` },
      type: { coding: [{ system: 'http://loinc.org', code: '18776-5' }] },
      category: [{ coding: [{ system: 'urn:oid:1.2.250.1.213.1.1.4.1', code: built.header.classCode.code }] }],
      date: new Date(built.header.effectiveTime).toISOString(),
    });
    expect(first.identifier?.map((i) => i.value)).toEqual([built.submission.documents[0].entry.entryUuid, `urn:oid:${built.header.ids.setId}`]);
    // Every reference names a stored resource: the sender's Patient (the CarePlan's subject), the author, the CarePlan.
    const carePlan = (documentMessageOf(dmp.payload).resource as string).split('/');
    const plan = (await store.read(carePlan[0], carePlan[1])) as Resource & { subject?: { reference?: string } };
    expect(first.subject?.reference).toBe(plan.subject?.reference);
    expect(first.context?.related).toEqual([{ reference: `CarePlan/${carePlan[1]}` }]);
    for (const ref of [first.subject, ...(first.author ?? []), first.authenticator, first.custodian]) {
      const [type, id] = (ref?.reference ?? '').split('/');
      expect(await store.read(type, id), ref?.reference).toBeDefined();
    }
    // CDA first (what the registry hashes), then the PDF; the bytes are the ones sent.
    const [cda, pdf] = first.content;
    expect(cda).toMatchObject({ attachment: { contentType: 'text/xml', size: built.cda.length, hash: sha1(built.cda) }, format: { code: 'urn:ihe:iti:xds-sd:pdf:2008' } });
    expect(pdf).toMatchObject({ attachment: { contentType: 'application/pdf', size: built.pdf.length, hash: sha1(built.pdf) } });
    expect(Buffer.from(cda.attachment.hash ?? '', 'base64').toString('hex')).toBe(built.submission.documents[0].entry.hash);
    const cdaBinary = await store.read<Binary>('Binary', idOf(cda.attachment.url));
    const pdfBinary = await store.read<Binary>('Binary', idOf(pdf.attachment.url));
    expect(cdaBinary?.contentType).toBe('text/xml');
    expect(bytesOf(cdaBinary).equals(built.cda)).toBe(true);
    expect(pdfBinary?.contentType).toBe('application/pdf');
    expect(bytesOf(pdfBinary).equals(built.pdf)).toBe(true);
    // One delivery per destination, pending.
    expect(deliveriesOf(first).map((d) => [d.destination, d.kind, d.status, d.message])).toEqual([
      ['dmp', 'dmp', 'pending', dmp.id],
      ['pdsm', 'pdsm', 'pending', pdsm.id],
    ]);
    const stored = (await store.auditLog({ limit: 100 })).filter((e) => e.action === 'document.stored');
    expect(stored).toHaveLength(1);
  });

  it('a retry that rebuilds the same bytes writes no new version of anything', async () => {
    const before = {
      doc: (await store.history('DocumentReference', first.id as string)).length,
      cda: (await store.history('Binary', idOf(first.content[0].attachment.url))).length,
      pdf: (await store.history('Binary', idOf(first.content[1].attachment.url))).length,
    };
    // Created for one destination, the other's pending delivery added.
    expect(before).toEqual({ doc: 2, cda: 1, pdf: 1 });
    await buildMessageDocument(dmp, deps);
    await buildMessageDocument(pdsm, deps);
    expect((await store.history('DocumentReference', first.id as string)).length).toBe(2);
    expect((await store.history('Binary', idOf(first.content[0].attachment.url))).length).toBe(1);
    expect((await store.history('Binary', idOf(first.content[1].attachment.url))).length).toBe(1);
  });

  it('the outcome is recorded by the attempt holding the lease only, once; accepted is never taken back', async () => {
    // A stale attempt (another process took the message over) records nothing.
    await resources.recordOutcome(dmp, { state: 'delivered' }, 'someone-else');
    expect(deliveryOf(await docRefOf(dmp), 'dmp')?.status).toBe('pending');
    clock = new Date('2026-11-22T09:06:00Z');
    await resources.recordOutcome(dmp, { state: 'delivered' }, 'p1');
    await resources.recordOutcome(dmp, { state: 'delivered' }, 'p1');
    const doc = await docRefOf(dmp);
    expect(deliveryOf(doc, 'dmp')).toMatchObject({ status: 'accepted', time: '2026-11-22T09:06:00.000Z' });
    expect(deliveryOf(doc, 'dmp')?.reason).toBeUndefined();
    expect((await store.history('DocumentReference', first.id as string)).length).toBe(3);
    await resources.recordOutcome(dmp, { state: 'dead', error: 'late', permanent: false }, 'p1');
    expect(deliveryOf(await docRefOf(dmp), 'dmp')?.status).toBe('accepted');
    expect(await store.outbox.complete(dmp.id, 'p1')).toBe(true);
  });

  it('a refusal is recorded with the reason; a transient failure leaves it pending; a redriven attempt is pending again', async () => {
    await resources.recordOutcome(pdsm, { state: 'retry', error: 'no answer' }, 'p1');
    expect(deliveryOf(await docRefOf(pdsm), 'pdsm')?.status).toBe('pending');
    await resources.recordOutcome(pdsm, { state: 'dead', error: 'HTTP 422: DocumentReference.type: unknown code', permanent: true }, 'p1');
    expect(deliveryOf(await docRefOf(pdsm), 'pdsm')).toMatchObject({ status: 'refused', reason: 'HTTP 422: DocumentReference.type: unknown code' });
    expect(deliveryOf(await docRefOf(pdsm), 'dmp')?.status).toBe('accepted');
    const audit = (await store.auditLog({ limit: 100 })).filter((e) => e.action === 'document.delivery').map((e) => e.detail);
    expect(audit).toEqual(expect.arrayContaining(['dmp: accepted', 'pdsm: refused: HTTP 422: DocumentReference.type: unknown code']));
    expect(await store.outbox.fail(pdsm.id, 'p1', { error: 'HTTP 422' })).toBe(true);
    expect(await store.outbox.redrive(pdsm.id)).toBe(true);
    const [again] = await claim();
    expect(again.id).toBe(pdsm.id);
    await buildMessageDocument(again, deps);
    expect(deliveryOf(await docRefOf(pdsm), 'pdsm')).toMatchObject({ status: 'pending' });
    await resources.recordOutcome(again, { state: 'dead', error: 'no answer after 12 attempts', permanent: false }, 'p1');
    expect(deliveryOf(await docRefOf(pdsm), 'pdsm')).toMatchObject({ status: 'dead', reason: 'no answer after 12 attempts' });
    expect(await store.outbox.fail(pdsm.id, 'p1', { error: 'no answer' })).toBe(true);
  });

  it('a new version gets its own DocumentReference, which replaces the first; the first becomes superseded', async () => {
    await submitDocument(store, 'ppp', { ...fixture(), note: 'Révisé après RCP.' }, ctx());
    const claimed = await claim();
    const next = claimed.find((m) => m.destination === 'dmp') as OutboxMessage;
    const nextPdsm = claimed.find((m) => m.destination === 'pdsm') as OutboxMessage;
    expect(documentMessageOf(next.payload).ids).toMatchObject({ version: 2, replaces: documentMessageOf(dmp.payload).ids.id });
    // Version 1 died at the PDSm: version 2 replaces nothing there, so its CDA differs from the DMP's (no RPLC).
    expect(documentMessageOf(nextPdsm.payload).ids.replaces).toBeUndefined();
    const building = { settings, sourceId: deps.sourceId };
    const [a, b] = [await buildMessageDocument(next, building), await buildMessageDocument(nextPdsm, building)];
    expect(a.built.cda.equals(b.built.cda)).toBe(false);
    await Promise.all([resources.recordBuilt(next, a.request, a.built), resources.recordBuilt(nextPdsm, b.request, b.built)]);
    const second = await docRefOf(next);
    expect(second.id).not.toBe(first.id);
    expect(second).toMatchObject({ status: 'current', relatesTo: [{ code: 'replaces', target: { reference: `DocumentReference/${first.id}` } }] });
    const old = (await store.read<DocumentReference>('DocumentReference', first.id as string)) as DocumentReference;
    expect(old.status).toBe('superseded');
    // Its delivery statuses are kept.
    expect(deliveriesOf(old).map((d) => d.status)).toEqual(['accepted', 'dead']);
    // Each destination's CDA is stored as sent, once; the PDF is the same for both.
    expect(second.content.map((c) => c.attachment.contentType)).toEqual(expect.arrayContaining(['text/xml', 'text/xml', 'application/pdf']));
    expect(second.content).toHaveLength(3);
    const sent = Object.fromEntries(deliveriesOf(second).map((d) => [d.destination, d.sent]));
    expect(bytesOf(await store.read<Binary>('Binary', idOf(sent.dmp))).equals(a.built.cda)).toBe(true);
    expect(bytesOf(await store.read<Binary>('Binary', idOf(sent.pdsm))).equals(b.built.cda)).toBe(true);
    expect(second.content.find((c) => c.attachment.url === sent.pdsm)?.attachment.hash).toBe(sha1(b.built.cda));
    for (const m of claimed) await store.outbox.complete(m.id, 'p1');
  });

  it('the dispatcher: a document that cannot be stored is not sent, and an outcome that cannot be recorded is retried', async () => {
    await submitDocument(store, 'ppp', { ...fixture(), id: 'PPP-DISPATCH-1' }, ctx());
    let sent = 0;
    let failStore = 1;
    let failOutcome = 1;
    const storing: DocumentConnectorDeps = {
      ...deps,
      onBuilt: async (m, r, b) => {
        if (failStore-- > 0) throw new Error('database is locked');
        await resources.recordBuilt(m, r, b);
      },
    };
    // A receiver that accepts everything, after the document was built and stored as the real connectors do.
    const accepting: Connector = {
      async deliver(message) {
        await buildMessageDocument(message, storing);
        sent++;
      },
    };
    const dispatcher = new Dispatcher({
      outbox: store.outbox,
      pollMs: 20,
      destinations: {
        dmp: {
          connector: accepting,
          retry: { baseMs: 10, maxMs: 20 },
          onOutcome: async (m, outcome, owner) => {
            if (outcome.state === 'delivered' && failOutcome-- > 0) throw new Error('disk full');
            await resources.recordOutcome(m, outcome, owner);
          },
        },
        pdsm: { connector: { deliver: async () => Promise.reject(new DeliveryError('HTTP 400: bad bundle', false)) }, onOutcome: resources.recordOutcome },
      },
    });
    const message = (await store.outbox.list({ destination: 'dmp', limit: 100, offset: 0 })).items.at(-1) as OutboxMessage;
    const other = (await store.outbox.list({ destination: 'pdsm', limit: 100, offset: 0 })).items.at(-1) as OutboxMessage;
    dispatcher.start();
    try {
      await waitFor(async () => (await store.outbox.get(message.id))?.state === 'delivered' && (await store.outbox.get(other.id))?.state === 'dead', 20_000, 'the deliveries');
    } finally {
      await dispatcher.stop(1000);
    }
    const attempts = await store.outbox.attempts(message.id);
    expect(attempts.map((a) => [a.outcome, a.error])).toEqual([
      ['retry', 'document built, but it could not be stored: database is locked'],
      ['retry', 'delivered, but the outcome could not be recorded: disk full'],
      ['delivered', undefined],
    ]);
    // Sent only once it was stored: the first attempt sent nothing.
    expect(sent).toBe(2);
    const doc = await docRefOf(message);
    expect(deliveryOf(doc, 'dmp')?.status).toBe('accepted');
    // The PDSm message failed before building anything: no document to speak of, nothing recorded for it.
    expect(deliveryOf(doc, 'pdsm')).toBeUndefined();
    expect(doc.extension?.every((e) => e.url === DOCUMENT_DELIVERY_EXTENSION)).toBe(true);
  }, 30_000);
}

describe('on SQLite', () => documentResourcesSuite('sqlite'));
const unreachable = await pgUnreachable();
if (available(`PostgreSQL at ${PG_TEST_URL} (${unreachable ?? ''})`, !unreachable, 'the document resources on PostgreSQL')) {
  describe('on PostgreSQL', () => documentResourcesSuite('postgresql'));
}
