// The transactional outbox's storage contract. A message is written by `tx.outbox.enqueue` in the transaction of
// the submission that causes it (it commits with it, or not at all); dispatchers claim due messages with a lease,
// deliver them and record the outcome. Every dialect implements it beside its ResourceStore.

export type OutboxState = 'pending' | 'inflight' | 'delivered' | 'dead';
export const OUTBOX_STATES: readonly OutboxState[] = ['pending', 'inflight', 'delivered', 'dead'];

export interface OutboxMessage {
  id: string;
  /** Insertion order (per database). */
  seq: number;
  /** Configured destination name (`outbox.destinations.<name>`). */
  destination: string;
  /** Messages with the same key and destination are delivered in insertion order: a later one waits for the earlier. */
  orderingKey: string;
  /** Passed on to the receiver (XDS uniqueId, Message-ID, Idempotency-Key); unique per destination. */
  idempotencyKey: string;
  payload: unknown;
  state: OutboxState;
  /** Delivery attempts started (a claim counts as one). */
  attempts: number;
  /** Attempts in a row that never finished (the process died, or the lease ran out, during them). */
  interrupted?: number;
  /** When a pending message becomes due. */
  nextAttemptAt: string;
  leaseOwner?: string;
  leaseExpiresAt?: string;
  lastError?: string;
  /** Request id of the submission that caused it (logs follow it to its deliveries). */
  requestId?: string;
  created: string;
  updated: string;
  deliveredAt?: string;
}

export interface EnqueueInput {
  destination: string;
  orderingKey: string;
  idempotencyKey: string;
  payload: unknown;
  requestId?: string;
  /** Not due before (default: now). */
  notBefore?: Date;
  /**
   * Refused before any attempt (e.g. an MSSanté recipient without a known address): the message is written dead,
   * with this reason as its last error, so the refusal shows in /admin/outbox and is never silently dropped.
   */
  refused?: string;
}

export interface OutboxAttempt {
  messageId: string;
  attempt: number;
  at: string;
  outcome: 'delivered' | 'retry' | 'dead' | 'released';
  error?: string;
  durationMs?: number;
  owner: string;
}

/** Written in the submission's transaction (`tx.outbox`). */
export interface OutboxWriter {
  /** Idempotent per (destination, idempotencyKey): a second enqueue returns the existing message. */
  enqueue(input: EnqueueInput): Promise<{ message: OutboxMessage; created: boolean }>;
  /** The message of `destination` with this idempotency key, as this transaction sees it. */
  find(destination: string, idempotencyKey: string): Promise<OutboxMessage | undefined>;
}

export interface ClaimOptions {
  /** Who claims (process id); the lease names it. */
  owner: string;
  limit: number;
  leaseMs: number;
  /** Only messages for these destinations (those this process delivers to). */
  destinations?: readonly string[];
  /** Destinations not to claim for now (circuit open, at their concurrency limit). */
  exclude?: readonly string[];
  /** At most this many per destination in this claim. */
  perDestination?: Readonly<Record<string, number>>;
  /**
   * Attempts in a row that may end without an outcome (the process died during them) before the message is
   * quarantined: a claim that finds an expired lease for the `maxInterrupted`-th time marks the message dead with
   * the reason "attempt did not finish" instead of claiming it again. Default 3.
   */
  maxInterrupted?: number;
  /**
   * Destinations whose connector says when an attempt really starts (`markStarted`), e.g. once a document build
   * leaves its queue: an attempt of theirs that ends before that is not counted as interrupted. Others start at claim.
   */
  staged?: readonly string[];
}

export const DEFAULT_MAX_INTERRUPTED = 3;

/** The reason a quarantined message carries. */
export function interruptedReason(times: number): string {
  return `attempt did not finish: ${times} attempt(s) in a row ended without an outcome (the process died or the attempt outlived its lease); quarantined so it cannot take the gateway down again — redrive it once the cause is fixed`;
}

export interface ListQuery {
  state?: OutboxState;
  destination?: string;
  limit: number;
  offset: number;
}

/** Used by dispatchers and operations, outside submission transactions. */
export interface OutboxRepository {
  /**
   * Marks due messages in-flight under `owner` for `leaseMs` and returns them: pending ones whose time has come and
   * in-flight ones whose lease expired (their process died), oldest first, never a message while an earlier one of
   * its ordering key is still pending or in flight, never one of a paused destination.
   */
  claim(options: ClaimOptions): Promise<OutboxMessage[]>;
  /** Delivered; false when `owner` no longer holds the lease. */
  complete(id: string, owner: string, durationMs?: number): Promise<boolean>;
  /** A failed attempt: retried at `retryAt`, or dead (with the error) when `retryAt` is absent. */
  fail(id: string, owner: string, failure: { error: string; retryAt?: Date; durationMs?: number }): Promise<boolean>;
  /** Back to pending, due now, the attempt not counted (shutdown before delivery). */
  release(id: string, owner: string): Promise<boolean>;
  /**
   * Extends the leases `owner` still holds on these messages to now + `leaseMs` (a live process's heartbeat, so an
   * attempt that takes long is not taken for one whose process died); returns the ids still held.
   */
  renew(ids: readonly string[], owner: string, leaseMs: number): Promise<string[]>;
  /** The current attempt has started its work (see ClaimOptions.staged); false when `owner` lost the lease. */
  markStarted(id: string, owner: string): Promise<boolean>;
  get(id: string): Promise<OutboxMessage | undefined>;
  attempts(id: string): Promise<OutboxAttempt[]>;
  list(query: ListQuery): Promise<{ items: OutboxMessage[]; total: number }>;
  /** A dead message becomes pending again, due now, its attempts reset; false when it was not dead. */
  redrive(id: string): Promise<boolean>;
  /** Every dead message (optionally of one destination) redriven; returns how many. */
  redriveDead(destination?: string): Promise<number>;
  setPaused(destination: string, paused: boolean): Promise<void>;
  pausedDestinations(): Promise<string[]>;
  /** Message counts by destination and state. */
  depth(): Promise<{ destination: string; state: OutboxState; count: number }[]>;
}
