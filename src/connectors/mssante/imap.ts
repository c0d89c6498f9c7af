// The BAL APP's mailbox over IMAP (imapflow): TLS from the first byte or STARTTLS (required, never in clear), the
// organisation's certificate presented, the server's checked against the configured CA. One poll locks the folder,
// lists the messages (UID, size, Message-ID), then takes them in batches (at most BATCH_MESSAGES, BATCH_BYTES): one
// FETCH brings the sources of a batch's messages under the size cap, each is handed to the caller in UID order, and
// once the caller has returned for all of them (after their commits) one MOVE per folder moves them where it said.
// A message the caller leaves (`keep`) stays in the folder for the next poll.
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import type { MailTls } from './transport.js';

export interface ImapMailboxOptions {
  host: string;
  port: number;
  security: 'implicit' | 'starttls';
  user: string;
  password: string;
  tls: MailTls;
  /** Name checked in the server's certificate (default: the host). */
  servername?: string;
  /** Folder read, and the folders a message is moved to. */
  mailbox: string;
  processed: string;
  error: string;
  timeoutMs: number;
  /** A bigger message is not downloaded: the caller gets its size and Message-ID only. */
  maxMessageBytes: number;
}

/** One message of the folder, as the caller sees it. */
export interface ImapMessage {
  uid: number;
  size: number;
  /** From the envelope (the server's parse), when it has one. */
  messageId?: string;
  /** The whole message, absent when it is over `maxMessageBytes`. */
  raw?: Buffer;
}

/** Where a handled message goes: its folder, or stays (`keep`: a failure that is not the message's fault). */
export type ImapDisposition = 'processed' | 'error' | 'keep';

/** A batch: at most this many messages, and this many bytes of sources (one bigger message goes alone). */
export const BATCH_MESSAGES = 20;
export const BATCH_BYTES = 20 * 1024 * 1024;

export class ImapMailbox {
  private client: ImapFlow | undefined;
  private readonly created = new Set<string>();

  constructor(private readonly o: ImapMailboxOptions) {}

  private options(): ImapFlowOptions {
    const { o } = this;
    return {
      host: o.host,
      port: o.port,
      secure: o.security === 'implicit',
      ...(o.security === 'starttls' ? { doSTARTTLS: true } : {}),
      servername: o.servername ?? o.host,
      auth: { user: o.user, pass: o.password },
      tls: {
        key: o.tls.key,
        cert: [o.tls.cert, ...o.tls.chain].join('\n'),
        ca: o.tls.ca,
        servername: o.servername ?? o.host,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
      },
      logger: false,
      disableAutoIdle: true,
      connectionTimeout: o.timeoutMs,
      greetingTimeout: o.timeoutMs,
      socketTimeout: Math.max(o.timeoutMs * 4, 60_000),
    };
  }

  /** The connection, opened (again) when needed. */
  private async connected(): Promise<ImapFlow> {
    if (this.client?.usable) return this.client;
    this.client?.close();
    const client = new ImapFlow(this.options());
    // An error event without a listener would crash the process; the next command fails and the poll says why.
    client.on('error', () => undefined);
    await client.connect();
    this.client = client;
    return client;
  }

  private async ensureFolder(client: ImapFlow, folder: string): Promise<void> {
    if (this.created.has(folder)) return;
    const existing = await client.list();
    if (!existing.some((b) => b.path === folder)) {
      try {
        await client.mailboxCreate(folder);
      } catch (err) {
        // Created meanwhile by another process: fine.
        const again = await client.list();
        if (!again.some((b) => b.path === folder)) throw err;
      }
    }
    this.created.add(folder);
  }

  /**
   * One poll: for each message of the folder, oldest first, `handle` then the move it asks for — the moves of a batch
   * once `handle` has returned for each of its messages. Stops early when `stopping()` turns true (the message being
   * handled is finished first, and the batch's handled messages are moved). Returns the number of messages handled.
   */
  async poll(handle: (m: ImapMessage) => Promise<ImapDisposition>, stopping: () => boolean = () => false): Promise<number> {
    const client = await this.connected();
    await this.ensureFolder(client, this.o.processed);
    await this.ensureFolder(client, this.o.error);
    const lock = await client.getMailboxLock(this.o.mailbox);
    let handled = 0;
    try {
      // The folder stays selected between polls on a kept connection: without a command, the server never says that
      // mail arrived meanwhile (untagged EXISTS), and `exists` would stay what it was at the first poll.
      await client.noop();
      const box = client.mailbox;
      if (!box || box.exists === 0) return 0;
      const listed: { uid: number; size: number; messageId?: string }[] = [];
      for await (const m of client.fetch('1:*', { uid: true, size: true, envelope: true })) {
        listed.push({ uid: m.uid, size: m.size ?? 0, ...(m.envelope?.messageId ? { messageId: m.envelope.messageId } : {}) });
      }
      listed.sort((a, b) => a.uid - b.uid);
      let next = 0;
      while (next < listed.length && !stopping()) {
        // The batch: bounded by count and by the bytes its sources weigh (a message over the cap weighs nothing: it is
        // not downloaded).
        const batch: typeof listed = [];
        let bytes = 0;
        while (next < listed.length && batch.length < BATCH_MESSAGES) {
          const m = listed[next];
          const weight = m.size <= this.o.maxMessageBytes ? m.size : 0;
          if (batch.length > 0 && bytes + weight > BATCH_BYTES) break;
          batch.push(m);
          bytes += weight;
          next++;
        }
        // Collected whole before anything else is sent: imapflow allows no other command while a FETCH is iterated.
        const sources = new Map<number, Buffer>();
        const wanted = batch.filter((m) => m.size <= this.o.maxMessageBytes).map((m) => m.uid);
        if (wanted.length > 0) {
          for await (const f of client.fetch(wanted.join(','), { uid: true, source: true }, { uid: true })) {
            if (f.source) sources.set(f.uid, f.source);
          }
        }
        const moves: Record<'processed' | 'error', number[]> = { processed: [], error: [] };
        let failed: { err: unknown } | undefined;
        try {
          for (const m of batch) {
            if (stopping()) break;
            let raw: Buffer | undefined;
            if (m.size <= this.o.maxMessageBytes) {
              raw = sources.get(m.uid);
              if (!raw) continue; // expunged meanwhile
            }
            const where = await handle({ ...m, ...(raw ? { raw } : {}) });
            handled++;
            if (where !== 'keep') moves[where].push(m.uid);
          }
        } catch (err) {
          failed = { err };
        }
        // After the commits of the messages handled (those before a failure too): one MOVE per folder.
        for (const where of ['processed', 'error'] as const) {
          if (moves[where].length === 0) continue;
          const moving = client.messageMove(moves[where].join(','), where === 'processed' ? this.o.processed : this.o.error, { uid: true });
          if (failed) await moving.catch(() => undefined);
          else await moving;
        }
        if (failed) throw failed.err;
      }
      return handled;
    } finally {
      lock.release();
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    await client.logout().catch(() => client.close());
  }
}
