// The identity registry's storage contract (SRI): source identities, federated identities, blocking keys,
// the review queue and remembered pair decisions. Every dialect implements it beside its ResourceStore; writes
// only happen inside `ResourceStore.transaction()` (`tx.identities`), so registry rows, the federated Patient
// resources and the audit rows of one registration — or of a whole import batch — commit together.
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
import type { MatchGrade } from '../identity/types.js';

/** What the review queue is filtered on (every filter given must hold); see docs/identity.md, "The review queue". */
export interface ReviewFilter {
  state?: ReviewState;
  /** Any of these grades. */
  grades?: readonly MatchGrade[];
  flag?: 'DPOT' | 'COLP';
  /**
   * A 9-digit FINESS: items where either identity has a source identity whose system holds it as an OID arc
   * (`urn:oid:1.2.250.1.999.1.<FINESS>.1`): the establishments' patient-id domains carry their FINESS.
   */
  establishment?: string;
  /** Assigned to this referent (principal id); `null`: assigned to nobody. */
  assignee?: string | null;
  /** Opened before this instant (ISO 8601): the item's age is at least… */
  createdBefore?: string;
  /** Score range, inclusive (0..1). */
  scoreMin?: number;
  scoreMax?: number;
}

/** Queue order: `age` (time since the item was opened) or `score`; `desc` for the largest first. Ties: oldest, then id. */
export interface ReviewSort {
  key: 'age' | 'score';
  desc: boolean;
}

export interface ReviewListQuery extends ReviewFilter {
  /** Default: oldest first (`-age`). */
  sort?: ReviewSort;
  limit: number;
  offset: number;
}

/** Open review items by grade and the oldest one's opening (metrics, the queue page). */
export interface ReviewStats {
  byGrade: Partial<Record<MatchGrade, number>>;
  /** `created` of the oldest item matching, when there is one. */
  oldest?: string;
}

/** A federated identity as written (the store sets `seq`, `created` and `updated`). */
export type FederatedInput = Omit<FederatedIdentityRecord, 'created' | 'updated' | 'seq'>;

/** Reads, inside or outside a transaction. */
export interface IdentityReader {
  getSource(system: string, localId: string): Promise<SourceIdentityRecord | undefined>;
  /** Source identities of a federated identity, by (system, localId). */
  sourcesOf(federatedId: string): Promise<SourceIdentityRecord[]>;
  getFederated(id: string): Promise<FederatedIdentityRecord | undefined>;
  /** The records that exist among `ids`, in the order asked. */
  getFederatedMany(ids: readonly string[]): Promise<FederatedIdentityRecord[]>;
  pairDecision(a: string, b: string): Promise<PairDecisionRecord | undefined>;
  /** Every remembered decision involving `federatedId`. */
  pairDecisionsOf(federatedId: string): Promise<PairDecisionRecord[]>;
  getReview(id: string): Promise<ReviewRecord | undefined>;
  /** Filtered and sorted (oldest first by default), one page, with the count of every item matching. */
  listReviews(query: ReviewListQuery): Promise<{ items: ReviewRecord[]; total: number }>;
  /** Items matching `filter` (its `grades` ignored) counted by grade, and the oldest one's opening. */
  reviewStats(filter: ReviewFilter): Promise<ReviewStats>;
  /** Open items where `federatedId` is either side. */
  openReviewsOf(federatedId: string): Promise<ReviewRecord[]>;
  /** Ids of the (inactive) federated identities merged into `id`. */
  mergedInto(id: string): Promise<string[]>;
  /**
   * `sourcesOf` and `mergedInto` of many federated identities in two statements (the FHIR Patients of a bulk import
   * are written by the thousand): each id asked maps to its lists, in the same order as the one-id reads.
   */
  sourcesAndMergedOf(ids: readonly string[]): Promise<Map<string, { sources: SourceIdentityRecord[]; replaces: string[] }>>;
  countSources(): Promise<number>;
  /** Federated identities whose FHIR Patients are still to be written. */
  countProjectionPending(): Promise<number>;
  /** The last change sequence number given to a federated identity (0 when none). */
  identitySeq(): Promise<number>;
  /** Federated identities (active or not) written after change `seq`, in sequence order, at most `limit`. */
  federatedChangedSince(seq: number, limit: number): Promise<FederatedIdentityRecord[]>;
}

/** Writes: only through `StoreTransaction.identities`. Timestamps come from the store's clock. */
export interface IdentityWriter extends IdentityReader {
  /** Insert or replace (keeps `created`). */
  putSource(record: Omit<SourceIdentityRecord, 'created' | 'updated'>): Promise<void>;
  /** Insert or replace (keeps `created`); returns the change sequence number it took. */
  putFederated(record: FederatedInput): Promise<number>;
  /** Moves every source identity of `from` to `to`, setting their decision; returns them as moved. */
  moveSources(from: string, to: string, decision: SourceDecision): Promise<SourceIdentityRecord[]>;
  insertReview(record: Omit<ReviewRecord, 'created' | 'state' | 'decision' | 'decidedBy' | 'decidedAt' | 'reason'>): Promise<void>;
  /** Closes an open item; false when it was not open. */
  closeReview(id: string, decision: { decision: PairDecision; decidedBy: string; reason?: string }): Promise<boolean>;
  /** Assigns an item to a referent (`null`: to nobody); false when there is no such item. */
  assignReview(id: string, assignee: string | null): Promise<boolean>;
  /** Open items naming `from` on either side now name `to` (after a merge). */
  retargetOpenReviews(from: string, to: string): Promise<void>;
  /** Insert or replace a human decision on the pair (order of a/b does not matter). */
  putPairDecision(record: Omit<PairDecisionRecord, 'decidedAt'>): Promise<void>;
  /**
   * Serialises registry writers until the transaction ends, so change numbers commit in the order they are given
   * (SQLite: already true, one writer at a time; PostgreSQL: a transaction-scoped advisory lock). Idempotent.
   */
  lockRegistry(): Promise<void>;
  /** Files federated identities whose FHIR Patients are to be written later (idempotent). */
  markProjectionPending(ids: readonly string[]): Promise<void>;
  /** Takes (removes and returns) up to `limit` pending federated ids, oldest-filed order not guaranteed. */
  takeProjectionPending(limit: number): Promise<string[]>;
}

/** What `ResourceStore.identities` offers outside transactions. */
export interface IdentityRepository extends IdentityReader {
  /** Every source identity with its link, by (system, localId); read page by page, restartable. */
  links(options?: { pageSize?: number }): AsyncIterable<LinkRow>;
  /** Every active federated identity, in id order, read page by page (loads the matcher's index). */
  activeFederated(options?: { pageSize?: number }): AsyncIterable<FederatedIdentityRecord>;
}

/** Pairs are stored with the smaller id first. */
export function orderedPair(x: string, y: string): [string, string] {
  return x < y ? [x, y] : [y, x];
}

/** The pair a decision is stored under; a federated identity is never paired with itself. */
export function decisionPair(x: string, y: string): [string, string] {
  if (x === y) throw new Error(`putPairDecision: a federated identity cannot be paired with itself (${x})`);
  return orderedPair(x, y);
}
