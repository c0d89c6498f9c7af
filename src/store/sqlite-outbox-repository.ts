// The transactional outbox on SQLite (tables of migration 004). `enqueue` runs on the submission's write
// connection; the dispatcher's operations each run in their own short write transaction (sqlite-store.ts binds
// them), so a claim is atomic even with several processes on one file (BEGIN IMMEDIATE takes the write lock).
import { randomUUID } from 'node:crypto';
import type { SqlConnection } from './sqlite-identity-repository.js';
import {
  type ClaimOptions,
  type EnqueueInput,
  type ListQuery,
  type OutboxAttempt,
  type OutboxMessage,
  type OutboxRepository,
  type OutboxState,
  type OutboxWriter,
} from './outbox-repository.js';
import { attemptOf, messageMapper, outboxListStatements, quarantineReason, storedError, type AttemptRow, type OutboxRow } from './outbox-rows.js';
import { textColumns } from './sql-dialect.js';

type Row = OutboxRow<'text'>;

const messageOf = messageMapper(textColumns);

function getRow(c: SqlConnection, id: string): Row | undefined {
  return c.prepare('SELECT * FROM outbox WHERE id = ?').get(id) as Row | undefined;
}

function enqueue(c: SqlConnection, now: Date, input: EnqueueInput): { message: OutboxMessage; created: boolean } {
  const existing = c.prepare('SELECT * FROM outbox WHERE destination = ? AND idempotency_key = ?').get(input.destination, input.idempotencyKey) as Row | undefined;
  if (existing) return { message: messageOf(existing), created: false };
  const at = now.toISOString();
  const due = (input.notBefore ?? now).toISOString();
  const row = c
    .prepare(
      `INSERT INTO outbox (id, destination, ordering_key, idempotency_key, payload, state, attempts, next_attempt_at, request_id, created, updated, last_error)
       VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?) RETURNING *`,
    )
    .get(
      randomUUID(),
      input.destination,
      input.orderingKey,
      input.idempotencyKey,
      JSON.stringify(input.payload ?? null),
      input.refused === undefined ? 'pending' : 'dead',
      due,
      input.requestId ?? null,
      at,
      at,
      input.refused ?? null,
    ) as Row;
  return { message: messageOf(row), created: true };
}

function recordAttempt(c: SqlConnection, a: OutboxAttempt): void {
  c.prepare('INSERT INTO outbox_attempts (message_id, attempt, at, outcome, error, duration_ms, owner) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
    a.messageId,
    a.attempt,
    a.at,
    a.outcome,
    a.error ?? null,
    a.durationMs ?? null,
    a.owner,
  );
}

function claim(c: SqlConnection, now: Date, o: ClaimOptions): OutboxMessage[] {
  const at = now.toISOString();
  const limit = Math.max(0, Math.trunc(o.limit));
  if (limit === 0) return [];
  const paused = new Set((c.prepare('SELECT destination FROM outbox_destinations WHERE paused = 1').all() as { destination: string }[]).map((r) => r.destination));
  const excluded = new Set([...(o.exclude ?? []), ...paused]);
  // Due messages — in flight with an expired lease (their process died), then pending and due — that no earlier
  // message of their key at their destination holds up (another destination's backlog never does). Two index-ordered reads that stop at the limit (a UNION with ORDER BY would sort
  // the whole backlog at every claim).
  const free = `NOT EXISTS (SELECT 1 FROM outbox p WHERE p.destination = o.destination AND p.ordering_key = o.ordering_key AND p.seq < o.seq AND p.state IN ('pending', 'inflight'))`;
  const want = limit * 4 + excluded.size * 4 + 16;
  const expired = c
    .prepare(`SELECT * FROM outbox o WHERE o.state = 'inflight' AND o.lease_expires_at <= ? AND ${free} ORDER BY o.lease_expires_at LIMIT ?`)
    .all(at, want) as Row[];
  const due = c
    .prepare(`SELECT * FROM outbox o INDEXED BY outbox_due WHERE o.state = 'pending' AND o.next_attempt_at <= ? AND ${free} ORDER BY o.next_attempt_at, o.seq LIMIT ?`)
    .all(at, want) as Row[];
  const candidates = [...expired, ...due];
  const perDestination = new Map<string, number>();
  const leaseUntil = new Date(now.getTime() + o.leaseMs).toISOString();
  // An expired lease is an attempt that never finished: counted, and past the limit the message is quarantined.
  const take = c.prepare(
    `UPDATE outbox SET state = 'inflight', attempts = attempts + 1, lease_owner = ?, lease_expires_at = ?, updated = ?,
       interrupted = interrupted + (CASE WHEN state = 'inflight' AND attempt_started = 1 THEN 1 ELSE 0 END), attempt_started = ?
     WHERE id = ? AND state = ? RETURNING *`,
  );
  const staged = new Set(o.staged ?? []);
  const quarantine = c.prepare(
    `UPDATE outbox SET state = 'dead', interrupted = interrupted + 1, last_error = ?, lease_owner = NULL, lease_expires_at = NULL, updated = ?
     WHERE id = ? AND state = 'inflight' AND lease_expires_at <= ? RETURNING attempts, interrupted`,
  );
  const out: OutboxMessage[] = [];
  for (const r of candidates) {
    if (out.length >= limit) break;
    if (excluded.has(r.destination) || (o.destinations && !o.destinations.includes(r.destination))) continue;
    const n = perDestination.get(r.destination) ?? 0;
    const cap = o.perDestination?.[r.destination];
    if (cap !== undefined && n >= cap) continue;
    const error = quarantineReason(r, o);
    if (error) {
      const q = quarantine.get(error, at, r.id, at) as { attempts: number; interrupted: number } | undefined;
      if (q) recordAttempt(c, { messageId: r.id, attempt: q.attempts, at, outcome: 'dead', error, owner: o.owner });
      continue;
    }
    const claimed = take.get(o.owner, leaseUntil, at, staged.has(r.destination) ? 0 : 1, r.id, r.state) as Row | undefined;
    if (!claimed) continue;
    perDestination.set(r.destination, n + 1);
    out.push(messageOf(claimed));
  }
  return out;
}

