// The outbox connector of an `mssante` destination: builds the document the message describes (the same bytes on
// every attempt), composes the MSSanté message for its one recipient (IHE XDM, X-MSS-* headers, Message-ID = the
// message's idempotency key) and sends it through the BAL APP's SMTP server. A 5xx reply or a refused recipient: dead
// with the server's reply; no connection, a TLS failure, a timeout or a 4xx reply: retried.
import { readFileSync } from 'node:fs';
import { DeliveryError, type Connector } from '../../outbox/connector.js';
import type { MssanteDestinationConfig } from '../../outbox/config.js';
import type { OutboxMessage } from '../../store/outbox-repository.js';
import type { XdmSoftware } from '../../documents/xdm.js';
import { buildMessageDocument, type DocumentConnectorDeps } from '../dmp/connector.js';
import { loadOrganisationCredentials } from '../dmp/tls.js';
import { messageIdDomainOf, type MssanteConfig } from './config.js';
import { composeMssanteMessage, MssanteMessageRefused } from './message.js';
import { composeLinkMessage, isLinkPayload, type LinkMessagePayload } from './link-message.js';
import type { MssantePayload } from './payload.js';
import { smtpSender, SmtpSendError, type MailSender, type MailTls } from './transport.js';

export const SOFTWARE: XdmSoftware = {
  name: 'Passerelle',
  version: (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version,
  vendor: 'Passerelle',
};

export interface MssanteConnectorDeps extends DocumentConnectorDeps {
  /** The mail sender (default: `smtpSender` on the configured server, with the organisation's certificate). */
  sender?: MailSender;
  /** Where PASSERELLE_MSSANTE_PASSPHRASE and the SMTP password's env variable are read (default: the process's). */
  env?: Record<string, string | undefined>;
}

/** The recipient part of a payload (checked: a message written by hand may lack it). */
function mssantePart(message: OutboxMessage): MssantePayload['mssante'] {
  const part = (message.payload as { mssante?: unknown } | null)?.mssante as MssantePayload['mssante'] | undefined;
  if (!part || typeof part !== 'object' || !part.recipient || typeof part.recipient !== 'object') {
    throw new DeliveryError('not an MSSanté message: the payload names no recipient (mssante.recipient)', false);
  }
  return part;
}

export function mssanteConnector(d: MssanteDestinationConfig, mssante: MssanteConfig, deps: MssanteConnectorDeps): Connector & { close(): Promise<void> } {
  const env = deps.env ?? process.env;
  const domain = messageIdDomainOf(mssante);
  // The sender (and the PKCS#12 it needs) is made on the first send, once; again after a failure, so fixing the
  // file needs no restart.
  let sending: Promise<MailSender> | undefined = deps.sender ? Promise.resolve(deps.sender) : undefined;
  const sender = (): Promise<MailSender> => {
    sending ??= (async () => {
      const creds = await loadOrganisationCredentials({ pkcs12Path: mssante.tls.pkcs12, passphrase: env.PASSERELLE_MSSANTE_PASSPHRASE ?? mssante.tls.passphrase, caPath: mssante.tls.ca });
      const tls: MailTls = { key: creds.key, cert: creds.cert, chain: creds.chain, ca: creds.ca ?? '' };
      return smtpSender(mssante, tls, env);
    })().catch((err: unknown) => {
      sending = undefined;
      throw err;
    });
    return sending;
  };
  const send = async (raw: Buffer, to: string, signal: AbortSignal): Promise<void> => {
    let mail: MailSender;
    try {
      mail = await sender();
    } catch (err) {
      throw new DeliveryError(`mssante: ${(err as Error).message}`, true);
    }
    try {
      await mail.send(raw, { from: mssante.address, to: [to] }, { signal: AbortSignal.any([signal, AbortSignal.timeout(d.timeoutMs)]) });
    } catch (err) {
      if (err instanceof SmtpSendError) throw new DeliveryError(err.message, err.transient);
      throw new DeliveryError((err as Error).message, true);
    }
  };
  const deliverLink = async (message: OutboxMessage, payload: LinkMessagePayload, signal: AbortSignal, started?: () => Promise<void>): Promise<void> => {
    await started?.();
    if (payload.link.refused) throw new DeliveryError(payload.link.refused, false);
    let composed;
    try {
      composed = await composeLinkMessage({ payload, from: { address: mssante.address, name: mssante.name }, nil: mssante.nil, messageIdDomain: domain });
    } catch (err) {
      if (err instanceof MssanteMessageRefused) throw new DeliveryError(err.message, false);
      throw new DeliveryError(`message cannot be composed: ${(err as Error).message}`, false);
    }
    if (composed.messageId !== message.idempotencyKey) {
      throw new DeliveryError(`composed Message-ID ${composed.messageId} differs from the message's key ${message.idempotencyKey} (mssante.address or messageIdDomain changed since it was enqueued?)`, false);
    }
    await send(composed.raw, composed.to, signal);
  };
  return {
    // The attempt starts when the document build leaves the builder's queue, not when it is claimed.
    staged: true,
    async deliver(message: OutboxMessage, { signal, started }) {
      // A pathway link (not a document): a short letter to one professional, nothing to build.
      if (isLinkPayload(message.payload)) return deliverLink(message, message.payload, signal, started);
      const part = mssantePart(message);
      if (part.refused) throw new DeliveryError(part.refused, false);
      const to = part.recipient.address;
      if (!to) throw new DeliveryError(`no MSSanté address for the ${part.recipient.role}`, false);
      const { request, built } = await buildMessageDocument(message, deps, started);
      let composed;
      try {
        composed = await composeMssanteMessage({
          built,
          from: { address: mssante.address, name: mssante.name, organization: mssante.organization ?? built.header.organization.name },
          to: [to],
          nil: mssante.nil,
          software: SOFTWARE,
          // The document's time, fixed at enqueue: every attempt composes the same bytes.
          date: new Date(request.effectiveTime),
          receipt: part.receipt,
          ...(part.noReply ? { noReply: true } : {}),
          messageIdDomain: domain,
        });
      } catch (err) {
        if (err instanceof MssanteMessageRefused) throw new DeliveryError(err.message, false);
        throw new DeliveryError(`message cannot be composed: ${(err as Error).message}`, false);
      }
      // The key was computed at enqueue from the same facts: a difference means the configuration changed since
      // (mailbox, Message-ID domain), and sending would break the dedupe the key stands for.
      if (composed.messageId !== message.idempotencyKey) {
        throw new DeliveryError(`composed Message-ID ${composed.messageId} differs from the message's key ${message.idempotencyKey} (mssante.address or messageIdDomain changed since it was enqueued?)`, false);
      }
      await send(composed.raw, to, signal);
    },
    async close() {
      const s = sending;
      sending = undefined;
      if (s) await s.then((m) => m.close(), () => undefined);
    },
  };
}
