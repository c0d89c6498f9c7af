// MSSanté route (issue 17), on the local peer (smtp-server + a real Dovecot, mutual TLS with the test PKI's organisation
// certificate), N messages, a fixed number in flight:
// 1. Sent: a PPP built (header facts + PDF/A + CDA R2 N1 + XDS metadata), composed (IHE_XDM.ZIP + MIME) and sent over
//    SMTPS through the gateway's pooled sender (`smtpSender`) until the peer has delivered it into Dovecot (the peer
//    answers 250 only after LMTP delivery), per step p50/p99. Baseline in the same run: a plain nodemailer send of the
//    same PDF alone (no CDA, no XDM) through the same peer, same TLS, same certificate, same concurrency.
// 2. Intake: N officine mails (a JSON BPM each, the patient known from a PPP) put into the BAL APP's INBOX (setup, not
//    timed), then `startMssanteIntake` takes them all in over IMAPS. Beside it: `takeIn` in process on the same kind of
//    raw mails (what the IMAP loop adds is the difference), and `submitDocument` of the same BPMs (POST /bpm without mail).
// The BPMs' patients are distinct persons, each known and certain through a hospital PPP; each intake figure runs on
// its own fresh SQLite store holding the same PPPs.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer';
import { pino } from 'pino';
import { mssanteConfigSchema, type MssanteConfig } from '../src/connectors/mssante/config.js';
import { composeMssanteMessage } from '../src/connectors/mssante/message.js';
import { smtpSender, type MailSender } from '../src/connectors/mssante/transport.js';
import { parseDocument } from '../src/domain/parse.js';
import { documentIds } from '../src/documents/ids.js';
import type { DocumentRequest } from '../src/documents/model.js';
import { buildDocument } from '../src/documents/pipeline.js';
import { loadDocumentSettings } from '../src/documents/settings.js';
import { DEMO_MAILBOXES } from '../src/sandbox/mssante/mailboxes.js';
import { startMssantePeer } from '../src/sandbox/mssante/peer.js';
import { generateTestPki } from '../src/sandbox/pki.js';
import { loadMailTls, startMssanteIntake, takeIn } from '../src/services/mssante-intake.js';
import { submitDocument } from '../src/services/submission.js';
import { openSqliteStore } from '../src/store/sqlite-store.js';
import type { ResourceStore } from '../src/store/repository.js';
import { generateIdentities } from '../test/support/identity-generator.js';
import { machine } from './stats.js';

const N = Number(process.env.MSSANTE_BENCH_MESSAGES ?? 200);
const CONCURRENCY = Number(process.env.MSSANTE_BENCH_CONCURRENCY ?? 4);
const ROOT = '1.2.250.1.999.42';
const AIM = 50;
const BAL = DEMO_MAILBOXES.gateway;
const GP = DEMO_MAILBOXES.mt;
const OFFICINE = DEMO_MAILBOXES.pho;
const HOSPITAL = 'urn:oid:1.2.250.1.999.1.760000018.1';
const PHARMACY = 'urn:oid:1.2.250.1.999.2.590002234';
const PASSWORD_ENV = 'BENCH_MSSANTE_IMAP_PASSWORD';
const SOFTWARE = { name: 'Passerelle', version: 'bench', vendor: 'Passerelle' };

const line = (label: string, figure: string, beside = ''): void => console.log(`${label.padEnd(50)}: ${figure}${beside ? `   ${beside}` : ''}`);
const pct = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
};
const ms = (xs: readonly number[]): string => `p50 ${pct(xs, 0.5).toFixed(1)} ms, p99 ${pct(xs, 0.99).toFixed(1)} ms`;
const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const aim = (rate: number): string => (rate >= AIM ? `aim ≥ ${AIM}/s: met` : `aim ≥ ${AIM}/s: NOT met (${((100 * rate) / AIM).toFixed(0)} %)`);
/** Runs `fn(i)` for i in [from, from + n) with `CONCURRENCY` in flight; seconds taken. */
const concurrently = async (from: number, n: number, fn: (i: number) => Promise<void>): Promise<number> => {
  let next = from;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < from + n) await fn(next++);
    }),
  );
  return (performance.now() - t0) / 1000;
};

