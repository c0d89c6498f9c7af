// Records of the identity registry (SRI): source identities, federated identities, review items, remembered
// pair decisions. Plain data shared by the registry service, its FHIR view and every storage dialect.
import type { IdentityFlag, IdentityStatus, MatchGrade, MatchResult, SourceIdentity } from './types.js';

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
  /**
   * Blocking keys it is filed under: those of its reference traits and of every source linked to it (an inactive
   * identity is filed under none). The matcher's in-memory index is loaded from them.
   */
  blockingKeys: string[];
  /** Change sequence number of its last write (registry-wide, increasing; set by the store). */
  seq: number;
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
  /** The referent the item is assigned to (a principal id), when the regional cell assigned it. */
  assignee?: string;
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
