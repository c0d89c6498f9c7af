// The outbox payload of an `mssante` destination: the document as the DMP route describes it (DocumentMessage: the
// same bytes on every attempt), plus the one recipient this message is for. Its idempotency key is the Message-ID.
import type { DocumentMessage } from '../../documents/message.js';

export interface MssanteRecipient {
  /** The mailbox written to; absent when the send was refused at enqueue (the message is then written dead). */
  address?: string;
  /** Care-team role (`medecin-traitant`, `pharmacien-officine`…) or `patient`. */
  role: string;
  rpps?: string;
  /** "Given Family" as the document names the professional. */
  name?: string;
  /** Where the address came from. */
  source?: 'document' | 'directory' | 'ins';
}

export interface MssantePayload extends DocumentMessage {
  mssante: {
    recipient: MssanteRecipient;
    /** Ask for a receipt (Disposition-Notification-To). */
    receipt: boolean;
    /** Writing to a patient who must not reply (X-MSS-MES: FIN). */
    noReply?: boolean;
    /** Why nothing will be sent (the recipient has no known address…); the message is dead from the start. */
    refused?: string;
  };
}
