// The DMP flow end to end, over real sockets: a PPP posted to the gateway is rendered (PDF in CDA R2 N1), enqueued
// in the submission's transaction, and delivered by the outbox dispatcher to the local DMP peer by ITI-41 (MTOM,
// VIHF, XAdES) over mutual TLS; ITI-18 finds it, ITI-43 gives back the same bytes, a revised PPP replaces it (RPLC).
// Failure paths: the peer down (retried), a registry error (dead with the reason), a non-qualified identity (refused
// before anything is sent), a client certificate the peer does not trust (refused at the handshake).
// Every document sent is readable over the FHIR API as a DocumentReference with its two Binaries (the very bytes the
// peer registered) and its delivery status (accepted, refused with the registry's reason), a revision replacing it.
// The whole flow runs on the embedded SQLite store and on PostgreSQL (skipped with a warning when no server answers,
// a failure under CI=true).
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Binary, DocumentReference } from '@medplum/fhirtypes';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountDomainRoutes } from '../../src/api/domain-routes.js';
import { startServer } from '../../src/api/app.js';
import { configFrom, type Config } from '../../src/config.js';
import { queryIti18FindDocuments, retrieveIti43 } from '../../src/connectors/dmp/client.js';
import { vihfOf } from '../../src/connectors/dmp/connector.js';
import { loadOrganisationCredentials, type OrganisationCredentials } from '../../src/connectors/dmp/tls.js';
import { documentRequestOf } from '../../src/documents/message.js';
import { buildDocument } from '../../src/documents/pipeline.js';
import { loadDocumentSettings } from '../../src/documents/settings.js';
import { deliveryOf, documentReferenceId } from '../../src/fhir/document-reference.js';
import { startDispatcher, type RunningDispatcher } from '../../src/services/outbox-dispatch.js';
import { generateTestPki, type TestPki } from '../../src/sandbox/pki.js';
import { startDmpPeer, type DmpPeer } from '../../src/sandbox/dmp/server.js';
import type { OutboxMessage } from '../../src/store/outbox-repository.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import pg from 'pg';
import { openPgStore } from '../../src/store/pg-store.js';
import { waitFor } from '../outbox/receiver.js';
import { PG_TEST_URL, pgUnreachable } from '../support/pg.js';
import { SHARED_STANDARDS, sharedFile } from '../support/shared.js';

const SCHEMAS = path.join(SHARED_STANDARDS, 'ihe-xds-ebrs-schemas');
const haveSchemas = sharedFile('ihe-xds-ebrs-schemas', 'the DMP flow’s XDS.b XSD check by the peer');

const REPOSITORY = '1.2.250.1.999.42.9.7';
const json = { 'content-type': 'application/json' };
const fixture = (name: string): Record<string, unknown> => JSON.parse(readFileSync(`test/fixtures/ppp/${name}.json`, 'utf8')) as Record<string, unknown>;

const PG_SCHEMA = `passerelle_dmp_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;

async function dropPgSchema(): Promise<void> {
  const client = new pg.Client({ connectionString: PG_TEST_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${PG_SCHEMA}" CASCADE`);
  } finally {
    await client.end();
  }
}

type Dialect = 'sqlite' | 'postgresql';

