// The identity registry on PostgreSQL (tables of pg migration 002), beside the resources. Operations take a query
// function: pg-store.ts binds them to its pool (outside transactions) or to the client of a running transaction.
// Behaviour matches sqlite-identity-repository.ts; what differs is how writers from several processes are ordered
// (the identity_seq row lock, and `lockRegistry`'s advisory lock).
import type { QueryResult, QueryResultRow } from 'pg';
import type { IdentityFlag, IdentityStatus, MatchGrade, MatchResult, SourceIdentity } from '../identity/types.js';
import type {
  FederatedIdentityRecord,
  LinkRow,
  PairDecision,
  PairDecisionRecord,
  ReviewRecord,
  ReviewState,
  SourceDecision,
  SourceIdentityRecord,
} from '../identity/records.js';
import {
  orderedPair,
  type FederatedInput,
  type IdentityReader,
  type IdentityRepository,
  type IdentityWriter,
  type ReviewListQuery,
} from './identity-repository.js';

/** Runs one statement on the right connection (the pool, or the transaction's client). */
export type PgQuery = <R extends QueryResultRow = QueryResultRow>(sql: string, params?: readonly unknown[]) => Promise<QueryResult<R>>;

const LIST_MAX = 1000;
const LINKS_PAGE = 1000;
const ACTIVE_PAGE = 5000;

// ---- rows ---------------------------------------------------------------------------------------------
// json columns arrive parsed, text[] as arrays, bigint as numbers (pg-store.ts sets the int8 parser).

interface SourceRow {
  system: string;
  local_id: string;
  federated_id: string;
  traits: SourceIdentity;
  status: IdentityStatus;
  decision: SourceDecision;
  score: number | null;
  created: string;
  updated: string;
}

interface FederatedRow {
  id: string;
  status: IdentityStatus;
  flags: IdentityFlag[];
  active: boolean;
  replaced_by: string | null;
  traits: SourceIdentity;
  blocking_keys: string[];
  seq: number;
  created: string;
  updated: string;
}

interface ReviewRow {
  id: string;
  source_system: string;
  source_id: string;
  new_federated_id: string;
  candidate_federated_id: string;
  grade: MatchGrade;
  score: number;
  comparison: MatchResult;
  flag: 'DPOT' | 'COLP';
  state: ReviewState;
  decision: PairDecision | null;
  decided_by: string | null;
  decided_at: string | null;
  reason: string | null;
  created: string;
}

interface PairRow {
  federated_a: string;
  federated_b: string;
  decision: PairDecision;
  decided_by: string;
  decided_at: string;
  reason: string | null;
  review_id: string | null;
}

const sourceOf = (r: SourceRow): SourceIdentityRecord => ({
  system: r.system,
  localId: r.local_id,
  federatedId: r.federated_id,
  traits: r.traits,
  status: r.status,
  decision: r.decision,
  ...(r.score !== null ? { score: r.score } : {}),
  created: r.created,
  updated: r.updated,
});

const federatedOf = (r: FederatedRow): FederatedIdentityRecord => ({
  id: r.id,
  status: r.status,
  flags: r.flags,
  active: r.active,
  ...(r.replaced_by !== null ? { replacedBy: r.replaced_by } : {}),
  traits: r.traits,
  blockingKeys: r.blocking_keys,
  seq: r.seq,
  created: r.created,
  updated: r.updated,
});

const reviewOf = (r: ReviewRow): ReviewRecord => ({
  id: r.id,
  sourceSystem: r.source_system,
  sourceId: r.source_id,
  newFederatedId: r.new_federated_id,
  candidateFederatedId: r.candidate_federated_id,
  grade: r.grade,
  score: r.score,
  comparison: r.comparison,
  flag: r.flag,
  state: r.state,
  ...(r.decision !== null ? { decision: r.decision } : {}),
  ...(r.decided_by !== null ? { decidedBy: r.decided_by } : {}),
  ...(r.decided_at !== null ? { decidedAt: r.decided_at } : {}),
  ...(r.reason !== null ? { reason: r.reason } : {}),
  created: r.created,
});

