// The local MSSanté peer over real sockets: mutual TLS on SMTP (implicit and STARTTLS), delivery through Dovecot's
// LMTP, reading back over IMAPS with a client certificate, refusals, and a clean stop of Dovecot.
import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateTestPki, type TestPki } from '../../src/sandbox/pki.js';
import { dovecotInstalled } from '../../src/sandbox/mssante/dovecot.js';
import { DEMO_MAILBOXES } from '../../src/sandbox/mssante/mailboxes.js';
import { readMailbox, sendToPeer, startMssantePeer, type MssantePeer } from '../../src/sandbox/mssante/peer.js';
import { available } from '../support/shared.js';

const haveDovecot = available('Dovecot (/usr/sbin/dovecot with dovecot-imapd and dovecot-lmtpd)', dovecotInstalled(), 'the local MSSanté peer test');

function message(to: string, subject: string, body = 'Bonjour,\r\nle PPP est joint.\r\n'): Buffer {
  return Buffer.from(
    `From: officine@demo.mssante.fr\r\nTo: ${to}\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@officine.demo>\r\n` +
      `Date: Sat, 05 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${body}`,
  );
}

function dovecotRunning(conf: string): boolean {
  try {
    return execFileSync('pgrep', ['-f', conf], { encoding: 'utf8' }).trim() !== '';
  } catch {
    return false; // pgrep exits 1 when nothing matches
  }
}

