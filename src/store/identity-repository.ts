// The identity registry's storage contract (SRI): source identities, federated identities, blocking keys,
// the review queue and remembered pair decisions. Every dialect implements it beside its ResourceStore; writes
// only happen inside `ResourceStore.transaction()` (`tx.identities`), so registry rows, the federated Patient
// resources and the audit rows of one registration — or of a whole import batch — commit together.
import type { IdentityFlag, IdentityStatus, MatchGrade, MatchResult, SourceIdentity } from '../identity/types.js';

/** How a source identity got its federated identity. */
export type SourceDecision =
  /** linked automatically to an existing federated identity (grade `certain`) */
  | 'auto'
  /** a new federated identity, no candidate worth a review */
  | 'new'
  /** a new, separate federated identity, with at least one open review item */
  | 'review'
  /** set or confirmed by a human (merge, reject, separate): the matcher never changes it */
  | 'manual';

export interface SourceIdentityRecord {
  /** Assigning system of the sender's id, as received (URI or OID). */
  system: string;
  localId: string;
  federatedId: string;
  /** The traits as last received. */
  traits: SourceIdentity;
  status: IdentityStatus;
  decision: SourceDecision;
  /** Score (0..1) of the comparison that decided the link, when there was one. */
  score?: number;
  created: string;
  updated: string;
}

export interface FederatedIdentityRecord {
  /** Regional id; also the id of its FHIR Patient. */
  id: string;
  /** RNIV status of the reference traits. */
  status: IdentityStatus;
  flags: IdentityFlag[];
  active: boolean;
  /** After a merge: the federated identity that replaced this one. */
  replacedBy?: string;
  /** Reference traits (the best-status source's), compared with incoming identities. */
  traits: SourceIdentity;
  created: string;
  updated: string;
}

export type ReviewState = 'open' | 'decided';
export type PairDecision = 'same' | 'different';

export interface ReviewRecord {
  id: string;
  /** The source identity whose registration opened the item. */
  sourceSystem: string;
  sourceId: string;
  /** The separate federated identity created for that source. */
  newFederatedId: string;
  /** The existing federated identity it may duplicate. */
  candidateFederatedId: string;
  grade: MatchGrade;
  score: number;
  /** The matcher's comparison (vector, weight, reasons), as computed when the item was opened. */
  comparison: MatchResult;
  flag: 'DPOT' | 'COLP';
  state: ReviewState;
  decision?: PairDecision;
  decidedBy?: string;
  decidedAt?: string;
  reason?: string;
  created: string;
}

/** A human decision on a pair of federated identities, kept forever (`a` < `b`). */
export interface PairDecisionRecord {
  a: string;
  b: string;
  decision: PairDecision;
  decidedBy: string;
  decidedAt: string;
  reason?: string;
  reviewId?: string;
}

/** One line of `passerelle identity links --format csv`. */
export interface LinkRow {
  source_system: string;
  source_id: string;
  federated_id: string;
  decision: SourceDecision;
  score?: number;
}

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