const fixture = (name: string): Record<string, unknown> => JSON.parse(readFileSync(`test/fixtures/${name}`, 'utf8')) as Record<string, unknown>;
const ppp12 = fixture('ppp/ppp-12-medicines.json');
/** A distinct PPP per message (its own id, so its own uniqueId and Message-ID), same content size. */
const pppInput = (i: number): Record<string, unknown> => ({ ...ppp12, id: `BENCH-MSS-${i}` });
// The patients: distinct persons (test/support/identity-generator.ts, VALI with their INS), each known to the gateway
// through a hospital PPP; BPMS_PER_PATIENT BPMs each (a patient's PPP lists all its BPMs, so one patient with hundreds
// of BPMs would make each intake rewrite an ever longer PPP: not what an officine sends).
const BPMS_PER_PATIENT = 2;
const PATIENTS = Math.ceil((N + 3) / BPMS_PER_PATIENT);
// Born in France: a person born abroad may have a default birth date (01-01), which the SRI never links automatically.
const persons = generateIdentities({ seed: 17, persons: 2 * PATIENTS, duplicateRate: 0, statusMix: { VALI: 1 }, corruptionRate: 0, twinsRate: 0, homonymsRate: 0 })
  .identities.filter((g) => !g.person.birthPlaceInsee.startsWith('99'))
  .slice(0, PATIENTS)
  .map((g) => ({ ...g.identity, ins: g.person.ins }) as Record<string, unknown>);
const patientAs = (k: number, system: string, value: string): Record<string, unknown> => ({ ...persons[k], sourceId: { system, value } });
const pppTown = fixture('ppp/town-async-rcp.json');
const bpmFixture = fixture('bpm/self-medication-remote.json');
/** The officine's BPM i (i ≥ -3), for patient ⌊(i + 3) / BPMS_PER_PATIENT⌋, whom the hospital's PPP made known and certain. */
const bpm = (i: number): Record<string, unknown> => {
  const k = Math.floor((i + 3) / BPMS_PER_PATIENT);
  return { ...bpmFixture, id: `BPM-BENCH-${i}`, patient: patientAs(k, PHARMACY, `CLI-${k}`) };
};
const officineMail = (i: number, tag: string): Promise<Buffer> =>
  new MailComposer({
    from: OFFICINE,
    to: BAL,
    subject: 'XDM/1.0/DDM+Bilan partagé de médication',
    text: 'Bonjour, ci-joint le BPM.',
    messageId: `<bench-${tag}-${i}@demo.mssante.fr>`,
    headers: { 'Disposition-Notification-To': OFFICINE },
    attachments: [{ filename: 'bpm.json', content: JSON.stringify(bpm(i)), contentType: 'application/json' }],
  })
    .compile()
    .build();

