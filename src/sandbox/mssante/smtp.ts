// The SMTP side of the local MSSanté peer (`smtp-server`): mutual TLS only (a client certificate chaining to the test
// CA, as an MSSanté operator demands of a BAL APP), mail only for the mailboxes it knows, a size limit, and every
// accepted message handed to Dovecot over LMTP so a real IMAP server serves it.
import net from 'node:net';
import type { Readable } from 'node:stream';
import nodemailer from 'nodemailer';
import type { Logger } from 'pino';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';

export interface PeerSmtpOptions {
  tls: { key: string; cert: string; ca: string };
  /** Known addresses (lower case). */
  mailboxes: ReadonlySet<string>;
  lmtpSocket: string;
  maxMessageBytes: number;
  logger?: Logger;
}

export interface ListeningSmtp {
  host: string;
  port: number;
  close(): Promise<void>;
}

const smtpError = (code: number, message: string): Error => Object.assign(new Error(message), { responseCode: code });

/** Starts one listener: implicit TLS (`secure`) or STARTTLS (then MAIL is refused before the upgrade). */
export async function listenSmtp(o: PeerSmtpOptions, mode: 'implicit' | 'starttls', port: number): Promise<ListeningSmtp> {
  const log = o.logger;
  const options: SMTPServerOptions = {
    secure: mode === 'implicit',
    key: o.tls.key,
    cert: o.tls.cert,
    ca: o.tls.ca,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
    name: 'mssante.sandbox.localhost',
    banner: 'Passerelle local MSSanté peer (TEST)',
    authOptional: true,
    disabledCommands: ['AUTH'],
    size: o.maxMessageBytes,
    logger: false,
    onMailFrom(_address, session, callback) {
      if (!session.secure) return callback(smtpError(530, 'Must issue a STARTTLS command first'));
      callback();
    },
    onRcptTo(address, session, callback) {
      if (!o.mailboxes.has(address.address.toLowerCase())) {
        log?.info({ session: session.id, to: address.address }, 'MSSanté sandbox: unknown recipient refused');
        return callback(smtpError(550, `5.1.1 <${address.address}>: no such mailbox here`));
      }
      callback();
    },
    onData(stream, session, callback) {
      collect(stream)
        .then(async (raw) => {
          if ((stream as Readable & { sizeExceeded?: boolean }).sizeExceeded) throw smtpError(552, `5.3.4 message exceeds ${o.maxMessageBytes} bytes`);
          const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
          const to = session.envelope.rcptTo.map((r) => r.address);
          await deliver(o.lmtpSocket, raw, from, to);
          log?.info({ session: session.id, from, to, bytes: raw.length, client: clientSubject(session) }, 'MSSanté sandbox: message accepted and delivered');
        })
        .then(
          () => callback(),
          (err: Error & { responseCode?: number }) => {
            log?.warn({ session: session.id, err: err.message }, 'MSSanté sandbox: message refused');
            callback(err.responseCode ? err : smtpError(451, `4.3.0 delivery to the mailboxes failed: ${err.message}`));
          },
        );
    },
  };
  const server = new SMTPServer(options);
  server.on('error', (err) => log?.warn({ err: err.message }, 'MSSanté sandbox: SMTP connection error'));
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.server.address() as net.AddressInfo).port;
  return {
    host: '127.0.0.1',
    port: bound,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function collect(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

/** Who presented which certificate (the subject's CN, for the log). */
function clientSubject(session: SMTPServerSession): string | undefined {
  const s = session as SMTPServerSession & { clientCert?: { subject?: { CN?: string } } };
  return s.clientCert?.subject?.CN;
}

/** Hands the message to Dovecot's LMTP socket; any recipient refused there fails the whole delivery. */
async function deliver(socketPath: string, raw: Buffer, from: string, to: string[]): Promise<void> {
  const transport = nodemailer.createTransport({
    lmtp: true,
    host: 'localhost',
    name: 'mssante.sandbox.localhost',
    ignoreTLS: true,
    getSocket: (_options: unknown, callback: (err: Error | null, socketOptions?: { connection: net.Socket }) => void) => {
      const connection = net.connect(socketPath);
      connection.once('connect', () => callback(null, { connection }));
      connection.once('error', (err) => callback(err));
    },
  } as Parameters<typeof nodemailer.createTransport>[0]);
  try {
    const info = await transport.sendMail({ envelope: { from, to }, raw });
    if (info.rejected.length > 0) throw new Error(`LMTP refused ${info.rejected.join(', ')}`);
  } finally {
    transport.close();
  }
}
