// The outgoing MSSanté message: composed for fixture documents, parsed back with mailparser; the headers follow the
// rules of fr-interop §3.4–3.5, the IHE_XDM.ZIP attached is the package of the DMP route's submission.
import { simpleParser, type ParsedMail } from 'mailparser';
import { beforeAll, describe, expect, it } from 'vitest';
import { composeMssanteMessage, MssanteMessageRefused, type MssanteMessageInput } from '../../../src/connectors/mssante/message.js';
import { buildDocument, type BuiltDocument } from '../../../src/documents/pipeline.js';
import { loadDocumentSettings } from '../../../src/documents/settings.js';
import { buildXdmPackage, readXdmPackage } from '../../../src/documents/xdm.js';
import { fixtureRequest } from '../../documents/requests.js';

const SOURCE_ID = '1.2.250.1.999.42.0';
const DATE = new Date('2025-03-01T10:45:12Z');
const FROM = { address: 'passerelle@ch-test.mssante.fr', name: 'Passerelle', organization: 'CH de Test' };
const TO = ['dr.martin@medecin.mssante.fr', 'pharmacie.centrale@pharmacien.mssante.fr'];
const SOFTWARE = { name: 'Passerelle', version: '0.1.0', vendor: 'Passerelle' };
const NIL = 'NIL-TEST-0001';

const settings = loadDocumentSettings();
const FIXTURES = [
  ['ppp', 'hospital-sync-rcp'],
  ['ctm', 'transfer-proactive'],
  ['bpm', 'self-medication-remote'],
] as const;
const built = new Map<string, BuiltDocument>();
let vali: BuiltDocument;

beforeAll(async () => {
  for (const [kind, name] of FIXTURES) built.set(name, await buildDocument(fixtureRequest(kind, name), settings, { sourceId: SOURCE_ID }));
  // An INS whose identity is only validated (VALI), not qualified: the DMP route builds it, the INS is not qualified.
  const q = built.get('hospital-sync-rcp')!;
  vali = { ...q, header: { ...q.header, patient: { ...q.header.patient, status: 'VALI' } } };
}, 60_000);

const input = (b: BuiltDocument, over: Partial<MssanteMessageInput> = {}): MssanteMessageInput => ({ built: b, from: FROM, to: TO, nil: NIL, software: SOFTWARE, date: DATE, ...over });
const qual = (): BuiltDocument => built.get('hospital-sync-rcp')!;
const header = (m: ParsedMail, name: string): string | undefined => {
  const v = m.headers.get(name.toLowerCase());
  return v === undefined ? undefined : String(typeof v === 'object' && v !== null && 'text' in v ? (v as { text: string }).text : v);
};

async function refusal(p: Promise<unknown>): Promise<MssanteMessageRefused> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(MssanteMessageRefused);
  return err as MssanteMessageRefused;
}

