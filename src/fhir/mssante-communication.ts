// The FHIR Communication that tells a DPI about one MSSanté message the gateway sent (a document to one recipient):
// who it went to, about which CarePlan / DocumentReference, and how it stands (sent, delivered, read, failed), from
// the SMTP outcome and the receipts (MDN / DSN) that came back. Pure: the caller passes the facts and the times.
import type { Communication, Extension } from '@medplum/fhirtypes';
import { cs, sd, SYSTEM } from './canonical.js';
import { idFor } from './ids.js';

/** Identifier system of an Internet message's Message-ID (RFC 5322 §3.6.4); the value keeps its angle brackets. */
export const MESSAGE_ID_SYSTEM = 'urn:ietf:rfc:5322';
/** Complex extension on the Communication: the mail record's detailed status (sent / delivered / read / failed). */
export const MSSANTE_DELIVERY_EXTENSION = sd('passerelle-mssante-delivery');
/** Code system of its `status` sub-extension. */
export const MSSANTE_STATUS_SYSTEM = cs('mssante-status');
const COMMUNICATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/communication-category';
const PARTICIPATION_MODE = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationMode';

export type MailStatus = 'sent' | 'delivered' | 'read' | 'failed';

/** The Communication's id: a UUID v5 of the Message-ID, so recording the same message again writes the same resource. */
export const mssanteCommunicationId = (messageId: string): string => idFor('Communication', 'mssante', messageId);

export interface MailFacts {
  /** `<…@…>`. */
  messageId: string;
  /** Outbox message and destination that sent it. */
  outboxId: string;
  destination: string;
  /** `ppp`, `ctm`, `bpm`: the document named in the payload text. */
  kind: string;
  /** `Patient/…`: the document's patient. */
  subject: string;
  /** The document's root resource (`CarePlan/…`) and, when stored, its DocumentReference. */
  about: string[];
  recipient: { address?: string; role: string; rpps?: string; name?: string; practitioner?: string };
  /** The gateway's mailbox, as the sender's display. */
  sender: string;
  /** When the SMTP server accepted it (or when it failed for good, for a message never accepted). */
  sent: string;
}

export interface MailState {
  status: MailStatus;
  detail?: string;
  /** When the status was set. */
  at: string;
  /** First delivery or reading time (Communication.received). */
  received?: string;
  /** Whether the message was ever accepted by the SMTP server (a failure before that is `not-done`). */
  accepted: boolean;
}

const KIND_LABEL: Readonly<Record<string, string>> = { ppp: 'PPP', ctm: 'CTM', bpm: 'BPM' };

/**
 * FHIR status of a mail status: sent → in-progress (handed over, not known to be received); delivered and read →
 * completed; failed → stopped once it had been accepted (a receipt said so), not-done when it never left.
 */
export function communicationStatus(state: Pick<MailState, 'status' | 'accepted'>): Communication['status'] {
  switch (state.status) {
    case 'sent':
      return 'in-progress';
    case 'delivered':
    case 'read':
      return 'completed';
    case 'failed':
      return state.accepted ? 'stopped' : 'not-done';
  }
}

function recipientOf(f: MailFacts): NonNullable<Communication['recipient']>[number] {
  const r = f.recipient;
  if (r.role === 'patient') return { reference: f.subject, ...(r.address ? { display: r.address } : {}) };
  const display = r.name ? `${r.name}${r.address ? ` <${r.address}>` : ''}` : (r.address ?? r.role);
  return {
    ...(r.practitioner ? { reference: r.practitioner } : {}),
    ...(r.rpps ? { identifier: { system: SYSTEM.rpps, value: r.rpps } } : {}),
    display,
  };
}

function deliveryExtension(f: MailFacts, s: MailState): Extension {
  return {
    url: MSSANTE_DELIVERY_EXTENSION,
    extension: [
      { url: 'status', valueCoding: { system: MSSANTE_STATUS_SYSTEM, code: s.status } },
      ...(s.detail ? [{ url: 'detail', valueString: s.detail }] : []),
      { url: 'time', valueInstant: s.at },
      { url: 'destination', valueString: f.destination },
      { url: 'message', valueString: f.outboxId },
      { url: 'role', valueString: f.recipient.role },
    ],
  };
}

/** The Communication of a message in a given state. */
export function mssanteCommunication(f: MailFacts, s: MailState): Communication & { id: string } {
  const kind = KIND_LABEL[f.kind] ?? f.kind.toUpperCase();
  const to = f.recipient.address ?? f.recipient.name ?? f.recipient.role;
  const status = communicationStatus(s);
  return {
    resourceType: 'Communication',
    id: mssanteCommunicationId(f.messageId),
    extension: [deliveryExtension(f, s)],
    identifier: [{ system: MESSAGE_ID_SYSTEM, value: f.messageId }],
    status,
    ...(s.status === 'failed' ? { statusReason: { text: s.detail ?? 'échec de l’envoi' } } : {}),
    category: [{ coding: [{ system: COMMUNICATION_CATEGORY, code: 'notification', display: 'Notification' }] }],
    medium: [{ coding: [{ system: PARTICIPATION_MODE, code: 'EMAILWRIT', display: 'email' }], text: 'MSSanté' }],
    subject: { reference: f.subject },
    about: f.about.map((reference) => ({ reference })),
    ...(s.accepted ? { sent: f.sent } : {}),
    ...(s.received ? { received: s.received } : {}),
    recipient: [recipientOf(f)],
    sender: { display: f.sender },
    payload: [{ contentString: `${kind} ${s.accepted ? 'envoyé' : 'non envoyé'} par MSSanté à ${to}` }],
  };
}

/** The state a stored Communication says (its extension), or undefined when it has none. */
export function mailStateOf(c: Communication): MailState | undefined {
  const ext = c.extension?.find((e) => e.url === MSSANTE_DELIVERY_EXTENSION);
  const sub = (url: string): Extension | undefined => ext?.extension?.find((x) => x.url === url);
  const status = sub('status')?.valueCoding?.code as MailStatus | undefined;
  const at = sub('time')?.valueInstant;
  if (!status || !at) return undefined;
  const detail = sub('detail')?.valueString;
  return { status, at, ...(detail ? { detail } : {}), ...(c.received ? { received: c.received } : {}), accepted: c.sent !== undefined };
}

/** `c` in a new state: status, statusReason, received, payload and the extension's status, detail and time. */
export function withMailState(c: Communication, s: MailState): Communication {
  const ext = c.extension?.find((e) => e.url === MSSANTE_DELIVERY_EXTENSION);
  const kept = (ext?.extension ?? []).filter((x) => x.url !== 'status' && x.url !== 'detail' && x.url !== 'time');
  const extension: Extension = {
    url: MSSANTE_DELIVERY_EXTENSION,
    extension: [
      { url: 'status', valueCoding: { system: MSSANTE_STATUS_SYSTEM, code: s.status } },
      ...(s.detail ? [{ url: 'detail', valueString: s.detail }] : []),
      { url: 'time', valueInstant: s.at },
      ...kept,
    ],
  };
  const { statusReason: _reason, received: _received, ...rest } = c;
  return {
    ...rest,
    extension: [...(c.extension ?? []).filter((e) => e.url !== MSSANTE_DELIVERY_EXTENSION), extension],
    status: communicationStatus(s),
    ...(s.status === 'failed' ? { statusReason: { text: s.detail ?? 'échec de l’envoi' } } : {}),
    ...(s.received ? { received: s.received } : {}),
  };
}
