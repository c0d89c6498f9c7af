// The identity registry on PostgreSQL (tables of pg migration 002), beside the resources. Operations take a query
// function: pg-store.ts binds them to its pool (outside transactions) or to the client of a running transaction.
// Behaviour matches sqlite-identity-repository.ts; what differs is how writers from several processes are ordered
// (the identity_seq row lock, and `lockRegistry`'s advisory lock).
import type { QueryResult, QueryResultRow } from 'pg';
import type { FederatedIdentityRecord, SourceDecision } from '../identity/records.js';
import type { MatchGrade } from '../identity/types.js';
import {
  decisionPair,
  orderedPair,
  type FederatedInput,
  type IdentityReader,
  type IdentityRepository,
  type IdentityWriter,
  type ReviewListQuery,
} from './identity-repository.js';
import {
  PG_IDENTITY_SQL as SQL,
  identityRows,
  registryIterations,
  reviewListStatements,
  sourcesAndMergedOf,
  reviewStatsOf,
  reviewStatsStatement,
  ASSIGN_REVIEW_SQL,
  type FederatedRow,
  type LinkSourceRow,
  type PairRow,
  type ReviewRow,
  type SourceRow,
} from './identity-rows.js';
import { nativeColumns, numbered, positive } from './sql-dialect.js';

/** Runs one statement on the right connection (the pool, or the transaction's client). */
export type PgQuery = <R extends QueryResultRow = QueryResultRow>(sql: string, params?: readonly unknown[]) => Promise<QueryResult<R>>;

// json columns arrive parsed, text[] as arrays, bigint as numbers (pg-store.ts sets the int8 parser).
const mappers = identityRows(nativeColumns);
const { sourceOf, federatedOf, reviewOf, pairOf } = mappers;

// ---- reads --------------------------------------------------------------------------------------------

function reader(q: PgQuery): IdentityReader {
  return {
    async getSource(system, localId) {
      const { rows } = await q<SourceRow<'native'>>(SQL.getSource, [system, localId]);
      return rows[0] && sourceOf(rows[0]);
    },
    async sourcesOf(federatedId) {
      const { rows } = await q<SourceRow<'native'>>(SQL.sourcesOf, [federatedId]);
      return rows.map(sourceOf);
    },
    async getFederated(id) {
      const { rows } = await q<FederatedRow<'native'>>(SQL.getFederated, [id]);
      return rows[0] && federatedOf(rows[0]);
    },
    async getFederatedMany(ids) {
      if (ids.length === 0) return [];
      const { rows } = await q<FederatedRow<'native'>>('SELECT * FROM identity_federated WHERE id = ANY($1::text[])', [[...new Set(ids)]]);
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
      const { rows } = await q<PairRow>(SQL.pairDecision, [a, b]);
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
      const { rows } = await q<ReviewRow<'native'>>(SQL.getReview, [id]);
      return rows[0] && reviewOf(rows[0]);
    },
    async listReviews(query: ReviewListQuery) {
      const { page, count } = reviewListStatements(query);
      const { rows } = await q<ReviewRow<'native'>>(numbered(page.sql), page.params);
      const total = await q<{ n: number }>(numbered(count.sql), count.params);
      return { items: rows.map(reviewOf), total: total.rows[0].n };
    },
    async reviewStats(filter) {
      const { sql, params } = reviewStatsStatement(filter);
      const { rows } = await q<{ grade: MatchGrade; n: number; oldest: string | null }>(numbered(sql), params);
      return reviewStatsOf(rows);
    },
    async openReviewsOf(id) {
      const { rows } = await q<ReviewRow<'native'>>(
        `SELECT * FROM identity_reviews WHERE new_federated_id = $1 AND state = 'open'
         UNION ALL
         SELECT * FROM identity_reviews WHERE candidate_federated_id = $1 AND state = 'open'
         ORDER BY created, id`,
        [id],
      );
      return rows.map(reviewOf);
    },
    async mergedInto(id) {
      const { rows } = await q<{ id: string }>(SQL.mergedInto, [id]);
      return rows.map((r) => r.id);
    },
    async sourcesAndMergedOf(ids) {
      if (ids.length === 0) return new Map();
      const list = [[...new Set(ids)]];
      const sources = await q<SourceRow<'native'>>('SELECT * FROM identity_sources WHERE federated_id = ANY($1::text[]) ORDER BY federated_id, system, local_id', list);
      const merged = await q<{ id: string; replaced_by: string }>('SELECT id, replaced_by FROM identity_federated WHERE replaced_by = ANY($1::text[]) ORDER BY replaced_by, id', list);
      return sourcesAndMergedOf(ids, sources.rows.map(sourceOf), merged.rows);
    },
    async countSources() {
      return (await q<{ n: number }>(SQL.countSources)).rows[0].n;
    },
    async countProjectionPending() {
      return (await q<{ n: number }>(SQL.countProjectionPending)).rows[0].n;
    },
    async identitySeq() {
      const { rows } = await q<{ value: number }>(SQL.identitySeq);
      return rows[0]?.value ?? 0;
    },
    async federatedChangedSince(seq, limit) {
      const { rows } = await q<FederatedRow<'native'>>(SQL.federatedChangedSince, [seq, positive(limit)]);
      return rows.map(federatedOf);
    },
  };
}