function complete(c: SqlConnection, now: Date, id: string, owner: string, durationMs?: number): boolean {
  const at = now.toISOString();
  const row = c
    .prepare(
      `UPDATE outbox SET state = 'delivered', delivered_at = ?, lease_owner = NULL, lease_expires_at = NULL, last_error = NULL, interrupted = 0, updated = ?
       WHERE id = ? AND state = 'inflight' AND lease_owner = ? RETURNING attempts`,
    )
    .get(at, at, id, owner) as { attempts: number } | undefined;
  if (!row) return false;
  recordAttempt(c, { messageId: id, attempt: row.attempts, at, outcome: 'delivered', ...(durationMs !== undefined ? { durationMs } : {}), owner });
  return true;
}

function fail(c: SqlConnection, now: Date, id: string, owner: string, f: { error: string; retryAt?: Date; durationMs?: number }): boolean {
  const at = now.toISOString();
  const dead = f.retryAt === undefined;
  const row = c
    .prepare(
      `UPDATE outbox SET state = ?, next_attempt_at = ?, last_error = ?, lease_owner = NULL, lease_expires_at = NULL, interrupted = 0, updated = ?
       WHERE id = ? AND state = 'inflight' AND lease_owner = ? RETURNING attempts`,
    )
    .get(dead ? 'dead' : 'pending', (f.retryAt ?? now).toISOString(), storedError(f.error), at, id, owner) as { attempts: number } | undefined;
  if (!row) return false;
  recordAttempt(c, {
    messageId: id,
    attempt: row.attempts,
    at,
    outcome: dead ? 'dead' : 'retry',
    error: storedError(f.error),
    ...(f.durationMs !== undefined ? { durationMs: f.durationMs } : {}),
    owner,
  });
  return true;
}

function release(c: SqlConnection, now: Date, id: string, owner: string): boolean {
  const at = now.toISOString();
  const row = c
    .prepare(
      `UPDATE outbox SET state = 'pending', attempts = max(attempts - 1, 0), next_attempt_at = ?, lease_owner = NULL, lease_expires_at = NULL, updated = ?
       WHERE id = ? AND state = 'inflight' AND lease_owner = ? RETURNING attempts`,
    )
    .get(at, at, id, owner) as { attempts: number } | undefined;
  if (!row) return false;
  recordAttempt(c, { messageId: id, attempt: row.attempts + 1, at, outcome: 'released', owner });
  return true;
}

function renew(c: SqlConnection, now: Date, ids: readonly string[], owner: string, leaseMs: number): string[] {
  const at = now.toISOString();
  const until = new Date(now.getTime() + leaseMs).toISOString();
  const stmt = c.prepare(`UPDATE outbox SET lease_expires_at = ?, updated = ? WHERE id = ? AND state = 'inflight' AND lease_owner = ? RETURNING id`);
  const held: string[] = [];
  for (const id of ids) if (stmt.get(until, at, id, owner)) held.push(id);
  return held;
}

