// MSSanté intake end to end with the local peer (smtp-server + a real Dovecot, test PKI, mutual TLS): an officine's
// mail sent through the peer to the BAL APP is taken in by the poller and moved to Processed; a hostile one, and one
// over the size cap (refused unread), to Error. Then real gateway processes (`passerelle serve`) killed with SIGKILL
// just before the intake's commit, and just after it: after the restart the mail is taken in exactly once (one intake
// row, one BPM) and ends in Processed.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import MailComposer from 'nodemailer/lib/mail-composer';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mssanteConfigSchema, type MssanteConfig } from '../../src/connectors/mssante/config.js';
import { buildMdn, parseReport } from '../../src/connectors/mssante/mdn.js';
import type { Envelope, MailSender } from '../../src/connectors/mssante/transport.js';
import { dovecotInstalled } from '../../src/sandbox/mssante/dovecot.js';
import { readMailbox, sendToPeer, startMssantePeer, type MssantePeer } from '../../src/sandbox/mssante/peer.js';
import { generateTestPki, type TestPki } from '../../src/sandbox/pki.js';
import { startMssanteIntake } from '../../src/services/mssante-intake.js';
import { submitDocument } from '../../src/services/submission.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { waitFor } from '../outbox/receiver.js';

const BAL = 'passerelle@passerelle.demo.mssante.fr';
const OFFICINE = 'pharmacie@demo.mssante.fr';
const HOSPITAL = 'urn:oid:1.2.250.1.999.1.760000018.1';
const PHARMACY = 'urn:oid:1.2.250.1.999.2.590002234';
const PASSWORD_ENV = 'TEST_MSSANTE_IMAP_PASSWORD';

const fixture = (name: string): Record<string, unknown> => JSON.parse(readFileSync(`test/fixtures/${name}`, 'utf8')) as Record<string, unknown>;
const laroque = fixture('ppp/town-async-rcp.json').patient as Record<string, unknown>;
const patientAs = (system: string, value: string): Record<string, unknown> => ({ ...laroque, sourceId: { system, value } });
const bpm = (id: string): Record<string, unknown> => ({ ...fixture('bpm/self-medication-remote.json'), id, patient: patientAs(PHARMACY, 'CLI-LAROQUE') });

async function mail(messageId: string, attachment: { filename: string; content: string; contentType: string }): Promise<Buffer> {
  return new MailComposer({
    from: OFFICINE,
    to: BAL,
    subject: 'XDM/1.0/DDM+Bilan partagé de médication',
    text: 'Bonjour, ci-joint le BPM.',
    messageId,
    headers: { 'Disposition-Notification-To': OFFICINE },
    attachments: [attachment],
  })
    .compile()
    .build();
}
const jsonBpm = (id: string) => ({ filename: 'bpm.json', content: JSON.stringify(bpm(id)), contentType: 'application/json' });

const run = dovecotInstalled() ? describe : describe.skip;

