// MSSanté intake on raw messages (composed by nodemailer's MailComposer, zips by yazl) on SQLite and PostgreSQL:
// a BPM of a known patient is stored and joins the PPP; an unknown patient, a missing INS, an INS whose traits
// disagree, incomplete traits and every kind of hostile attachment give their MSSanté code, an MDN saying so, and
// NOTHING stored but the intake row; a duplicate is ignored; an uncertain patient's BPM waits on hold; a receipt is
// handed to the receipts service.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import type { CarePlan } from '@medplum/fhirtypes';
import { simpleParser } from 'mailparser';
import fc from 'fast-check';
import MailComposer from 'nodemailer/lib/mail-composer';
import yazl from 'yazl';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mssanteConfigSchema, type MssanteConfig } from '../../src/connectors/mssante/config.js';
import { buildMdn, parseReport, type MdnReport } from '../../src/connectors/mssante/mdn.js';
import type { Envelope, MailSender } from '../../src/connectors/mssante/transport.js';
import { applyReport } from '../../src/services/mssante-receipts.js';
import { BackgroundQueue, takeIn, type IntakeContext } from '../../src/services/mssante-intake.js';
import { attachmentMapper } from '../../src/mappings/attachments.js';
import { MappingFailure } from '../../src/mappings/model.js';
import { fakeMapping, fakeSet } from '../mappings/fake-loader.js';
import { submitDocument } from '../../src/services/submission.js';
import { openPgStore } from '../../src/store/pg-store.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { dropPgSchema, PG_TEST_URL, pgUnreachable } from '../support/pg.js';
import { available } from '../support/shared.js';

vi.mock('../../src/services/mssante-receipts.js', async (original) => ({
  ...(await original<typeof import('../../src/services/mssante-receipts.js')>()),
  applyReport: vi.fn(async () => ({ messageId: '<ours-1@ch-test.mssante.fr>', status: 'delivered' })),
}));

const BAL = 'passerelle@ch-test.mssante.fr';
const OFFICINE = 'pharmacie.grandplace@pharmacien.demo.mssante.fr';
const HOSPITAL = 'urn:oid:1.2.250.1.999.1.760000018.1';
const PHARMACY = 'urn:oid:1.2.250.1.999.2.590002234';
const NOW = '2025-03-01T10:00:00Z';

const fixture = (name: string): Record<string, unknown> => JSON.parse(readFileSync(`test/fixtures/${name}`, 'utf8')) as Record<string, unknown>;
const laroque = fixture('ppp/town-async-rcp.json').patient as Record<string, unknown>;
const patientAs = (system: string, value: string, over: Record<string, unknown> = {}): Record<string, unknown> => ({ ...laroque, sourceId: { system, value }, ...over });
const bpmOf = (id: string, patient: Record<string, unknown>) => ({ ...fixture('bpm/self-medication-remote.json'), id, patient });

const config: MssanteConfig = mssanteConfigSchema.parse({
  address: BAL,
  tls: { pkcs12: 'unused.p12', ca: 'unused.pem' },
  smtp: { host: 'localhost' },
  imap: { host: 'localhost' },
});

