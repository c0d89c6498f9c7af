// The identity registry's rows as both dialects store them (SQLite migrations 002/003, PostgreSQL migration 002),
// their mapping to records, and what both repositories do alike: the review queue's listing (filters, order, counts
// by grade) and the paged iterations.
// Row types are generic in the dialect's column style (sql-dialect.ts).
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
import type { IdentityRepository, ReviewFilter, ReviewListQuery, ReviewStats } from './identity-repository.js';
import { LIST_MAX, numbered, placeholders, type BoolOf, type ColumnStyle, type JsonOf, type RowDecoder, type Statement } from './sql-dialect.js';

const LINKS_PAGE = 1000;
const ACTIVE_PAGE = 5000;

export interface SourceRow<S extends ColumnStyle> {
  system: string;
  local_id: string;
  federated_id: string;
  traits: JsonOf<S, SourceIdentity>;
  status: IdentityStatus;
  decision: SourceDecision;
  score: number | null;
  created: string;
  updated: string;
}

/** The columns of identity_sources the link listing reads. */
export type LinkSourceRow = Pick<SourceRow<ColumnStyle>, 'system' | 'local_id' | 'federated_id' | 'decision' | 'score'>;

export interface FederatedRow<S extends ColumnStyle> {
  id: string;
  status: IdentityStatus;
  flags: JsonOf<S, IdentityFlag[]>;
  active: BoolOf<S>;
  replaced_by: string | null;
  traits: JsonOf<S, SourceIdentity>;
  blocking_keys: JsonOf<S, string[]>;
  seq: number;
  created: string;
  updated: string;
}

export interface ReviewRow<S extends ColumnStyle> {
  id: string;
  source_system: string;
  source_id: string;
  new_federated_id: string;
  candidate_federated_id: string;
  grade: MatchGrade;
  score: number;
  comparison: JsonOf<S, MatchResult>;
  flag: 'DPOT' | 'COLP';
  state: ReviewState;
  decision: PairDecision | null;
  decided_by: string | null;
  decided_at: string | null;
  reason: string | null;
  created: string;
  /** Migration SQLite 015 / PostgreSQL 014. */
  assignee: string | null;
}

export interface PairRow {
  federated_a: string;
  federated_b: string;
  decision: PairDecision;
  decided_by: string;
  decided_at: string;
  reason: string | null;
  review_id: string | null;
}

/** Row → record mappers of one dialect. */
export interface IdentityRows<S extends ColumnStyle> {
  sourceOf(r: SourceRow<S>): SourceIdentityRecord;
  federatedOf(r: FederatedRow<S>): FederatedIdentityRecord;
  reviewOf(r: ReviewRow<S>): ReviewRecord;
  pairOf(r: PairRow): PairDecisionRecord;
}

export function identityRows<S extends ColumnStyle>(d: RowDecoder<S>): IdentityRows<S> {
  return {
    sourceOf: (r) => ({
      system: r.system,
      localId: r.local_id,
      federatedId: r.federated_id,
      traits: d.json<SourceIdentity>(r.traits),
      status: r.status,
      decision: r.decision,
      ...(r.score !== null ? { score: r.score } : {}),
      created: r.created,
      updated: r.updated,
    }),
    federatedOf: (r) => ({
      id: r.id,
      status: r.status,
      flags: d.json<IdentityFlag[]>(r.flags),
      active: d.bool(r.active),
      ...(r.replaced_by !== null ? { replacedBy: r.replaced_by } : {}),
      traits: d.json<SourceIdentity>(r.traits),
      blockingKeys: d.json<string[]>(r.blocking_keys),
      seq: r.seq,
      created: r.created,
      updated: r.updated,
    }),
    reviewOf: (r) => ({
      id: r.id,
      sourceSystem: r.source_system,
      sourceId: r.source_id,
      newFederatedId: r.new_federated_id,
      candidateFederatedId: r.candidate_federated_id,
      grade: r.grade,
      score: r.score,
      comparison: d.json<MatchResult>(r.comparison),
      flag: r.flag,
      state: r.state,
      ...(r.decision !== null ? { decision: r.decision } : {}),
      ...(r.decided_by !== null ? { decidedBy: r.decided_by } : {}),
      ...(r.decided_at !== null ? { decidedAt: r.decided_at } : {}),
      ...(r.reason !== null ? { reason: r.reason } : {}),
      created: r.created,
      ...(r.assignee !== null && r.assignee !== undefined ? { assignee: r.assignee } : {}),
    }),
    pairOf: (r) => ({
      a: r.federated_a,
      b: r.federated_b,
      decision: r.decision,
      decidedBy: r.decided_by,
      decidedAt: r.decided_at,
      ...(r.reason !== null ? { reason: r.reason } : {}),
      ...(r.review_id !== null ? { reviewId: r.review_id } : {}),
    }),
  };
}