run('MSSanté intake over IMAP (local peer: SMTP + Dovecot, mutual TLS)', () => {
  let dir: string;
  let pki: TestPki;
  let peer: MssantePeer;
  let store: ResourceStore;
  let config: MssanteConfig;
  const children: ChildProcess[] = [];
  const orgTls = () => ({ key: pki.pem.orgKey, cert: pki.pem.org });
  const send = (raw: Buffer) => sendToPeer(peer, raw, { from: OFFICINE, to: [BAL] }, orgTls());
  const folder = async (name: string) => (await readMailbox(peer, BAL, { folder: name, tls: orgTls() })).map((m) => m.messageId);
  const carePlans = async () => (await store.search({ resourceType: 'CarePlan', predicates: [], count: 1, offset: 0, total: true })).total;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'passerelle-mssante-imap-'));
    pki = await generateTestPki({ dir: path.join(dir, 'pki') });
    // The peer's own temporary folder: Dovecot's unprivileged processes must reach it (ours is 0700).
    peer = await startMssantePeer({ pki, mailboxes: [{ address: BAL }, { address: OFFICINE }] });
    store = await openSqliteStore({ file: path.join(dir, 'data', 'passerelle.sqlite') });
    const ppp = { ...fixture('ppp/town-async-rcp.json'), patient: patientAs(HOSPITAL, 'IPP-LAROQUE') };
    await submitDocument(store, 'ppp', ppp, { now: new Date().toISOString(), actor: 'test', fhirBase: 'http://test/fhir' });
    config = mssanteConfigSchema.parse({
      address: BAL,
      tls: { pkcs12: pki.files.orgP12, passphrase: pki.passphrase, ca: pki.files.ca, servername: 'localhost' },
      smtp: { host: peer.smtp.host, port: peer.smtp.port },
      imap: { host: peer.imap.host, port: peer.imap.port, passwordEnv: PASSWORD_ENV, pollMs: 200, timeoutMs: 10_000 },
    });
  }, 60_000);
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await store?.close();
    await peer?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes an officine mail in and moves it to its processed folder; a hostile one and one over the size cap to its error folder (both created); a receipt is recorded, not answered; MDNs answer the first two', async () => {
    const mdns: { raw: Buffer; envelope: Envelope }[] = [];
    const sender: MailSender = {
      async send(raw, envelope) {
        mdns.push({ raw, envelope });
        return { accepted: [...envelope.to], rejected: [], response: '250' };
      },
      async close() {},
    };
    const good = '<imap-good-1@demo.mssante.fr>';
    const hostile = '<imap-hostile-1@demo.mssante.fr>';
    expect((await send(await mail(good, jsonBpm('BPM-IMAP-1')))).accepted).toEqual([BAL]);
    await send(await mail(hostile, { filename: 'bpm.json', content: JSON.stringify({ ...bpm('BPM-IMAP-X'), conclusions: { date: '2025-02-10T16:30:00+01:00', text: 'a\u202eb' } }), contentType: 'application/json' }));
    // A receipt from the officine about a message we never sent: handed to applyReport, recorded, not answered.
    const receipt = '<imap-mdn-1@demo.mssante.fr>';
    await send(await buildMdn({ ourMailbox: OFFICINE, to: BAL, originalMessageId: '<never-sent@passerelle.demo.mssante.fr>', messageId: receipt }));
    // Over the size cap: refused unread, by the size the server gives.
    const big = '<imap-big-1@demo.mssante.fr>';
    await send(await mail(big, { filename: 'scan.txt', content: 'x'.repeat(300_000), contentType: 'text/plain' }));
    // Folders of our own naming, which the peer does not create: the poller creates them.
    const imap = { ...(config.imap as NonNullable<MssanteConfig['imap']>), processed: 'Integres', error: 'Rejetes' };
    const capped: MssanteConfig = { ...config, imap, limits: { ...config.limits, maxMessageBytes: 200_000 } };
    const before = await carePlans();
    const intake = await startMssanteIntake(store, capped, { logger: pino({ level: 'silent' }), sender, env: { [PASSWORD_ENV]: peer.passwordOf(BAL) } });
    try {
      const taken = async (id: string) => (await store.mssante.intake(id)) !== undefined;
      await waitFor(async () => (await taken(good)) && (await taken(hostile)) && (await taken(big)) && (await taken(receipt)), 30_000, 'the four mails taken in');
      expect(await store.mssante.intake(receipt)).toMatchObject({ state: 'report', sender: OFFICINE });
      await intake.pollNow();
      expect(await store.mssante.intake(good)).toMatchObject({ state: 'processed', mailbox: 'INBOX', sender: OFFICINE });
      expect(await store.mssante.intake(hostile)).toMatchObject({ state: 'error', code: '906' });
      expect(await carePlans()).toBe((before ?? 0) + 1);
      await waitFor(async () => (await folder('INBOX')).length === 0, 10_000, 'INBOX emptied');
      expect(await folder('Integres')).toEqual([good, receipt]);
      expect(await folder('Rejetes')).toEqual([hostile, big]);
      expect((await store.mssante.intake(big))?.detail).toMatch(/more than 200000: not downloaded/);
      const reports = await Promise.all(mdns.map((m) => parseReport(m.raw)));
      expect(reports.map((r) => (r?.kind === 'mdn' ? [r.originalMessageId, r.error?.code] : undefined))).toEqual(
        expect.arrayContaining([
          [good, undefined],
          [hostile, 906],
        ]),
      );
      expect(mdns).toHaveLength(2);
    } finally {
      await intake.stop();
    }
  }, 60_000);

  it('a wrong password, a server certificate of an unknown CA, a closed port: logged, retried, never thrown; stop() returns', async () => {
    const id = '<imap-refused-login@demo.mssante.fr>';
    await send(await mail(id, jsonBpm('BPM-IMAP-LOGIN')));
    const cases: [string, MssanteConfig, Record<string, string>][] = [
      ['wrong password', config, { [PASSWORD_ENV]: 'not-the-password' }],
      ['unknown CA', { ...config, tls: { ...config.tls, ca: pki.files.intruderCa } }, { [PASSWORD_ENV]: peer.passwordOf(BAL) }],
      ['closed port', { ...config, imap: { ...(config.imap as NonNullable<MssanteConfig['imap']>), port: 1 } }, { [PASSWORD_ENV]: peer.passwordOf(BAL) }],
    ];
    for (const [what, c, env] of cases) {
      const warnings: string[] = [];
      const logger = { info: () => undefined, error: () => undefined, warn: (o: unknown, m?: string) => void warnings.push(`${m ?? ''} ${JSON.stringify(o)}`) };
      const intake = await startMssanteIntake(store, { ...c, imap: { ...(c.imap as NonNullable<MssanteConfig['imap']>), pollMs: 100 } }, { logger: logger as never, env });
      await waitFor(() => warnings.length >= 2, 20_000, `two failed polls (${what})`);
      await intake.stop();
      expect(warnings[0], what).toMatch(/IMAP poll failed/);
      expect(await store.mssante.intake(id), what).toBeUndefined();
    }
    expect(await folder('INBOX')).toContain(id);
    // Taken in by the next poller that can log in (so that the crash test below starts from an empty INBOX).
    const intake = await startMssanteIntake(store, config, { logger: pino({ level: 'silent' }), env: { [PASSWORD_ENV]: peer.passwordOf(BAL) } });
    await waitFor(async () => (await folder('INBOX')).length === 0, 20_000, 'the mail taken in');
    await intake.stop();
    expect(await store.mssante.intake(id)).toMatchObject({ state: 'processed' });
  }, 90_000);

  /** A `passerelle serve` process taking mail in from the peer, on the same SQLite file as `store`. */
  function gateway(crashAt?: string): { child: ChildProcess; exited: Promise<{ code: number | null; signal: string | null }>; output: () => string } {
    const file = path.join(dir, `passerelle-${children.length}.yaml`);
    writeFileSync(
      file,
      [
        'port: 0',
        `dataDir: ${path.join(dir, 'data')}`,
        'log: { level: warn }',
        'mssante:',
        `  address: ${BAL}`,
        `  tls: { pkcs12: "${pki.files.orgP12}", passphrase: "${pki.passphrase}", ca: "${pki.files.ca}", servername: localhost }`,
        `  smtp: { host: "${peer.smtp.host}", port: ${peer.smtp.port} }`,
        `  imap: { host: "${peer.imap.host}", port: ${peer.imap.port}, passwordEnv: ${PASSWORD_ENV}, pollMs: 200, timeoutMs: 10000 }`,
        '',
      ].join('\n'),
    );
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--config', file], {
      env: { ...process.env, PORT: '', PASSERELLE_CONFIG: '', PASSERELLE_DATA: '', LOG_LEVEL: 'warn', [PASSWORD_ENV]: peer.passwordOf(BAL), PASSERELLE_CRASH_AT: crashAt ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    return { child, exited, output: () => out };
  }

  it('killed just before the commit, then just after it: after the restart the mail is taken in exactly once', async () => {
    for (const [n, point] of [
      [1, 'mssante-intake-before-commit'],
      [2, 'mssante-intake-after-commit'],
    ] as const) {
      const id = `<imap-crash-${n}@demo.mssante.fr>`;
      await send(await mail(id, jsonBpm(`BPM-CRASH-${n}`)));
      const before = await carePlans();
      const victim = gateway(point);
      const death = await Promise.race([victim.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 45_000))]);
      expect(death, victim.output()).toEqual({ code: null, signal: 'SIGKILL' });
      // Before the commit: nothing of the mail is stored and it is still in INBOX. After it: stored, not moved yet.
      expect(await folder('INBOX')).toEqual([id]);
      if (point === 'mssante-intake-before-commit') {
        expect(await store.mssante.intake(id)).toBeUndefined();
        expect(await carePlans()).toBe(before);
      } else {
        expect(await store.mssante.intake(id)).toMatchObject({ state: 'processed' });
        expect(await carePlans()).toBe((before ?? 0) + 1);
      }

      const next = gateway();
      await waitFor(async () => (await folder('INBOX')).length === 0, 45_000, `the mail moved after the restart (${point})`);
      expect(await store.mssante.intake(id)).toMatchObject({ state: 'processed', sender: OFFICINE });
      expect((await store.mssante.intakes(1000)).filter((r) => r.messageId === id)).toHaveLength(1);
      expect(await carePlans()).toBe((before ?? 0) + 1);
      expect(await folder('Processed')).toContain(id);
      next.child.kill('SIGTERM');
      expect((await next.exited).code, next.output()).toBe(0);
    }
  }, 180_000);
});