function markStarted(c: SqlConnection, now: Date, id: string, owner: string): boolean {
  return c.prepare(`UPDATE outbox SET attempt_started = 1, updated = ? WHERE id = ? AND state = 'inflight' AND lease_owner = ?`).run(now.toISOString(), id, owner).changes === 1;
}

function attempts(c: SqlConnection, id: string): OutboxAttempt[] {
  return (c.prepare('SELECT * FROM outbox_attempts WHERE message_id = ? ORDER BY rowid').all(id) as AttemptRow[]).map(attemptOf);
}

function list(c: SqlConnection, q: ListQuery): { items: OutboxMessage[]; total: number } {
  const { page, count } = outboxListStatements(q);
  const rows = c.prepare(page.sql).all(...page.params) as Row[];
  const { n } = c.prepare(count.sql).get(...count.params) as { n: number };
  return { items: rows.map(messageOf), total: n };
}

function redrive(c: SqlConnection, now: Date, id: string): boolean {
  const at = now.toISOString();
  return (
    c.prepare(`UPDATE outbox SET state = 'pending', attempts = 0, interrupted = 0, next_attempt_at = ?, updated = ? WHERE id = ? AND state = 'dead'`).run(at, at, id).changes === 1
  );
}

function redriveDead(c: SqlConnection, now: Date, destination?: string): number {
  const at = now.toISOString();
  const sql = `UPDATE outbox SET state = 'pending', attempts = 0, interrupted = 0, next_attempt_at = ?, updated = ? WHERE state = 'dead'${destination ? ' AND destination = ?' : ''}`;
  return c.prepare(sql).run(...[at, at, ...(destination ? [destination] : [])]).changes;
}

function setPaused(c: SqlConnection, now: Date, destination: string, paused: boolean): void {
  c.prepare(
    `INSERT INTO outbox_destinations (destination, paused, updated) VALUES (?, ?, ?)
     ON CONFLICT (destination) DO UPDATE SET paused = excluded.paused, updated = excluded.updated`,
  ).run(destination, paused ? 1 : 0, now.toISOString());
}

function pausedDestinations(c: SqlConnection): string[] {
  return (c.prepare('SELECT destination FROM outbox_destinations WHERE paused = 1 ORDER BY destination').all() as { destination: string }[]).map((r) => r.destination);
}

function depth(c: SqlConnection): { destination: string; state: OutboxState; count: number }[] {
  return c.prepare('SELECT destination, state, count(*) AS count FROM outbox GROUP BY destination, state ORDER BY destination, state').all() as {
    destination: string;
    state: OutboxState;
    count: number;
  }[];
}

/** Runs an operation on the right connection: `read` on the reader, `write` in its own write transaction. */
export interface OutboxRunners {
  read<T>(op: (c: SqlConnection) => T): Promise<T>;
  write<T>(op: (c: SqlConnection) => T): Promise<T>;
}

export function sqliteOutboxRepository(run: OutboxRunners, now: () => Date): OutboxRepository {
  return {
    claim: (o) => run.write((c) => claim(c, now(), o)),
    complete: (id, owner, ms) => run.write((c) => complete(c, now(), id, owner, ms)),
    fail: (id, owner, f) => run.write((c) => fail(c, now(), id, owner, f)),
    release: (id, owner) => run.write((c) => release(c, now(), id, owner)),
    markStarted: (id, owner) => run.write((c) => markStarted(c, now(), id, owner)),
    renew: (ids, owner, leaseMs) => (ids.length === 0 ? Promise.resolve([]) : run.write((c) => renew(c, now(), ids, owner, leaseMs))),
    get: async (id) => {
      const row = await run.read((c) => getRow(c, id));
      return row && messageOf(row);
    },
    attempts: (id) => run.read((c) => attempts(c, id)),
    list: (q) => run.read((c) => list(c, q)),
    redrive: (id) => run.write((c) => redrive(c, now(), id)),
    redriveDead: (destination) => run.write((c) => redriveDead(c, now(), destination)),
    setPaused: (destination, paused) => run.write((c) => setPaused(c, now(), destination, paused)),
    pausedDestinations: () => run.read((c) => pausedDestinations(c)),
    depth: () => run.read((c) => depth(c)),
  };
}

/** The writer of one transaction (`tx.outbox`). */
export function sqliteOutboxWriter(c: SqlConnection, now: () => Date, guard: () => void): OutboxWriter {
  return {
    enqueue: async (input) => {
      guard();
      return enqueue(c, now(), input);
    },
    find: async (destination, idempotencyKey) => {
      guard();
      const row = c.prepare('SELECT * FROM outbox WHERE destination = ? AND idempotency_key = ?').get(destination, idempotencyKey) as Row | undefined;
      return row ? messageOf(row) : undefined;
    },
  };
}