/** The WHERE clause of a queue filter (`r` is identity_reviews), `?` placeholders. */
function reviewWhere(f: ReviewFilter, withGrades: boolean): Statement {
  const where: string[] = [];
  const params: unknown[] = [];
  if (f.state) {
    where.push('r.state = ?');
    params.push(f.state);
  }
  if (withGrades && f.grades && f.grades.length > 0) {
    where.push(`r.grade IN (${placeholders(f.grades.length)})`);
    params.push(...f.grades);
  }
  if (f.flag) {
    where.push('r.flag = ?');
    params.push(f.flag);
  }
  if (f.assignee === null) where.push('r.assignee IS NULL');
  else if (f.assignee !== undefined) {
    where.push('r.assignee = ?');
    params.push(f.assignee);
  }
  if (f.createdBefore) {
    where.push('r.created < ?');
    params.push(f.createdBefore);
  }
  if (f.scoreMin !== undefined) {
    where.push('r.score >= ?');
    params.push(f.scoreMin);
  }
  if (f.scoreMax !== undefined) {
    where.push('r.score <= ?');
    params.push(f.scoreMax);
  }
  if (f.establishment) {
    // The FINESS as a whole OID arc of a source system of either identity (or of the item's own source): the
    // sources of one identity are few and found through identity_sources_federated.
    const arc = `%.${f.establishment}.%`;
    where.push(`(('.' || r.source_system || '.') LIKE ?
      OR EXISTS (SELECT 1 FROM identity_sources s WHERE s.federated_id = r.new_federated_id AND ('.' || s.system || '.') LIKE ?)
      OR EXISTS (SELECT 1 FROM identity_sources s WHERE s.federated_id = r.candidate_federated_id AND ('.' || s.system || '.') LIKE ?))`);
    params.push(arc, arc, arc);
  }
  return { sql: where.length > 0 ? `WHERE ${where.join(' AND ')}` : '', params };
}

const REVIEW_ORDER: Record<string, string> = {
  // Age is the time since the item was opened: the largest age is the oldest item.
  '-age': 'r.created, r.id',
  age: 'r.created DESC, r.id DESC',
  score: 'r.score, r.created, r.id',
  '-score': 'r.score DESC, r.created, r.id',
};

/** `listReviews`: one page of the filtered queue (oldest first unless sorted otherwise) and the count of all. */
export function reviewListStatements(q: ReviewListQuery): { page: Statement; count: Statement } {
  const w = reviewWhere(q, true);
  const order = REVIEW_ORDER[q.sort ? `${q.sort.desc ? '-' : ''}${q.sort.key}` : '-age'];
  const limit = Math.max(0, Math.min(Math.trunc(q.limit), LIST_MAX));
  const offset = Math.max(0, Math.trunc(q.offset));
  return {
    page: { sql: `SELECT r.* FROM identity_reviews r ${w.sql} ORDER BY ${order} LIMIT ? OFFSET ?`, params: [...w.params, limit, offset] },
    count: { sql: `SELECT count(*) AS n FROM identity_reviews r ${w.sql}`, params: w.params },
  };
}

/** `reviewStats`: counts by grade (the filter's grades ignored) and the oldest opening. */
export function reviewStatsStatement(f: ReviewFilter): Statement {
  const w = reviewWhere(f, false);
  return { sql: `SELECT r.grade AS grade, count(*) AS n, min(r.created) AS oldest FROM identity_reviews r ${w.sql} GROUP BY r.grade`, params: w.params };
}

/** The rows of `reviewStatsStatement` as `ReviewStats`. */
export function reviewStatsOf(rows: readonly { grade: MatchGrade; n: number | string; oldest: string | null }[]): ReviewStats {
  const byGrade: Partial<Record<MatchGrade, number>> = {};
  let oldest: string | undefined;
  for (const r of rows) {
    byGrade[r.grade] = Number(r.n);
    if (r.oldest !== null && (oldest === undefined || r.oldest < oldest)) oldest = r.oldest;
  }
  return { byGrade, ...(oldest !== undefined ? { oldest } : {}) };
}

export const ASSIGN_REVIEW_SQL = 'UPDATE identity_reviews SET assignee = ? WHERE id = ?';

/** One page of a keyset iteration: the rows after `after` (from the start when undefined), at most `limit`. */
export type PageReader<K, R> = (after: K | undefined, limit: number) => Promise<R[]>;

/**
 * `links` and `activeFederated` over the dialect's page reads: keyset pages, each its own read, so no statement or
 * cursor stays open across the consumer's awaits.
 */
