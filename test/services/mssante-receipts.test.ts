// MSSanté receipts (services/mssante-receipts.ts), on a real SQLite file and on PostgreSQL: a PPP sent by MSSanté is
// recorded, once SMTP accepted it, with a FHIR Communication the DPI finds (about its CarePlan, for its patient, only
// for the tenants that see the patient); the MDNs and DSNs that come back (real bytes through parseReport) move it
// forward — delivered, read, failed with the MSSanté code — never backwards, and a repeated outcome duplicates nothing.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { CarePlan, Communication } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFrom } from '../../src/config.js';
import { buildMessageDocument } from '../../src/connectors/dmp/connector.js';
import { buildMdn, MssanteErrorCode, parseReport, type Report } from '../../src/connectors/mssante/mdn.js';
import { mssanteMessageId } from '../../src/connectors/mssante/message.js';
import type { MssantePayload, MssanteRecipient } from '../../src/connectors/mssante/payload.js';
import { finessKey } from '../../src/domain/access/model.js';
import { documentMessageOf, type DocumentMessage } from '../../src/documents/message.js';
import { loadDocumentSettings } from '../../src/documents/settings.js';
import { documentReferenceId } from '../../src/fhir/document-reference.js';
import { practitionerId } from '../../src/fhir/ids.js';
import { MESSAGE_ID_SYSTEM, MSSANTE_DELIVERY_EXTENSION, mssanteCommunicationId } from '../../src/fhir/mssante-communication.js';
import { parseSearchParams } from '../../src/fhir/search-params.js';
import { validateResource } from '../../src/fhir/validate.js';
import { documentResources } from '../../src/services/document-resources.js';
import { applyReport, mssanteOutcome } from '../../src/services/mssante-receipts.js';
import { submitDocument, type SubmissionContext } from '../../src/services/submission.js';
import type { OutboxMessage } from '../../src/store/outbox-repository.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { openPgStore } from '../../src/store/pg-store.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { dropPgSchema, PG_TEST_URL, pgUnreachable } from '../support/pg.js';
import { available } from '../support/shared.js';

const fixture = (): Record<string, unknown> => JSON.parse(readFileSync('test/fixtures/ppp/hospital-sync-rcp.json', 'utf8')) as Record<string, unknown>;
const config = configFrom({
  outbox: {
    dispatcher: false,
    destinations: { dmp: { kind: 'dmp', url: 'https://127.0.0.1:9/never', tls: { pkcs12: 'unused.p12' } } },
    routes: [{ on: 'ppp.stored', destination: 'dmp' }],
  },
});
const ctx = (): SubmissionContext => ({ now: '2026-11-22T10:00:00+01:00', actor: 'test', fhirBase: 'http://x/fhir', outbox: config.outbox, documents: config.documents });
const settings = loadDocumentSettings();
const BAL = 'passerelle@chu-picardie.mssante.fr';
const ESTABLISHMENT = finessKey('800000317');

const GP: MssanteRecipient = { address: 'pierre.benassis@medecin.demo.mssante.fr', role: 'medecin-traitant', rpps: '10101634078', name: 'Pierre BENASSIS', source: 'document' };
const PHARMACY: MssanteRecipient = { address: 'pharmacie.forestier@pharmacien.demo.mssante.fr', role: 'pharmacien-officine', rpps: '10101523388', name: 'Madeleine FORESTIER', source: 'directory' };
const CASE_MANAGER: MssanteRecipient = { address: 'inconnu@medecin.demo.mssante.fr', role: 'gestionnaire-cas', source: 'directory' };
const SLOW: MssanteRecipient = { address: 'lent@medecin.demo.mssante.fr', role: 'geriatre', source: 'directory' };
const REFUSED: MssanteRecipient = { address: 'refus@medecin.demo.mssante.fr', role: 'pharmacien-clinicien', source: 'directory' };

