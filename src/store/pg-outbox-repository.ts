// The transactional outbox on PostgreSQL (tables of pg migration 003); behaviour as sqlite-outbox-repository.ts.
// `enqueue` runs on the submission's client; dispatcher operations run on the pool, a claim in its own short
// transaction. Several processes claim at once: FOR UPDATE SKIP LOCKED hands each row to one of them, and the lease
// (lease_expires_at) lets another take it over if its process dies.
import { randomUUID } from 'node:crypto';
import type { PgQuery } from './pg-identity-repository.js';
import type { ClaimOptions, EnqueueInput, ListQuery, OutboxAttempt, OutboxRepository, OutboxState, OutboxWriter } from './outbox-repository.js';
import { attemptOf, messageMapper, outboxListStatements, quarantineReason, storedError, type AttemptRow, type OutboxRow } from './outbox-rows.js';
import { nativeColumns, numbered } from './sql-dialect.js';

type Row = OutboxRow<'native'>;

const messageOf = messageMapper(nativeColumns);

/** Advisory lock class of enqueues (second key: hash of the ordering key). */
const LOCK_ORDERING_KEY = 0x7061_0003;

/** How the repository reaches the database: single statements on the pool, or a short transaction. */
export interface PgOutboxRunners {
  query: PgQuery;
  transaction<T>(fn: (q: PgQuery) => Promise<T>): Promise<T>;
}