const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-mssante-bench-'));
const closers: (() => Promise<unknown>)[] = [];
try {
  console.log(`machine: ${machine()}, load average ${loadavg()[0].toFixed(1)}; ${N} messages, ${CONCURRENCY} in flight; the peer (smtp-server in this process, Dovecot) shares the machine`);
  const pki = await generateTestPki({ dir: path.join(dir, 'certs') });
  const peer = await startMssantePeer({ pki, mailboxes: [{ address: BAL }, { address: GP }, { address: OFFICINE }] });
  closers.push(() => peer.close());
  const config: MssanteConfig = mssanteConfigSchema.parse({
    address: BAL,
    tls: { pkcs12: pki.files.orgP12, passphrase: pki.passphrase, ca: pki.files.ca, servername: 'localhost' },
    smtp: { host: peer.smtp.host, port: peer.smtp.port, maxConnections: CONCURRENCY },
    imap: { host: peer.imap.host, port: peer.imap.port, passwordEnv: PASSWORD_ENV, pollMs: 100, timeoutMs: 30_000 },
  });
  const env = { [PASSWORD_ENV]: peer.passwordOf(BAL) };
  const tls = await loadMailTls(config, env);
  const sender = smtpSender(config, tls);
  closers.push(() => sender.close());
  // The plain transport of the baseline: nodemailer, pooled, the same TLS, certificate and CA.
  const plain = nodemailer.createTransport({
    pool: true,
    maxConnections: CONCURRENCY,
    host: peer.smtp.host,
    port: peer.smtp.port,
    secure: true,
    tls: { key: tls.key, cert: [tls.cert, ...tls.chain].join('\n'), ca: tls.ca, servername: 'localhost', rejectUnauthorized: true, minVersion: 'TLSv1.2' },
  });
  closers.push(async () => plain.close());
  const mailboxCount = async (address: string): Promise<number> => {
    const client = new ImapFlow({
      host: peer.imap.host,
      port: peer.imap.port,
      secure: true,
      auth: { user: address, pass: peer.passwordOf(address) },
      tls: { key: tls.key, cert: tls.cert, ca: tls.ca, servername: 'localhost' },
      logger: false,
    });
    await client.connect();
    try {
      const status = await client.status('INBOX', { messages: true });
      return status ? (status.messages ?? -1) : -1;
    } finally {
      await client.logout().catch(() => client.close());
    }
  };

  /* ---------------------------------------------------------------- 1. sent */
  const settings = loadDocumentSettings();
  const requestOf = (i: number): DocumentRequest => {
    const document = parseDocument('ppp', pppInput(i));
    return { source: { kind: 'ppp', document }, patient: document.patient, ids: documentIds(ROOT, 'ppp', document.establishment.finess, document.id, 1), effectiveTime: '2026-11-22T10:00:00+01:00' };
  };
  interface Steps {
    build: number;
    compose: number;
    smtp: number;
    bytes: number;
  }
  let pdf: Buffer | undefined;
  const sendOne = async (i: number): Promise<Steps> => {
    const t0 = performance.now();
    const built = await buildDocument(requestOf(i), settings, { sourceId: `${ROOT}.0` });
    const t1 = performance.now();
    const composed = await composeMssanteMessage({
      built,
      from: { address: config.address, name: config.name, organization: built.header.organization.name },
      to: [GP],
      nil: config.nil,
      software: SOFTWARE,
      date: new Date('2026-11-22T10:00:00+01:00'),
      receipt: true,
    });
    const t2 = performance.now();
    const result = await sender.send(composed.raw, { from: config.address, to: [GP] });
    const t3 = performance.now();
    if (result.accepted.length !== 1) throw new Error(`message ${i}: ${result.response}`);
    pdf ??= built.pdf;
    return { build: t1 - t0, compose: t2 - t1, smtp: t3 - t2, bytes: composed.raw.length };
  };
  // Warm-up (fonts, profiles, TLS sessions of the pool): not counted.
  for (let i = 0; i < CONCURRENCY + 2; i++) await sendOne(-1 - i);
  const steps: Steps[] = [];
  const sentSeconds = await concurrently(0, N, async (i) => void steps.push(await sendOne(i)));
  const sentRate = N / sentSeconds;
  // The same steps one at a time (no contention between build and send), a shorter run.
  const SEQ = Math.min(N, 50);
  const seq: Steps[] = [];
  const seqT0 = performance.now();
  for (let i = 0; i < SEQ; i++) seq.push(await sendOne(100_000 + i));
  const seqRate = SEQ / ((performance.now() - seqT0) / 1000);

  // Baseline: the same PDF as the only attachment, plain nodemailer, same peer, TLS, certificate and concurrency.
  const thePdf = pdf as Buffer;
  const plainOne = async (i: number): Promise<number> => {
    const t = performance.now();
    const info = await plain.sendMail({ from: BAL, to: OFFICINE, subject: `Document ${i}`, text: 'Bonjour, ci-joint le document.', attachments: [{ filename: 'PPP.pdf', content: thePdf, contentType: 'application/pdf' }] });
    if (info.accepted.length !== 1) throw new Error(`baseline ${i}: ${info.response}`);
    return performance.now() - t;
  };
  for (let i = 0; i < CONCURRENCY + 2; i++) await plainOne(-1 - i);
  const plainLatency: number[] = [];
  const plainSeconds = await concurrently(0, N, async (i) => void plainLatency.push(await plainOne(i)));
  const plainRate = N / plainSeconds;
  const delivered = await mailboxCount(GP);
  const expectedGp = N + SEQ + CONCURRENCY + 2;
  if (delivered !== expectedGp) throw new Error(`the GP's mailbox holds ${delivered} messages, ${expectedGp} expected`);

  const col = (xs: Steps[], k: keyof Steps): number[] => xs.map((s) => s[k]);
  console.log(`\n1. Sent: PPP (12 medicines) → PDF/A + CDA + IHE_XDM.ZIP + MIME (${Math.round(mean(col(steps, 'bytes')) / 1024)} KiB) → SMTPS (org certificate) → peer → LMTP → Dovecot`);
  console.log(`   per message, ${CONCURRENCY} in flight (${N} messages):`);
  line('   build (buildDocument: header, PDF/A-2b, CDA, XDS)', ms(col(steps, 'build')), `mean ${mean(col(steps, 'build')).toFixed(1)} ms`);
  line('   xdm + mime (composeMssanteMessage)', ms(col(steps, 'compose')), `mean ${mean(col(steps, 'compose')).toFixed(1)} ms`);
  line('   smtp send (until delivered into Dovecot)', ms(col(steps, 'smtp')), `mean ${mean(col(steps, 'smtp')).toFixed(1)} ms`);
  console.log(`   per message, one at a time (${SEQ} messages):`);
  line('   build', ms(col(seq, 'build')), `mean ${mean(col(seq, 'build')).toFixed(1)} ms`);
  line('   xdm + mime', ms(col(seq, 'compose')), `mean ${mean(col(seq, 'compose')).toFixed(1)} ms`);
  line('   smtp send', ms(col(seq, 'smtp')), `mean ${mean(col(seq, 'smtp')).toFixed(1)} ms`);
  line(`messages/s built and sent, ${CONCURRENCY} in flight`, `${sentRate.toFixed(1)} /s`, `(${sentSeconds.toFixed(1)} s for ${N}; ${aim(sentRate)})`);
  line('messages/s built and sent, one at a time', `${seqRate.toFixed(1)} /s`, '');
  line(`baseline: plain nodemailer, PDF only, ${CONCURRENCY} in flight`, `${plainRate.toFixed(1)} /s`, `(${ms(plainLatency)}; the route's rate is ${((100 * sentRate) / plainRate).toFixed(0)} % of it, ${(plainRate / sentRate).toFixed(1)}×)`);

  /* ---------------------------------------------------------------- 2. intake */
  let storeNo = 0;
  const freshStore = async (): Promise<ResourceStore> => {
    const store = await openSqliteStore({ file: path.join(dir, `store-${++storeNo}`, 'passerelle.sqlite') });
    closers.push(() => store.close());
    // The hospital's PPPs: every patient is known and certain, their BPMs are linked to their PPP.
    for (let k = 0; k < PATIENTS; k++) {
      await submitDocument(store, 'ppp', { ...pppTown, id: `PPP-BENCH-${k}`, patient: patientAs(k, HOSPITAL, `IPP-${k}`) }, { now: new Date().toISOString(), actor: 'bench', fhirBase: '/fhir' });
    }
    return store;
  };
  const bpmCarePlans = async (store: ResourceStore): Promise<number> => ((await store.search({ resourceType: 'CarePlan', predicates: [], count: 1, offset: 0, total: true })).total ?? 0) - PATIENTS;

  // Baseline: submitDocument of the same BPMs (POST /bpm without HTTP and without mail), one at a time.
  const baseStore = await freshStore();
  for (let i = 0; i < 3; i++) await submitDocument(baseStore, 'bpm', bpm(-1 - i), { now: new Date().toISOString(), actor: 'bench', fhirBase: '/fhir' });
  const submitLatency: number[] = [];
  const submitT0 = performance.now();
  for (let i = 0; i < N; i++) {
    const t = performance.now();
    await submitDocument(baseStore, 'bpm', bpm(i), { now: new Date().toISOString(), actor: 'bench', fhirBase: '/fhir' });
    submitLatency.push(performance.now() - t);
  }
  const submitRate = N / ((performance.now() - submitT0) / 1000);

  // takeIn in process, one at a time (as the IMAP loop does), on raw mails composed beforehand; the MDN each mail asks
  // for is sent through the gateway's SMTP sender, as `serve` does (its share timed apart).
  const mdnLatency: number[] = [];
  const timedSender: MailSender = {
    async send(raw, envelope, options) {
      const t = performance.now();
      const r = await sender.send(raw, envelope, options);
      mdnLatency.push(performance.now() - t);
      return r;
    },
    close: async () => undefined,
  };
  const takeStore = await freshStore();
  const rawIn = await Promise.all(Array.from({ length: N + 3 }, (_, i) => officineMail(i - 3, 'inproc')));
  const takeLatency: number[] = [];
  let uid = 0;
  let takeT0 = performance.now();
  for (let i = 0; i < rawIn.length; i++) {
    if (i === 3) {
      // The first 3 warm up (profiles, identity index): not counted.
      takeLatency.length = 0;
      mdnLatency.length = 0;
      takeT0 = performance.now();
    }
    const t = performance.now();
    const out = await takeIn(takeStore, rawIn[i], { mailbox: 'INBOX', uid: ++uid, now: new Date().toISOString(), config, sender: timedSender });
    takeLatency.push(performance.now() - t);
    if (out.state !== 'processed' || out.detail) throw new Error(`takeIn: ${out.state} ${out.code ?? ''} ${out.detail ?? ''}`);
  }
  const takeRate = N / ((performance.now() - takeT0) / 1000);
  const takeOnly = takeLatency.map((t, i) => t - (mdnLatency[i] ?? 0));

  // Over IMAP: N mails put into the BAL APP's INBOX through the peer (setup), then the poller takes them all in.
  const imapStore = await freshStore();
  const rawImap = await Promise.all(Array.from({ length: N }, (_, i) => officineMail(i, 'imap')));
  let put = 0;
  await concurrently(0, N, async (i) => {
    const info = await plain.sendMail({ envelope: { from: OFFICINE, to: [BAL] }, raw: rawImap[i] });
    if (info.accepted.length === 1) put++;
  });
  const inbox = await mailboxCount(BAL);
  if (put !== N || inbox !== N) throw new Error(`${put} mails put, ${inbox} in the INBOX, ${N} expected`);
  const before = await bpmCarePlans(imapStore);
  const imapT0 = performance.now();
  const intake = await startMssanteIntake(imapStore, config, { logger: pino({ level: 'silent' }), sender, env, tls });
  let taken = 0;
  const deadline = imapT0 + 600_000;
  while ((taken = (await bpmCarePlans(imapStore)) - before) < N) {
    if (performance.now() > deadline) throw new Error(`only ${taken} of ${N} mails taken in after 600 s`);
    await new Promise((r) => setTimeout(r, 25));
  }
  const imapSeconds = (performance.now() - imapT0) / 1000;
  await intake.stop();
  const imapRate = N / imapSeconds;
  const intakes = await imapStore.mssante.intakes(N + 10);
  const processed = intakes.filter((r) => r.state === 'processed' && !r.detail).length;
  if (processed !== N) throw new Error(`${processed} intake rows processed, ${N} expected`);

  console.log(`\n2. Intake: officine mail (JSON BPM, ${Math.round(mean(rawImap.map((r) => r.length)) / 1024)} KiB, MDN asked) → BPM stored and linked to its patient's PPP, MDN sent; ${PATIENTS} patients, ${BPMS_PER_PATIENT} BPMs each`);
  line('IMAP intake (startMssanteIntake), all N in the INBOX', `${imapRate.toFixed(1)} mails/s`, `(${imapSeconds.toFixed(1)} s for ${N}, from start incl. login; ${aim(imapRate)})`);
  line('takeIn in process, one at a time', `${takeRate.toFixed(1)} mails/s`, `(${ms(takeLatency)}, mean ${mean(takeLatency).toFixed(1)} ms; over IMAP ${(1000 / imapRate).toFixed(1)} ms per mail)`);
  line('   of which the MDN send (SMTPS to the peer)', ms(mdnLatency), `mean ${mean(mdnLatency).toFixed(1)} ms`);
  line('   takeIn without the MDN send', ms(takeOnly), `mean ${mean(takeOnly).toFixed(1)} ms`);
  line('baseline: submitDocument of the same BPMs', `${submitRate.toFixed(1)} BPMs/s`, `(${ms(submitLatency)}; IMAP intake at ${((100 * imapRate) / submitRate).toFixed(0)} % of it)`);
} finally {
  for (const close of closers.reverse()) await close().catch((err: unknown) => console.error(`closing: ${(err as Error).message}`));
  rmSync(dir, { recursive: true, force: true });
}