/** A DSN (RFC 3464) from the sending relay about one recipient of `messageId`. */
function dsn(messageId: string, recipient: string, action: string, status: string, diagnostic?: string): Buffer {
  return Buffer.from(
    [
      'From: Mail Delivery Subsystem <MAILER-DAEMON@relay.mssante.fr>',
      `To: <${BAL}>`,
      'Subject: Delivery Status Notification',
      'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain; charset=us-ascii',
      '',
      'Delivery report.',
      '',
      '--b1',
      'Content-Type: message/delivery-status',
      '',
      'Reporting-MTA: dns; relay.mssante.fr',
      '',
      `Final-Recipient: rfc822; ${recipient}`,
      `Action: ${action}`,
      `Status: ${status}`,
      ...(diagnostic ? [`Diagnostic-Code: ${diagnostic}`] : []),
      '',
      '--b1',
      'Content-Type: text/rfc822-headers',
      '',
      `From: ${BAL}`,
      `Message-ID: ${messageId}`,
      'Subject: XDM/1.0/DDM+PPP',
      '',
      '--b1--',
      '',
    ].join('\r\n'),
  );
}

async function report(raw: Buffer): Promise<Report> {
  const r = await parseReport(raw);
  if (!r) throw new Error('not a report');
  return r;
}

/** The MDN the recipient's software sends back (buildMdn's bytes, read back by parseReport). */
const mdn = async (recipient: MssanteRecipient, messageId: string, error?: MssanteErrorCode): Promise<Report> =>
  report(await buildMdn({ ourMailbox: recipient.address as string, to: BAL, originalMessageId: messageId, originalSubject: 'XDM/1.0/DDM+PPP', ...(error ? { error: { code: error } } : {}) }));

/** A displayed (read) MDN as a mail client writes it: manual action. */
function displayedMdn(recipient: MssanteRecipient, messageId: string): Buffer {
  return Buffer.from(
    [
      `From: ${recipient.address}`,
      `To: ${BAL}`,
      'Subject: Lu : XDM/1.0/DDM+PPP',
      'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=disposition-notification; boundary="m1"',
      '',
      '--m1',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Le message a été affiché.',
      '',
      '--m1',
      'Content-Type: message/disposition-notification',
      '',
      'Reporting-UA: poste.cabinet; Thunderbird',
      `Final-Recipient: rfc822;${recipient.address}`,
      `Original-Message-ID: ${messageId}`,
      'Disposition: manual-action/MDN-sent-manually; displayed',
      '',
      '--m1--',
      '',
    ].join('\r\n'),
  );
}

