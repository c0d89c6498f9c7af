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
export interface CandidateLookup {
  /** Distinct federated ids found under the keys, in key order. */
  federatedIds: string[];
  /** Keys whose block held more than the cap (only the first `perKeyCap` ids of each were taken). */
  truncatedKeys: string[];
}

export interface ReviewListQuery {
  state?: ReviewState;
  limit: number;
  offset: number;
}

/** Reads, inside or outside a transaction. */
export interface IdentityReader {
  getSource(system: string, localId: string): Promise<SourceIdentityRecord | undefined>;
  /** Source identities of a federated identity, by (system, localId). */
  sourcesOf(federatedId: string): Promise<SourceIdentityRecord[]>;
  getFederated(id: string): Promise<FederatedIdentityRecord | undefined>;
  /** The records that exist among `ids`, in the order asked. */
  getFederatedMany(ids: readonly string[]): Promise<FederatedIdentityRecord[]>;
  /** Active federated identities filed under any of `keys`, at most `perKeyCap` per key (hot blocks). */
  candidates(keys: readonly string[], options: { perKeyCap: number }): Promise<CandidateLookup>;
  pairDecision(a: string, b: string): Promise<PairDecisionRecord | undefined>;
  /** Every remembered decision involving `federatedId`. */
  pairDecisionsOf(federatedId: string): Promise<PairDecisionRecord[]>;
  getReview(id: string): Promise<ReviewRecord | undefined>;
  /** Oldest first. */
  listReviews(query: ReviewListQuery): Promise<{ items: ReviewRecord[]; total: number }>;
  /** Open items where `federatedId` is either side. */
  openReviewsOf(federatedId: string): Promise<ReviewRecord[]>;
  /** Ids of the (inactive) federated identities merged into `id`. */
  mergedInto(id: string): Promise<string[]>;
  countSources(): Promise<number>;
}

/** Writes: only through `StoreTransaction.identities`. Timestamps come from the store's clock. */
export interface IdentityWriter extends IdentityReader {
  /** Insert or replace (keeps `created`). */
  putSource(record: Omit<SourceIdentityRecord, 'created' | 'updated'>): Promise<void>;
  /** Insert or replace (keeps `created`). */
  putFederated(record: Omit<FederatedIdentityRecord, 'created' | 'updated'>): Promise<void>;
  /** The blocking keys of a federated identity become exactly `keys` (none: it is no longer a candidate). */
  replaceBlockingKeys(federatedId: string, keys: readonly string[]): Promise<void>;
  /** Files the federated identity under `keys` too (existing keys are kept). */
  addBlockingKeys(federatedId: string, keys: readonly string[]): Promise<void>;
  /** Moves every source identity of `from` to `to`, setting their decision; returns them as moved. */
  moveSources(from: string, to: string, decision: SourceDecision): Promise<SourceIdentityRecord[]>;
  insertReview(record: Omit<ReviewRecord, 'created' | 'state' | 'decision' | 'decidedBy' | 'decidedAt' | 'reason'>): Promise<void>;
  /** Closes an open item; false when it was not open. */
  closeReview(id: string, decision: { decision: PairDecision; decidedBy: string; reason?: string }): Promise<boolean>;
  /** Open items naming `from` on either side now name `to` (after a merge). */
  retargetOpenReviews(from: string, to: string): Promise<void>;
  /** Insert or replace a human decision on the pair (order of a/b does not matter). */
  putPairDecision(record: Omit<PairDecisionRecord, 'decidedAt'>): Promise<void>;
}

/** What `ResourceStore.identities` offers outside transactions. */
export interface IdentityRepository extends IdentityReader {
  /** Every source identity with its link, by (system, localId); read page by page, restartable. */
  links(options?: { pageSize?: number }): AsyncIterable<LinkRow>;
}

/** Pairs are stored with the smaller id first. */
export function orderedPair(x: string, y: string): [string, string] {
  return x < y ? [x, y] : [y, x];
}
