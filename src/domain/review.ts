// Building blocks shared by PPP and BPM: drug-related problems (SFPC Act-IP), recommendations and decisions.
import { z } from 'zod';
import { codeValues, PPP_DECISIONS, SFPC_INTERVENTIONS, SFPC_PROBLEMS } from './codes.js';
import { Dosage, Medication } from './drug.js';

export const SfpcProblemCode = z
  .enum(codeValues(SFPC_PROBLEMS), {
    message: `unknown SFPC problem code (expected one of ${codeValues(SFPC_PROBLEMS).join(', ')})`,
  })
  .describe(`SFPC Act-IP problem (Interop'Santé fr-pharmaceutical-intervention-problem-code): ${SFPC_PROBLEMS.map((c) => `${c.code} ${c.display}`).join('; ')}`);
export const SfpcInterventionCode = z
  .enum(codeValues(SFPC_INTERVENTIONS), {
    message: `unknown SFPC intervention code (expected one of ${codeValues(SFPC_INTERVENTIONS).join(', ')})`,
  })
  .describe(`SFPC Act-IP intervention (fr-pharmaceutical-intervention-type-code): ${SFPC_INTERVENTIONS.map((c) => `${c.code} ${c.display}`).join('; ')}`);

/** A drug-related problem found during the review (one DetectedIssue each). */
export const Problem = z
  .object({
    id: z.string().trim().min(1),
    /** SFPC Act-IP problem code (Interop'Santé list). */
    code: SfpcProblemCode,
    severity: z.enum(['high', 'moderate', 'low']).optional(),
    /** Rationale in the pharmacist's words. */
    detail: z.string().trim().min(1),
    /** Ids of the medication lines implicated. */
    medicationLineIds: z.array(z.string().min(1)).default([]),
    /** SFPC intervention proposed for this problem. */
    intervention: SfpcInterventionCode,
    /** Explicit criterion behind the finding, e.g. `STOPP-v2-B8`. */
    criterion: z.string().trim().min(1).optional(),
  })
  .strict()
  .meta({ id: 'Problem', description: 'A drug-related problem found during the review, SFPC-coded, with the intervention proposed' });
export type Problem = z.infer<typeof Problem>;

export const DecisionActor = z.enum(['MT', 'PHO']);
export type DecisionActor = z.infer<typeof DecisionActor>;

/** MT or PHO answer to one recommendation ("Retenu / Non retenu"). */
export const Decision = z
  .object({
    actor: DecisionActor,
    decision: z.enum(codeValues(PPP_DECISIONS)),
    date: z.iso.datetime({ offset: true }),
    reason: z.string().trim().min(1).optional(),
  })
  .strict()
  .meta({ id: 'Decision', description: 'MT or PHO answer to one recommendation: retenu, non-retenu, retenu-modifie (at most one per actor)' });
export type Decision = z.infer<typeof Decision>;

const RecommendationBase = {
  id: z.string().trim().min(1),
  /** The problem this recommendation answers. */
  problemId: z.string().trim().min(1),
  text: z.string().trim().min(1),
  decisions: z.array(Decision).default([]),
};

/**
 * A recommendation: a drug change (add / stop / substitute / dose / route / timing: a MedicationRequest
 * proposal) or a non-drug action (monitoring, lab check, referral: a ServiceRequest proposal).
 */
export const Recommendation = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('medication'),
      ...RecommendationBase,
      action: z.enum(['add', 'stop', 'substitute', 'dose', 'route', 'timing']),
      /** Drug concerned (for `stop`, the drug to stop). */
      medication: Medication,
      dosage: Dosage.optional(),
      /** Line of the reviewed list this recommendation changes (required except for `add`). */
      medicationLineId: z.string().trim().min(1).optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal('service'),
      ...RecommendationBase,
      /** What to do, coded when possible (e.g. LOINC of a lab test), else text only. */
      code: z.object({ system: z.string().min(1), code: z.string().min(1), display: z.string().optional() }).strict().optional(),
    })
    .strict(),
]).meta({
  id: 'Recommendation',
  description: 'kind "medication": a drug change (add, stop, substitute, dose, route, timing); kind "service": a non-drug action (lab check, monitoring, referral)',
});
export type Recommendation = z.infer<typeof Recommendation>;
