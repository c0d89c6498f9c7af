// The MSSanté flow end to end, over real sockets: the local peer (SMTP with mutual TLS in front of a real Dovecot) with
// the demo mailboxes, and a gateway (HTTP, outbox dispatcher, IMAP intake poller, SQLite) pointing to it.
// A PPP posted is mailed to the médecin traitant and the pharmacien d'officine as IHE XDM (ebRS metadata valid, hash and
// size of the CDA right, CDA valid, the PDF beside it); the MT's "displayed" receipt comes back through the BAL APP and
// shows as read on the FHIR Communication and in /admin/outbox; the officine's BPM mailed back is taken in, joins the
// PPP, is moved to Processed and answered with an MDN "processed"; an unknown patient's BPM is answered 902, moved to
// Error, nothing stored; an organisation certificate from another CA is refused at the handshake: retried, then dead.
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Bundle, CarePlan, Communication } from '@medplum/fhirtypes';
import { simpleParser, type ParsedMail } from 'mailparser';
import MailComposer from 'nodemailer/lib/mail-composer';
import { pino } from 'pino';
import yauzl from 'yauzl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/api/app.js';
import { mountDomainRoutes } from '../../src/api/domain-routes.js';
import { configFrom, type Config } from '../../src/config.js';
import { parseReport, type MdnReport } from '../../src/connectors/mssante/mdn.js';
import { smtpSender, type MailSender } from '../../src/connectors/mssante/transport.js';
import type { MssantePayload } from '../../src/connectors/mssante/payload.js';
import { readXdmPackage } from '../../src/documents/xdm.js';
import { loadDocumentSettings } from '../../src/documents/settings.js';
import { MSSANTE_DELIVERY_EXTENSION } from '../../src/fhir/mssante-communication.js';
import { dovecotInstalled } from '../../src/sandbox/mssante/dovecot.js';
import { DEMO_MAILBOXES } from '../../src/sandbox/mssante/mailboxes.js';
import { readMailbox, sendToPeer, startMssantePeer, type MailboxMessage, type MssantePeer } from '../../src/sandbox/mssante/peer.js';
import { generateTestPki, type TestPki } from '../../src/sandbox/pki.js';
import { loadMailTls, startMssanteIntake, type RunningIntake } from '../../src/services/mssante-intake.js';
import { startDispatcher, type RunningDispatcher } from '../../src/services/outbox-dispatch.js';
import type { OutboxMessage } from '../../src/store/outbox-repository.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { haveShared, validateXds } from '../connectors/dmp/xds-schemas.js';
import { haveCdaSchema, validateCda } from '../documents/cda-schemas.js';
import { waitFor } from '../outbox/receiver.js';
import { available } from '../support/shared.js';

const haveDovecot = available('Dovecot (/usr/sbin/dovecot with dovecot-imapd and dovecot-lmtpd)', dovecotInstalled(), 'the MSSanté end-to-end flow');

const BAL = DEMO_MAILBOXES.gateway;
const MT = DEMO_MAILBOXES.mt;
const PHO = DEMO_MAILBOXES.pho;
const PHARMACY = 'urn:oid:1.2.250.1.999.2.590002234';
const json = { 'content-type': 'application/json' };
const settings = loadDocumentSettings();
const sourceId = '1.2.250.1.999.42.0';

type Team = { role: string; practitioner: Record<string, unknown> }[];
const pppFixture = (): Record<string, unknown> & { team: Team; patient: Record<string, unknown> } =>
  JSON.parse(readFileSync('test/fixtures/ppp/ppp-12-medicines.json', 'utf8')) as never;