const SCHEMA = `passerelle_intake_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const unreachable = await pgUnreachable(PG_TEST_URL);
const withPg = available(`PostgreSQL at ${PG_TEST_URL} (${unreachable ?? ''})`, !unreachable, 'the MSSanté intake tests on PostgreSQL');
type Opened = { store: ResourceStore; drop: () => Promise<void> };
const dialects: [string, (dir: string) => Promise<Opened>][] = [
  ['SQLite', async (dir) => ({ store: await openSqliteStore({ file: path.join(dir, 'passerelle.sqlite') }), drop: async () => undefined })],
];
if (withPg) {
  dialects.push([
    'PostgreSQL',
    async () => ({
      store: await openPgStore({ url: PG_TEST_URL, schema: SCHEMA, poolSize: 4 }),
      drop: () => dropPgSchema(SCHEMA),
    }),
  ]);
}

let dir: string;
let opened: Opened;
let store: ResourceStore;
const sent: { raw: Buffer; envelope: Envelope }[] = [];
const sender: MailSender = {
  async send(raw, envelope) {
    sent.push({ raw, envelope });
    return { accepted: [...envelope.to], rejected: [], response: '250 OK' };
  },
  async close() {},
};
let uid = 0;
const ctx = (over: Partial<IntakeContext> = {}): IntakeContext => ({ mailbox: 'INBOX', uid: ++uid, now: NOW, config, sender, ...over });

interface MailInput {
  messageId?: string | false;
  attachments?: { filename: string; content: Buffer | string; contentType?: string }[];
  receipt?: boolean;
  headers?: Record<string, string>;
}
let seq = 0;
async function mail(m: MailInput = {}): Promise<Buffer> {
  const id = m.messageId === undefined ? `<intake-${++seq}@pharmacien.demo.mssante.fr>` : m.messageId;
  const composer = new MailComposer({
    from: OFFICINE,
    to: BAL,
    subject: 'XDM/1.0/DDM+Bilan partagé de médication',
    text: 'Bonjour, ci-joint le BPM.',
    ...(id ? { messageId: id } : {}),
    date: new Date(NOW),
    headers: { ...(m.receipt === false ? {} : { 'Disposition-Notification-To': OFFICINE }), ...m.headers },
    attachments: m.attachments ?? [],
  });
  const raw = await composer.compile().build();
  // MailComposer always writes a Message-ID; a mail without one is made by dropping the header.
  return id === false ? Buffer.from(raw.toString('latin1').replace(/^Message-ID:.*\r\n/im, ''), 'latin1') : raw;
}
const jsonAttachment = (doc: unknown) => ({ filename: 'bpm.json', content: JSON.stringify(doc), contentType: 'application/json' });

const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');
function metadataOf(docs: readonly { name: string; bytes: Buffer; mime: string }[]): string {
  const entries = docs
    .map(
      (d, i) => `<rim:ExtrinsicObject id="Document${i + 1}" mimeType="${d.mime}" objectType="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1">
  <rim:Slot name="URI"><rim:ValueList><rim:Value>${d.name}</rim:Value></rim:ValueList></rim:Slot>
  <rim:Slot name="hash"><rim:ValueList><rim:Value>${sha1(d.bytes)}</rim:Value></rim:ValueList></rim:Slot>
  <rim:Slot name="size"><rim:ValueList><rim:Value>${d.bytes.length}</rim:Value></rim:ValueList></rim:Slot>