export function pgOutboxRepository(run: PgOutboxRunners, now: () => Date): OutboxRepository {
  const q = run.query;
  /** Records the attempt of a message `update` (a statement returning `attempts`) changed; false when none. */
  const settle = async (
    update: string,
    params: unknown[],
    attempt: Omit<OutboxAttempt, 'attempt' | 'messageId'> & { messageId: string },
    attemptOffset = 0,
  ): Promise<boolean> => {
    const n = params.length;
    const res = await q(
      `WITH u AS (${update})
       INSERT INTO outbox_attempts (message_id, attempt, at, outcome, error, duration_ms, owner)
       SELECT $${n + 1}::text, u.attempts + ${attemptOffset}, $${n + 2}::text, $${n + 3}::text, $${n + 4}::text, $${n + 5}::double precision, $${n + 6}::text FROM u`,
      [...params, attempt.messageId, attempt.at, attempt.outcome, attempt.error ?? null, attempt.durationMs ?? null, attempt.owner],
    );
    return res.rowCount === 1;
  };

  return {
    claim: async (o: ClaimOptions) => {
      const limit = Math.max(0, Math.trunc(o.limit));
      if (limit === 0) return [];
      return run.transaction(async (tx) => {
        const at = now().toISOString();
        const params: unknown[] = [at, [...(o.exclude ?? [])], limit * 4 + (o.exclude?.length ?? 0) * 4 + 16];
        let only = '';
        if (o.destinations) {
          params.push([...o.destinations]);
          only = `AND o.destination = ANY($${params.length}::text[])`;
        }
        // Due messages — in flight with an expired lease (their process died), then pending and due — that no earlier
        // message of their key at their destination holds up, of destinations neither paused nor excluded; rows another dispatcher is claiming
        // right now are skipped. Two index-ordered reads that stop at the limit: an OR of both states under one ORDER BY
        // would sort the whole backlog at every claim.
        const filters = `NOT EXISTS (
               SELECT 1 FROM outbox p WHERE p.destination = o.destination AND p.ordering_key = o.ordering_key AND p.seq < o.seq AND p.state IN ('pending', 'inflight'))
             AND NOT EXISTS (SELECT 1 FROM outbox_destinations d WHERE d.destination = o.destination AND d.paused)
             AND NOT (o.destination = ANY($2::text[]))
             ${only}`;
        const { rows: expired } = await tx<Row>(
          `SELECT o.* FROM outbox o WHERE o.state = 'inflight' AND o.lease_expires_at <= $1 AND ${filters}
           ORDER BY o.lease_expires_at LIMIT $3 FOR UPDATE OF o SKIP LOCKED`,
          params,
        );
        const { rows: due } = await tx<Row>(
          `SELECT o.* FROM outbox o WHERE o.state = 'pending' AND o.next_attempt_at <= $1 AND ${filters}
           ORDER BY o.next_attempt_at, o.seq LIMIT $3 FOR UPDATE OF o SKIP LOCKED`,
          params,
        );
        const candidates = [...expired, ...due];
        const perDestination = new Map<string, number>();
        const chosen: number[] = [];
        for (const r of candidates) {
          if (chosen.length >= limit) break;
          const n = perDestination.get(r.destination) ?? 0;
          const cap = o.perDestination?.[r.destination];
          if (cap !== undefined && n >= cap) continue;
          // An expired lease is an attempt that never finished; past the limit the message is quarantined.
          const error = quarantineReason(r, o);
          if (error) {
            await tx(
              `WITH u AS (
                 UPDATE outbox SET state = 'dead', interrupted = interrupted + 1, last_error = $1, lease_owner = NULL, lease_expires_at = NULL, updated = $2
                 WHERE seq = $3 RETURNING id, attempts)
               INSERT INTO outbox_attempts (message_id, attempt, at, outcome, error, duration_ms, owner)
               SELECT u.id, u.attempts, $2, 'dead', $1, NULL, $4 FROM u`,
              [error, at, r.seq, o.owner],
            );
            continue;
          }
          perDestination.set(r.destination, n + 1);
          chosen.push(r.seq);
        }
        if (chosen.length === 0) return [];
        const leaseUntil = new Date(Date.parse(at) + o.leaseMs).toISOString();
        const { rows } = await tx<Row>(
          `UPDATE outbox SET state = 'inflight', attempts = attempts + 1, lease_owner = $1, lease_expires_at = $2, updated = $3,
             interrupted = interrupted + (CASE WHEN state = 'inflight' AND attempt_started = 1 THEN 1 ELSE 0 END),
             attempt_started = CASE WHEN destination = ANY($5::text[]) THEN 0 ELSE 1 END
           WHERE seq = ANY($4::bigint[]) RETURNING *`,
          [o.owner, leaseUntil, at, chosen, [...(o.staged ?? [])]],
        );
        const order = new Map(chosen.map((seq, i) => [seq, i]));
        return rows.sort((a, b) => (order.get(a.seq) ?? 0) - (order.get(b.seq) ?? 0)).map(messageOf);
      });
    },
    complete: async (id, owner, durationMs) => {
      const at = now().toISOString();
      return settle(
        `UPDATE outbox SET state = 'delivered', delivered_at = $1, lease_owner = NULL, lease_expires_at = NULL, last_error = NULL, interrupted = 0, updated = $1
         WHERE id = $2 AND state = 'inflight' AND lease_owner = $3 RETURNING attempts`,
        [at, id, owner],
        { messageId: id, at, outcome: 'delivered', ...(durationMs !== undefined ? { durationMs } : {}), owner },
      );
    },
    fail: async (id, owner, f) => {
      const at = now().toISOString();
      const dead = f.retryAt === undefined;
      const error = storedError(f.error);
      return settle(
        `UPDATE outbox SET state = $1, next_attempt_at = $2, last_error = $3, lease_owner = NULL, lease_expires_at = NULL, interrupted = 0, updated = $4
         WHERE id = $5 AND state = 'inflight' AND lease_owner = $6 RETURNING attempts`,
        [dead ? 'dead' : 'pending', f.retryAt?.toISOString() ?? at, error, at, id, owner],
        { messageId: id, at, outcome: dead ? 'dead' : 'retry', error, ...(f.durationMs !== undefined ? { durationMs: f.durationMs } : {}), owner },
      );
    },
    release: async (id, owner) => {
      const at = now().toISOString();
      // The attempt is not counted; the record names the attempt that was given back.
      return settle(
        `UPDATE outbox SET state = 'pending', attempts = greatest(attempts - 1, 0), next_attempt_at = $1, lease_owner = NULL,
           lease_expires_at = NULL, updated = $1
         WHERE id = $2 AND state = 'inflight' AND lease_owner = $3 RETURNING attempts`,
        [at, id, owner],
        { messageId: id, at, outcome: 'released', owner },
        1,
      );
    },
    markStarted: async (id, owner) => {
      const res = await q(`UPDATE outbox SET attempt_started = 1, updated = $1 WHERE id = $2 AND state = 'inflight' AND lease_owner = $3`, [now().toISOString(), id, owner]);
      return res.rowCount === 1;
    },
    renew: async (ids, owner, leaseMs) => {
      if (ids.length === 0) return [];
      const at = now();
      const { rows } = await q<{ id: string }>(
        `UPDATE outbox SET lease_expires_at = $1, updated = $2 WHERE id = ANY($3::text[]) AND state = 'inflight' AND lease_owner = $4 RETURNING id`,
        [new Date(at.getTime() + leaseMs).toISOString(), at.toISOString(), [...ids], owner],
      );
      return rows.map((r) => r.id);
    },
    get: async (id) => {
      const { rows } = await q<Row>('SELECT * FROM outbox WHERE id = $1', [id]);
      return rows[0] && messageOf(rows[0]);
    },
    attempts: async (id) => {
      const { rows } = await q<AttemptRow>('SELECT * FROM outbox_attempts WHERE message_id = $1 ORDER BY n', [id]);
      return rows.map(attemptOf);
    },
    list: async (query: ListQuery) => {
      const { page, count } = outboxListStatements(query);
      const { rows } = await q<Row>(numbered(page.sql), page.params);
      const total = await q<{ n: number }>(numbered(count.sql), count.params);
      return { items: rows.map(messageOf), total: total.rows[0].n };
    },
    redrive: async (id) => {
      const at = now().toISOString();
      const res = await q(`UPDATE outbox SET state = 'pending', attempts = 0, interrupted = 0, next_attempt_at = $1, updated = $1 WHERE id = $2 AND state = 'dead'`, [at, id]);
      return res.rowCount === 1;
    },
    redriveDead: async (destination) => {
      const at = now().toISOString();
      const res = await q(
        `UPDATE outbox SET state = 'pending', attempts = 0, interrupted = 0, next_attempt_at = $1, updated = $1 WHERE state = 'dead'${destination ? ' AND destination = $2' : ''}`,
        destination ? [at, destination] : [at],
      );
      return res.rowCount ?? 0;
    },
    setPaused: async (destination, paused) => {
      await q(
        `INSERT INTO outbox_destinations (destination, paused, updated) VALUES ($1, $2, $3)
         ON CONFLICT (destination) DO UPDATE SET paused = excluded.paused, updated = excluded.updated`,
        [destination, paused, now().toISOString()],
      );
    },
    pausedDestinations: async () => {
      const { rows } = await q<{ destination: string }>('SELECT destination FROM outbox_destinations WHERE paused ORDER BY destination');
      return rows.map((r) => r.destination);
    },
    depth: async () => {
      const { rows } = await q<{ destination: string; state: OutboxState; count: number }>(
        'SELECT destination, state, count(*) AS count FROM outbox GROUP BY destination, state ORDER BY destination, state',
      );
      return rows;
    },
  };
}

