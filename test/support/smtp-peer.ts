// An in-test SMTP server (smtp-server) over real TLS: implicit or STARTTLS, asking for a client certificate of the
// given CA and refusing connections without one; collects what it received (envelope and raw bytes).
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: Buffer;
}

export interface SmtpPeer {
  port: number;
  received: ReceivedMail[];
  /** Every message body sent (DATA), accepted or refused by `behaviour.data`. */
  attempts: ReceivedMail[];
  /** Connections whose TLS handshake failed (client certificate refused…). */
  tlsErrors: string[];
  /** Change the answers while running. */
  behaviour: { rcpt?: (address: string) => Error | undefined; data?: () => Error | undefined };
  close(): Promise<void>;
}

export interface SmtpPeerOptions {
  key: string;
  cert: string;
  /** CA the client certificates must chain to. */
  ca: string;
  security?: 'implicit' | 'starttls';
  /** SMTP AUTH (PLAIN/LOGIN) required with these credentials. */
  auth?: { user: string; pass: string };
}

/** An SMTP reply error (`550 …`) as smtp-server sends it. */
export function smtpReply(code: number, text: string): Error {
  return Object.assign(new Error(text), { responseCode: code });
}

export async function startSmtpPeer(options: SmtpPeerOptions): Promise<SmtpPeer> {
  const received: ReceivedMail[] = [];
  const attempts: ReceivedMail[] = [];
  const tlsErrors: string[] = [];
  const behaviour: SmtpPeer['behaviour'] = {};
  const server = new SMTPServer({
    secure: (options.security ?? 'implicit') === 'implicit',
    key: options.key,
    cert: options.cert,
    ca: options.ca,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
    logger: false,
    ...(options.auth ? { authMethods: ['PLAIN', 'LOGIN'] } : { authOptional: true, disabledCommands: ['AUTH'] }),
    onAuth(auth, _session, callback) {
      if (options.auth && auth.username === options.auth.user && auth.password === options.auth.pass) return callback(null, { user: auth.username });
      return callback(smtpReply(535, 'Authentication failed'));
    },
    onRcptTo(address: SMTPServerAddress, _session: SMTPServerSession, callback) {
      callback(behaviour.rcpt?.(address.address) ?? null);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const mail = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
        };
        attempts.push(mail);
        const refusal = behaviour.data?.();
        if (refusal) return callback(refusal);
        received.push(mail);
        callback(null);
      });
    },
  });
  server.on('error', (err: Error) => tlsErrors.push(err.message));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = ((server as unknown as { server: { address(): AddressInfo } }).server.address()).port;
  return {
    port,
    received,
    attempts,
    tlsErrors,
    behaviour,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