export function registryIterations<S extends ColumnStyle>(
  rows: IdentityRows<S>,
  pages: {
    /** identity_sources (LinkSourceRow columns) in (system, local_id) order. */
    links: PageReader<{ system: string; localId: string }, LinkSourceRow>;
    /** Active identity_federated rows in id order. */
    active: PageReader<string, FederatedRow<S>>;
  },
): Pick<IdentityRepository, 'links' | 'activeFederated'> {
  return {
    async *links(options?: { pageSize?: number }): AsyncIterable<LinkRow> {
      const size = Math.max(1, Math.min(Math.trunc(options?.pageSize ?? LINKS_PAGE), 10_000));
      let after: { system: string; localId: string } | undefined;
      for (;;) {
        const page = await pages.links(after, size);
        for (const r of page) {
          yield {
            source_system: r.system,
            source_id: r.local_id,
            federated_id: r.federated_id,
            decision: r.decision,
            ...(r.score !== null ? { score: r.score } : {}),
          };
        }
        if (page.length < size) return;
        const last = page[page.length - 1];
        after = { system: last.system, localId: last.local_id };
      }
    },
    async *activeFederated(options?: { pageSize?: number }): AsyncIterable<FederatedIdentityRecord> {
      const size = Math.max(1, Math.min(Math.trunc(options?.pageSize ?? ACTIVE_PAGE), 50_000));
      let after: string | undefined;
      for (;;) {
        const page = await pages.active(after, size);
        for (const r of page) yield rows.federatedOf(r);
        if (page.length < size) return;
        after = page[page.length - 1].id;
      }
    },
  };
}

/**
 * The registry statements both dialects run as written (`?` placeholders, in order; `PG_IDENTITY_SQL` numbers them
 * for PostgreSQL). Statements whose SQL differs between the dialects stay in their repository.
 */
export const IDENTITY_SQL = {
  getSource: 'SELECT * FROM identity_sources WHERE system = ? AND local_id = ?',
  sourcesOf: 'SELECT * FROM identity_sources WHERE federated_id = ? ORDER BY system, local_id',
  getFederated: 'SELECT * FROM identity_federated WHERE id = ?',
  pairDecision: 'SELECT * FROM identity_pair_decisions WHERE federated_a = ? AND federated_b = ?',
  getReview: 'SELECT * FROM identity_reviews WHERE id = ?',
  mergedInto: 'SELECT id FROM identity_federated WHERE replaced_by = ? ORDER BY id',
  countSources: 'SELECT count(*) AS n FROM identity_sources',
  countProjectionPending: 'SELECT count(*) AS n FROM identity_projection_pending',
  identitySeq: 'SELECT value FROM identity_seq WHERE one = 1',
  federatedChangedSince: 'SELECT * FROM identity_federated WHERE seq > ? ORDER BY seq LIMIT ?',
  linksFirst: 'SELECT system, local_id, federated_id, decision, score FROM identity_sources ORDER BY system, local_id LIMIT ?',
  linksAfter: `SELECT system, local_id, federated_id, decision, score FROM identity_sources
     WHERE (system, local_id) > (?, ?) ORDER BY system, local_id LIMIT ?`,
  putSource: `INSERT INTO identity_sources (system, local_id, federated_id, traits, status, decision, score, created, updated)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (system, local_id) DO UPDATE SET federated_id = excluded.federated_id, traits = excluded.traits,
       status = excluded.status, decision = excluded.decision, score = excluded.score, updated = excluded.updated`,
  insertReview: `INSERT INTO identity_reviews (id, source_system, source_id, new_federated_id, candidate_federated_id, grade, score,
       comparison, flag, state, created)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?)`,
  closeReview: `UPDATE identity_reviews SET state = 'decided', decision = ?, decided_by = ?, decided_at = ?, reason = ?
     WHERE id = ? AND state = 'open'`,
  retargetNew: `UPDATE identity_reviews SET new_federated_id = ? WHERE new_federated_id = ? AND state = 'open'`,
  retargetCandidate: `UPDATE identity_reviews SET candidate_federated_id = ? WHERE candidate_federated_id = ? AND state = 'open'`,
  putPairDecision: `INSERT INTO identity_pair_decisions (federated_a, federated_b, decision, decided_by, decided_at, reason, review_id)
     VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (federated_a, federated_b) DO UPDATE SET decision = excluded.decision, decided_by = excluded.decided_by,
       decided_at = excluded.decided_at, reason = excluded.reason, review_id = excluded.review_id`,
} as const;

/**
 * `sourcesAndMergedOf`'s answer from the rows of its two statements (sources ordered by system and local id, merged
 * ids by id, as `sourcesOf` and `mergedInto` order them): every id asked has an entry, empty lists included.
 */
export function sourcesAndMergedOf(
  ids: readonly string[],
  sources: readonly SourceIdentityRecord[],
  merged: readonly { id: string; replaced_by: string }[],
): Map<string, { sources: SourceIdentityRecord[]; replaces: string[] }> {
  const out = new Map<string, { sources: SourceIdentityRecord[]; replaces: string[] }>();
  for (const id of ids) out.set(id, { sources: [], replaces: [] });
  for (const s of sources) out.get(s.federatedId)?.sources.push(s);
  for (const m of merged) out.get(m.replaced_by)?.replaces.push(m.id);
  return out;
}

/** `IDENTITY_SQL` with PostgreSQL's numbered placeholders. */
export const PG_IDENTITY_SQL = Object.fromEntries(Object.entries(IDENTITY_SQL).map(([k, sql]) => [k, numbered(sql)])) as Record<keyof typeof IDENTITY_SQL, string>;
