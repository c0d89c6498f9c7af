// What a registration returns and what it audits, whichever path wrote it (one registration per call,
// identity-registry.ts; bulk import batches, identity-bulk.ts).
import { sourcePatientId } from '../fhir/federated-patient.js';
import type { SourceDecision } from '../identity/records.js';
import type { MatchGrade, MatchResult } from '../identity/types.js';

export interface IdentityContext {
  /** Authenticated client id (audit actor). */
  actor: string;
  requestId?: string;
}

export type RegistrationDecision = 'auto-linked' | 'review' | 'new' | 'known';

export interface RegistrationResult {
  federatedId: string;
  decision: RegistrationDecision;
  /**
   * The source's link after this call: `auto` / `new` / `manual` are settled; `review` means an item opened for
   * this source is still open (the identity is not certain: documents for it wait).
   */
  link: SourceDecision;
  /** Grade and score of the deciding comparison (the link, or the best reviewed candidate). */
  grade?: MatchGrade;
  score?: number;
  /** The first review item opened (best candidate), when any. */
  reviewId?: string;
  /** Every review item opened by this registration. */
  reviewIds?: string[];
}

/** A new source linked to the one certain match. */
export const autoLinkedResult = (federatedId: string, best: MatchResult): RegistrationResult => ({
  federatedId,
  decision: 'auto-linked',
  link: 'auto',
  grade: best.grade,
  score: best.score,
});

/** A new source with its own new federated identity: `review` when items were opened (best candidate first). */
export const separateIdentityResult = (federatedId: string, reviewed: readonly MatchResult[], reviewIds: string[]): RegistrationResult =>
  reviewed.length > 0
    ? { federatedId, decision: 'review', link: 'review', grade: reviewed[0].grade, score: reviewed[0].score, reviewId: reviewIds[0], reviewIds }
    : { federatedId, decision: 'new', link: 'new' };

/** The audit entry of a registration: ids and grades only, never names, INS or birth dates. */
export function registrationAudit(ctx: IdentityContext, system: string, localId: string, result: RegistrationResult, note?: string) {
  return {
    action: 'identity.register',
    actor: ctx.actor,
    entities: [`Patient/${result.federatedId}`, `Patient/${sourcePatientId(system, localId)}`],
    outcome: 'success' as const,
    detail: JSON.stringify({ ...result, ...(note ? { note } : {}) }),
    ...(ctx.requestId ? { requestId: ctx.requestId } : {}),
  };
}