type Dialect = 'sqlite' | 'postgresql';
const PG_SCHEMA = `passerelle_mssrcpt_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;

function receiptsSuite(dialect: Dialect): void {
  let dir: string;
  let store: ResourceStore;
  let document: DocumentMessage;
  let orderingKey: string;
  let carePlan: CarePlan;
  let clock = new Date('2026-11-22T09:05:00Z');
  const outcome = (): ReturnType<typeof mssanteOutcome> => mssanteOutcome(store, { sender: `Passerelle <${BAL}>`, now: () => clock });

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'passerelle-mssrcpt-'));
    store = dialect === 'sqlite' ? await openSqliteStore({ file: path.join(dir, 'db.sqlite') }) : await openPgStore({ url: PG_TEST_URL, schema: PG_SCHEMA, poolSize: 4 });
    // A PPP stored and built for delivery: its DocumentReference exists, as when the MSSanté connector built it.
    await submitDocument(store, 'ppp', fixture(), ctx());
    const [dmp] = await store.outbox.claim({ owner: 'builder', limit: 10, leaseMs: 60_000, destinations: ['dmp'] });
    const built = await buildMessageDocument(dmp, { settings, sourceId: `${config.documents.oidRoot}.0` });
    await documentResources(store, { destinations: config.outbox.destinations }).recordBuilt(dmp, built.request, built.built);
    document = dmp.payload as DocumentMessage;
    orderingKey = dmp.orderingKey;
    const [, id] = document.resource.split('/');
    carePlan = (await store.read<CarePlan>('CarePlan', id)) as CarePlan;
  });
  afterAll(async () => {
    await store?.close();
    if (dialect === 'postgresql') {
      await dropPgSchema(PG_SCHEMA);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  /** Enqueues the document for one recipient (as the sending side does) and claims it as `owner`. */
  async function sending(recipient: MssanteRecipient, owner = 'p1'): Promise<OutboxMessage> {
    const messageId = mssanteMessageId(document.ids.id, document.ids.version, [recipient.address as string], 'chu-picardie.mssante.fr');
    const payload: MssantePayload = { ...document, mssante: { recipient, receipt: true } };
    await store.transaction(async (tx) => tx.outbox.enqueue({ destination: 'mssante', orderingKey, idempotencyKey: messageId, payload }));
    const claimed = await store.outbox.claim({ owner, limit: 10, leaseMs: 60_000, destinations: ['mssante'] });
    const m = claimed.find((x) => x.idempotencyKey === messageId);
    if (!m) throw new Error(`${messageId} not claimed`);
    return m;
  }

  /** What the dispatcher does once SMTP accepted it: the outcome hook, then the outbox records it delivered. */
  async function accepted(m: OutboxMessage, owner = 'p1'): Promise<void> {
    await outcome()(m, { state: 'delivered' }, owner);
    expect(await store.outbox.complete(m.id, owner, 1)).toBe(true);
  }

  const communicationOf = async (messageId: string): Promise<Communication> => (await store.read<Communication>('Communication', mssanteCommunicationId(messageId))) as Communication;
  const errors = (c: Communication): unknown[] => validateResource(c).filter((i) => i.severity === 'error' || i.severity === 'fatal');
  const extensionOf = (c: Communication): Record<string, unknown> =>
    Object.fromEntries(
      (c.extension?.find((e) => e.url === MSSANTE_DELIVERY_EXTENSION)?.extension ?? []).map((e) => [e.url, e.valueCoding?.code ?? e.valueString ?? e.valueInstant]),
    );

  let gp: OutboxMessage;

  it('SMTP accepted: a mail record and a valid Communication about the CarePlan and its DocumentReference', async () => {
    gp = await sending(GP);
    // An attempt whose lease another process took over records nothing.
    await outcome()(gp, { state: 'delivered' }, 'someone-else');
    expect(await store.mssante.sent(gp.idempotencyKey)).toBeUndefined();

    await outcome()(gp, { state: 'delivered' }, 'p1');
    const id = mssanteCommunicationId(gp.idempotencyKey);
    expect(await store.mssante.sent(gp.idempotencyKey)).toEqual({
      messageId: gp.idempotencyKey,
      outboxId: gp.id,
      destination: 'mssante',
      recipient: GP.address,
      role: 'medecin-traitant',
      resource: document.resource,
      communication: `Communication/${id}`,
      status: 'sent',
      sent: clock.toISOString(),
      updated: clock.toISOString(),
    });
    const c = await communicationOf(gp.idempotencyKey);
    expect(errors(c)).toEqual([]);
    expect(c).toMatchObject({
      id,
      identifier: [{ system: MESSAGE_ID_SYSTEM, value: gp.idempotencyKey }],
      status: 'in-progress',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/communication-category', code: 'notification' }] }],
      medium: [{ coding: [{ code: 'EMAILWRIT' }], text: 'MSSanté' }],
      // The CarePlan's patient (the sender's own Patient), as on the DocumentReference.
      subject: { reference: carePlan.subject.reference },
      about: [{ reference: document.resource }, { reference: `DocumentReference/${documentReferenceId(document.ids.id)}` }],
      sent: clock.toISOString(),
      recipient: [
        { reference: `Practitioner/${practitionerId('10101634078')}`, identifier: { system: 'https://rpps.esante.gouv.fr', value: '10101634078' }, display: `Pierre BENASSIS <${GP.address}>` },
      ],
      sender: { display: `Passerelle <${BAL}>` },
      payload: [{ contentString: `PPP envoyé par MSSanté à ${GP.address}` }],
    });
    expect(c.received).toBeUndefined();
    expect(extensionOf(c)).toEqual({ status: 'sent', time: clock.toISOString(), destination: 'mssante', message: gp.id, role: 'medecin-traitant' });
    // Every reference resolves.
    for (const ref of [c.subject, ...(c.about ?? []), ...(c.recipient ?? [])]) {
      const [type, rid] = (ref?.reference ?? '').split('/');
      expect(await store.read(type, rid), ref?.reference).toBeDefined();
    }
    const audit = await store.auditLog({ entity: `Communication/${id}` });
    expect(audit.map((a) => [a.action, a.outcome])).toEqual([['mssante.sent', 'success']]);
    expect(audit[0].detail).not.toContain(GP.address);
  });

  it('the same outcome recorded again (a crash before the outbox recorded it) duplicates nothing', async () => {
    clock = new Date('2026-11-22T09:06:00Z');
    await accepted(gp);
    expect(await store.history('Communication', mssanteCommunicationId(gp.idempotencyKey))).toHaveLength(1);
    expect((await store.mssante.sent(gp.idempotencyKey))?.sent).toBe('2026-11-22T09:05:00.000Z');
    expect(await store.mssante.sentOf(gp.id)).toHaveLength(1);
    const found = await store.search(parseSearchParams('Communication', new URLSearchParams({ identifier: `${MESSAGE_ID_SYSTEM}|${gp.idempotencyKey}` })));
    expect(found.resources.map((r) => r.id)).toEqual([mssanteCommunicationId(gp.idempotencyKey)]);
  });

  it('a DPI finds it by about, subject and identifier, only for the tenants that see the patient', async () => {
    const search = async (params: Record<string, string>, tenant?: string): Promise<string[]> =>
      (await store.search({ ...parseSearchParams('Communication', new URLSearchParams(params)), ...(tenant ? { tenant } : {}) })).resources
        .filter((r) => (r as Communication).identifier?.[0]?.system === MESSAGE_ID_SYSTEM)
        .map((r) => r.id as string);
    const id = mssanteCommunicationId(gp.idempotencyKey);
    expect(await search({ about: document.resource }, ESTABLISHMENT)).toEqual([id]);
    expect(await search({ about: `DocumentReference/${documentReferenceId(document.ids.id)}` }, ESTABLISHMENT)).toEqual([id]);
    expect(await search({ subject: carePlan.subject.reference as string, category: 'notification' }, ESTABLISHMENT)).toEqual([id]);
    // The médecin traitant's practice is not named by this PPP; another establishment sees nothing.
    expect(await search({ about: document.resource }, finessKey('999999999'))).toEqual([]);
  });

  it('MDN processed → delivered, displayed → read; a later processed does not take the reading back', async () => {
    const at1 = '2026-11-22T09:10:00.000Z';
    expect(await applyReport(store, await mdn(GP, gp.idempotencyKey), at1)).toEqual({ messageId: gp.idempotencyKey, status: 'delivered', current: 'delivered' });
    let c = await communicationOf(gp.idempotencyKey);
    expect(c).toMatchObject({ status: 'completed', received: at1 });
    expect(extensionOf(c)).toMatchObject({ status: 'delivered', time: at1 });
    expect(errors(c)).toEqual([]);

    const at2 = '2026-11-22T11:00:00.000Z';
    expect(await applyReport(store, await report(displayedMdn(GP, gp.idempotencyKey)), at2)).toEqual({ messageId: gp.idempotencyKey, status: 'read', current: 'read' });
    c = await communicationOf(gp.idempotencyKey);
    // received stays the first delivery.
    expect(c).toMatchObject({ status: 'completed', received: at1 });
    expect(extensionOf(c)).toMatchObject({ status: 'read', time: at2 });
    expect(await store.mssante.sent(gp.idempotencyKey)).toMatchObject({ status: 'read', updated: at2 });

    // Backwards: refused, nothing written but the audit row.
    const versions = (await store.history('Communication', c.id as string)).length;
    expect(await applyReport(store, await mdn(GP, gp.idempotencyKey), '2026-11-22T12:00:00.000Z')).toEqual({ messageId: gp.idempotencyKey, current: 'read' });
    expect(await store.history('Communication', c.id as string)).toHaveLength(versions);
    expect(await store.mssante.sent(gp.idempotencyKey)).toMatchObject({ status: 'read', updated: at2 });
    const audit = await store.auditLog({ entity: `Communication/${c.id}` });
    const receipts = audit.filter((a) => a.action === 'mssante.receipt');
    expect(receipts).toHaveLength(3);
    for (const a of receipts) expect(a.entities).toEqual([`Communication/${c.id}`, document.resource, carePlan.subject?.reference]);
  });

  it('an MDN processed/Error: 904 → failed with the code and label; failed is final', async () => {
    const m = await sending(PHARMACY);
    await accepted(m);
    const at = '2026-11-22T09:20:00.000Z';
    expect(await applyReport(store, await mdn(PHARMACY, m.idempotencyKey, MssanteErrorCode.InsTraitsMismatch), at)).toEqual({
      messageId: m.idempotencyKey,
      status: 'failed',
      current: 'failed',
    });
    const detail = "904 Incoherence entre l'INS et les traits d'identite";
    expect(await store.mssante.sent(m.idempotencyKey)).toMatchObject({ status: 'failed', detail });
    const c = await communicationOf(m.idempotencyKey);
    expect(c).toMatchObject({ status: 'stopped', statusReason: { text: detail } });
    expect(extensionOf(c)).toMatchObject({ status: 'failed', detail });
    expect(errors(c)).toEqual([]);
    // Read afterwards (a person opened it): still failed, the document was not integrated.
    expect(await applyReport(store, await report(displayedMdn(PHARMACY, m.idempotencyKey)), '2026-11-22T10:00:00.000Z')).toEqual({ messageId: m.idempotencyKey, current: 'failed' });
    expect(await store.mssante.sent(m.idempotencyKey)).toMatchObject({ status: 'failed', detail });
    const audit = await store.auditLog({ entity: `Communication/${c.id}` });
    expect(audit.find((a) => a.action === 'mssante.receipt' && a.outcome === 'failure')?.detail).toContain('error 904');
  });

  it('a DSN failed → failed with its status and diagnostic; delayed keeps the status and records why', async () => {
    const m = await sending(CASE_MANAGER);
    await accepted(m);
    const bounce = dsn(m.idempotencyKey, CASE_MANAGER.address as string, 'failed', '5.1.1 (user unknown)', 'smtp; 550 5.1.1 User unknown');
    expect(await applyReport(store, await report(bounce), '2026-11-22T09:06:00.000Z')).toEqual({ messageId: m.idempotencyKey, status: 'failed', current: 'failed' });
    expect(await store.mssante.sent(m.idempotencyKey)).toMatchObject({ status: 'failed', detail: 'failed 5.1.1: smtp; 550 5.1.1 User unknown' });
    expect(await communicationOf(m.idempotencyKey)).toMatchObject({ status: 'stopped', statusReason: { text: 'failed 5.1.1: smtp; 550 5.1.1 User unknown' } });

    const slow = await sending(SLOW);
    await accepted(slow);
    const delayed = dsn(slow.idempotencyKey, SLOW.address as string, 'delayed', '4.4.7', 'smtp; 451 4.4.7 try again later');
    expect(await applyReport(store, await report(delayed), '2026-11-22T13:00:00.000Z')).toEqual({ messageId: slow.idempotencyKey, current: 'sent' });
    expect(await store.mssante.sent(slow.idempotencyKey)).toMatchObject({ status: 'sent', detail: 'delayed 4.4.7: smtp; 451 4.4.7 try again later' });
    expect(extensionOf(await communicationOf(slow.idempotencyKey))).toMatchObject({ status: 'sent', detail: 'delayed 4.4.7: smtp; 451 4.4.7 try again later' });
    // Delivered in the end: the delay's detail goes.
    const relayed = dsn(slow.idempotencyKey, SLOW.address as string, 'relayed', '2.0.0');
    expect(await applyReport(store, await report(relayed), '2026-11-22T14:00:00.000Z')).toEqual({ messageId: slow.idempotencyKey, status: 'delivered', current: 'delivered' });
    expect(await store.mssante.sent(slow.idempotencyKey)).toMatchObject({ status: 'delivered', detail: 'relayed 2.0.0' });
  });

  it('a report about a message we did not send (or without Message-ID) changes nothing', async () => {
    expect(await applyReport(store, await mdn(GP, '<nobody@elsewhere.fr>'), '2026-11-22T09:30:00.000Z')).toEqual({});
    expect(await applyReport(store, { kind: 'mdn', disposition: 'processed' }, '2026-11-22T09:30:00.000Z')).toEqual({});
  });

  it('refused by the SMTP server: failed, Communication not-done; redriven and accepted: sent again', async () => {
    const m = await sending(REFUSED);
    await outcome()(m, { state: 'dead', error: '550 5.7.1 relaying denied', permanent: true }, 'p1');
    expect(await store.mssante.sent(m.idempotencyKey)).toMatchObject({ status: 'failed', detail: '550 5.7.1 relaying denied' });
    let c = await communicationOf(m.idempotencyKey);
    expect(c).toMatchObject({ status: 'not-done', statusReason: { text: '550 5.7.1 relaying denied' }, payload: [{ contentString: `PPP non envoyé par MSSanté à ${REFUSED.address}` }] });
    expect(c.sent).toBeUndefined();
    expect(errors(c)).toEqual([]);
    expect((await store.auditLog({ entity: `Communication/${c.id}` })).map((a) => [a.action, a.outcome])).toEqual([['mssante.failed', 'failure']]);

    // The outbox marks it dead; an operator redrives it; SMTP accepts it this time.
    await store.outbox.fail(m.id, 'p1', { error: '550 5.7.1 relaying denied' });
    expect(await store.outbox.redrive(m.id)).toBe(true);
    const again = (await store.outbox.claim({ owner: 'p2', limit: 10, leaseMs: 60_000, destinations: ['mssante'] })).find((x) => x.id === m.id) as OutboxMessage;
    clock = new Date('2026-11-22T15:00:00Z');
    await accepted(again, 'p2');
    const record = await store.mssante.sent(m.idempotencyKey);
    expect(record).toMatchObject({ status: 'sent', updated: clock.toISOString() });
    expect(record?.detail).toBeUndefined();
    c = await communicationOf(m.idempotencyKey);
    expect(c).toMatchObject({ status: 'in-progress', sent: clock.toISOString() });
    expect(c.statusReason).toBeUndefined();
  });

  it('a transient failure records nothing', async () => {
    const m = await sending({ address: 'retry@medecin.demo.mssante.fr', role: 'medecin-traitant', source: 'document' });
    await outcome()(m, { state: 'retry', error: 'ECONNRESET' }, 'p1');
    expect(await store.mssante.sent(m.idempotencyKey)).toBeUndefined();
    // Not an MSSanté payload: not ours.
    await outcome()({ ...m, payload: documentMessageOf(m.payload) }, { state: 'delivered' }, 'p1');
    expect(await store.mssante.sent(m.idempotencyKey)).toBeUndefined();
  });
}

describe('on SQLite', () => receiptsSuite('sqlite'));
const unreachable = await pgUnreachable();
if (available(`PostgreSQL at ${PG_TEST_URL} (${unreachable ?? ''})`, !unreachable, 'the MSSanté receipts on PostgreSQL')) {
  describe('on PostgreSQL', () => receiptsSuite('postgresql'));
}
