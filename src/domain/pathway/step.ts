// Where a PPP stands in the pathway (docs/pathway.md), from facts the store holds: a pure rule, no clock.
import type { FOLLOWUP_WINDOWS, PATHWAY_STEPS } from '../codes.js';

export type PathwayStep = (typeof PATHWAY_STEPS)[number]['code'];
export type FollowUpWindowCode = (typeof FOLLOWUP_WINDOWS)[number]['code'];

export interface StepFacts {
  /** First send to the MT and the PHO. */
  sentAt?: string;
  closedAt?: string;
  /** Recommendations still waiting for the MT's or the PHO's decision. */
  pendingDecisions: number;
  /** Follow-up windows whose outcome is recorded for every recommendation. */
  followUpDone: readonly FollowUpWindowCode[];
}

/**
 * RCP until the PPP is sent; then waiting for the MT and the PHO while a decision is missing; then the D45 follow-up
 * until its outcomes are recorded, then D90; closed once D90 is done or the PPP is closed.
 */
export function pathwayStep(f: StepFacts): PathwayStep {
  if (f.closedAt) return 'clos';
  if (!f.sentAt) return 'rcp';
  if (f.pendingDecisions > 0) return 'attente-decisions';
  if (!f.followUpDone.includes('d45')) return 'suivi-j45';
  if (!f.followUpDone.includes('d90')) return 'suivi-j90';
  return 'clos';
}
