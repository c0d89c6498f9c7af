// MSSanté mail records (migration 010 / pg 009): the messages taken in from the gateway's mailbox (Message-ID is the
// dedupe key, written in the transaction that stores the mail's data, so a crash never ingests a mail twice) and the
// messages sent, with the status their receipts (MDN, DSN) gave them. Shared by both dialects through a `SqlRunner`.
import type { SqlRunner } from './security-repository.js';

export type IntakeState = 'processed' | 'error' | 'report';

export interface IntakeRecord {
  /** The incoming message's Message-ID, `<…>` as received (or a digest of the message when it has none). */
  messageId: string;
  mailbox: string;
  uid?: number;
  received: string;
  /** The From address. */
  sender?: string;
  state: IntakeState;
  /** MSSanté application code (902–906) of an error. */
  code?: string;
  detail?: string;
  /** What it became: `CarePlan/…` of a BPM, the outbox message a report was for… */
  resource?: string;
}

export type SentStatus = 'sent' | 'delivered' | 'read' | 'failed';

export interface SentRecord {
  /** Message-ID of the message sent (the outbox message's idempotency key). */
  messageId: string;
  outboxId: string;
  destination: string;
  recipient: string;
  /** Care-team role of the recipient (`medecin-traitant`, `pharmacien`, `patient`…). */
  role?: string;
  /** The document's root resource (`CarePlan/…`, `Composition/…`). */
  resource: string;
  /** The FHIR Communication that tells the DPI about this message (`Communication/…`). */
  communication?: string;
  status: SentStatus;
  detail?: string;
  sent: string;
  updated: string;
}

/** Written in a transaction (`tx.mssante`), or each call in its own (`store.mssante`). */
export interface MssanteWriter {
  /** Records a message taken in; false (nothing written) when its Message-ID was recorded already. */
  recordIntake(r: IntakeRecord): Promise<boolean>;
  intake(messageId: string): Promise<IntakeRecord | undefined>;
  /** Records a message sent; false when its Message-ID was recorded already (nothing changed). */
  recordSent(r: SentRecord): Promise<boolean>;
  /** Sets the status of a message sent (and its detail: absent keeps it, `''` clears it); false when no such message. */
  updateSent(messageId: string, change: { status: SentStatus; detail?: string; at: string; communication?: string }): Promise<boolean>;
  sent(messageId: string): Promise<SentRecord | undefined>;
}

export interface MssanteRepository extends MssanteWriter {
  /** The messages an outbox message became (one per recipient set), oldest first. */
  sentOf(outboxId: string): Promise<SentRecord[]>;
  /** The messages sent for a document's root resource, oldest first. */
  sentFor(resource: string): Promise<SentRecord[]>;
  /** The latest messages taken in, newest first. */
  intakes(limit: number): Promise<IntakeRecord[]>;
}

const INTAKE_COLUMNS = 'message_id, mailbox, uid, received, sender, state, code, detail, resource';
const SENT_COLUMNS = 'message_id, outbox_id, destination, recipient, role, resource, communication, status, detail, sent, updated';

export const MSSANTE_SQL = {
  recordIntake: `INSERT INTO mssante_intake (${INTAKE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING`,
  intake: `SELECT ${INTAKE_COLUMNS} FROM mssante_intake WHERE message_id = ?`,
  intakes: `SELECT ${INTAKE_COLUMNS} FROM mssante_intake ORDER BY received DESC, message_id LIMIT ?`,
  recordSent: `INSERT INTO mssante_sent (${SENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING`,
  updateSent: 'UPDATE mssante_sent SET status = ?, detail = COALESCE(?, detail), updated = ?, communication = COALESCE(?, communication) WHERE message_id = ?',
  sent: `SELECT ${SENT_COLUMNS} FROM mssante_sent WHERE message_id = ?`,
  sentOf: `SELECT ${SENT_COLUMNS} FROM mssante_sent WHERE outbox_id = ? ORDER BY sent, message_id`,
  sentFor: `SELECT ${SENT_COLUMNS} FROM mssante_sent WHERE resource = ? ORDER BY sent, message_id`,
} as const;