describe('composeMssanteMessage', () => {
  it.each(FIXTURES)('%s %s: subject, headers, PDF and IHE_XDM.ZIP round-trip through mailparser', async (_kind, name) => {
    const b = built.get(name)!;
    const msg = await composeMssanteMessage(input(b));
    expect(msg.raw.includes('\r\n')).toBe(true);
    const m = await simpleParser(msg.raw);
    expect(m.subject).toBe(`XDM/1.0/DDM+${b.header.title}`);
    expect(m.from?.value).toEqual([{ address: FROM.address, name: FROM.name }]);
    expect((Array.isArray(m.to) ? m.to : [m.to!]).flatMap((t) => t.value.map((v) => v.address))).toEqual(TO);
    expect(m.messageId).toBe(msg.messageId);
    expect(m.date?.toISOString()).toBe(DATE.toISOString());
    expect(header(m, 'X-MSS-CODECDA')).toBe(b.header.typeCode.code);
    expect(header(m, 'X-MSS-INS')).toBe('O');
    expect(header(m, 'X-MSS-NIL')).toBe(NIL);
    expect(header(m, 'X-MSS-MES')).toBeUndefined();
    expect(header(m, 'Disposition-Notification-To')).toBeUndefined();
    // The body names no patient: neither INS nor name.
    expect(m.text).toContain(b.header.title);
    expect(m.text).not.toContain(b.header.patient.ins!.matricule);
    expect(m.text).not.toContain(b.header.patient.birthName);

    expect(m.attachments.map((a) => [a.filename, a.contentType])).toEqual([
      [`${b.header.kind.toUpperCase()}.pdf`, 'application/pdf'],
      ['IHE_XDM.ZIP', 'application/zip'],
    ]);
    expect(m.attachments[0]!.content.equals(b.pdf)).toBe(true);
    const zip = m.attachments[1]!.content;
    expect(zip.equals(await buildXdmPackage({ built: b, sender: { name: FROM.name, organization: FROM.organization, address: FROM.address }, software: SOFTWARE, date: DATE }))).toBe(true);
    const xdm = await readXdmPackage(zip);
    expect(xdm.documents.map((d) => d.path)).toEqual(['IHE_XDM/SUBSET01/DOC0001.XML']);
    expect(xdm.documents[0]!.bytes.equals(b.cda)).toBe(true);
  });

  it('X-MSS-INS is N for an identity that is not qualified', async () => {
    expect(vali.header.patient.status).not.toBe('QUAL');
    const m = await simpleParser((await composeMssanteMessage(input(vali))).raw);
    expect(header(m, 'X-MSS-INS')).toBe('N');
  });

  it('a receipt asks Disposition-Notification-To the From address; a patient who must not reply gets X-MSS-MES: FIN', async () => {
    const b = qual();
    const patient = `${b.header.patient.ins!.matricule}@patient.mssante.fr`;
    const msg = await composeMssanteMessage(input(b, { to: [patient], receipt: true, noReply: true }));
    const m = await simpleParser(msg.raw);
    expect(header(m, 'Disposition-Notification-To')).toContain(FROM.address);
    expect(header(m, 'X-MSS-MES')).toBe('FIN');
    expect(msg.headers['X-MSS-MES']).toBe('FIN');
  });

  it('the Message-ID is stable for the same version and recipients, different for another version or recipient set', async () => {
    const b = qual();
    const a1 = await composeMssanteMessage(input(b));
    const a2 = await composeMssanteMessage(input(b, { to: [...TO].reverse().map((t) => t.toUpperCase()) }));
    expect(a2.messageId).toBe(a1.messageId);
    expect((await composeMssanteMessage(input(b))).raw.equals(a1.raw)).toBe(true);
    expect(a1.messageId).toMatch(new RegExp(`^<${b.header.ids.id.replace(/\./g, '\\.')}\\.1\\.[0-9a-f]{16}@ch-test\\.mssante\\.fr>$`));
    const other = await composeMssanteMessage(input(b, { to: [TO[0]!] }));
    expect(other.messageId).not.toBe(a1.messageId);
    const v2 = { ...b, header: { ...b.header, ids: { ...b.header.ids, version: 2 } } };
    expect((await composeMssanteMessage(input(v2))).messageId).not.toBe(a1.messageId);
  });

  it.each([
    ['To', { to: ['dr.martin@medecin.mssante.fr\r\nBcc: evil@example.com'] }, 'header-injection'],
    ['From', { from: { ...FROM, address: 'passerelle@ch-test.mssante.fr\nX-Evil: 1' } }, 'header-injection'],
    ['From name', { from: { ...FROM, name: 'Passerelle\r\nBcc: evil@example.com' } }, 'header-injection'],
    ['X-MSS-NIL', { nil: 'NIL\r\nX-Evil: 1' }, 'header-injection'],
    ['To, not an address', { to: ['Dr Martin <dr.martin@medecin.mssante.fr>'] }, 'invalid-address'],
    ['To, a list', { to: ['a@medecin.mssante.fr,b@medecin.mssante.fr'] }, 'invalid-address'],
    ['no recipient', { to: [] }, 'no-recipient'],
    ['no reply to a professional', { noReply: true }, 'no-reply-without-patient'],
  ] as const)('refuses %s', async (_name, over, reason) => {
    expect((await refusal(composeMssanteMessage(input(qual(), over as Partial<MssanteMessageInput>)))).reason).toBe(reason);
  });

  it('refuses a title with a line break (the subject would be injected)', async () => {
    const b = qual();
    const bad = { ...b, header: { ...b.header, title: 'PPP\r\nBcc: evil@example.com' } };
    expect((await refusal(composeMssanteMessage(input(bad)))).reason).toBe('header-injection');
  });

  it('patient messaging only for a qualified INS, and only to the INS of the document', async () => {
    expect((await refusal(composeMssanteMessage(input(vali, { to: ['279035121518989@patient.mssante.fr'] })))).reason).toBe('patient-not-qualified');
    const b = qual();
    const other = b.header.patient.ins!.matricule === '279035121518989' ? '180035121518907@patient.mssante.fr' : '279035121518989@patient.mssante.fr';
    expect((await refusal(composeMssanteMessage(input(b, { to: [other] })))).reason).toBe('patient-not-qualified');
  });
});