const pairOf = (r: PairRow): PairDecisionRecord => ({
  a: r.federated_a,
  b: r.federated_b,
  decision: r.decision,
  decidedBy: r.decided_by,
  decidedAt: r.decided_at,
  ...(r.reason !== null ? { reason: r.reason } : {}),
  ...(r.review_id !== null ? { reviewId: r.review_id } : {}),
});

const positive = (n: number): number => Math.max(1, Math.trunc(n));

// ---- reads --------------------------------------------------------------------------------------------

function reader(q: PgQuery): IdentityReader {
  return {
    async getSource(system, localId) {
      const { rows } = await q<SourceRow>('SELECT * FROM identity_sources WHERE system = $1 AND local_id = $2', [system, localId]);
      return rows[0] && sourceOf(rows[0]);
    },
    async sourcesOf(federatedId) {
      const { rows } = await q<SourceRow>('SELECT * FROM identity_sources WHERE federated_id = $1 ORDER BY system, local_id', [federatedId]);
      return rows.map(sourceOf);
    },
    async getFederated(id) {
      const { rows } = await q<FederatedRow>('SELECT * FROM identity_federated WHERE id = $1', [id]);
      return rows[0] && federatedOf(rows[0]);
    },
    async getFederatedMany(ids) {
      if (ids.length === 0) return [];
      const { rows } = await q<FederatedRow>('SELECT * FROM identity_federated WHERE id = ANY($1::text[])', [[...new Set(ids)]]);
      const byId = new Map(rows.map((r) => [r.id, r]));
      const out: FederatedIdentityRecord[] = [];
      for (const id of ids) {
        const row = byId.get(id);
        if (row) out.push(federatedOf(row));
      }
      return out;
    },
    async pairDecision(x, y) {
      const [a, b] = orderedPair(x, y);
      const { rows } = await q<PairRow>('SELECT * FROM identity_pair_decisions WHERE federated_a = $1 AND federated_b = $2', [a, b]);
      return rows[0] && pairOf(rows[0]);
    },
    async pairDecisionsOf(id) {
      const { rows } = await q<PairRow>(
        'SELECT * FROM identity_pair_decisions WHERE federated_a = $1 UNION ALL SELECT * FROM identity_pair_decisions WHERE federated_b = $1',
        [id],
      );
      return rows.map(pairOf);
    },
    async getReview(id) {
      const { rows } = await q<ReviewRow>('SELECT * FROM identity_reviews WHERE id = $1', [id]);
      return rows[0] && reviewOf(rows[0]);
    },
    async listReviews(query: ReviewListQuery) {
      const limit = Math.max(0, Math.min(Math.trunc(query.limit), LIST_MAX));
      const offset = Math.max(0, Math.trunc(query.offset));
      const where = query.state ? 'WHERE state = $1' : '';
      const params: unknown[] = query.state ? [query.state] : [];
      const n = params.length;
      const { rows } = await q<ReviewRow>(`SELECT * FROM identity_reviews ${where} ORDER BY created, id LIMIT $${n + 1} OFFSET $${n + 2}`, [
        ...params,
        limit,
        offset,
      ]);
      const total = await q<{ n: number }>(`SELECT count(*) AS n FROM identity_reviews ${where}`, params);
      return { items: rows.map(reviewOf), total: total.rows[0].n };
    },
    async openReviewsOf(id) {
      const { rows } = await q<ReviewRow>(
        `SELECT * FROM identity_reviews WHERE new_federated_id = $1 AND state = 'open'
         UNION ALL
         SELECT * FROM identity_reviews WHERE candidate_federated_id = $1 AND state = 'open'
         ORDER BY created, id`,
        [id],
      );
      return rows.map(reviewOf);
    },
    async mergedInto(id) {
      const { rows } = await q<{ id: string }>('SELECT id FROM identity_federated WHERE replaced_by = $1 ORDER BY id', [id]);
      return rows.map((r) => r.id);
    },
    async countSources() {
      return (await q<{ n: number }>('SELECT count(*) AS n FROM identity_sources')).rows[0].n;
    },
    async countProjectionPending() {
      return (await q<{ n: number }>('SELECT count(*) AS n FROM identity_projection_pending')).rows[0].n;
    },
    async identitySeq() {
      const { rows } = await q<{ value: number }>('SELECT value FROM identity_seq WHERE one = 1');
      return rows[0]?.value ?? 0;
    },
    async federatedChangedSince(seq, limit) {
      const { rows } = await q<FederatedRow>('SELECT * FROM identity_federated WHERE seq > $1 ORDER BY seq LIMIT $2', [seq, positive(limit)]);
      return rows.map(federatedOf);
    },
  };
}

