// The MSSanté route end to end: a PPP submitted over HTTP with an `mssante` destination routed gives one outbox
// message per recipient (the care team's MT and PHO), whose key is the Message-ID; a recipient with no address
// anywhere is dead from the start with the reason, and a warning comes back; the dispatcher sends the others through
// a real SMTP server over mutual TLS, the same bytes on every attempt.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/api/app.js';
import { mountDomainRoutes } from '../../src/api/domain-routes.js';
import { configFrom, type Config } from '../../src/config.js';
import { messageIdDomainOf } from '../../src/connectors/mssante/config.js';
import { mssanteMessageId, XDM_ATTACHMENT } from '../../src/connectors/mssante/message.js';
import type { MssantePayload } from '../../src/connectors/mssante/payload.js';
import { loadDocumentSettings } from '../../src/documents/settings.js';
import { deliveryOf, documentReferenceId } from '../../src/fhir/document-reference.js';
import { generateTestPki, type TestPki } from '../../src/sandbox/pki.js';
import { startDispatcher, type RunningDispatcher } from '../../src/services/outbox-dispatch.js';
import { submitDocument, type SubmissionContext } from '../../src/services/submission.js';
import type { OutboxMessage } from '../../src/store/outbox-repository.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { waitFor } from '../outbox/receiver.js';
import { smtpReply, startSmtpPeer, type SmtpPeer } from '../support/smtp-peer.js';

const settings = loadDocumentSettings();
const MT_RPPS = '10100512341';
const PHO_RPPS = '10100628170';
const MT_PER = 'laurent.knock@medecin.mssante.fr';

type Team = { role: string; practitioner: Record<string, unknown> }[];
const ppp = (id: string, edit: (team: Team) => void = () => undefined): Record<string, unknown> => {
  const doc = JSON.parse(readFileSync('test/fixtures/ppp/ppp-12-medicines.json', 'utf8')) as Record<string, unknown> & { team: Team };
  doc.id = id;
  // The MT's address comes from the directory, the PHO has none anywhere.
  for (const t of doc.team) delete t.practitioner.email;
  edit(doc.team);
  return doc;
};

let dir: string;
let pki: TestPki;
let peer: SmtpPeer;
let wrongCa: SmtpPeer;
let store: ResourceStore;
let config: Config;
let gateway: { url: string; close(): Promise<void> };
let dispatcher: RunningDispatcher | undefined;

const sourceId = '1.2.250.1.999.42.0';

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'passerelle-mss-'));
  pki = await generateTestPki({ dir: path.join(dir, 'pki') });
  peer = await startSmtpPeer({ key: pki.pem.serverKey, cert: pki.pem.server, ca: pki.pem.ca });
  // A server that trusts another CA for its clients: our organisation certificate is refused in the handshake.
  wrongCa = await startSmtpPeer({ key: pki.pem.serverKey, cert: pki.pem.server, ca: pki.pem.intruderCa });
  config = configFrom({
    port: 0,
    dataDir: dir,
    log: { level: 'silent' },
    mssante: {
      address: 'passerelle@ch-test.mssante.fr',
      nil: 'TEST-NIL',
      tls: { pkcs12: pki.files.orgP12, passphrase: pki.passphrase, ca: pki.files.ca },
      smtp: { host: '127.0.0.1', port: peer.port, timeoutMs: 5000 },
    },
    outbox: {
      pollMs: 50,
      destinations: { mss: { kind: 'mssante', baseDelayMs: 50, maxDelayMs: 100, maxAttempts: 3 } },
      routes: [
        { on: 'ppp.stored', destination: 'mss' },
        { on: 'bpm.stored', destination: 'mss' },
        { on: 'ctm.stored', destination: 'mss' },
      ],
    },
  });
  store = await openSqliteStore({ file: config.database });
  const g = await store.directory.beginImport('test-extraction.txt');
  await store.directory.addBatch(g, [
    // A practice BAL listed first: the personal one is preferred.
    { line: 2, address: 'cabinet.knock@medecin.mssante.fr', balType: 'CAB', ppId: MT_RPPS, ppIdKind: 'RPPS', family: 'KNOCK', given: 'Laurent' },
    { line: 3, address: MT_PER, balType: 'PER', ppId: MT_RPPS, ppIdKind: 'RPPS', family: 'KNOCK', given: 'Laurent' },
  ]);
  await store.directory.finishImport(g);
  gateway = await startServer({ store, config, logger: pino({ level: 'silent' }), mounts: [mountDomainRoutes] });
}, 60_000);