/** The store-level repository: every read through `q` (the pool: committed rows only). */
export function pgIdentityRepository(q: PgQuery): IdentityRepository {
  return {
    ...reader(q),
    ...registryIterations(mappers, {
      links: (after, size) => linksPage(q, after, size),
      active: (after, size) => activePage(q, after, size),
    }),
  };
}

async function linksPage(q: PgQuery, after: { system: string; localId: string } | undefined, limit: number): Promise<LinkSourceRow[]> {
  const { rows } = after ? await q<LinkSourceRow>(SQL.linksAfter, [after.system, after.localId, limit]) : await q<LinkSourceRow>(SQL.linksFirst, [limit]);
  return rows;
}

async function activePage(q: PgQuery, after: string | undefined, limit: number): Promise<FederatedRow<'native'>[]> {
  const { rows } =
    after === undefined
      ? await q<FederatedRow<'native'>>('SELECT * FROM identity_federated WHERE active ORDER BY id LIMIT $1', [limit])
      : await q<FederatedRow<'native'>>('SELECT * FROM identity_federated WHERE active AND id > $1 ORDER BY id LIMIT $2', [after, limit]);
  return rows;
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
      await q(SQL.putSource, [r.system, r.localId, r.federatedId, JSON.stringify(r.traits), r.status, r.decision, r.score ?? null, at, at]);
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
      const { rows } = await q<SourceRow<'native'>>(
        `UPDATE identity_sources SET federated_id = $1, decision = $2, updated = $3 WHERE federated_id = $4 RETURNING *`,
        [to, decision, at, from],
      );
      return rows.map(sourceOf).sort((x, y) => (x.system === y.system ? cmp(x.localId, y.localId) : cmp(x.system, y.system)));
    },
    async insertReview(r) {
      const { id, sourceSystem, sourceId, newFederatedId, candidateFederatedId, grade, score, comparison, flag } = r;
      await q(SQL.insertReview, [id, sourceSystem, sourceId, newFederatedId, candidateFederatedId, grade, score, JSON.stringify(comparison), flag, stamp()]);
    },
    async closeReview(id, d) {
      const res = await q(SQL.closeReview, [d.decision, d.decidedBy, stamp(), d.reason ?? null, id]);
      return res.rowCount === 1;
    },
    async assignReview(id, assignee) {
      const res = await q(numbered(ASSIGN_REVIEW_SQL), [assignee, id]);
      return res.rowCount === 1;
    },
    async retargetOpenReviews(from, to) {
      await q(SQL.retargetNew, [to, from]);
      await q(SQL.retargetCandidate, [to, from]);
    },
    async putPairDecision(r) {
      const [a, b] = decisionPair(r.a, r.b);
      await q(SQL.putPairDecision, [a, b, r.decision, r.decidedBy, stamp(), r.reason ?? null, r.reviewId ?? null]);
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