/** The store-level repository: every read through `q` (the pool: committed rows only). */
export function pgIdentityRepository(q: PgQuery): IdentityRepository {
  return {
    ...reader(q),
    async *links(options?: { pageSize?: number }): AsyncIterable<LinkRow> {
      const size = Math.max(1, Math.min(Math.trunc(options?.pageSize ?? LINKS_PAGE), 10_000));
      let after: { system: string; localId: string } | undefined;
      for (;;) {
        // Keyset pages, each its own statement: no cursor stays open across the consumer's awaits.
        const { rows } = after
          ? await q<SourceRow>(
              `SELECT system, local_id, federated_id, decision, score FROM identity_sources
               WHERE (system, local_id) > ($1, $2) ORDER BY system, local_id LIMIT $3`,
              [after.system, after.localId, size],
            )
          : await q<SourceRow>('SELECT system, local_id, federated_id, decision, score FROM identity_sources ORDER BY system, local_id LIMIT $1', [size]);
        for (const r of rows) {
          yield {
            source_system: r.system,
            source_id: r.local_id,
            federated_id: r.federated_id,
            decision: r.decision,
            ...(r.score !== null ? { score: r.score } : {}),
          };
        }
        if (rows.length < size) return;
        const last = rows[rows.length - 1];
        after = { system: last.system, localId: last.local_id };
      }
    },
    async *activeFederated(options?: { pageSize?: number }): AsyncIterable<FederatedIdentityRecord> {
      const size = Math.max(1, Math.min(Math.trunc(options?.pageSize ?? ACTIVE_PAGE), 50_000));
      let after: string | undefined;
      for (;;) {
        const { rows } =
          after === undefined
            ? await q<FederatedRow>('SELECT * FROM identity_federated WHERE active ORDER BY id LIMIT $1', [size])
            : await q<FederatedRow>('SELECT * FROM identity_federated WHERE active AND id > $1 ORDER BY id LIMIT $2', [after, size]);
        for (const r of rows) yield federatedOf(r);
        if (rows.length < size) return;
        after = rows[rows.length - 1].id;
      }
    },
  };
}

// ---- writes -------------------------------------------------------------------------------------------

/**
 * The writer of one transaction: `q` runs on its client (and refuses once the transaction ended), `lockRegistry`
 * takes the store's transaction-scoped advisory lock.
 */