afterAll(async () => {
  await dispatcher?.stop(100);
  await gateway?.close();
  await peer?.close();
  await wrongCa?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

const post = async (body: unknown, kind = 'ppp'): Promise<{ status: number; body: Record<string, unknown> }> => {
  const res = await fetch(`${gateway.url}/${kind}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};
const messages = async (): Promise<OutboxMessage[]> => (await store.outbox.list({ destination: 'mss', limit: 50, offset: 0 })).items;
const ofPpp = async (id: string): Promise<OutboxMessage[]> => (await messages()).filter((m) => ((m.payload as MssantePayload).document as { id: string }).id === id);
const done = (id: string) => async () => ['delivered', 'dead'].includes((await store.outbox.get(id))?.state ?? '');
const issuesOf = (bundle: Record<string, unknown>) =>
  ((bundle.entry as { response?: { outcome?: { issue: { severity: string; details?: { text?: string }; expression?: string[] }[] } } }[]).flatMap((e) => e.response?.outcome?.issue ?? []));

describe('MSSanté route', () => {
  it('enqueues one message per recipient keyed by its Message-ID; a PHO with no address is dead at once with a warning', async () => {
    const r = await post(ppp('ppp-mss-1'));
    expect(r.status).toBe(200);
    const issues = issuesOf(r.body);
    expect(issues).toEqual([
      {
        severity: 'warning',
        code: 'business-rule',
        details: { text: `not sent to mss (pharmacien-officine Marguerite HOMAIS, RPPS ${PHO_RPPS}): no MSSanté address known (neither in the document nor in the directory)` },
        expression: ['ppp.team[3].practitioner.email'],
      },
    ]);
    // The PPP is stored all the same.
    expect((r.body.entry as { response: { location: string } }[]).some((e) => e.response.location.startsWith('CarePlan/'))).toBe(true);

    const list = await ofPpp('ppp-mss-1');
    expect(list).toHaveLength(2);
    const mt = list.find((m) => (m.payload as MssantePayload).mssante.recipient.role === 'medecin-traitant') as OutboxMessage;
    const pho = list.find((m) => (m.payload as MssantePayload).mssante.recipient.role === 'pharmacien-officine') as OutboxMessage;
    const mtPayload = mt.payload as MssantePayload;
    expect(mtPayload.mssante).toEqual({ recipient: { role: 'medecin-traitant', rpps: MT_RPPS, name: 'Laurent KNOCK', address: MT_PER, source: 'directory' }, receipt: true });
    expect(mt.idempotencyKey).toBe(mssanteMessageId(mtPayload.ids.id, 1, [MT_PER], messageIdDomainOf(config.mssante!)));
    expect(mt.idempotencyKey).toMatch(/^<[0-9.]+\.1\.[0-9a-f]{16}@ch-test\.mssante\.fr>$/);

    expect(pho).toMatchObject({ state: 'dead', attempts: 0, lastError: 'no MSSanté address known (neither in the document nor in the directory)' });
    expect(pho.idempotencyKey).toBe(`refused:${mtPayload.ids.id}:pharmacien-officine:${PHO_RPPS}`);
    const refused = (await store.auditLog({ limit: 50 })).filter((a) => a.action === 'document.refused');
    expect(refused.map((a) => a.detail)).toEqual([`mss (pharmacien-officine RPPS ${PHO_RPPS}): no MSSanté address known (neither in the document nor in the directory)`]);
  });

  it('the dispatcher sends the MT message over mutual TLS; a retry after a transient failure sends the same bytes', async () => {
    let refusals = 1;
    peer.behaviour.data = () => (refusals-- > 0 ? smtpReply(451, 'Temporary local problem') : undefined);
    dispatcher = startDispatcher(store, config.outbox, { documents: { settings, sourceId }, mssante: { config: config.mssante! } });
    const mt = (await ofPpp('ppp-mss-1')).find((m) => m.state !== 'dead') as OutboxMessage;
    await waitFor(done(mt.id), 30_000, 'the MSSanté delivery');
    const sent = await store.outbox.get(mt.id);
    expect(sent).toMatchObject({ state: 'delivered', attempts: 2 });
    peer.behaviour.data = undefined;

    expect(peer.attempts).toHaveLength(2);
    expect(peer.attempts[1].raw.equals(peer.attempts[0].raw)).toBe(true);
    expect(peer.received).toHaveLength(1);
    const got = peer.received[0];
    expect(got).toMatchObject({ from: 'passerelle@ch-test.mssante.fr', to: [MT_PER] });

    const mail = await simpleParser(got.raw);
    expect(mail.messageId).toBe(mt.idempotencyKey);
    expect(mail.subject).toMatch(/^XDM\/1\.0\/DDM\+\S/);
    expect(mail.attachments.map((a) => [a.filename, a.contentType])).toEqual([
      ['PPP.pdf', 'application/pdf'],
      [XDM_ATTACHMENT, 'application/zip'],
    ]);
    expect(mail.headers.get('x-mss-ins')).toBe('O');
    expect(mail.headers.get('x-mss-nil')).toBe('TEST-NIL');
    expect(String(mail.headers.get('x-mss-codecda'))).toMatch(/^\S+$/);
    expect(mail.headers.get('disposition-notification-to')).toMatchObject({ value: [{ address: 'passerelle@ch-test.mssante.fr' }] });
    // The document is stored with its delivery to this mailbox.
    const doc = await store.read('DocumentReference', documentReferenceId((mt.payload as MssantePayload).ids.id));
    expect(doc && deliveryOf(doc as never, 'mss', MT_PER)).toMatchObject({ kind: 'mssante', recipient: MT_PER, status: 'accepted' });
  }, 60_000);

  it('a server that refuses our certificate: retried, then dead with the reason after maxAttempts', async () => {
    await dispatcher?.stop(100);
    expect((await post(ppp('ppp-mss-2', (team) => (team[2].practitioner.email = 'dr.knock@medecin.mssante.fr')))).status).toBe(200);
    const mt = (await ofPpp('ppp-mss-2')).find((m) => m.state !== 'dead') as OutboxMessage;
    expect((mt.payload as MssantePayload).mssante.recipient).toMatchObject({ address: 'dr.knock@medecin.mssante.fr', source: 'document' });
    const mssante = { ...config.mssante!, smtp: { ...config.mssante!.smtp, port: wrongCa.port } };
    dispatcher = startDispatcher(store, config.outbox, { documents: { settings, sourceId }, mssante: { config: mssante } });
    await waitFor(done(mt.id), 40_000, 'the failing delivery');
    const dead = await store.outbox.get(mt.id);
    expect(dead).toMatchObject({ state: 'dead', attempts: 3 });
    // The server closes the connection in the TLS handshake: nodemailer reports the lost connection.
    expect(dead?.lastError).toMatch(/^ECONNECTION: /);
    expect(wrongCa.received).toHaveLength(0);
  }, 60_000);

  it('hostile addresses in the document are refused by the schema (400), the gateway keeps working', async () => {
    for (const email of ['dr@medecin.mssante.fr\r\nBcc: all@example.org', 'Dr Knock <dr@medecin.mssante.fr>', 'a@b.fr, c@d.fr']) {
      const r = await post(ppp('ppp-mss-hostile', (team) => (team[2].practitioner.email = email)));
      expect(r.status).toBe(400);
      expect(JSON.stringify(r.body)).toContain('team');
    }
    expect(await ofPpp('ppp-mss-hostile')).toHaveLength(0);
    expect((await post(ppp('ppp-mss-3'))).status).toBe(200);
  });

  it('a patient whose identity is not qualified: every recipient refused with the reason', async () => {
    const doc = ppp('ppp-mss-4', (team) => (team[2].practitioner.email = 'dr.knock@medecin.mssante.fr'));
    const patient = doc.patient as Record<string, unknown>;
    delete patient.ins;
    patient.status = 'PROV';
    // Another person (else the registry links them to the qualified patient of the other PPPs).
    Object.assign(patient, { birthName: 'LHEUREUX', firstBirthGivenName: 'Justin', birthGivenNames: ['Justin'], usedName: undefined, sex: 'M', birthDate: '1951-07-02' });
    patient.sourceId = { system: 'urn:oid:1.2.250.1.999.1.760000018.1', value: 'IPP-MSS-4' };
    const r = await post(doc);
    expect(r.status).toBe(200);
    const texts = issuesOf(r.body).map((i) => i.details?.text);
    expect(texts).toHaveLength(2);
    for (const t of texts) expect(t).toMatch(/not qualified \(QUAL with its INS\): documents go to MSSanté only for a qualified INS/);
    const list = await ofPpp('ppp-mss-4');
    expect(list.map((m) => m.state)).toEqual(['dead', 'dead']);
  });

  it("a BPM goes to the patient's médecin traitant (its gp); a CTM names no recipient: a warning, nothing enqueued", async () => {
    const bpm = JSON.parse(readFileSync('test/fixtures/bpm/self-medication-remote.json', 'utf8')) as { id: string; gp: { rpps: string; email: string } };
    expect((await post(bpm, 'bpm')).status).toBe(200);
    const sent = await ofPpp(bpm.id);
    // A qualified patient (QUAL with its INS): the gp's address from the document; the pharmacist is the author.
    expect(sent.map((m) => (m.payload as MssantePayload).mssante.recipient)).toEqual([
      { role: 'medecin-traitant', rpps: bpm.gp.rpps, name: expect.any(String), address: bpm.gp.email, source: 'document' },
    ]);
    expect(sent[0].idempotencyKey).toBe(mssanteMessageId((sent[0].payload as MssantePayload).ids.id, 1, [bpm.gp.email], 'ch-test.mssante.fr'));

    const ctm = JSON.parse(readFileSync('test/fixtures/ctm/admission-divergences.json', 'utf8')) as { id: string };
    const r = await post(ctm, 'ctm');
    expect(r.status).toBe(200);
    expect(issuesOf(r.body).map((i) => i.details?.text)).toEqual(['not sent to mss: the CTM names no recipient of the roles medecin-traitant, pharmacien-officine']);
    expect(await ofPpp(ctm.id)).toHaveLength(0);
  });
});

describe('MSSanté recipients (submission service, no dispatcher)', () => {
  const cfg = configFrom({
    mssante: { address: 'passerelle@ch-test.mssante.fr', messageIdDomain: 'mid.ch-test.fr', tls: { pkcs12: 'unused.p12', ca: 'unused.pem' }, smtp: { host: '127.0.0.1' } },
    outbox: {
      dispatcher: false,
      destinations: { mssp: { kind: 'mssante', recipients: ['medecin-traitant'], patient: true, receipt: false } },
      routes: [{ on: 'ppp.stored', destination: 'mssp' }],
    },
  });
  const ctx = (): SubmissionContext => ({ now: '2026-11-22T10:00:00+01:00', actor: 'test', fhirBase: 'http://x/fhir', outbox: cfg.outbox, documents: cfg.documents, ...(cfg.mssante ? { mssante: cfg.mssante } : {}) });
  const doc = (note?: string): Record<string, unknown> => ({ ...(JSON.parse(readFileSync('test/fixtures/ppp/ppp-12-medicines.json', 'utf8')) as object), ...(note ? { note } : {}) });
  let local: ResourceStore;
  let localDir: string;
  beforeAll(async () => {
    localDir = mkdtempSync(path.join(tmpdir(), 'passerelle-mss-svc-'));
    local = await openSqliteStore({ file: path.join(localDir, 'db.sqlite') });
  });
  afterAll(async () => {
    await local.close();
    rmSync(localDir, { recursive: true, force: true });
  });
  const items = async (): Promise<OutboxMessage[]> => (await local.outbox.list({ destination: 'mssp', limit: 50, offset: 0 })).items;

  it("writes to the patient's own mailbox from the qualified INS, without replies; a new version replaces the one each mailbox got", async () => {
    await submitDocument(local, 'ppp', doc(), ctx());
    const first = await items();
    expect(first.map((m) => (m.payload as MssantePayload).mssante)).toEqual([
      { recipient: { role: 'medecin-traitant', rpps: MT_RPPS, name: 'Laurent KNOCK', address: 'laurent.knock@medecin.demo.mssante.fr', source: 'document' }, receipt: false },
      { recipient: { role: 'patient', address: '240037654012380@patient.mssante.fr', source: 'ins' }, receipt: false, noReply: true },
    ]);
    for (const m of first) {
      const p = m.payload as MssantePayload;
      expect(m.idempotencyKey).toBe(mssanteMessageId(p.ids.id, 1, [p.mssante.recipient.address as string], 'mid.ch-test.fr'));
      expect(m.state).toBe('pending');
    }
    // An unchanged re-send enqueues nothing; a revision is version 2, replacing version 1 for each mailbox.
    await submitDocument(local, 'ppp', doc(), ctx());
    expect(await items()).toHaveLength(2);
    await submitDocument(local, 'ppp', doc('Révision'), ctx());
    const second = (await items()).slice(2).map((m) => (m.payload as MssantePayload).ids);
    expect(second).toHaveLength(2);
    for (const ids of second) expect(ids).toMatchObject({ version: 2, replaces: (first[0].payload as MssantePayload).ids.id });
  }, 60_000);
});