/** The demo PPP (a QUAL patient with her INS), its MT and PHO writing from the demo mailboxes. */
function demoPpp(id: string): Record<string, unknown> {
  const doc = pppFixture();
  doc.id = id;
  for (const t of doc.team) {
    if (t.role === 'medecin-traitant') t.practitioner.email = MT;
    else if (t.role === 'pharmacien-officine') t.practitioner.email = PHO;
    else delete t.practitioner.email;
  }
  return doc;
}
const bpmOf = (id: string, patient: Record<string, unknown>): Record<string, unknown> => ({
  ...(JSON.parse(readFileSync('test/fixtures/bpm/self-medication-remote.json', 'utf8')) as Record<string, unknown>),
  id,
  patient,
});

/** A mail as the officine's mail client writes it: the BPM as a JSON attachment, a receipt asked for. */
async function officineMail(messageId: string, bpm: unknown): Promise<Buffer> {
  return new MailComposer({
    from: PHO,
    to: BAL,
    subject: 'XDM/1.0/DDM+Bilan partagé de médication',
    text: 'Bonjour, ci-joint le BPM de la patiente.',
    messageId,
    headers: { 'Disposition-Notification-To': PHO },
    attachments: [{ filename: 'bpm.json', content: JSON.stringify(bpm), contentType: 'application/json' }],
  })
    .compile()
    .build();
}

/** A "displayed" MDN as a mail client (Thunderbird) writes it when the MT opens the message: manual action. */
function displayedMdn(from: string, originalMessageId: string, subject: string): Buffer {
  return Buffer.from(
    [
      `From: ${from}`,
      `To: ${BAL}`,
      `Subject: Lu : ${subject}`,
      `Message-ID: <read-${Date.now()}@demo.mssante.fr>`,
      `Date: ${new Date().toUTCString()}`,
      `In-Reply-To: ${originalMessageId}`,
      'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=disposition-notification; boundary="mdn-e2e"',
      '',
      '--mdn-e2e',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      'Le message a été affiché sur le poste du destinataire.',
      '',
      '--mdn-e2e',
      'Content-Type: message/disposition-notification',
      '',
      'Reporting-UA: poste.cabinet; Thunderbird',
      `Final-Recipient: rfc822;${from}`,
      `Original-Message-ID: ${originalMessageId}`,
      'Disposition: manual-action/MDN-sent-manually; displayed',
      '',
      '--mdn-e2e--',
      '',
    ].join('\r\n'),
  );
}

/** The entries of a zip, by name. */
function unzip(zip: Buffer): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(zip, { lazyEntries: true }, (err, file) => {
      if (err || !file) return reject(err ?? new Error('no zip'));
      const out = new Map<string, Buffer>();
      file.on('entry', (entry: yauzl.Entry) => {
        file.openReadStream(entry, (e, stream) => {
          if (e || !stream) return reject(e ?? new Error('no stream'));
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            out.set(entry.fileName, Buffer.concat(chunks));
            file.readEntry();
          });
        });
      });
      file.on('end', () => resolve(out));
      file.on('error', reject);
      file.readEntry();
    });
  });
}

/** The value of a slot of the ebRIM ExtrinsicObject whose URI slot names `uri`. */
function slotOf(metadata: string, uri: string, slot: string): string | undefined {
  const entry = [...metadata.matchAll(/<(?:\w+:)?ExtrinsicObject\b[\s\S]*?<\/(?:\w+:)?ExtrinsicObject>/g)].map((m) => m[0]).find((e) => new RegExp(`<(?:\\w+:)?Value>${uri}</`).test(e));
  const m = entry?.match(new RegExp(`<(?:\\w+:)?Slot name="${slot}">\\s*<(?:\\w+:)?ValueList>\\s*<(?:\\w+:)?Value>([^<]*)</`));
  return m?.[1];
}

interface Gateway {
  dir: string;
  config: Config;
  store: ResourceStore;
  server: { url: string; close(): Promise<void> };
  dispatcher: RunningDispatcher;
  intake?: RunningIntake;
  sender?: MailSender;
  close(): Promise<void>;
}

