// Sending a composed message (or an MDN) through the BAL APP's SMTP server: TLS (implicit or STARTTLS) with the
// organisation's client certificate, the server's certificate verified against the configured CA. The raw bytes are
// sent as they are (nodemailer's SMTP transport with `raw`), so what `passerelle document mime` writes is what goes.
import nodemailer from 'nodemailer';
import { readSecret } from '../../config.js';
import type { MssanteConfig } from './config.js';

export interface Envelope {
  from: string;
  to: readonly string[];
}

export interface SendResult {
  /** Recipients the server accepted / refused. */
  accepted: string[];
  rejected: string[];
  /** The server's last reply line. */
  response: string;
}

export interface MailSender {
  send(raw: Buffer, envelope: Envelope, options?: { signal?: AbortSignal }): Promise<SendResult>;
  close(): Promise<void>;
}

/** The organisation's TLS credentials (PEM), as `connectors/dmp/tls.ts` reads them from the PKCS#12. */
export interface MailTls {
  key: string;
  cert: string;
  chain: readonly string[];
  ca: string;
}

/**
 * A send that failed. `transient`: worth trying again later (no connection, TLS handshake, timeout, authentication,
 * a 4xx reply); otherwise the server refused this message for good (a 5xx reply, some recipients refused).
 */
export class SmtpSendError extends Error {
  override readonly name = 'SmtpSendError';
  constructor(
    message: string,
    readonly transient: boolean,
    /** The SMTP reply code and line, when the server answered. */
    readonly responseCode?: number,
    readonly response?: string,
  ) {
    super(message);
  }
}

// Failures of the connection or of our own credentials, not of the message: retried.
const CONNECTION_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ETLS', 'EPROTOCOL', 'EABORT', 'EAUTH', 'ENOAUTH', 'EMAXLIMIT']);

interface NodemailerError {
  message?: string;
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
}

/** One line, for the outbox's lastError (server replies may span several lines). */
const oneLine = (s: string): string => s.replace(/\s*[\r\n]+\s*/g, ' ').trim().slice(0, 500);

/** The error of a failed `sendMail`, classified. */
export function classifySmtpError(err: unknown): SmtpSendError {
  if (err instanceof SmtpSendError) return err;
  const e = (err ?? {}) as NodemailerError;
  const message = oneLine(e.message ?? String(err));
  const code = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  const command = e.command ? ` (${e.command})` : '';
  if (code !== undefined && !(e.code && ['EAUTH', 'ENOAUTH'].includes(e.code))) {
    const reply = oneLine(e.response ?? message);
    return new SmtpSendError(`SMTP ${code}${command}: ${reply}`, code < 500, code, reply);
  }
  if (e.code && CONNECTION_CODES.has(e.code)) {
    // The pool retries a connection the server closes and then reports only that; with mutual TLS the usual cause is
    // our certificate refused after the handshake (TLS 1.3 checks it there), so the operator is told where to look.
    const hint = /maximum number of retries after connection was closed/i.test(message)
      ? ' — the server closed every connection: is the organisation certificate (mssante.tls.pkcs12) one it trusts?'
      : '';
    return new SmtpSendError(`${e.code}${command}: ${message}${hint}`, true, code, e.response);
  }
  // Node socket errors (ECONNREFUSED, ECONNRESET…) and anything unknown: the server may be back later.
  return new SmtpSendError(`${e.code ? `${e.code}: ` : ''}${message}`, true);
}

/**
 * The BAL APP's SMTP server as a `MailSender`: a pooled transport (`smtp.maxConnections`), implicit TLS or STARTTLS
 * (required: never in clear), the organisation's certificate and chain presented, the server's certificate checked
 * against `tls.ca` (and `tls.servername`), TLS 1.2 at least; SMTP AUTH when a user is configured. Reading the
 * password (file or env) happens here, once: a missing secret throws.
 */
export function smtpSender(config: MssanteConfig, tls: MailTls, env: Record<string, string | undefined> = process.env): MailSender {
  const { smtp } = config;
  const pass = readSecret({ file: smtp.passwordFile, env: smtp.passwordEnv }, 'mssante.smtp password', env);
  const transport = nodemailer.createTransport({
    pool: true,
    maxConnections: smtp.maxConnections,
    host: smtp.host,
    port: smtp.port,
    secure: smtp.security === 'implicit',
    requireTLS: smtp.security === 'starttls',
    ...(smtp.user ? { auth: { user: smtp.user, ...(pass !== undefined ? { pass } : {}) } } : {}),
    connectionTimeout: smtp.timeoutMs,
    greetingTimeout: smtp.timeoutMs,
    socketTimeout: smtp.timeoutMs,
    tls: {
      key: tls.key,
      cert: [tls.cert, ...tls.chain].join('\n'),
      ca: tls.ca,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      ...(config.tls.servername ? { servername: config.tls.servername } : {}),
    },
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  return {
    async send(raw, envelope, options = {}) {
      const signal = AbortSignal.any([...(options.signal ? [options.signal] : []), AbortSignal.timeout(smtp.timeoutMs)]);
      let info: { accepted?: unknown[]; rejected?: unknown[]; response?: string; rejectedErrors?: NodemailerError[] };
      try {
        signal.throwIfAborted();
        // The pool may not notice an abort once the message is handed to a connection: stop waiting for it then.
        info = await new Promise((resolve, reject) => {
          const onAbort = (): void => reject(Object.assign(new Error(`aborted: ${String((signal.reason as Error | undefined)?.message ?? signal.reason)}`), { code: 'EABORT' }));
          signal.addEventListener('abort', onAbort, { once: true });
          transport
            .sendMail({ envelope: { from: envelope.from, to: [...envelope.to] }, raw, signal })
            .then(resolve, reject)
            .finally(() => signal.removeEventListener('abort', onAbort));
        });
      } catch (err) {
        throw classifySmtpError(err);
      }
      const accepted = (info.accepted ?? []).map(String);
      const rejected = (info.rejected ?? []).map(String);
      const response = oneLine(info.response ?? '');
      if (rejected.length > 0) {
        const reply = oneLine(info.rejectedErrors?.[0]?.response ?? response);
        throw new SmtpSendError(`recipients refused (${rejected.join(', ')}): ${reply}`, false, info.rejectedErrors?.[0]?.responseCode, reply);
      }
      return { accepted, rejected, response };
    },
    async close() {
      transport.close();
    },
  };
}
