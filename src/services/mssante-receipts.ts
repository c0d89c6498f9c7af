// MSSanté receipts (issue 17, point 4): each message sent is recorded (mssante_sent) with a FHIR Communication for
// the document, and the MDNs / DSNs that come back set it delivered, read or failed.
//
// Statuses only move forward: sent → delivered → read, and failed from any of them (a failure report is news the
// sender must act on). Failed is final for receipts; only a new acceptance by the SMTP server (the operator redrove a
// dead message) starts the message over as sent. A `deleted` MDN after a reading is not a failure (read and then
// deleted). A report that changes nothing is still audited; its detail is kept when it brings one (a DSN `delayed`).
import type { Communication, Practitioner, Resource } from '@medplum/fhirtypes';
import type { DsnRecipient, MdnReport, Report } from '../connectors/mssante/mdn.js';
import type { MssantePayload } from '../connectors/mssante/payload.js';
import { documentMessageOf } from '../documents/message.js';
import { documentReferenceId } from '../fhir/document-reference.js';
import { practitionerId } from '../fhir/ids.js';
import { mailStateOf, mssanteCommunication, withMailState, type MailFacts, type MailState } from '../fhir/mssante-communication.js';
import { OperationOutcomeError } from '../fhir/outcome.js';
import { assertValid } from '../fhir/validate.js';
import type { AttemptOutcome, DestinationSettings } from '../outbox/dispatcher.js';
import type { OutboxMessage } from '../store/outbox-repository.js';
import type { SentRecord, SentStatus } from '../store/mssante-repository.js';
import type { ResourceStore, StoreTransaction } from '../store/repository.js';

/** The audit's actor for what the dispatcher records (as services/audit/delivery.ts). */
const OUTBOX_ACTOR = 'outbox';
/** The audit's actor for receipts taken in from the mailbox. */
const INTAKE_ACTOR = 'mssante';

export interface MssanteOutcomeOptions {
  /** The Communication's sender display: the gateway's mailbox (default `Passerelle`). */
  sender?: string;
  /** Clock of the `sent` time (default: the system clock). */
  now?: () => Date;
}

/** Worth running the transaction again: a concurrent writer won (If-Match, PostgreSQL serialisation or deadlock). */
function isConcurrentWrite(err: unknown): boolean {
  if (err instanceof OperationOutcomeError) return err.outcome.issue?.some((i) => i.code === 'conflict') ?? false;
  const code = (err as { code?: unknown } | null)?.code;
  return code === '40001' || code === '40P01';
}

async function transaction<T>(store: ResourceStore, fn: (tx: StoreTransaction) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await store.transaction(fn);
    } catch (err) {
      if (attempt >= 5 || !isConcurrentWrite(err)) throw err;
    }
  }
}

/** `<id@host>` whatever the brackets and case of the angle part. */
export function normaliseMessageId(id: string): string {
  const v = id.trim();
  return v.startsWith('<') && v.endsWith('>') ? v : `<${v.replace(/^<|>$/g, '')}>`;
}

const isMssantePayload = (p: unknown): p is MssantePayload =>
  typeof p === 'object' && p !== null && typeof (p as { mssante?: { recipient?: { role?: unknown } } }).mssante?.recipient?.role === 'string';

/** The facts of the Communication, from the message and what the store holds (the patient, the DocumentReference). */
async function factsOf(tx: StoreTransaction, message: OutboxMessage, payload: MssantePayload, sender: string, sent: string): Promise<MailFacts> {
  const doc = documentMessageOf(payload);
  const [type, id] = doc.resource.split('/');
  const root = await tx.read<Resource & { subject?: { reference?: string } }>(type ?? '', id ?? '');
  // The document's patient as the CarePlan / Composition names it (the sender's Patient, as on the DocumentReference,
  // so the DPI finds it with its own Patient id); the federated Patient when the root resource is gone.
  const subject = root?.subject?.reference ?? message.orderingKey;
  const about = [doc.resource];
  const docRef = documentReferenceId(doc.ids.id);
  if (await tx.read('DocumentReference', docRef)) about.push(`DocumentReference/${docRef}`);
  const r = payload.mssante.recipient;
  const practitioner = r.rpps && (await tx.read<Practitioner>('Practitioner', practitionerId(r.rpps))) ? `Practitioner/${practitionerId(r.rpps)}` : undefined;
  return {
    messageId: normaliseMessageId(message.idempotencyKey),
    outboxId: message.id,
    destination: message.destination,
    kind: doc.kind,
    subject,
    about,
    recipient: { ...r, ...(practitioner ? { practitioner } : {}) },
    sender,
    sent,
  };
}

