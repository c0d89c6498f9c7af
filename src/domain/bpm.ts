// BPM — bilan partagé de médication by the community pharmacist: adhesion, interviews, medication list
// (self-medication included), analysis (SFPC problems, proposals to the MT), conclusions and advice.
import { z } from 'zod';
import { DmpOptions } from './dmp.js';
import { BPM_STEPS, codeValues } from './codes.js';
import { MedicationLine } from './drug.js';
import { PatientIdentity } from './identity.js';
import { Organization, Practitioner } from './actors.js';
import { Problem, Recommendation } from './review.js';
import { checkRefs, checkUniqueIds } from './integrity.js';

export const BpmStep = z
  .object({
    step: z.enum(codeValues(BPM_STEPS)),
    date: z.iso.datetime({ offset: true }),
    status: z.enum(['completed', 'planned', 'cancelled']).default('completed'),
    /** Done remotely (téléconsultation): informational, the gateway does not bill. */
    remote: z.boolean().default(false).describe('Step done remotely (téléconsultation)'),
    /** Billing code sent by the pharmacy software (e.g. TAC), stored as received. */
    billingCode: z.string().trim().min(1).max(10).optional().describe('Billing code from the pharmacy software (e.g. TAC, TPH), stored as received; the gateway does not bill'),
  })
  .strict();
export type BpmStep = z.infer<typeof BpmStep>;

export const Bpm = z
  .object({
    id: z.string().trim().min(1).max(64),
    pharmacy: Organization,
    pharmacist: Practitioner,
    /** The patient's médecin traitant, recipient of the conclusions. */
    gp: Practitioner,
    patient: PatientIdentity,
    /** Year of the BPM cycle (first year, then follow-up years). */
    year: z.number().int().min(2017).max(2100),
    adhesionDate: z.iso.datetime({ offset: true }),
    steps: z.array(BpmStep).min(1).describe('BPM steps with their dates; must include the adhesion step'),
    medications: z.array(MedicationLine).min(1),
    problems: z.array(Problem).default([]),
    proposals: z.array(Recommendation).default([]).describe("Proposals to the MT, with the MT's answer in decisions"),
    conclusions: z.object({ date: z.iso.datetime({ offset: true }), text: z.string().trim().min(1) }).strict().optional(),
    advice: z.array(z.object({ date: z.iso.datetime({ offset: true }), text: z.string().trim().min(1) }).strict()).default([]),
    dmp: DmpOptions.optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    checkUniqueIds(ctx, b.medications, ['medications']);
    checkUniqueIds(ctx, b.problems, ['problems']);
    checkUniqueIds(ctx, b.proposals, ['proposals']);
    const lineIds = new Set(b.medications.map((m) => m.id));
    const problemIds = new Set(b.problems.map((p) => p.id));
    b.problems.forEach((p, i) =>
      p.medicationLineIds.forEach((ref, j) => checkRefs(ctx, lineIds, ref, ['problems', i, 'medicationLineIds', j], 'medication line')),
    );
    b.proposals.forEach((p, i) => {
      checkRefs(ctx, problemIds, p.problemId, ['proposals', i, 'problemId'], 'problem');
      if (p.kind === 'medication' && p.medicationLineId) checkRefs(ctx, lineIds, p.medicationLineId, ['proposals', i, 'medicationLineId'], 'medication line');
    });
    if (!b.steps.some((s) => s.step === 'adhesion')) ctx.addIssue({ code: 'custom', path: ['steps'], message: 'a BPM starts with its adhesion step' });
  });
export type Bpm = z.infer<typeof Bpm>;
export type BpmInput = z.input<typeof Bpm>;