interface IntakeRow {
  message_id: string;
  mailbox: string;
  uid: number | string | null;
  received: string;
  sender: string | null;
  state: IntakeState;
  code: string | null;
  detail: string | null;
  resource: string | null;
}

interface SentRow {
  message_id: string;
  outbox_id: string;
  destination: string;
  recipient: string;
  role: string | null;
  resource: string;
  communication: string | null;
  status: SentStatus;
  detail: string | null;
  sent: string;
  updated: string;
}

function intakeOf(r: IntakeRow): IntakeRecord {
  return {
    messageId: r.message_id,
    mailbox: r.mailbox,
    ...(r.uid !== null ? { uid: Number(r.uid) } : {}),
    received: r.received,
    ...(r.sender !== null ? { sender: r.sender } : {}),
    state: r.state,
    ...(r.code !== null ? { code: r.code } : {}),
    ...(r.detail !== null ? { detail: r.detail } : {}),
    ...(r.resource !== null ? { resource: r.resource } : {}),
  };
}

function sentOf(r: SentRow): SentRecord {
  return {
    messageId: r.message_id,
    outboxId: r.outbox_id,
    destination: r.destination,
    recipient: r.recipient,
    ...(r.role !== null ? { role: r.role } : {}),
    resource: r.resource,
    ...(r.communication !== null ? { communication: r.communication } : {}),
    status: r.status,
    ...(r.detail !== null && r.detail !== '' ? { detail: r.detail } : {}),
    sent: r.sent,
    updated: r.updated,
  };
}

/** The records over one transaction's runner (`tx.mssante`). */
export function mssanteWriter(run: SqlRunner): MssanteWriter {
  return {
    recordIntake: async (r) =>
      (await run.run(MSSANTE_SQL.recordIntake, [r.messageId, r.mailbox, r.uid ?? null, r.received, r.sender ?? null, r.state, r.code ?? null, r.detail ?? null, r.resource ?? null])) === 1,
    intake: async (id) => {
      const [r] = await run.all<IntakeRow>(MSSANTE_SQL.intake, [id]);
      return r ? intakeOf(r) : undefined;
    },
    recordSent: async (r) =>
      (await run.run(MSSANTE_SQL.recordSent, [
        r.messageId,
        r.outboxId,
        r.destination,
        r.recipient,
        r.role ?? null,
        r.resource,
        r.communication ?? null,
        r.status,
        r.detail ?? null,
        r.sent,
        r.updated,
      ])) === 1,
    updateSent: async (id, c) => (await run.run(MSSANTE_SQL.updateSent, [c.status, c.detail ?? null, c.at, c.communication ?? null, id])) === 1,
    sent: async (id) => {
      const [r] = await run.all<SentRow>(MSSANTE_SQL.sent, [id]);
      return r ? sentOf(r) : undefined;
    },
  };
}

/** The records outside transactions (`store.mssante`): reads on `read`, each write in its own short transaction. */
export function mssanteRepository(read: SqlRunner, write: <T>(fn: (run: SqlRunner) => Promise<T>) => Promise<T>): MssanteRepository {
  const reader = mssanteWriter(read);
  return {
    recordIntake: (r) => write((run) => mssanteWriter(run).recordIntake(r)),
    intake: reader.intake,
    recordSent: (r) => write((run) => mssanteWriter(run).recordSent(r)),
    updateSent: (id, c) => write((run) => mssanteWriter(run).updateSent(id, c)),
    sent: reader.sent,
    sentOf: async (outboxId) => (await read.all<SentRow>(MSSANTE_SQL.sentOf, [outboxId])).map(sentOf),
    sentFor: async (resource) => (await read.all<SentRow>(MSSANTE_SQL.sentFor, [resource])).map(sentOf),
    intakes: async (limit) => (await read.all<IntakeRow>(MSSANTE_SQL.intakes, [limit])).map(intakeOf),
  };
}
