// The message that carries a secure link to the MT or the PHO through MSSanté (the PPP sent for decisions, the
// D45/D90 prescription request; docs/pathway.md "Sending the PPP"). Enqueued in the caller's transaction through the
// outbox to the gateway's MSSanté destination (the first outbox destination of kind `mssante`, sending from the
// `mssante` section's mailbox), with its own payload kind (connectors/mssante/link-message.ts) and the Message-ID as
// idempotency key; refused (written dead from the start, with the reason) when no address is known.
import { z } from 'zod';
import { messageIdDomainOf } from '../../connectors/mssante/config.js';
import { LINK_PAYLOAD_KIND, linkMessageId, type LinkMessagePayload } from '../../connectors/mssante/link-message.js';
import { bornWord, type PatientIdentity } from '../../domain/identity.js';
import type { LinkPurpose, LinkRole } from '../../domain/pathway/link-token.js';
import type { DirectoryRepository } from '../../store/directory-repository.js';
import type { StoreTransaction } from '../../store/repository.js';
import { directoryAddress } from '../mssante-delivery.js';
import type { PathwayContext } from './context.js';

export interface LinkMail {
  carePlan: string;
  role: LinkRole;
  rpps: string;
  /** The professional's name, for the salutation. */
  name?: string;
  /** An MSSanté address the document gives for them (else the local directory, by RPPS). */
  address?: string;
  purpose: LinkPurpose;
  /** The link (`${baseUrl}/p/<token>`) and its expiry. */
  url: string;
  expires: string;
  /** For D45/D90 prescription requests. */
  window?: 'd45' | 'd90';
  /** The patient as the message names them (name, birth date): the mail goes to a health professional's BAL. */
  patientLabel: string;
  /** The establishment that sends the PPP (`ppp.establishment.name`), named in the message. */
  organization?: string;
}

/** How a link went out: `queued` in the outbox, `refused` (no address…), or `not-configured` (no MSSanté section). */
export interface LinkDelivery {
  role: LinkRole;
  rpps: string;
  channel: 'mssante';
  state: 'queued' | 'refused' | 'not-configured';
  address?: string;
  /** The outbox message (its id) and the Message-ID. */
  outboxId?: string;
  messageId?: string;
  reason?: string;
}

/** Where the links' lookups of addresses go (the local MSSanté directory: `store.directory`). */
export interface LinkMailOptions {
  directory?: Pick<DirectoryRepository, 'byRpps'>;
}

const mailbox = z.email();

const FR_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** "Emma BOVARY née ROUAULT, née le 14/03/1940": the name used, the birth name when it differs, the birth date. */
export function patientLabel(p: Pick<PatientIdentity, 'birthName' | 'firstBirthGivenName' | 'usedName' | 'usedGivenName' | 'birthDate' | 'sex'>): string {
  const born = bornWord(p.sex);
  const family = p.usedName ?? p.birthName;
  const name = `${p.usedGivenName ?? p.firstBirthGivenName} ${family}${p.usedName && p.usedName !== p.birthName ? ` ${born} ${p.birthName}` : ''}`;
  const m = FR_DATE.exec(p.birthDate);
  const date = m ? `${m[3]}/${m[2]}/${m[1]}` : p.birthDate.split('-').reverse().join('/');
  return `${name}, ${born} le ${date}`;
}

/** The gateway's MSSanté destination for links: the first `mssante` destination of the outbox, when a mailbox is configured. */
export function linkDestination(config: PathwayContext['config']): string | undefined {
  if (!config.mssante) return undefined;
  return Object.entries(config.outbox.destinations).find(([, d]) => d.kind === 'mssante')?.[0];
}

/**
 * Enqueues the message carrying `mail`'s link in `tx`. The address: the one the document gives, else the directory's
 * (a personal BAL first); none: the message is written dead with the reason (visible in /admin/outbox), audited, and
 * the answer says `refused`. No MSSanté mailbox or destination configured: nothing is written, `not-configured`.
 */
export async function enqueueLinkMail(tx: StoreTransaction, mail: LinkMail, ctx: PathwayContext, options: LinkMailOptions = {}): Promise<LinkDelivery> {
  const base = { role: mail.role, rpps: mail.rpps, channel: 'mssante' as const };
  const destination = linkDestination(ctx.config);
  if (!destination || !ctx.config.mssante) {
    return { ...base, state: 'not-configured', reason: 'aucune messagerie MSSanté configurée (section mssante et destination de type mssante de la outbox)' };
  }
  let address: string | undefined;
  let source: 'document' | 'directory' | undefined;
  if (mail.address !== undefined && mailbox.safeParse(mail.address).success) {
    address = mail.address;
    source = 'document';
  } else if (options.directory) {
    address = directoryAddress(await options.directory.byRpps(mail.rpps));
    if (address) source = 'directory';
  }
  const refused = address ? undefined : "aucune adresse MSSanté connue pour ce professionnel (ni dans le document, ni dans l'annuaire)";
  const payload: LinkMessagePayload = {
    kind: LINK_PAYLOAD_KIND,
    resource: `CarePlan/${mail.carePlan}`,
    link: {
      recipient: { role: mail.role, rpps: mail.rpps, ...(mail.name ? { name: mail.name } : {}), ...(address ? { address } : {}), ...(source ? { source } : {}) },
      purpose: mail.purpose,
      ...(mail.window ? { window: mail.window } : {}),
      patientLabel: mail.patientLabel,
      ...(mail.organization ? { organization: mail.organization } : {}),
      url: mail.url,
      expires: mail.expires,
      date: ctx.now.toISOString(),
      ...(refused ? { refused } : {}),
    },
  };
  const messageId = address ? linkMessageId(mail.url, address, messageIdDomainOf(ctx.config.mssante)) : undefined;
  const { message, created } = await tx.outbox.enqueue({
    destination,
    // One queue per professional and PPP: a letter the MT's server keeps refusing does not hold the PHO's back.
    orderingKey: `CarePlan/${mail.carePlan}/${mail.role}`,
    // A refused link has no Message-ID: its key is the link's (never the token: a hash of the URL).
    idempotencyKey: messageId ?? `refused-link:${linkMessageId(mail.url, mail.role, 'refused')}`,
    payload,
    ...(refused ? { refused } : {}),
    ...(ctx.requestId ? { requestId: ctx.requestId } : {}),
  });
  if (refused) {
    if (created) {
      await tx.audit({
        action: 'pathway.link-mail',
        actor: ctx.actor,
        entities: [`CarePlan/${mail.carePlan}`],
        outcome: 'failure',
        detail: `${destination} (${mail.role} RPPS ${mail.rpps}, ${mail.purpose}${mail.window ? ` ${mail.window}` : ''}): ${refused}; message ${message.id}`,
        ...(ctx.requestId ? { requestId: ctx.requestId } : {}),
      });
    }
    return { ...base, state: 'refused', outboxId: message.id, reason: refused };
  }
  return { ...base, state: 'queued', address: address as string, outboxId: message.id, messageId: messageId as string };
}