</rim:ExtrinsicObject>`,
    )
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<lcm:SubmitObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0" xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">
<rim:RegistryObjectList>
${entries}
</rim:RegistryObjectList>
</lcm:SubmitObjectsRequest>`;
}
/** An IHE_XDM.ZIP of these documents (SUBSET01), with README and METADATA; `extra` entries and a metadata override. */
async function xdm(docs: readonly { name: string; bytes: Buffer; mime: string }[], o: { extra?: { name: string; data: Buffer | string }[]; metadata?: string } = {}): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  zip.addBuffer(Buffer.from('README'), 'README.TXT');
  zip.addBuffer(Buffer.from(o.metadata ?? metadataOf(docs)), 'IHE_XDM/SUBSET01/METADATA.XML');
  for (const d of docs) zip.addBuffer(d.bytes, `IHE_XDM/SUBSET01/${d.name}`);
  for (const e of o.extra ?? []) zip.addBuffer(Buffer.from(e.data), e.name);
  zip.end();
  return buffer(zip.outputStream);
}
const xdmAttachment = (zip: Buffer) => ({ filename: 'IHE_XDM.ZIP', content: zip, contentType: 'application/zip' });
const jsonDoc = (doc: unknown) => ({ name: 'DOC0001.JSON', bytes: Buffer.from(JSON.stringify(doc)), mime: 'application/json' });
function cda(ins: boolean): Buffer {
  return Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3">
  <id root="1.2.250.1.999.2.590002234.9" extension="BPM-CDA-1"/>
  <code code="BPM" codeSystem="1.2.250.1.213.1.1.4.12"/>
  <effectiveTime value="20250224174500+0100"/>
  <recordTarget><patientRole>
    ${ins ? '<id root="1.2.250.1.213.1.4.10" extension="247051411803232"/>' : ''}
    <id root="1.2.250.1.999.2.590002234" extension="CLI-CDA"/>
    <patient><name><family qualifier="BR">LAROQUE</family><given>Thérèse</given></name>
      <administrativeGenderCode code="F"/><birthTime value="19470521"/></patient>
  </patientRole></recordTarget>
</ClinicalDocument>`);
}
const cdaDoc = (ins = true) => ({ name: 'DOC0001.XML', bytes: cda(ins), mime: 'text/xml' });

/** Every stored resource, counted by type (CarePlan, Patient, Task, Provenance…), and the audit rows. */
async function counts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const type of ['CarePlan', 'Patient', 'Task', 'MedicationStatement', 'Practitioner', 'Organization', 'Composition', 'Provenance']) {
    out[type] = (await store.search({ resourceType: type, predicates: [], count: 1, offset: 0, total: true })).total ?? -1;
  }
  out.audit = (await store.auditLog({ limit: 100_000 })).length;
  out.identities = (await store.identities.listReviews({ limit: 1000, offset: 0 })).total;
  return out;
}

/** The MDN sent for the last mail: parsed back with parseReport. */
async function lastMdn(): Promise<MdnReport> {
  const last = sent.at(-1);
  expect(last).toBeDefined();
  expect(last?.envelope).toEqual({ from: BAL, to: [OFFICINE] });
  const report = await parseReport(last?.raw as Buffer);
  expect(report?.kind).toBe('mdn');
  return report as MdnReport;
}

describe.each(dialects)('MSSanté intake (%s)', (_dialect, open) => {
  let pppId: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'passerelle-intake-'));
    opened = await open(dir);
    store = opened.store;
    // The hospital's PPP for Thérèse LAROQUE (VALI, with her INS): the patient the gateway knows.
    const ppp = { ...fixture('ppp/town-async-rcp.json'), patient: patientAs(HOSPITAL, 'IPP-LAROQUE') };
    const b = await submitDocument(store, 'ppp', ppp, { now: NOW, actor: 'test', fhirBase: 'http://test/fhir' });
    pppId = b.entry?.map((e) => e.resource).find((r) => r?.resourceType === 'CarePlan')?.id as string;
  });
  afterAll(async () => {
    await store.close();
    await opened.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const bpmLinks = async (): Promise<string[]> =>
    ((await store.read<CarePlan>('CarePlan', pppId))?.supportingInfo ?? []).map((r) => r.reference as string).filter((r) => r.startsWith('CarePlan/'));

  describe('a BPM of a known patient', () => {
    it('as a JSON attachment: stored, linked to the PPP, audited under mssante:<from>, intake row and MDN "processed"', async () => {
      const raw = await mail({ attachments: [jsonAttachment(bpmOf('BPM-MAIL-1', patientAs(PHARMACY, 'CLI-LAROQUE')))] });
      const out = await takeIn(store, raw, ctx());
      expect(out).toMatchObject({ state: 'processed', messageId: `<intake-${seq}@pharmacien.demo.mssante.fr>` });
      expect(out.resource).toMatch(/^CarePlan\//);
      const plan = await store.read<CarePlan>('CarePlan', (out.resource as string).slice('CarePlan/'.length));
      expect(plan?.status).toBe('active');
      expect(await bpmLinks()).toContain(out.resource);
      const row = await store.mssante.intake(out.messageId);
      expect(row).toMatchObject({ state: 'processed', mailbox: 'INBOX', sender: OFFICINE, resource: out.resource });
      const audit = await store.auditLog({ entity: out.resource as string });
      expect(audit.map((a) => [a.action, a.actor])).toContainEqual(['bpm.submit', `mssante:${OFFICINE}`]);
      const mdn = await lastMdn();
      expect(mdn).toMatchObject({ disposition: 'processed', originalMessageId: out.messageId, finalRecipient: BAL });
      expect(mdn.error).toBeUndefined();
      expect(out.mdn?.equals(sent.at(-1)?.raw as Buffer)).toBe(true);
    });

    it('as an attachment in a vendor format (file name of a BPM format): mapped, stored and linked; a failing run refuses it, nothing stored', async () => {
      const base = fakeMapping('lgo-csv', { fileNames: ['*.lgo.csv'], mediaTypes: ['application/vnd.lgo.bpm+csv'] });
      const lgo = {
        ...base,
        async run(input: Buffer | string) {
          const text = String(input);
          if (text.startsWith('FAIL')) throw new MappingFailure('lgo-csv', [{ severity: 'error', code: 'parse-error', message: 'no header row', mapping: 'lgo-csv', rule: 'csv', inputPath: 'line 1' }]);
          return { ...(await base.run('x')), document: bpmOf(text.trim(), patientAs(PHARMACY, 'CLI-LAROQUE')) };
        },
      };
      const attachments = attachmentMapper({ current: () => fakeSet([lgo]) });
      const raw = await mail({ attachments: [{ filename: 'export-0301.LGO.csv', content: 'BPM-MAIL-LGO', contentType: 'text/csv' }] });
      const out = await takeIn(store, raw, ctx({ attachments }));
      expect(out).toMatchObject({ state: 'processed' });
      expect(await bpmLinks()).toContain(out.resource);
      const before = await counts();
      const bad = await takeIn(store, await mail({ attachments: [{ filename: 'x.bin', content: 'FAIL', contentType: 'application/vnd.lgo.bpm+csv' }] }), ctx({ attachments }));
      expect(bad.state).toBe('error');
      expect(JSON.stringify(bad)).toMatch(/mapping lgo-csv: no header row \(rule csv, input line 1\)/);
      const after = await counts();
      expect({ ...after, audit: 0 }).toEqual({ ...before, audit: 0 });
    });

    it('as a JSON document inside IHE_XDM.ZIP, beside a CDA that parses: stored and linked', async () => {
      const zip = await xdm([cdaDoc(), jsonDoc(bpmOf('BPM-MAIL-XDM', patientAs(PHARMACY, 'CLI-LAROQUE')))]);
      const out = await takeIn(store, await mail({ attachments: [xdmAttachment(zip)] }), ctx());
      expect(out.state).toBe('processed');
      expect(await bpmLinks()).toContain(out.resource);
    });

    it('the same mail again (same Message-ID): a duplicate, nothing written, no second MDN', async () => {
      const raw = await mail({ messageId: '<dup-1@pharmacien.demo.mssante.fr>', attachments: [jsonAttachment(bpmOf('BPM-DUP', patientAs(PHARMACY, 'CLI-LAROQUE')))] });
      expect((await takeIn(store, raw, ctx())).state).toBe('processed');
      const before = await counts();
      const mdns = sent.length;
      expect(await takeIn(store, raw, ctx())).toEqual({ state: 'duplicate', messageId: '<dup-1@pharmacien.demo.mssante.fr>' });
      expect(await counts()).toEqual(before);
      expect(sent.length).toBe(mdns);
    });

    it('a mail without a Message-ID is keyed by the SHA-256 of its bytes', async () => {
      const raw = await mail({ messageId: false, receipt: false, attachments: [jsonAttachment(bpmOf('BPM-NOID', patientAs(PHARMACY, 'CLI-LAROQUE')))] });
      expect(raw.toString('latin1')).not.toMatch(/^Message-ID:/im);
      const out = await takeIn(store, raw, ctx());
      expect(out).toMatchObject({ state: 'processed', messageId: `sha256:${createHash('sha256').update(raw).digest('hex')}` });
      expect(out.mdn).toBeUndefined();
      expect((await takeIn(store, raw, ctx())).state).toBe('duplicate');
    });

    it('an MDN that cannot be sent is logged; the intake stands', async () => {
      const failing: MailSender = { send: () => Promise.reject(new Error('SMTP down')), close: async () => {} };
      const warn = vi.fn();
      const out = await takeIn(store, await mail({ attachments: [jsonAttachment(bpmOf('BPM-SMTP-DOWN', patientAs(PHARMACY, 'CLI-LAROQUE')))] }), ctx({ sender: failing, logger: { info: () => undefined, warn, error: () => undefined } }));
      expect(out.state).toBe('processed');
      expect(await store.mssante.intake(out.messageId)).toMatchObject({ state: 'processed' });
      expect(warn).toHaveBeenCalledOnce();
    });

    it('with the poller\'s queue: takeIn returns once the MDN is handed over, sent after the commit; a failed send is logged when it settles', async () => {
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      const started: (string | undefined)[] = [];
      const slow: MailSender = {
        async send(raw) {
          const report = await parseReport(raw);
          // The intake row is committed when the MDN goes.
          started.push((await store.mssante.intake(report?.kind === 'mdn' ? (report.originalMessageId ?? '') : ''))?.state);
          await held;
          throw new Error('SMTP down');
        },
        close: async () => {},
      };
      const warn = vi.fn();
      const queue = new BackgroundQueue(4);
      const out = await takeIn(store, await mail({ attachments: [jsonAttachment(bpmOf('BPM-QUEUED', patientAs(PHARMACY, 'CLI-LAROQUE')))] }), ctx({ sender: slow, mdnQueue: queue, logger: { info: () => undefined, warn, error: () => undefined } }));
      expect(out.state).toBe('processed');
      expect(out.mdn).toBeDefined();
      expect(queue.size).toBe(1);
      expect(await queue.drain(50)).toBe(false);
      expect(started).toEqual(['processed']);
      expect(warn).not.toHaveBeenCalled();
      release();
      expect(await queue.drain(5_000)).toBe(true);
      expect(queue.size).toBe(0);
      expect(warn).toHaveBeenCalledOnce();
    });
  });

  describe('identity outcomes', () => {
    it('an uncertain patient (same traits, both provisional): stored on hold awaiting identity, not on the PPP', async () => {
      const prov = { status: 'PROV', ins: undefined, usedName: undefined };
      // The hospital knows Mme LAROQUE under another IPP, provisional; the pharmacy sends the same traits, provisional.
      await submitDocument(store, 'ppp', { ...fixture('ppp/town-async-rcp.json'), id: 'PPP-PROV', patient: patientAs(HOSPITAL, 'IPP-PROV', { ...prov, birthName: 'LAFOND' }) }, { now: NOW, actor: 'test', fhirBase: 'http://test/fhir' });
      const out = await takeIn(store, await mail({ attachments: [jsonAttachment(bpmOf('BPM-UNCERTAIN', patientAs(PHARMACY, 'CLI-LAFOND', { ...prov, birthName: 'LAFOND' })))] }), ctx());
      expect(out).toMatchObject({ state: 'processed', detail: 'held: awaiting identity' });
      const plan = await store.read<CarePlan>('CarePlan', (out.resource as string).split('/')[1]);
      expect(plan?.status).toBe('on-hold');
      expect(await bpmLinks()).not.toContain(out.resource);
      expect((await lastMdn()).disposition).toBe('processed');
    });

    const refused = async (raw: Buffer, code: number, detail?: RegExp): Promise<void> => {
      const before = await counts();
      const out = await takeIn(store, raw, ctx());
      expect(out.state, out.detail).toBe('error');
      expect(out.code, out.detail).toBe(code);
      if (detail) expect(out.detail).toMatch(detail);
      expect(await counts()).toEqual(before);
      expect(await store.mssante.intake(out.messageId)).toMatchObject({ state: 'error', code: String(code), sender: OFFICINE });
      const mdn = await lastMdn();
      expect(mdn.disposition).toBe('processed');
      expect(mdn.error?.code).toBe(code);
      expect((await simpleParser(sent.at(-1)?.raw as Buffer)).subject).toMatch(new RegExp(`^\\[KO Intégration système !\\]\\[${code}\\] XDM/1\\.0/DDM\\+`));
    };

    it('902: a patient the registry does not know at all; nothing stored', async () => {
      const stranger = { sourceId: { system: PHARMACY, value: 'CLI-INCONNU' }, status: 'VALI', birthName: 'ZYGMUNTOWICZ', firstBirthGivenName: 'Wladyslaw', birthDate: '1931-11-02', sex: 'M', birthPlaceInsee: '99122' };
      await refused(await mail({ attachments: [jsonAttachment(bpmOf('BPM-UNKNOWN', stranger))] }), 902, /no identity/);
    });

    it('903: a QUAL identity without its INS; a CDA-only XDM whose recordTarget has no INS', async () => {
      await refused(await mail({ attachments: [jsonAttachment(bpmOf('BPM-NOINS', patientAs(PHARMACY, 'CLI-LAROQUE', { status: 'QUAL', ins: undefined })))] }), 903);
      await refused(await mail({ attachments: [xdmAttachment(await xdm([cdaDoc(false)]))] }), 903, /recordTarget/);
    });

    it('904: the INS is known with other strict traits (birth date)', async () => {
      await refused(await mail({ attachments: [jsonAttachment(bpmOf('BPM-COLP', patientAs(PHARMACY, 'CLI-COLP', { birthDate: '1947-05-22' })))] }), 904, /birthDate/);
    });

    it('905: a strict trait missing', async () => {
      const noName: Record<string, unknown> = patientAs(PHARMACY, 'CLI-LAROQUE');
      delete noName.birthName;
      await refused(await mail({ attachments: [jsonAttachment(bpmOf('BPM-NONAME', noName))] }), 905, /birthName/);
    });

    it('906: an XDM with only a CDA (a BPM needs its medication lines), explained', async () => {
      await refused(await mail({ attachments: [xdmAttachment(await xdm([cdaDoc(true)]))] }), 906, /medication list/);
    });
  });

  describe('hostile input: 906, nothing stored, never a crash', () => {
    const good = bpmOf('BPM-HOSTILE', patientAs(PHARMACY, 'CLI-LAROQUE'));
    const refused906 = async (raw: Buffer, detail: RegExp): Promise<void> => {
      const before = await counts();
      const out = await takeIn(store, raw, ctx());
      expect(out.state, out.detail).toBe('error');
      expect(out.code, out.detail).toBe(906);
      expect(out.detail).toMatch(detail);
      expect(await counts()).toEqual(before);
      expect(await store.mssante.intake(out.messageId)).toMatchObject({ state: 'error', code: '906' });
      const mdn = await lastMdn();
      expect(mdn.error?.code).toBe(906);
    };
    const withXdm = async (zip: Buffer) => mail({ attachments: [xdmAttachment(zip)] });
    /** Renames entry `index` of a yazl zip in both headers (same byte length). */
    const renamed = (zip: Buffer, from: string, to: string): Buffer => {
      const out = Buffer.from(zip);
      let at = out.indexOf(Buffer.from(from));
      while (at >= 0) {
        Buffer.from(to).copy(out, at);
        at = out.indexOf(Buffer.from(from), at + 1);
      }
      return out;
    };

    it('zip slip ("..", absolute path)', async () => {
      const zip = await xdm([jsonDoc(good)], { extra: [{ name: 'QQ/evil.txt', data: 'x' }] });
      await refused906(await withXdm(renamed(zip, 'QQ/evil.txt', '../evil.txt')), /unsafe-path/);
      const abs = await xdm([jsonDoc(good)], { extra: [{ name: 'Qetc/passwd', data: 'x' }] });
      await refused906(await withXdm(renamed(abs, 'Qetc/passwd', '/etc/passwd')), /unsafe-path/);
    });

    it('more than 100 entries', async () => {
      const extra = Array.from({ length: 100 }, (_, i) => ({ name: `E${i}.TXT`, data: 'x' }));
      await refused906(await withXdm(await xdm([jsonDoc(good)], { extra })), /too-many-entries/);
    });

    it('a zip bomb (ratio) and more bytes than the limit', async () => {
      await refused906(await withXdm(await xdm([jsonDoc(good)], { extra: [{ name: 'BOMB.BIN', data: Buffer.alloc(8 * 1024 * 1024) }] })), /compression-ratio/);
      const small: MssanteConfig = { ...config, limits: { ...config.limits, maxUncompressedBytes: 2000 } };
      const before = await counts();
      const out = await takeIn(store, await withXdm(await xdm([jsonDoc(good)])), ctx({ config: small }));
      expect(out).toMatchObject({ state: 'error', code: 906 });
      expect(out.detail).toMatch(/too-large/);
      expect(await counts()).toEqual(before);
    });

    it('a message over maxMessageBytes is refused unread', async () => {
      const small: MssanteConfig = { ...config, limits: { ...config.limits, maxMessageBytes: 1000 } };
      const raw = await mail({ attachments: [jsonAttachment(good)] });
      const out = await takeIn(store, raw, ctx({ config: small }));
      expect(out).toMatchObject({ state: 'error', code: 906 });
      expect(out.detail).toMatch(/more than 1000/);
    });

    it('a DTD / external entity in METADATA.XML', async () => {
      const doc = jsonDoc(good);
      const metadata = metadataOf([doc]).replace('<?xml version="1.0" encoding="UTF-8"?>\n', '<?xml version="1.0"?>\n<!DOCTYPE lcm:SubmitObjectsRequest [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n');
      await refused906(await withXdm(await xdm([doc], { metadata })), /metadata-dtd/);
    });

    it('a CDA that does not parse, or carries a DTD', async () => {
      const broken = { name: 'DOC0001.XML', bytes: Buffer.from('<ClinicalDocument xmlns="urn:hl7-org:v3"><id></ClinicalDocument>'), mime: 'text/xml' };
      await refused906(await withXdm(await xdm([broken, jsonDoc(good)])), /CDA does not parse/);
      const dtd = { name: 'DOC0001.XML', bytes: Buffer.from('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><ClinicalDocument xmlns="urn:hl7-org:v3">&e;</ClinicalDocument>'), mime: 'text/xml' };
      await refused906(await withXdm(await xdm([dtd, jsonDoc(good)])), /DOCTYPE/);
    });

    it('deep JSON, huge fields, control and bidi characters, wrong types, not JSON', async () => {
      const deep = JSON.stringify({ ...good, deep: 0 }).replace('"deep":0', `"deep":${'['.repeat(5000)}${']'.repeat(5000)}`);
      await refused906(await mail({ attachments: [{ filename: 'bpm.json', content: deep, contentType: 'application/json' }] }), /nested/);
      await refused906(await mail({ attachments: [jsonAttachment({ ...good, conclusions: { date: '2025-02-10T16:30:00+01:00', text: 'x'.repeat(100_000) } })] }), /longer than/);
      await refused906(await mail({ attachments: [jsonAttachment({ ...good, conclusions: { date: '2025-02-10T16:30:00+01:00', text: 'ok\u0007' } })] }), /U\+0007/);
      await refused906(await mail({ attachments: [jsonAttachment({ ...good, patient: { ...(good.patient as object), birthName: 'LAROQUE\u202eEUQ' } })] }), /U\+202E/);
      await refused906(await mail({ attachments: [jsonAttachment({ ...good, year: '2025' })] }), /bpm\.year/);
      await refused906(await mail({ attachments: [jsonAttachment({ ...good, patient: { ...(good.patient as object), birthName: 42 } })] }), /birthName/);
      await refused906(await mail({ attachments: [{ filename: 'bpm.json', content: '{"id": ', contentType: 'application/json' }] }), /not JSON/);
    });

    it('no BPM at all, or two', async () => {
      await refused906(await mail({ attachments: [{ filename: 'note.txt', content: 'bonjour' }] }), /no BPM/);
      await refused906(await mail({ attachments: [jsonAttachment(good), { ...jsonAttachment(good), filename: 'other.json' }] }), /2 BPM documents/);
    });

    it('malformed MIME and garbage never throw', async () => {
      for (const raw of [Buffer.from(''), Buffer.from('\u0000\u0001garbage\r\n\r\n'), Buffer.from('Content-Type: multipart/mixed; boundary="x"\r\n\r\n--x\r\nContent-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n\r\n%%%%\r\n')]) {
        const out = await takeIn(store, raw, ctx());
        expect(out.state).toBe('error');
        expect(out.code).toBe(906);
      }
    });

    it('property: a mail with bytes changed anywhere is taken in or refused, never a throw; refused, nothing is stored', async () => {
      const zip = await xdm([cdaDoc(), jsonDoc(bpmOf('BPM-PROP', patientAs(PHARMACY, 'CLI-LAROQUE')))]);
      const template = await mail({ messageId: '<prop-00000000@pharmacien.demo.mssante.fr>', attachments: [xdmAttachment(zip)] });
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), async (changes) => {
          const id = `prop-${String(++run).padStart(8, '0')}`;
          const raw = Buffer.from(template.toString('latin1').replace('prop-00000000', id), 'latin1');
          for (const [at, byte] of changes) raw[at % raw.length] = byte;
          const before = await counts();
          const out = await takeIn(store, raw, ctx({ sender: undefined }));
          expect(['processed', 'error', 'duplicate']).toContain(out.state);
          if (out.state === 'error') expect(await counts()).toEqual(before);
        }),
        { numRuns: 40 },
      );
    });
  });

  describe('receipts', () => {
    it('an MDN received is handed to applyReport and recorded as a report; no MDN answers it', async () => {
      const spy = vi.mocked(applyReport);
      spy.mockClear();
      const mdn = await buildMdn({ ourMailbox: OFFICINE, to: BAL, originalMessageId: '<ours-1@ch-test.mssante.fr>', messageId: '<mdn-1@pharmacien.demo.mssante.fr>' });
      const mdns = sent.length;
      const out = await takeIn(store, mdn, ctx());
      expect(out).toMatchObject({ state: 'report', messageId: '<mdn-1@pharmacien.demo.mssante.fr>' });
      expect(spy).toHaveBeenCalledOnce();
      expect(spy.mock.calls[0][1]).toMatchObject({ kind: 'mdn', originalMessageId: '<ours-1@ch-test.mssante.fr>', disposition: 'processed' });
      expect(await store.mssante.intake(out.messageId)).toMatchObject({ state: 'report' });
      expect(sent.length).toBe(mdns);
      expect((await takeIn(store, mdn, ctx())).state).toBe('duplicate');
      expect(spy).toHaveBeenCalledOnce();
    });
  });
});

describe('BackgroundQueue', () => {
  it('runs at most `limit` tasks at once: add waits for a free slot; drain waits for all, or says it timed out', async () => {
    const queue = new BackgroundQueue(2);
    const releases: (() => void)[] = [];
    const task = () => new Promise<void>((r) => releases.push(r));
    await queue.add(task);
    await queue.add(task);
    let third = false;
    const adding = queue.add(task).then(() => (third = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(third).toBe(false);
    expect(queue.size).toBe(2);
    releases[0]();
    await adding;
    expect(queue.size).toBe(2);
    expect(await queue.drain(20)).toBe(false);
    // A task that throws settles too.
    const failing = queue.add(() => Promise.reject(new Error('lost')));
    releases[1]();
    await failing;
    releases[2]();
    expect(await queue.drain(1_000)).toBe(true);
    expect(queue.size).toBe(0);
  });
});