function dmpFlow(dialect: Dialect): void {
  let dir: string;
  let pki: TestPki;
  let peer: DmpPeer;
  let store: ResourceStore;
  let config: Config;
  let gateway: { url: string; close(): Promise<void> };
  let dispatcher: RunningDispatcher;
  let creds: OrganisationCredentials;
  const settings = loadDocumentSettings();

  async function startPeer(port = 0): Promise<DmpPeer> {
    return startDmpPeer({
      port,
      tls: { key: pki.pem.serverKey, cert: pki.pem.server, ca: pki.pem.ca },
      vihfTrust: pki.pem.ca,
      dataFile: path.join(dir, 'peer.sqlite'),
      repositoryUniqueId: REPOSITORY,
      requireSubmissionSignature: true,
      ...(haveSchemas ? { schemaDir: SCHEMAS } : {}),
    });
  }

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'passerelle-dmp-'));
    pki = await generateTestPki({ dir: path.join(dir, 'certs') });
    peer = await startPeer();
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
        routes: [
          { on: 'ppp.stored', destination: 'dmp' },
          { on: 'ctm.stored', destination: 'dmp' },
          { on: 'bpm.stored', destination: 'dmp' },
        ],
      },
    });
    store = dialect === 'sqlite' ? await openSqliteStore({ file: config.database }) : await openPgStore({ url: PG_TEST_URL, schema: PG_SCHEMA, poolSize: 4 });
    const running = await startServer({ store, config, logger: pino({ level: 'silent' }), mounts: [mountDomainRoutes] });
    gateway = running;
    dispatcher = startDispatcher(store, config.outbox, { documents: { settings, sourceId: `${config.documents.oidRoot}.0` } });
    creds = await loadOrganisationCredentials({ pkcs12Path: pki.files.orgP12, passphrase: pki.passphrase, caPath: pki.files.ca });
  }, 60_000);

  afterAll(async () => {
    await dispatcher?.stop(100);
    await gateway?.close();
    await peer?.close();
    await store?.close();
    if (dialect === 'postgresql') await dropPgSchema();
    rmSync(dir, { recursive: true, force: true });
  });

  const messages = async (): Promise<OutboxMessage[]> => (await store.outbox.list({ limit: 100, offset: 0 })).items;
  const post = async (body: unknown): Promise<{ status: number; body: { entry: { response: { outcome?: { issue: { details: { text: string } }[] } } }[] } }> => {
    const res = await fetch(`${gateway.url}/ppp`, { method: 'POST', headers: json, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as never };
  };
  /** The clinical documents the peer holds (the submission-set signatures are DocumentEntries too). */
  const clinical = () => peer.documents().filter((d) => d.content.toString('utf8').includes('<ClinicalDocument'));
  const settled = (id: string) => async () => ['delivered', 'dead'].includes((await store.outbox.get(id))?.state ?? '');
  /** A resource read over the FHIR API, as a DPI reads it. */
  const fhirRead = async <T>(reference: string): Promise<T> => {
    const res = await fetch(`${gateway.url}/fhir/${reference}`, { headers: { accept: 'application/fhir+json' } });
    expect(res.status, reference).toBe(200);
    return (await res.json()) as T;
  };
  /** The DocumentReference of the document a message carries. */
  const documentOf = (m: OutboxMessage): Promise<DocumentReference> => fhirRead<DocumentReference>(`DocumentReference/${documentReferenceId(m.idempotencyKey.slice('urn:oid:'.length))}`);
  const bytesOf = (b: Binary): Buffer => Buffer.from(b.data ?? '', 'base64');
  const pdfIn = (cda: Buffer): Buffer => Buffer.from(/<text mediaType="application\/pdf" representation="B64">([^<]+)<\/text>/.exec(cda.toString('utf8'))?.[1] ?? '', 'base64');

  describe('a PPP reaches the DMP through the outbox', () => {
    let first: OutboxMessage;

    it('a PPP of a qualified patient is registered by the peer (ITI-41 over mutual TLS), with the metadata of its CDA', async () => {
      const r = await post(fixture('hospital-sync-rcp'));
      expect(r.status).toBe(200);
      const [m] = await messages();
      expect(m).toMatchObject({ destination: 'dmp' });
      expect(m.idempotencyKey).toMatch(/^urn:oid:1\.2\.250\.1\.999\.42\.1\.\d+\.1$/);
      await waitFor(settled(m.id), 30_000, 'the DMP delivery');
      first = (await store.outbox.get(m.id)) as OutboxMessage;
      expect(first.state, first.lastError).toBe('delivered');
      const [doc] = clinical();
      expect(doc.uniqueId).toBe(m.idempotencyKey.slice('urn:oid:'.length));
      expect(peer.documents()).toHaveLength(2); // and its XAdES signature document
      expect(doc).toMatchObject({ status: 'Approved', mimeType: 'text/xml' });
      const cda = doc.content.toString('utf8');
      expect(cda).toContain('<templateId root="1.3.6.1.4.1.19376.1.2.20"/>');
      expect(cda).toMatch(/<id root="1\.2\.250\.1\.213\.1\.4\.(8|10)" extension="[0-9AB]{15}"/);
      expect(doc.metadataXml).toContain('urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1');
    }, 60_000);

    it('the document is a DocumentReference, accepted by the DMP, whose two Binaries are the bytes the peer registered', async () => {
      const [doc] = clinical();
      const ref = await documentOf(first);
      expect(ref).toMatchObject({ status: 'current', masterIdentifier: { value: `urn:oid:${doc.uniqueId}` }, type: { coding: [{ system: 'http://loinc.org', code: '18776-5' }] } });
      expect(ref.identifier?.[0]?.value).toBe(doc.entryUuid);
      expect(deliveryOf(ref, 'dmp')).toMatchObject({ kind: 'dmp', status: 'accepted', message: first.id });
      const [cdaContent, pdfContent] = ref.content;
      const cda = await fhirRead<Binary>(cdaContent.attachment.url as string);
      const pdf = await fhirRead<Binary>(pdfContent.attachment.url as string);
      expect(cda.contentType).toBe('text/xml');
      expect(pdf.contentType).toBe('application/pdf');
      // The peer's SHA-1 (what the registry holds) is the hash of the stored CDA, and the attachment's hash.
      expect(createHash('sha1').update(bytesOf(cda)).digest('hex')).toBe(doc.hash);
      expect(Buffer.from(cdaContent.attachment.hash ?? '', 'base64').toString('hex')).toBe(doc.hash);
      expect(cdaContent.attachment.size).toBe(doc.size);
      expect(bytesOf(cda).equals(doc.content)).toBe(true);
      expect(bytesOf(pdf).equals(pdfIn(doc.content))).toBe(true);
      expect(pdfContent.attachment.hash).toBe(createHash('sha1').update(pdfIn(doc.content)).digest('base64'));
      // Its subject is the Patient the PPP's CarePlan names; it relates to that CarePlan.
      const related = ref.context?.related?.[0]?.reference as string;
      const plan = await fhirRead<{ subject: { reference: string } }>(related);
      expect(ref.subject?.reference).toBe(plan.subject.reference);
    }, 30_000);

    it('ITI-18 finds it by the patient INS; ITI-43 returns the very bytes the gateway rendered (CDA and its PDF)', async () => {
      const [doc] = clinical();
      const request = documentRequestOf(first.payload);
      const vihf = vihfOf(config.outbox.destinations.dmp as never, (await buildDocument(request, settings, { sourceId: `${config.documents.oidRoot}.0` })).header);
      const found = await queryIti18FindDocuments(doc.patientId, { url: peer.iti18Url, credentials: creds, signing: creds, vihf });
      expect(found.disposition).toBe('success');
      expect(found.documents.map((d) => d.uniqueId)).toContain(doc.uniqueId);
      expect(found.documents.find((d) => d.uniqueId === doc.uniqueId)).toMatchObject({ hash: doc.hash, size: doc.size, status: expect.stringMatching(/Approved$/) });
      const got = await retrieveIti43(doc.uniqueId, REPOSITORY, { url: peer.iti43Url, credentials: creds, signing: creds, vihf: { ...vihf, resourceId: doc.patientId } });
      expect(got.disposition).toBe('success');
      // Rendering the same payload again gives the same CDA (deterministic PDF): what the DMP holds is what we built.
      const rebuilt = await buildDocument(request, settings, { sourceId: `${config.documents.oidRoot}.0` });
      expect(got.documents[0].content.equals(rebuilt.cda)).toBe(true);
      const b64 = /<text mediaType="application\/pdf" representation="B64">([^<]+)<\/text>/.exec(got.documents[0].content.toString('utf8'))?.[1] ?? '';
      expect(Buffer.from(b64, 'base64').equals(rebuilt.pdf)).toBe(true);
    }, 60_000);

    it('a revised PPP replaces the registered one (RPLC): the old entry is deprecated, the new one names it', async () => {
      const revised = { ...fixture('hospital-sync-rcp'), note: 'Révisé après RCP : arrêt du zolpidem confirmé.' };
      expect((await post(revised)).status).toBe(200);
      const second = (await messages()).find((m) => m.id !== first.id) as OutboxMessage;
      expect(second.idempotencyKey).toMatch(/\.2$/);
      expect((second.payload as { ids: { replaces?: string } }).ids.replaces).toBe(first.idempotencyKey.slice('urn:oid:'.length));
      await waitFor(settled(second.id), 30_000, 'the replacement');
      expect((await store.outbox.get(second.id))?.state).toBe('delivered');
      const docs = clinical();
      expect(docs.map((d) => d.status)).toEqual(['Deprecated', 'Approved']);
      expect(docs[1].replaces).toBe(docs[0].entryUuid);
      expect(docs[1].content.toString('utf8')).toMatch(/<relatedDocument typeCode="RPLC">\s*<parentDocument>\s*<id root="[0-9.]+\.1"\/>/);
      // As resources: the new DocumentReference replaces the first, which is superseded; both were accepted.
      const [old, replacing] = [await documentOf(first), await documentOf(second)];
      expect(replacing).toMatchObject({ status: 'current', relatesTo: [{ code: 'replaces', target: { reference: `DocumentReference/${old.id}` } }] });
      expect(old.status).toBe('superseded');
      expect([deliveryOf(old, 'dmp')?.status, deliveryOf(replacing, 'dmp')?.status]).toEqual(['accepted', 'accepted']);
      const cda = await fhirRead<Binary>(replacing.content[0].attachment.url as string);
      expect(bytesOf(cda).equals(docs[1].content)).toBe(true);
    }, 60_000);
  });

  describe('CTM and BPM documents', () => {
    it('a CTM (FCT) and a BPM of qualified patients are registered too, with their own type codes', async () => {
      for (const [kind, name, typeCode] of [
        ['ctm', 'admission-divergences', '80820-4'],
        ['bpm', 'self-medication-remote', '56445-0'],
      ] as const) {
        const body = JSON.parse(readFileSync(`test/fixtures/${kind}/${name}.json`, 'utf8')) as unknown;
        const res = await fetch(`${gateway.url}/${kind}`, { method: 'POST', headers: json, body: JSON.stringify(body) });
        expect(res.status).toBe(200);
        await res.arrayBuffer();
        const m = (await messages()).at(-1) as OutboxMessage;
        expect((m.payload as { kind: string }).kind).toBe(kind);
        await waitFor(settled(m.id), 30_000, `the ${kind} delivery`);
        expect((await store.outbox.get(m.id))?.lastError).toBeUndefined();
        expect((await store.outbox.get(m.id))?.state).toBe('delivered');
        const doc = clinical().find((d) => `urn:oid:${d.uniqueId}` === m.idempotencyKey);
        expect(doc?.content.toString('utf8')).toContain(`<code code="${typeCode}"`);
      }
    }, 60_000);
  });

  describe('DMP rules and failures', () => {
    it('a non-qualified identity is refused before sending: the PPP is stored, nothing is enqueued, the answer says why', async () => {
      const before = (await messages()).length;
      const r = await post(fixture('town-async-rcp')); // VALI
      expect(r.status).toBe(200);
      const issues = r.body.entry.flatMap((e) => e.response.outcome?.issue ?? []);
      expect(issues.map((i) => i.details.text).join(' ')).toMatch(/not sent to dmp: the patient identity is VALI, not qualified/);
      expect(await messages()).toHaveLength(before);
    });

    it('the patient’s opposition is honoured', async () => {
      const before = (await messages()).length;
      const r = await post({ ...fixture('ppp-12-medicines'), dmp: { opposition: true } });
      expect(r.body.entry.flatMap((e) => e.response.outcome?.issue ?? []).map((i) => i.details.text).join(' ')).toMatch(/objected to feeding their DMP/);
      expect(await messages()).toHaveLength(before);
    });

    it('the peer down: the delivery is retried until it comes back; masking codes reach the registry', async () => {
      const port = Number(new URL(peer.url).port);
      await peer.close();
      expect((await post({ ...fixture('ppp-12-medicines'), dmp: { masking: ['MASQUE_PS'] } })).status).toBe(200);
      const m = (await messages()).at(-1) as OutboxMessage;
      await waitFor(async () => ((await store.outbox.get(m.id))?.attempts ?? 0) >= 2, 30_000, 'two failed attempts');
      expect(await store.outbox.get(m.id)).toMatchObject({ state: expect.stringMatching(/pending|inflight/) });
      expect((await store.outbox.get(m.id))?.lastError).toMatch(/no answer/);
      peer = await startPeer(port);
      await waitFor(settled(m.id), 30_000, 'the delivery after the outage');
      expect((await store.outbox.get(m.id))?.state).toBe('delivered');
      const doc = clinical().find((d) => `urn:oid:${d.uniqueId}` === m.idempotencyKey);
      expect(doc?.metadataXml).toContain('MASQUE_PS');
      // Every retry rebuilt the same bytes: one version of each Binary; the DocumentReference pending, then accepted.
      const ref = await documentOf(m);
      expect(deliveryOf(ref, 'dmp')?.status).toBe('accepted');
      for (const c of ref.content) expect(await store.history('Binary', (c.attachment.url as string).slice('Binary/'.length))).toHaveLength(1);
      expect(await store.history('DocumentReference', ref.id as string)).toHaveLength(2);
    }, 60_000);

    it('a registry failure sends the message dead with the RegistryError as the reason; a busy registry is retried', async () => {
      peer.failNext({ kind: 'registry-error', errorCode: 'XDSRegistryBusy', codeContext: 'try later' });
      peer.failNext({ kind: 'registry-error', errorCode: 'XDSRegistryMetadataError', codeContext: 'classCode does not match typeCode' });
      expect((await post({ ...fixture('consultation-born-abroad') })).status).toBe(200);
      const m = (await messages()).at(-1) as OutboxMessage;
      await waitFor(settled(m.id), 30_000, 'the failed delivery');
      const dead = await store.outbox.get(m.id);
      expect(dead).toMatchObject({ state: 'dead', attempts: 2 });
      expect(dead?.lastError).toBe('XDSRegistryMetadataError: classCode does not match typeCode');
      // The DocumentReference says so: refused by the DMP, with the registry's reason.
      expect(deliveryOf(await documentOf(m), 'dmp')).toMatchObject({ status: 'refused', reason: 'XDSRegistryMetadataError: classCode does not match typeCode' });
    }, 60_000);

    it('a client certificate from another CA is refused by the peer at the TLS handshake', async () => {
      const intruder = await loadOrganisationCredentials({ pkcs12Path: pki.files.intruderP12, passphrase: pki.passphrase, caPath: pki.files.ca });
      const vihf = { nameId: 'x', subjectId: 'x', roles: [{ code: 'AUTOMATE', codeSystem: '1.2.250.1.213.1.1.4.6' }], secteurActivite: 'SA01', identifiantStructure: '1990000010', lps: { id: 'a', name: 'b', version: 'c', homologation: 'd' } };
      const found = await queryIti18FindDocuments(clinical()[0].patientId, { url: peer.iti18Url, credentials: intruder, signing: intruder, vihf });
      expect(found.disposition).toBe('transient');
      expect(found.reason).toMatch(/no answer|certificate|handshake|socket|ECONNRESET|alert/i);
    }, 30_000);
  });
}

describe('on SQLite', () => dmpFlow('sqlite'));
const unreachable = await pgUnreachable();
if (unreachable && process.env.CI === 'true') {
  describe('on PostgreSQL', () => {
    it('needs a reachable PostgreSQL server in CI', () => {
      throw new Error(`PostgreSQL unreachable (${unreachable}): set PASSERELLE_TEST_PG_URL or start the server (.ci/run does)`);
    });
  });
} else if (unreachable) {
  console.warn(`[dmp-flow] PostgreSQL variant skipped: server unreachable (${unreachable})`);
} else {
  describe('on PostgreSQL', () => dmpFlow('postgresql'));
}
