// The message that carries a secure link to the MT or the PHO through MSSanté (the PPP sent for decisions, the
// D45/D90 prescription request): to be built (issue 18 point 3). Enqueued in the caller's transaction through the
// outbox, like every MSSanté send; refused (dead from the start, with the reason) when no address is known.
import type { StoreTransaction } from '../../store/repository.js';
import type { LinkPurpose, LinkRole } from '../../domain/pathway/link-token.js';
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

export async function enqueueLinkMail(_tx: StoreTransaction, mail: LinkMail, _ctx: PathwayContext): Promise<LinkDelivery> {
  return { role: mail.role, rpps: mail.rpps, channel: 'mssante', state: 'not-configured', reason: 'not built yet' };
}