/** The writer of one transaction (`tx.outbox`): `q` runs on its client and refuses once it ended. */
export function pgOutboxWriter(q: PgQuery, now: () => Date): OutboxWriter {
  return {
    enqueue: async (input: EnqueueInput) => {
      // Enqueues of one ordering key are serialised until commit, so a key's sequence numbers commit in order and a
      // dispatcher never sees a later message of the key before an earlier one (still uncommitted) exists.
      await q('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_ORDERING_KEY, input.orderingKey]);
      const at = now();
      const stamp = at.toISOString();
      const { rows } = await q<Row>(
        `INSERT INTO outbox (id, destination, ordering_key, idempotency_key, payload, state, attempts, next_attempt_at, request_id, created, updated, last_error)
         VALUES ($1, $2, $3, $4, $5, $9, 0, $6, $7, $8, $8, $10)
         ON CONFLICT (destination, idempotency_key) DO NOTHING
         RETURNING *`,
        [
          randomUUID(),
          input.destination,
          input.orderingKey,
          input.idempotencyKey,
          JSON.stringify(input.payload ?? null),
          (input.notBefore ?? at).toISOString(),
          input.requestId ?? null,
          stamp,
          input.refused === undefined ? 'pending' : 'dead',
          input.refused ?? null,
        ],
      );
      if (rows[0]) return { message: messageOf(rows[0]), created: true };
      const existing = await q<Row>('SELECT * FROM outbox WHERE destination = $1 AND idempotency_key = $2', [input.destination, input.idempotencyKey]);
      return { message: messageOf(existing.rows[0]), created: false };
    },
    find: async (destination: string, idempotencyKey: string) => {
      const { rows } = await q<Row>('SELECT * FROM outbox WHERE destination = $1 AND idempotency_key = $2', [destination, idempotencyKey]);
      return rows[0] ? messageOf(rows[0]) : undefined;
    },
  };
}