describe.skipIf(!haveDovecot)('MSSanté flow end to end (local peer: SMTP + Dovecot)', () => {
  let dir: string;
  let pki: TestPki;
  let peer: MssantePeer;
  let gw: Gateway;
  let org: { key: string; cert: string };
  let passwordFile: string;

  /** A gateway on its own SQLite store, mailing through the peer with this PKCS#12, taking mail in when `intake`. */
  async function startGateway(name: string, pkcs12: string, o: { intake: boolean; maxAttempts: number }): Promise<Gateway> {
    const gdir = path.join(dir, name);
    await mkdir(gdir, { recursive: true });
    const config = configFrom({
      port: 0,
      dataDir: gdir,
      log: { level: 'silent' },
      mssante: {
        address: BAL,
        nil: 'PASSERELLE-E2E',
        tls: { pkcs12, passphrase: pki.passphrase, ca: pki.files.ca, servername: 'localhost' },
        smtp: { host: peer.smtp.host, port: peer.smtp.port, security: 'implicit', timeoutMs: 5000 },
        imap: { host: peer.imap.host, port: peer.imap.port, security: 'implicit', passwordFile, pollMs: 100, timeoutMs: 5000, enabled: o.intake },
      },
      outbox: {
        pollMs: 50,
        destinations: {
          mssante: { kind: 'mssante', baseDelayMs: 50, maxDelayMs: 100, maxAttempts: o.maxAttempts, circuit: { failureThreshold: 1000, openMs: 1000 } },
        },
        routes: [{ on: 'ppp.stored', destination: 'mssante' }],
      },
    });
    const store = await openSqliteStore({ file: config.database });
    const server = await startServer({ store, config, logger: pino({ level: 'silent' }), mounts: [mountDomainRoutes] });
    const mssante = config.mssante as NonNullable<Config['mssante']>;
    const dispatcher = startDispatcher(store, config.outbox, { documents: { settings, sourceId }, mssante: { config: mssante } });
    let intake: RunningIntake | undefined;
    let sender: MailSender | undefined;
    if (o.intake) {
      const tls = await loadMailTls(mssante);
      sender = smtpSender(mssante, tls);
      intake = await startMssanteIntake(store, mssante, {
        logger: pino({ level: 'silent' }),
        tls,
        sender,
        submission: { fhirBase: `${server.url}/fhir`, outbox: config.outbox, documents: config.documents },
      });
    }
    return {
      dir: gdir,
      config,
      store,
      server,
      dispatcher,
      ...(intake ? { intake } : {}),
      ...(sender ? { sender } : {}),
      async close() {
        await intake?.stop();
        await sender?.close();
        await dispatcher.stop(100);
        await server.close();
        await store.close();
      },
    };
  }

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'passerelle-mss-e2e-'));
    await chmod(dir, 0o755); // Dovecot's own users walk down to the maildirs
    pki = await generateTestPki({ dir: path.join(dir, 'pki') });
    org = { key: pki.pem.orgKey, cert: pki.pem.org };
    peer = await startMssantePeer({ dir: path.join(dir, 'peer'), pki, mailboxes: [{ address: BAL, password: 'bal-app-secret' }, { address: MT }, { address: PHO }] });
    passwordFile = path.join(dir, 'bal.password');
    await writeFile(passwordFile, 'bal-app-secret\n', { mode: 0o600 });
    gw = await startGateway('gateway', pki.files.orgP12, { intake: true, maxAttempts: 5 });
  }, 60_000);

  afterAll(async () => {
    await gw?.close();
    await peer?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const inbox = (address: string, folder = 'INBOX'): Promise<MailboxMessage[]> => readMailbox(peer, address, { tls: org, folder });
  const post = async (url: string, body: unknown): Promise<{ status: number; body: Bundle }> => {
    const res = await fetch(`${url}/ppp`, { method: 'POST', headers: json, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Bundle };
  };
  const get = async <T>(url: string): Promise<T> => {
    const res = await fetch(url, { headers: { accept: 'application/fhir+json' } });
    expect(res.status, url).toBe(200);
    return (await res.json()) as T;
  };
  const carePlanOf = (b: Bundle): string => b.entry?.map((e) => e.resource).find((r) => r?.resourceType === 'CarePlan')?.id as string;
  const messagesOf = async (store: ResourceStore): Promise<OutboxMessage[]> => (await store.outbox.list({ destination: 'mssante', limit: 50, offset: 0 })).items;
  const recipientOf = (m: OutboxMessage): string => ((m.payload as MssantePayload).mssante.recipient.address ?? '').toLowerCase();
  const mdnsIn = async (address: string): Promise<{ mail: MailboxMessage; report: MdnReport }[]> => {
    const out: { mail: MailboxMessage; report: MdnReport }[] = [];
    for (const mail of await inbox(address)) {
      const report = await parseReport(mail.raw).catch(() => undefined);
      if (report?.kind === 'mdn') out.push({ mail, report });
    }
    return out;
  };
  const count = async (store: ResourceStore, type: string): Promise<number> => (await store.search({ resourceType: type, predicates: [], count: 1, offset: 0, total: true })).total ?? -1;

  let pppId: string;
  let pppPatient: Record<string, unknown>;
  let mtMessage: OutboxMessage;

  it('a PPP posted is mailed as IHE XDM to the MT and the PHO mailboxes, one message each, the Message-ID its idempotency key', async () => {
    const ppp = demoPpp('PPP-E2E-MSS-1');
    pppPatient = ppp.patient as Record<string, unknown>;
    const r = await post(gw.server.url, ppp);
    expect(r.status).toBe(200);
    pppId = carePlanOf(r.body);
    expect(pppId).toBeTruthy();

    await waitFor(async () => (await inbox(MT)).length >= 1 && (await inbox(PHO)).length >= 1, 30_000, 'the PPP in the MT and PHO mailboxes');
    const outbox = await messagesOf(gw.store);
    expect(outbox.map((m) => [recipientOf(m), m.state]).sort()).toEqual([
      [PHO, 'delivered'],
      [MT, 'delivered'],
    ].sort());
    mtMessage = outbox.find((m) => recipientOf(m) === MT) as OutboxMessage;

    for (const address of [MT, PHO]) {
      const box = await inbox(address);
      expect(box, address).toHaveLength(1);
      const mail: ParsedMail = await simpleParser(box[0].raw);
      const sent = outbox.find((m) => recipientOf(m) === address) as OutboxMessage;
      expect(mail.messageId, address).toBe(sent.idempotencyKey);
      expect(mail.subject).toMatch(/^XDM\/1\.0\/DDM\+/);
      expect(mail.from?.value[0]?.address).toBe(BAL);
      expect(mail.headers.get('x-mss-codecda')).toBeTruthy();
      expect(mail.headers.get('x-mss-ins')).toBe('O');
      expect(mail.headers.get('x-mss-nil')).toBe('PASSERELLE-E2E');
      expect(String(box[0].raw).match(/^Disposition-Notification-To:\s*(.*)$/im)?.[1]?.trim()).toBe(BAL);

      const zip = mail.attachments.find((a) => a.filename === 'IHE_XDM.ZIP');
      expect(zip, `${address}: IHE_XDM.ZIP`).toBeDefined();
      const entries = await unzip(zip?.content as Buffer);
      for (const name of ['README.TXT', 'INDEX.HTM', 'IHE_XDM/SUBSET01/METADATA.XML', 'IHE_XDM/SUBSET01/DOC0001.XML']) expect([...entries.keys()], name).toContain(name);
      const xdm = await readXdmPackage(zip?.content as Buffer);
      expect(xdm.documents.map((d) => d.path)).toEqual(['IHE_XDM/SUBSET01/DOC0001.XML']);
      const cda = xdm.documents[0].bytes;
      expect(slotOf(xdm.metadata, 'DOC0001.XML', 'hash')?.toLowerCase()).toBe(createHash('sha1').update(cda).digest('hex'));
      expect(slotOf(xdm.metadata, 'DOC0001.XML', 'size')).toBe(String(cda.length));
      expect(cda.toString('utf8')).toContain('<ClinicalDocument');
      if (haveShared) {
        const result = await validateXds(xdm.metadata);
        expect(result.errors.map((e) => e.rawMessage)).toEqual([]);
        expect(result.valid).toBe(true);
      }
      if (haveCdaSchema) {
        const result = await validateCda(cda.toString('utf8'));
        expect(result.errors.map((e) => e.message)).toEqual([]);
        expect(result.valid).toBe(true);
      }
      const pdf = mail.attachments.find((a) => a.contentType === 'application/pdf');
      expect(pdf?.filename).toMatch(/\.pdf$/);
      expect(pdf?.content.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    }
  }, 60_000);

  it('the MT reads it: its "displayed" MDN is taken in from the BAL APP, the Communication and /admin/outbox say read', async () => {
    expect(mtMessage).toBeDefined();
    const [mail] = await inbox(MT);
    const sent = await sendToPeer(peer, displayedMdn(MT, mtMessage.idempotencyKey, mail.subject ?? ''), { from: MT, to: [BAL] }, org);
    expect(sent.accepted).toEqual([BAL]);
    await gw.intake?.pollNow();

    const readOf = async (): Promise<Communication | undefined> => {
      const bundle = await get<Bundle>(`${gw.server.url}/fhir/Communication?about=CarePlan/${pppId}`);
      return bundle.entry
        ?.map((e) => e.resource as Communication)
        .find((c) => c.identifier?.some((i) => i.value === mtMessage.idempotencyKey));
    };
    const statusOf = (c?: Communication): string | undefined =>
      c?.extension?.find((e) => e.url === MSSANTE_DELIVERY_EXTENSION)?.extension?.find((e) => e.url === 'status')?.valueCoding?.code;
    await waitFor(async () => statusOf(await readOf()) === 'read', 15_000, 'the MT Communication read');
    const c = (await readOf()) as Communication;
    expect(c.status).toBe('completed');
    expect(c.about?.map((a) => a.reference)).toContain(`CarePlan/${pppId}`);

    const detail = await (await fetch(`${gw.server.url}/admin/outbox/${mtMessage.id}`)).json() as { state: string; mail: { status: string; recipient: string; messageId: string }[] };
    expect(detail.state).toBe('delivered');
    expect(detail.mail).toHaveLength(1);
    expect(detail.mail[0]).toMatchObject({ status: 'read', messageId: mtMessage.idempotencyKey });
    // The receipt is not answered (no MDN for an MDN) and leaves the folder.
    expect(await inbox(BAL)).toEqual([]);
  }, 30_000);

  it('the officine mails a BPM of the same patient: taken in, on the PPP review, moved to Processed, MDN "processed" to the PHO', async () => {
    const messageId = '<bpm-e2e-1@demo.mssante.fr>';
    const bpm = bpmOf('BPM-E2E-MSS-1', { ...pppPatient, sourceId: { system: PHARMACY, value: 'CLI-E2E-1' } });
    const sent = await sendToPeer(peer, await officineMail(messageId, bpm), { from: PHO, to: [BAL] }, org);
    expect(sent.accepted).toEqual([BAL]);
    await gw.intake?.pollNow();

    await waitFor(async () => (await gw.store.mssante.intake(messageId))?.state === 'processed', 15_000, 'the BPM mail taken in');
    const row = await gw.store.mssante.intake(messageId);
    expect(row).toMatchObject({ state: 'processed', sender: PHO });
    expect(row?.resource).toMatch(/^CarePlan\//);
    // The PPP's review: the BPM is among its supportingInfo.
    const plan = await get<CarePlan>(`${gw.server.url}/fhir/CarePlan/${pppId}`);
    expect(plan.supportingInfo?.map((r) => r.reference)).toContain(row?.resource);

    await waitFor(async () => (await inbox(BAL, 'Processed')).some((m) => m.messageId === messageId), 10_000, 'the BPM mail in Processed');
    expect((await inbox(BAL)).map((m) => m.messageId)).not.toContain(messageId);
    await waitFor(async () => (await mdnsIn(PHO)).some((m) => m.report.originalMessageId === messageId), 10_000, 'the MDN in the PHO mailbox');
    const { report, mail } = (await mdnsIn(PHO)).find((m) => m.report.originalMessageId === messageId) as { mail: MailboxMessage; report: MdnReport };
    expect(report).toMatchObject({ disposition: 'processed', finalRecipient: BAL });
    expect(report.error).toBeUndefined();
    expect(mail.from).toBe(BAL);
  }, 30_000);

  it('a BPM of a patient nobody knows: MDN 902 to the PHO, the mail in Error, nothing stored', async () => {
    const before = { carePlans: await count(gw.store, 'CarePlan'), patients: await count(gw.store, 'Patient') };
    const messageId = '<bpm-e2e-unknown@demo.mssante.fr>';
    const stranger = { sourceId: { system: PHARMACY, value: 'CLI-INCONNU' }, status: 'VALI', birthName: 'ZYGMUNTOWICZ', firstBirthGivenName: 'Wladyslaw', birthDate: '1931-11-02', sex: 'M', birthPlaceInsee: '99122' };
    await sendToPeer(peer, await officineMail(messageId, bpmOf('BPM-E2E-UNKNOWN', stranger)), { from: PHO, to: [BAL] }, org);
    await gw.intake?.pollNow();

    await waitFor(async () => (await mdnsIn(PHO)).some((m) => m.report.originalMessageId === messageId), 15_000, 'the 902 MDN in the PHO mailbox');
    const { report, mail } = (await mdnsIn(PHO)).find((m) => m.report.originalMessageId === messageId) as { mail: MailboxMessage; report: MdnReport };
    expect(report.disposition).toBe('processed');
    expect(report.error?.code).toBe(902);
    expect(mail.subject).toMatch(/^\[KO Intégration système !\]\[902\] XDM\/1\.0\/DDM\+/);
    await waitFor(async () => (await inbox(BAL, 'Error')).some((m) => m.messageId === messageId), 10_000, 'the mail in Error');
    expect(await gw.store.mssante.intake(messageId)).toMatchObject({ state: 'error', code: '902', sender: PHO });
    expect({ carePlans: await count(gw.store, 'CarePlan'), patients: await count(gw.store, 'Patient') }).toEqual(before);
  }, 30_000);

  it('an organisation certificate of another CA: the peer refuses the handshake, retried, then dead with the reason; nothing delivered', async () => {
    const mtBefore = (await inbox(MT)).length;
    const phoBefore = (await inbox(PHO)).length;
    const intruder = await startGateway('intruder', pki.files.intruderP12, { intake: false, maxAttempts: 2 });
    try {
      const r = await post(intruder.server.url, demoPpp('PPP-E2E-MSS-INTRUDER'));
      expect(r.status).toBe(200);
      const outbox = await messagesOf(intruder.store);
      expect(outbox).toHaveLength(2);
      await waitFor(async () => (await messagesOf(intruder.store)).every((m) => m.state === 'dead'), 30_000, 'both messages dead');
      for (const m of await messagesOf(intruder.store)) {
        expect(m.attempts, recipientOf(m)).toBe(2);
        expect((await intruder.store.outbox.attempts(m.id)).map((a) => a.outcome)).toEqual(['retry', 'dead']);
        expect(m.lastError, recipientOf(m)).toBeTruthy();
        expect(m.lastError).toMatch(/ECONNECTION|certificate|handshake|alert|socket|TLS|ECONNRESET/i);
      }
    } finally {
      await intruder.close();
    }
    expect((await inbox(MT)).length).toBe(mtBefore);
    expect((await inbox(PHO)).length).toBe(phoBefore);
  }, 60_000);
});
