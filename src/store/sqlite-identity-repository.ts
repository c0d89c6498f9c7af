// The identity registry on SQLite (tables of migrations 002 and 003), in the resources' database file. Operations are
// synchronous functions on a connection; sqlite-store.ts binds them to its read connection (outside
// transactions) or to the write connection of a running transaction.
import type Database from 'better-sqlite3';
import type { FederatedIdentityRecord, PairDecision, PairDecisionRecord, ReviewRecord, SourceDecision, SourceIdentityRecord } from '../identity/records.js';
import {
  decisionPair,
  orderedPair,
  type IdentityReader,
  type IdentityRepository,
  type FederatedInput,
  type IdentityWriter,
  type ReviewFilter,
  type ReviewListQuery,
  type ReviewStats,
} from './identity-repository.js';
import type { MatchGrade } from '../identity/types.js';
import {
  IDENTITY_SQL as SQL,
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
import { positive, textColumns } from './sql-dialect.js';

/** What the operations need of a connection: prepared statements (cached by the caller). */
export interface SqlConnection {
  prepare(sql: string): Database.Statement<unknown[], unknown>;
}

/** Runs a synchronous operation on the right connection (reader, or the transaction's writer). */
export type RunOn = <T>(op: (c: SqlConnection) => T) => Promise<T>;

const mappers = identityRows(textColumns);
const { sourceOf, federatedOf, reviewOf, pairOf } = mappers;

// ---- reads --------------------------------------------------------------------------------------------

function getSource(c: SqlConnection, system: string, localId: string): SourceIdentityRecord | undefined {
  const row = c.prepare(SQL.getSource).get(system, localId) as SourceRow<'text'> | undefined;
  return row && sourceOf(row);
}

function sourcesOf(c: SqlConnection, federatedId: string): SourceIdentityRecord[] {
  const rows = c
    .prepare(SQL.sourcesOf)
    .all(federatedId) as SourceRow<'text'>[];
  return rows.map(sourceOf);
}

function getFederated(c: SqlConnection, id: string): FederatedIdentityRecord | undefined {
  const row = c.prepare(SQL.getFederated).get(id) as FederatedRow<'text'> | undefined;
  return row && federatedOf(row);
}

function getFederatedMany(c: SqlConnection, ids: readonly string[]): FederatedIdentityRecord[] {
  const stmt = c.prepare(SQL.getFederated);
  const out: FederatedIdentityRecord[] = [];
  for (const id of ids) {
    const row = stmt.get(id) as FederatedRow<'text'> | undefined;
    if (row) out.push(federatedOf(row));
  }
  return out;
}

function pairDecision(c: SqlConnection, x: string, y: string): PairDecisionRecord | undefined {
  const [a, b] = orderedPair(x, y);
  const row = c
    .prepare(SQL.pairDecision)
    .get(a, b) as PairRow | undefined;
  return row && pairOf(row);
}

function pairDecisionsOf(c: SqlConnection, id: string): PairDecisionRecord[] {
  const rows = c
    .prepare('SELECT * FROM identity_pair_decisions WHERE federated_a = ? UNION ALL SELECT * FROM identity_pair_decisions WHERE federated_b = ?')
    .all(id, id) as PairRow[];
  return rows.map(pairOf);
}

function getReview(c: SqlConnection, id: string): ReviewRecord | undefined {
  const row = c.prepare(SQL.getReview).get(id) as ReviewRow<'text'> | undefined;
  return row && reviewOf(row);
}

function listReviews(c: SqlConnection, q: ReviewListQuery): { items: ReviewRecord[]; total: number } {
  const { page, count } = reviewListStatements(q);
  const rows = c.prepare(page.sql).all(...page.params) as ReviewRow<'text'>[];
  const { n } = c.prepare(count.sql).get(...count.params) as { n: number };
  return { items: rows.map(reviewOf), total: n };
}

function reviewStats(c: SqlConnection, f: ReviewFilter): ReviewStats {
  const { sql, params } = reviewStatsStatement(f);
  return reviewStatsOf(c.prepare(sql).all(...params) as { grade: MatchGrade; n: number; oldest: string | null }[]);
}

function openReviewsOf(c: SqlConnection, id: string): ReviewRecord[] {
  const rows = c
    .prepare(
      // INDEXED BY: without statistics SQLite would walk every open item through the queue index.
      `SELECT * FROM identity_reviews INDEXED BY identity_reviews_new WHERE new_federated_id = ? AND state = 'open'
       UNION ALL
       SELECT * FROM identity_reviews INDEXED BY identity_reviews_candidate WHERE candidate_federated_id = ? AND state = 'open'
       ORDER BY created, id`,
    )
    .all(id, id) as ReviewRow<'text'>[];
  return rows.map(reviewOf);
}

function mergedInto(c: SqlConnection, id: string): string[] {
  const rows = c.prepare(SQL.mergedInto).all(id) as { id: string }[];
  return rows.map((r) => r.id);
}

/** The ids as one JSON array parameter (`json_each`): one statement whatever their number. */
function sourcesAndMerged(c: SqlConnection, ids: readonly string[]): ReturnType<typeof sourcesAndMergedOf> {
  if (ids.length === 0) return new Map();
  const list = JSON.stringify(ids);
  const sources = c
    .prepare('SELECT s.* FROM json_each(?) j CROSS JOIN identity_sources s WHERE s.federated_id = j.value ORDER BY s.federated_id, s.system, s.local_id')
    .all(list) as SourceRow<'text'>[];
  const merged = c
    .prepare('SELECT f.id, f.replaced_by FROM json_each(?) j CROSS JOIN identity_federated f WHERE f.replaced_by = j.value ORDER BY f.replaced_by, f.id')
    .all(list) as { id: string; replaced_by: string }[];
  return sourcesAndMergedOf(ids, sources.map(sourceOf), merged);
}

function countSources(c: SqlConnection): number {
  return (c.prepare(SQL.countSources).get() as { n: number }).n;
}

function countProjectionPending(c: SqlConnection): number {
  return (c.prepare(SQL.countProjectionPending).get() as { n: number }).n;
}

function identitySeq(c: SqlConnection): number {
  const row = c.prepare(SQL.identitySeq).get() as { value: number } | undefined;
  return row?.value ?? 0;
}

function federatedChangedSince(c: SqlConnection, seq: number, limit: number): FederatedIdentityRecord[] {
  const rows = c.prepare(SQL.federatedChangedSince).all(seq, positive(limit)) as FederatedRow<'text'>[];
  return rows.map(federatedOf);
}

function activePage(c: SqlConnection, after: string | undefined, limit: number): FederatedRow<'text'>[] {
  return (
    after === undefined
      ? c.prepare('SELECT * FROM identity_federated WHERE active = 1 ORDER BY id LIMIT ?').all(limit)
      : c.prepare('SELECT * FROM identity_federated WHERE active = 1 AND id > ? ORDER BY id LIMIT ?').all(after, limit)
  ) as FederatedRow<'text'>[];
}

function linksPage(c: SqlConnection, after: { system: string; localId: string } | undefined, limit: number): LinkSourceRow[] {
  return (
    after ? c.prepare(SQL.linksAfter).all(after.system, after.localId, limit) : c.prepare(SQL.linksFirst).all(limit)
  ) as LinkSourceRow[];
}

// ---- writes -------------------------------------------------------------------------------------------

function putSource(c: SqlConnection, now: string, r: Omit<SourceIdentityRecord, 'created' | 'updated'>): void {
  c.prepare(SQL.putSource).run(r.system, r.localId, r.federatedId, JSON.stringify(r.traits), r.status, r.decision, r.score ?? null, now, now);
}

function putFederated(c: SqlConnection, now: string, r: FederatedInput): number {
  // An inactive identity is never a candidate: it is filed under no key.
  const keys = r.active ? [...new Set(r.blockingKeys)] : [];
  const { value: seq } = c.prepare('UPDATE identity_seq SET value = value + 1 WHERE one = 1 RETURNING value').get() as { value: number };
  c.prepare(
    `INSERT INTO identity_federated (id, status, flags, active, replaced_by, traits, blocking_keys, seq, created, updated)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (id) DO UPDATE SET status = excluded.status, flags = excluded.flags, active = excluded.active,
       replaced_by = excluded.replaced_by, traits = excluded.traits, blocking_keys = excluded.blocking_keys,
       seq = excluded.seq, updated = excluded.updated`,
  ).run(r.id, r.status, JSON.stringify(r.flags), r.active ? 1 : 0, r.replacedBy ?? null, JSON.stringify(r.traits), JSON.stringify(keys), seq, now, now);
  return seq;
}

function markProjectionPending(c: SqlConnection, ids: readonly string[]): void {
  const insert = c.prepare('INSERT OR IGNORE INTO identity_projection_pending (federated_id) VALUES (?)');
  for (const id of ids) insert.run(id);
}

function takeProjectionPending(c: SqlConnection, limit: number): string[] {
  const rows = c
    .prepare('DELETE FROM identity_projection_pending WHERE federated_id IN (SELECT federated_id FROM identity_projection_pending LIMIT ?) RETURNING federated_id')
    .all(positive(limit)) as { federated_id: string }[];
  return rows.map((r) => r.federated_id);
}

function moveSources(c: SqlConnection, now: string, from: string, to: string, decision: SourceDecision): SourceIdentityRecord[] {
  const moved = sourcesOf(c, from);
  c.prepare('UPDATE identity_sources SET federated_id = ?, decision = ?, updated = ? WHERE federated_id = ?').run(to, decision, now, from);
  return moved.map((s) => ({ ...s, federatedId: to, decision, updated: now }));
}

function insertReview(
  c: SqlConnection,
  now: string,
  r: Omit<ReviewRecord, 'created' | 'state' | 'decision' | 'decidedBy' | 'decidedAt' | 'reason'>,
): void {
  c.prepare(SQL.insertReview).run(r.id, r.sourceSystem, r.sourceId, r.newFederatedId, r.candidateFederatedId, r.grade, r.score, JSON.stringify(r.comparison), r.flag, now);
}

function closeReview(c: SqlConnection, now: string, id: string, d: { decision: PairDecision; decidedBy: string; reason?: string }): boolean {
  const info = c
    .prepare(SQL.closeReview)
    .run(d.decision, d.decidedBy, now, d.reason ?? null, id);
  return info.changes === 1;
}

function retargetOpenReviews(c: SqlConnection, from: string, to: string): void {
  c.prepare(SQL.retargetNew).run(to, from);
  c.prepare(SQL.retargetCandidate).run(to, from);
}

function putPairDecision(c: SqlConnection, now: string, r: Omit<PairDecisionRecord, 'decidedAt'>): void {
  const [a, b] = decisionPair(r.a, r.b);
  c.prepare(SQL.putPairDecision).run(a, b, r.decision, r.decidedBy, now, r.reason ?? null, r.reviewId ?? null);
}

// ---- binding ------------------------------------------------------------------------------------------

function reader(run: RunOn): IdentityReader {
  return {
    getSource: (system, localId) => run((c) => getSource(c, system, localId)),
    sourcesOf: (id) => run((c) => sourcesOf(c, id)),
    getFederated: (id) => run((c) => getFederated(c, id)),
    getFederatedMany: (ids) => run((c) => getFederatedMany(c, ids)),
    pairDecision: (a, b) => run((c) => pairDecision(c, a, b)),
    pairDecisionsOf: (id) => run((c) => pairDecisionsOf(c, id)),
    getReview: (id) => run((c) => getReview(c, id)),
    listReviews: (q) => run((c) => listReviews(c, q)),
    reviewStats: (f) => run((c) => reviewStats(c, f)),
    openReviewsOf: (id) => run((c) => openReviewsOf(c, id)),
    mergedInto: (id) => run((c) => mergedInto(c, id)),
    sourcesAndMergedOf: (ids) => run((c) => sourcesAndMerged(c, ids)),
    countSources: () => run((c) => countSources(c)),
    countProjectionPending: () => run((c) => countProjectionPending(c)),
    identitySeq: () => run((c) => identitySeq(c)),
    federatedChangedSince: (seq, limit) => run((c) => federatedChangedSince(c, seq, limit)),
  };
}

/** The store-level repository: reads through `run` (the store's read path). */
export function sqliteIdentityRepository(run: RunOn): IdentityRepository {
  return {
    ...reader(run),
    ...registryIterations(mappers, {
      links: (after, size) => run((c) => linksPage(c, after, size)),
      active: (after, size) => run((c) => activePage(c, after, size)),
    }),
  };
}

/** The writer of one transaction: `c` is its write connection, `guard` throws once the transaction ended. */
export function sqliteIdentityWriter(c: SqlConnection, now: () => Date, guard: () => void): IdentityWriter {
  const run: RunOn = async (op) => {
    guard();
    return op(c);
  };
  const stamp = (): string => now().toISOString();
  return {
    ...reader(run),
    putSource: (r) => run((x) => putSource(x, stamp(), r)),
    putFederated: (r) => run((x) => putFederated(x, stamp(), r)),
    moveSources: (from, to, decision) => run((x) => moveSources(x, stamp(), from, to, decision)),
    insertReview: (r) => run((x) => insertReview(x, stamp(), r)),
    closeReview: (id, d) => run((x) => closeReview(x, stamp(), id, d)),
    assignReview: (id, assignee) => run((x) => x.prepare(ASSIGN_REVIEW_SQL).run(assignee, id).changes === 1),
    retargetOpenReviews: (from, to) => run((x) => retargetOpenReviews(x, from, to)),
    putPairDecision: (r) => run((x) => putPairDecision(x, stamp(), r)),
    // BEGIN IMMEDIATE already makes this transaction the only writer.
    lockRegistry: () => run(() => undefined),
    markProjectionPending: (ids) => run((x) => markProjectionPending(x, ids)),
    takeProjectionPending: (limit) => run((x) => takeProjectionPending(x, limit)),
  };
}