describe.skipIf(!haveDovecot)('local MSSanté peer', () => {
  let dir: string;
  let pki: TestPki;
  let peer: MssantePeer;
  let org: { key: string; cert: string };
  let intruder: { key: string; cert: string };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mssante-peer-test-'));
    await chmod(dir, 0o755); // Dovecot's own users walk down to the maildirs
    pki = await generateTestPki({ dir: path.join(dir, 'pki') });
    org = { key: pki.pem.orgKey, cert: pki.pem.org };
    intruder = { key: pki.pem.intruderKey, cert: pki.pem.intruder };
    peer = await startMssantePeer({
      dir: path.join(dir, 'peer'),
      pki,
      mailboxes: [{ address: DEMO_MAILBOXES.gateway, password: 'gateway-secret' }, { address: DEMO_MAILBOXES.mt }, { address: DEMO_MAILBOXES.pho }],
      starttlsPort: 0,
      maxMessageBytes: 64 * 1024,
    });
  }, 30_000);

  afterAll(async () => {
    await peer?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('delivers a message sent over implicit TLS with the organisation certificate, read back over IMAPS byte for byte', async () => {
    const raw = message(DEMO_MAILBOXES.pho, 'implicit-tls');
    const sent = await sendToPeer(peer, raw, { from: DEMO_MAILBOXES.gateway, to: [DEMO_MAILBOXES.pho] }, org);
    expect(sent.accepted).toEqual([DEMO_MAILBOXES.pho]);
    const box = await readMailbox(peer, DEMO_MAILBOXES.pho, { tls: org });
    const got = box.find((m) => m.subject === 'implicit-tls');
    expect(got?.messageId).toBe('<implicittls@officine.demo>');
    // Dovecot prepends its trace headers (Return-Path, Delivered-To, Received); the message follows unchanged.
    expect(got?.raw.subarray(got.raw.length - raw.length).equals(raw)).toBe(true);
  });

  it('delivers to several recipients at once, and over the STARTTLS listener', async () => {
    const raw = message(`${DEMO_MAILBOXES.mt}, ${DEMO_MAILBOXES.gateway}`, 'starttls');
    const sent = await sendToPeer(peer, raw, { from: DEMO_MAILBOXES.pho, to: [DEMO_MAILBOXES.mt, DEMO_MAILBOXES.gateway] }, org, { starttls: true });
    expect(sent.accepted.sort()).toEqual([DEMO_MAILBOXES.gateway, DEMO_MAILBOXES.mt].sort());
    for (const address of [DEMO_MAILBOXES.mt, DEMO_MAILBOXES.gateway]) {
      const box = await readMailbox(peer, address, { tls: org });
      expect(box.map((m) => m.subject)).toContain('starttls');
    }
  });

  it('refuses a client certificate from another CA (the intruder), on both listeners, and delivers nothing', async () => {
    const before = (await readMailbox(peer, DEMO_MAILBOXES.mt, { tls: org })).length;
    await expect(sendToPeer(peer, message(DEMO_MAILBOXES.mt, 'intruder'), { from: DEMO_MAILBOXES.pho, to: [DEMO_MAILBOXES.mt] }, intruder)).rejects.toThrow();
    await expect(
      sendToPeer(peer, message(DEMO_MAILBOXES.mt, 'intruder-starttls'), { from: DEMO_MAILBOXES.pho, to: [DEMO_MAILBOXES.mt] }, intruder, { starttls: true }),
    ).rejects.toThrow();
    const after = await readMailbox(peer, DEMO_MAILBOXES.mt, { tls: org });
    expect(after.length).toBe(before);
    expect(after.map((m) => m.subject)).not.toContain('intruder');
  });

  it('refuses a client without certificate', async () => {
    await expect(sendToPeer(peer, message(DEMO_MAILBOXES.mt, 'no-cert'), { from: DEMO_MAILBOXES.pho, to: [DEMO_MAILBOXES.mt] }, {})).rejects.toThrow();
    await expect(
      sendToPeer(peer, message(DEMO_MAILBOXES.mt, 'no-cert-starttls'), { from: DEMO_MAILBOXES.pho, to: [DEMO_MAILBOXES.mt] }, {}, { starttls: true }),
    ).rejects.toThrow();
    expect((await readMailbox(peer, DEMO_MAILBOXES.mt, { tls: org })).map((m) => m.subject)).not.toContain('no-cert');
  });

  it('answers 550 to an unknown recipient', async () => {
    const err = await sendToPeer(peer, message('inconnu@demo.mssante.fr', 'unknown'), { from: DEMO_MAILBOXES.pho, to: ['inconnu@demo.mssante.fr'] }, org).then(
      () => undefined,
      (e: Error & { responseCode?: number }) => e,
    );
    expect(err?.responseCode).toBe(550);
  });

  it('refuses a message over the size limit (552)', async () => {
    const err = await sendToPeer(peer, message(DEMO_MAILBOXES.mt, 'too-big', 'x'.repeat(100 * 1024)), { from: DEMO_MAILBOXES.pho, to: [DEMO_MAILBOXES.mt] }, org).then(
      () => undefined,
      (e: Error & { responseCode?: number }) => e,
    );
    expect(err?.responseCode).toBe(552);
  });

  it('offers the Processed and Error folders, lets the client move mail there and create folders', async () => {
    const client = new ImapFlow({
      host: peer.imap.host,
      port: peer.imap.port,
      secure: true,
      auth: { user: DEMO_MAILBOXES.gateway, pass: peer.passwordOf(DEMO_MAILBOXES.gateway) },
      tls: { ...org, ca: peer.ca, servername: 'localhost' },
      logger: false,
    });
    await client.connect();
    try {
      // Declared in Dovecot's namespace (auto = subscribe): there from the first login, as an intake expects.
      expect((await client.list()).map((b) => b.path)).toEqual(expect.arrayContaining(['INBOX', 'Processed', 'Error']));
      await client.mailboxCreate('Processed/2026');
      const lock = await client.getMailboxLock('INBOX');
      try {
        await client.messageMove('1:*', 'Processed');
      } finally {
        lock.release();
      }
    } finally {
      await client.logout();
    }
    expect(await readMailbox(peer, DEMO_MAILBOXES.gateway, { tls: org })).toEqual([]);
    expect((await readMailbox(peer, DEMO_MAILBOXES.gateway, { tls: org, folder: 'Processed' })).map((m) => m.subject)).toContain('starttls');
  });

  // Last of the logins: Dovecot delays the next login from an address after a failed one (its auth penalty).
  it('refuses IMAP without a client certificate, with an intruder certificate, or with a wrong password', async () => {
    const tryLogin = async (tls: { key?: string; cert?: string }, pass: string): Promise<boolean> => {
      const client = new ImapFlow({
        host: peer.imap.host,
        port: peer.imap.port,
        secure: true,
        auth: { user: DEMO_MAILBOXES.mt, pass },
        tls: { ...tls, ca: peer.ca, servername: 'localhost' },
        logger: false,
      });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.logout();
        return true;
      } catch {
        client.close();
        return false;
      }
    };
    const password = peer.passwordOf(DEMO_MAILBOXES.mt);
    expect(await tryLogin(org, password)).toBe(true);
    expect(await tryLogin({}, password)).toBe(false);
    expect(await tryLogin(intruder, password)).toBe(false);
    expect(await tryLogin(org, 'not-the-password')).toBe(false);
  });

  it('stops Dovecot on close (no process left) and closes its ports', async () => {
    const conf = peer.dovecotConf;
    expect(dovecotRunning(conf)).toBe(true);
    await peer.close();
    expect(dovecotRunning(conf)).toBe(false);
    await expect(readMailbox(peer, DEMO_MAILBOXES.mt, { tls: org })).rejects.toThrow();
  });
});
