// Sending a composed message (or an MDN) through the BAL APP's SMTP server: TLS (implicit or STARTTLS) with the
// organisation's client certificate, the server's certificate verified against the configured CA. The raw bytes are
// sent as they are (nodemailer's SMTP transport with `raw`), so what `passerelle document mime` writes is what goes.
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

/** Issue 17 (sending): implemented by the SMTP work. */
export function smtpSender(_config: MssanteConfig, _tls: MailTls): MailSender {
  throw new Error('smtpSender: not implemented yet');
}