export function pgIdentityWriter(q: PgQuery, now: () => Date, lockRegistry: () => Promise<void>): IdentityWriter {
  const stamp = (): string => now().toISOString();
  return {
    ...reader(q),
    async putSource(r) {
      const at = stamp();
      await q(
        `INSERT INTO identity_sources (system, local_id, federated_id, traits, status, decision, score, created, updated)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
         ON CONFLICT (system, local_id) DO UPDATE SET federated_id = excluded.federated_id, traits = excluded.traits,
           status = excluded.status, decision = excluded.decision, score = excluded.score, updated = excluded.updated`,
        [r.system, r.localId, r.federatedId, JSON.stringify(r.traits), r.status, r.decision, r.score ?? null, at],
      );
    },
    async putFederated(r: FederatedInput) {
      const at = stamp();
      // An inactive identity is never a candidate: it is filed under no key.
      const keys = r.active ? [...new Set(r.blockingKeys)] : [];
      // The row lock taken here is held until the transaction ends: numbers commit in the order they are given,
      // and a rolled back transaction gives its numbers back.
      const { rows } = await q<{ seq: number }>(
        `WITH next AS (UPDATE identity_seq SET value = value + 1 WHERE one = 1 RETURNING value)
         INSERT INTO identity_federated (id, status, flags, active, replaced_by, traits, blocking_keys, seq, created, updated)
         SELECT $1::text, $2::text, $3::text[], $4::boolean, $5::text, $6::json, $7::text[], next.value, $8::text, $8::text FROM next
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, flags = excluded.flags, active = excluded.active,
           replaced_by = excluded.replaced_by, traits = excluded.traits, blocking_keys = excluded.blocking_keys,
           seq = excluded.seq, updated = excluded.updated
         RETURNING seq`,
        [r.id, r.status, r.flags, r.active, r.replacedBy ?? null, JSON.stringify(r.traits), keys, at],
      );
      return rows[0].seq;
    },
    async moveSources(from, to, decision: SourceDecision) {
      const at = stamp();
      const { rows } = await q<SourceRow>(
        `UPDATE identity_sources SET federated_id = $1, decision = $2, updated = $3 WHERE federated_id = $4 RETURNING *`,
        [to, decision, at, from],
      );
      return rows.map(sourceOf).sort((x, y) => (x.system === y.system ? cmp(x.localId, y.localId) : cmp(x.system, y.system)));
    },
    async insertReview(r) {
      await q(
        `INSERT INTO identity_reviews (id, source_system, source_id, new_federated_id, candidate_federated_id, grade, score,
           comparison, flag, state, created)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open', $10)`,
        [r.id, r.sourceSystem, r.sourceId, r.newFederatedId, r.candidateFederatedId, r.grade, r.score, JSON.stringify(r.comparison), r.flag, stamp()],
      );
    },
    async closeReview(id, d) {
      const res = await q(
        `UPDATE identity_reviews SET state = 'decided', decision = $1, decided_by = $2, decided_at = $3, reason = $4
         WHERE id = $5 AND state = 'open'`,
        [d.decision, d.decidedBy, stamp(), d.reason ?? null, id],
      );
      return res.rowCount === 1;
    },
    async retargetOpenReviews(from, to) {
      await q(`UPDATE identity_reviews SET new_federated_id = $1 WHERE new_federated_id = $2 AND state = 'open'`, [to, from]);
      await q(`UPDATE identity_reviews SET candidate_federated_id = $1 WHERE candidate_federated_id = $2 AND state = 'open'`, [to, from]);
    },
    async putPairDecision(r) {
      const [a, b] = orderedPair(r.a, r.b);
      if (a === b) throw new Error(`putPairDecision: a federated identity cannot be paired with itself (${a})`);
      await q(
        `INSERT INTO identity_pair_decisions (federated_a, federated_b, decision, decided_by, decided_at, reason, review_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (federated_a, federated_b) DO UPDATE SET decision = excluded.decision, decided_by = excluded.decided_by,
           decided_at = excluded.decided_at, reason = excluded.reason, review_id = excluded.review_id`,
        [a, b, r.decision, r.decidedBy, stamp(), r.reason ?? null, r.reviewId ?? null],
      );
    },
    lockRegistry,
    async markProjectionPending(ids) {
      if (ids.length === 0) return;
      await q('INSERT INTO identity_projection_pending (federated_id) SELECT DISTINCT unnest($1::text[]) ON CONFLICT DO NOTHING', [ids]);
    },
    async takeProjectionPending(limit) {
      // SKIP LOCKED: processes draining at the same time take different identities instead of waiting.
      const { rows } = await q<{ federated_id: string }>(
        `DELETE FROM identity_projection_pending WHERE federated_id IN
           (SELECT federated_id FROM identity_projection_pending LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING federated_id`,
        [positive(limit)],
      );
      return rows.map((r) => r.federated_id);
    },
  };
}

/** Code-unit order, as SQLite's BINARY collation and COLLATE "C" give for the ids in use. */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
