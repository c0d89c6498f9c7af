// A local MSSanté peer for tests and `npm start`: an SMTP server demanding a client certificate of the test PKI, and a
// real Dovecot holding the mailboxes (IMAPS with client certificate and password). Plus two helpers for tests and
// demos: read a mailbox over IMAP (imapflow) and send a message as an officine would (nodemailer).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import type { Logger } from 'pino';
import type { TestPki } from '../pki.js';
import { startDovecot, type RunningDovecot } from './dovecot.js';
import { DEFAULT_MAILBOX_PASSWORD } from './mailboxes.js';
import { listenSmtp, type ListeningSmtp } from './smtp.js';

export interface MssantePeerOptions {
  /** Folder of the mailboxes and of Dovecot's configuration (absent: a temporary folder removed by close). */
  dir?: string;
  pki: TestPki;
  mailboxes: readonly { address: string; password?: string }[];
  /** Implicit-TLS SMTP port on 127.0.0.1 (absent or 0: ephemeral). */
  smtpPort?: number;
  /** Also listen for STARTTLS on this port (0: ephemeral; absent: no STARTTLS listener). */
  starttlsPort?: number;
  /** IMAPS port (absent or 0: a free one). */
  imapPort?: number;
  logger?: Logger;
  /** Largest message accepted over SMTP (default 25 MiB). */
  maxMessageBytes?: number;
}

export interface MssantePeer {
  smtp: { host: string; port: number };
  /** Present when `starttlsPort` was given. */
  starttls?: { host: string; port: number };
  imap: { host: string; port: number };
  /** PEM of the CA the peer's server certificate chains to (what a client trusts). */
  ca: string;
  passwordOf(address: string): string;
  mailboxes: string[];
  /** Dovecot's generated configuration (its master process names it on its command line). */
  dovecotConf: string;
  close(): Promise<void>;
}

export async function startMssantePeer(options: MssantePeerOptions): Promise<MssantePeer> {
  const temporary = !options.dir;
  const dir = options.dir ? path.resolve(options.dir) : await mkdtemp(path.join(os.tmpdir(), 'mssante-peer-'));
  const passwords = new Map(options.mailboxes.map((m) => [m.address.toLowerCase(), m.password ?? DEFAULT_MAILBOX_PASSWORD]));
  if (passwords.size === 0) throw new Error('the MSSanté peer needs at least one mailbox');
  const { pki } = options;
  const logger = options.logger;
  let dovecot: RunningDovecot | undefined;
  const listeners: ListeningSmtp[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(listeners.map((l) => l.close()));
    await dovecot?.close();
    if (temporary) await rm(dir, { recursive: true, force: true });
  };
  try {
    dovecot = await startDovecot({
      dir,
      mailboxes: [...passwords].map(([address, password]) => ({ address, password })),
      tls: { cert: pki.files.server, key: pki.files.serverKey, ca: pki.files.ca },
      imapPort: options.imapPort,
    });
    const smtpOptions = {
      tls: { key: pki.pem.serverKey, cert: pki.pem.server, ca: pki.pem.ca },
      mailboxes: new Set(passwords.keys()),
      lmtpSocket: dovecot.lmtpSocket,
      maxMessageBytes: options.maxMessageBytes ?? 25 * 1024 * 1024,
      logger,
    };
    listeners.push(await listenSmtp(smtpOptions, 'implicit', options.smtpPort ?? 0));
    if (options.starttlsPort !== undefined) listeners.push(await listenSmtp(smtpOptions, 'starttls', options.starttlsPort));
  } catch (err) {
    await close();
    throw err;
  }
  const [implicit, starttls] = listeners;
  logger?.info({ smtp: implicit.port, starttls: starttls?.port, imap: dovecot.imap.port, mailboxes: [...passwords.keys()] }, 'MSSanté sandbox peer started');
  return {
    smtp: { host: implicit.host, port: implicit.port },
    ...(starttls ? { starttls: { host: starttls.host, port: starttls.port } } : {}),
    imap: dovecot.imap,
    ca: pki.pem.ca,
    passwordOf(address: string): string {
      const p = passwords.get(address.toLowerCase());
      if (p === undefined) throw new Error(`${address}: not a mailbox of the MSSanté peer`);
      return p;
    },
    mailboxes: [...passwords.keys()],
    dovecotConf: dovecot.confPath,
    close,
  };
}

export interface MailboxMessage {
  uid: number;
  raw: Buffer;
  messageId?: string;
  subject?: string;
  from?: string;
  date?: Date;
}

export interface PeerClientTls {
  key: string;
  cert: string;
}

/**
 * The messages of a mailbox of the peer (default folder INBOX), read over IMAPS with a client certificate (default:
 * the test PKI's organisation certificate, given as `tls`) and the mailbox's password.
 */
export async function readMailbox(
  peer: Pick<MssantePeer, 'imap' | 'ca' | 'passwordOf'>,
  address: string,
  options: { folder?: string; tls: PeerClientTls; password?: string },
): Promise<MailboxMessage[]> {
  const client = new ImapFlow({
    host: peer.imap.host,
    port: peer.imap.port,
    secure: true,
    auth: { user: address, pass: options.password ?? peer.passwordOf(address) },
    tls: { key: options.tls.key, cert: options.tls.cert, ca: peer.ca, servername: 'localhost' },
    logger: false,
  });
  await client.connect();
  try {
    const lock = await client.getMailboxLock(options.folder ?? 'INBOX');
    try {
      const box = client.mailbox;
      if (!box || box.exists === 0) return [];
      const out: MailboxMessage[] = [];
      for await (const m of client.fetch('1:*', { uid: true, source: true, envelope: true })) {
        out.push({
          uid: m.uid,
          raw: m.source ?? Buffer.alloc(0),
          ...(m.envelope?.messageId ? { messageId: m.envelope.messageId } : {}),
          ...(m.envelope?.subject ? { subject: m.envelope.subject } : {}),
          ...(m.envelope?.from?.[0]?.address ? { from: m.envelope.from[0].address } : {}),
          ...(m.envelope?.date ? { date: new Date(m.envelope.date) } : {}),
        });
      }
      return out;
    } finally {
      lock.release();
    }
  } finally {
    await client.logout().catch(() => client.close());
  }
}

/** Sends a raw message to the peer as another MSSanté user would (client certificate required by the peer). */
export async function sendToPeer(
  peer: Pick<MssantePeer, 'smtp' | 'starttls' | 'ca'>,
  raw: Buffer,
  envelope: { from: string; to: readonly string[] },
  tls: Partial<PeerClientTls>,
  options: { starttls?: boolean } = {},
): Promise<{ accepted: string[]; rejected: string[]; response: string }> {
  const target = options.starttls ? peer.starttls : peer.smtp;
  if (!target) throw new Error('the peer has no STARTTLS listener (start it with starttlsPort)');
  const transport = nodemailer.createTransport({
    host: target.host,
    port: target.port,
    secure: !options.starttls,
    requireTLS: Boolean(options.starttls),
    name: 'officine.sandbox.localhost',
    tls: { ...(tls.key ? { key: tls.key } : {}), ...(tls.cert ? { cert: tls.cert } : {}), ca: peer.ca, servername: 'localhost' },
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
  });
  try {
    const info = await transport.sendMail({ envelope: { from: envelope.from, to: [...envelope.to] }, raw });
    return { accepted: info.accepted.map(String), rejected: info.rejected.map(String), response: info.response };
  } finally {
    transport.close();
  }
}