/** The outcome hook of an `mssante` destination: records the message sent and its Communication. */
export function mssanteOutcome(store: ResourceStore, options: MssanteOutcomeOptions = {}): NonNullable<DestinationSettings['onOutcome']> {
  const now = options.now ?? (() => new Date());
  const sender = options.sender ?? 'Passerelle';
  return async (message: OutboxMessage, outcome: AttemptOutcome, owner: string): Promise<void> => {
    // A transient failure changes nothing: the outbox keeps the attempts and their errors.
    if (outcome.state === 'retry') return;
    if (!isMssantePayload(message.payload)) return; // not a message of ours
    const payload = message.payload;
    const messageId = normaliseMessageId(message.idempotencyKey);
    await transaction(store, async (tx) => {
      // Only the attempt that holds the message records its outcome (a stale one's lease was taken over).
      const held = await tx.outbox.find(message.destination, message.idempotencyKey);
      if (!held || held.state !== 'inflight' || held.leaseOwner !== owner) return;
      const existing = await tx.mssante.sent(messageId);
      const at = now().toISOString();
      const delivered = outcome.state === 'delivered';
      // Recorded already: the same outcome again (a crash before the outbox recorded it) writes nothing; a new SMTP
      // acceptance of a failed message (redriven) starts it over; a final failure after an acceptance (the message
      // was sent again after a crash and failed) leaves the receipts to decide.
      if (existing && !(delivered && existing.status === 'failed')) return;
      const facts = await factsOf(tx, message, payload, sender, at);
      const state: MailState = delivered ? { status: 'sent', at, accepted: true } : { status: 'failed', detail: outcome.error, at, accepted: false };
      const communication = mssanteCommunication(facts, state);
      assertValid(communication);
      await tx.put(communication);
      const reference = `Communication/${communication.id}`;
      if (existing) {
        await tx.mssante.updateSent(messageId, { status: state.status, detail: state.detail ?? '', at, communication: reference });
      } else {
        await tx.mssante.recordSent({
          messageId,
          outboxId: message.id,
          destination: message.destination,
          recipient: payload.mssante.recipient.address ?? payload.mssante.recipient.name ?? payload.mssante.recipient.role,
          role: payload.mssante.recipient.role,
          resource: payload.resource,
          communication: reference,
          status: state.status,
          ...(state.detail ? { detail: state.detail } : {}),
          sent: at,
          updated: at,
        });
      }
      // Ids and the role only: the address of a patient carries their INS, the SMTP error may quote it.
      await tx.audit({
        action: delivered ? 'mssante.sent' : 'mssante.failed',
        actor: OUTBOX_ACTOR,
        entities: [reference, payload.resource, facts.subject],
        outcome: delivered ? 'success' : 'failure',
        detail: `${message.destination}: ${messageId} to the ${payload.mssante.recipient.role}${delivered ? '' : outcome.permanent ? ', refused by the SMTP server' : ', attempts exhausted'}; message ${message.id}`,
        ...(message.requestId ? { requestId: message.requestId } : {}),
      });
    });
  };
}

/** What a receipt did: the message it was about, the status it set (absent: about no message of ours). */
export interface ReceiptResult {
  messageId?: string;
  /** The status the report set; absent when it changed none (or was about no message of ours). */
  status?: 'delivered' | 'read' | 'failed';
  /** The message's status after the report (present whenever the report was about a message of ours). */
  current?: SentStatus;
}

/** What a report says about one message: a status (absent: none, only a detail) and a detail. */
interface Verdict {
  status?: 'delivered' | 'read' | 'failed';
  detail?: string;
  /** For the audit: a code, never free text (MDN error code, DSN status). */
  code: string;
}

function mdnVerdict(r: MdnReport): Verdict {
  if (r.error) return { status: 'failed', detail: `${r.error.code} ${r.error.label}`.trim(), code: `${r.disposition}/error ${r.error.code}` };
  switch (r.disposition) {
    case 'processed':
    case 'dispatched':
      return { status: 'delivered', code: r.disposition };
    case 'displayed':
      return { status: 'read', code: r.disposition };
    case 'deleted':
    case 'failed':
    case 'denied':
      return { status: 'failed', detail: `MDN ${r.disposition}`, code: r.disposition };
    default:
      return { detail: `MDN ${r.disposition}`, code: r.disposition };
  }
}

