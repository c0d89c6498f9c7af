// The transactional outbox's rows as both dialects store them (SQLite migration 004, PostgreSQL migration 003) and
// their mapping to records; row types are generic in the dialect's column style (sql-dialect.ts).
import { DEFAULT_MAX_INTERRUPTED, interruptedReason, type ClaimOptions, type ListQuery, type OutboxAttempt, type OutboxMessage, type OutboxState } from './outbox-repository.js';
import { listStatements, type ColumnStyle, type JsonOf, type RowDecoder, type Statement } from './sql-dialect.js';

/** A row of `outbox`. */
export interface OutboxRow<S extends ColumnStyle> {
  seq: number;
  id: string;
  destination: string;
  ordering_key: string;
  idempotency_key: string;
  payload: JsonOf<S, unknown>;
  state: OutboxState;
  attempts: number;
  /** Attempts in a row that never finished (migration 005 / pg 004). */
  interrupted: number;
  /** 1 once the current attempt has started its work (0 while it waits in a connector's queue). */
  attempt_started: number;
  next_attempt_at: string;
  lease_owner: string | null;
  lease_expires_at: string | null;
  last_error: string | null;
  request_id: string | null;
  created: string;
  updated: string;
  delivered_at: string | null;
}

/** A row of `outbox_attempts` (without the dialect's ordering column). */
export interface AttemptRow {
  message_id: string;
  attempt: number;
  at: string;
  outcome: OutboxAttempt['outcome'];
  error: string | null;
  duration_ms: number | null;
  owner: string;
}

/** The row → message mapper of one dialect. */
export function messageMapper<S extends ColumnStyle>(d: RowDecoder<S>): (r: OutboxRow<S>) => OutboxMessage {
  return (r) => ({
    id: r.id,
    seq: r.seq,
    destination: r.destination,
    orderingKey: r.ordering_key,
    idempotencyKey: r.idempotency_key,
    payload: d.json<unknown>(r.payload),
    state: r.state,
    attempts: r.attempts,
    ...(r.interrupted > 0 ? { interrupted: r.interrupted } : {}),
    nextAttemptAt: r.next_attempt_at,
    ...(r.lease_owner !== null ? { leaseOwner: r.lease_owner } : {}),
    ...(r.lease_expires_at !== null ? { leaseExpiresAt: r.lease_expires_at } : {}),
    ...(r.last_error !== null ? { lastError: r.last_error } : {}),
    ...(r.request_id !== null ? { requestId: r.request_id } : {}),
    created: r.created,
    updated: r.updated,
    ...(r.delivered_at !== null ? { deliveredAt: r.delivered_at } : {}),
  });
}

export const attemptOf = (r: AttemptRow): OutboxAttempt => ({
  messageId: r.message_id,
  attempt: r.attempt,
  at: r.at,
  outcome: r.outcome,
  ...(r.error !== null ? { error: r.error } : {}),
  ...(r.duration_ms !== null ? { durationMs: r.duration_ms } : {}),
  owner: r.owner,
});

/** `list`: in insertion order, optionally of one state and/or destination. */
export function outboxListStatements(q: ListQuery): { page: Statement; count: Statement } {
  return listStatements('outbox', { state: q.state, destination: q.destination }, 'seq', q);
}

/** The attempt's error as stored (the start of a long message). */
export const storedError = (error: string): string => error.slice(0, 2000);

/**
 * Why a claim must quarantine this candidate instead of taking it, or undefined: its lease expired during a started
 * attempt, and that makes `maxInterrupted` such attempts in a row (both dialects decide it here).
 */
export function quarantineReason(r: Pick<OutboxRow<ColumnStyle>, 'state' | 'attempt_started' | 'interrupted'>, o: Pick<ClaimOptions, 'maxInterrupted'>): string | undefined {
  const max = Math.max(1, o.maxInterrupted ?? DEFAULT_MAX_INTERRUPTED);
  return r.state === 'inflight' && r.attempt_started === 1 && r.interrupted + 1 >= max ? interruptedReason(r.interrupted + 1) : undefined;
}