function dsnVerdict(r: DsnRecipient): Verdict {
  const detail = `${r.action} ${r.status}${r.diagnosticCode ? `: ${r.diagnosticCode}` : ''}`.trim();
  const code = `${r.action} ${r.status}`.trim();
  switch (r.action) {
    case 'delivered':
    case 'relayed':
    case 'expanded':
      return { status: 'delivered', detail, code };
    case 'failed':
      return { status: 'failed', detail, code };
    default:
      return { detail, code }; // delayed: still trying
  }
}

/** The DSN block about our recipient (each message has one), else the first. */
function dsnRecipient(recipients: readonly DsnRecipient[], record: SentRecord): DsnRecipient | undefined {
  const ours = record.recipient.toLowerCase();
  return recipients.find((r) => r.address.toLowerCase() === ours) ?? recipients[0];
}

const RANK: Readonly<Record<SentStatus, number>> = { sent: 0, delivered: 1, read: 2, failed: 3 };

/** The status after `next` is applied to `current`, or undefined when it stays. */
function advance(current: SentStatus, next: Verdict['status'], deleted: boolean): Verdict['status'] | undefined {
  if (next === undefined || current === 'failed') return undefined;
  if (deleted && current === 'read') return undefined; // read, then deleted: not a failure
  return RANK[next] > RANK[current] ? next : undefined;
}

/** Applies an incoming MDN or DSN (received at `reportedAt`) to the message sent it is about. */
export async function applyReport(store: ResourceStore, report: Report, reportedAt: string): Promise<ReceiptResult> {
  if (!report.originalMessageId) return {};
  const messageId = normaliseMessageId(report.originalMessageId);
  // An instant as FHIR writes it (the intake may pass a Date's string or a mail's Date header).
  const time = new Date(reportedAt);
  if (Number.isNaN(time.getTime())) throw new Error(`applyReport: "${reportedAt}" is not a time`);
  const at = time.toISOString();
  return transaction(store, async (tx) => {
    const record = await tx.mssante.sent(messageId);
    if (!record) return {};
    let verdict: Verdict;
    if (report.kind === 'mdn') verdict = mdnVerdict(report);
    else {
      const r = dsnRecipient(report.recipients, record);
      verdict = r ? dsnVerdict(r) : { code: 'dsn' };
    }
    const [, communicationId] = (record.communication ?? '').split('/');
    const c = communicationId ? await tx.read<Communication>('Communication', communicationId) : undefined;
    const next = advance(record.status, verdict.status, report.kind === 'mdn' && report.disposition === 'deleted');
    const status: SentStatus = next ?? record.status;
    // A report that sets no status keeps the failure's detail; one with news of its own (delayed) records it.
    const detail = next ? verdict.detail : verdict.status === undefined && record.status !== 'failed' ? verdict.detail : undefined;
    if (next || detail !== undefined) {
      // The detail of an earlier status goes when a new status brings none (delivered after a delay): '' clears it.
      await tx.mssante.updateSent(messageId, { status, detail: detail ?? '', at });
      if (c) {
        const previous = mailStateOf(c);
        if (previous) {
          const delivery = status === 'delivered' || status === 'read';
          const state: MailState = {
            status,
            ...(detail ? { detail } : {}),
            at,
            ...(previous.received ? { received: previous.received } : delivery ? { received: at } : {}),
            accepted: previous.accepted,
          };
          const updated = withMailState(c, state);
          assertValid(updated);
          await tx.put(updated, c.meta?.versionId ? { ifMatchVersion: c.meta.versionId } : undefined);
        }
      }
    }
    await tx.audit({
      action: 'mssante.receipt',
      actor: INTAKE_ACTOR,
      entities: [...(record.communication ? [record.communication] : []), record.resource, ...(c?.subject?.reference ? [c.subject.reference] : [])],
      outcome: status === 'failed' && next ? 'failure' : 'success',
      detail: `${report.kind.toUpperCase()} ${verdict.code} for ${messageId}: ${record.status}${next ? ` → ${next}` : ' (unchanged)'}`,
    });
    return { messageId, ...(next ? { status: next } : {}), current: status };
  });
}
