// CTM — conciliation des traitements médicamenteux (HAS): the BMO built from several sources and validated
// by a pharmacist, and the FCT comparing it with the current prescription, each divergence qualified.
import { z } from 'zod';
import { DmpOptions } from './dmp.js';
import {
  BMO_SOURCE_TYPES,
  codeValues,
  CTM_DIVERGENCES,
  FCT_ERROR_TYPES,
  FCT_LINE_STATUSES,
  FCT_RESOLUTIONS,
  FCT_SEVERITIES,
} from './codes.js';
import { Medication, MedicationLine, Dosage } from './drug.js';
import { PatientIdentity } from './identity.js';
import { Organization, Practitioner, Rpps } from './actors.js';
import { checkRefs, checkUniqueIds } from './integrity.js';

export const BmoSourceType = z.enum(codeValues(BMO_SOURCE_TYPES), {
  message: 'unknown BMO source type (expected a code 10000001…10000018 of fr-medication-history-source-type)',
});

export const BmoLine = MedicationLine.extend({
  /** Sources that agree on this line. */
  sources: z.array(BmoSourceType).min(1, 'a BMO line names at least one source'),
}).strict();
export type BmoLine = z.infer<typeof BmoLine>;

export const BmoValidation = z
  .object({
    /** The validating pharmacist. */
    pharmacist: z.object({ rpps: Rpps, family: z.string().min(1), given: z.string().min(1).optional() }).strict(),
    date: z.iso.datetime({ offset: true }),
  })
  .strict();
export type BmoValidation = z.infer<typeof BmoValidation>;

export const Bmo = z
  .object({
    author: Practitioner,
    date: z.iso.datetime({ offset: true }),
    /** All sources consulted (the agreeing sources are per line). */
    sourcesConsulted: z.array(BmoSourceType).min(1),
    lines: z.array(BmoLine).min(1),
    /** Present once a pharmacist has validated the BMO; only then may it feed a PPP. */
    validation: BmoValidation.optional().describe('Pharmacist validation of the BMO; absent while the BMO is not validated (it cannot feed a PPP yet)'),
  })
  .strict();
export type Bmo = z.infer<typeof Bmo>;

export const FctLine = z
  .object({
    id: z.string().trim().min(1),
    /** BMO line compared (absent when the drug was initiated in hospital). */
    bmoLineId: z.string().trim().min(1).optional(),
    /** Drug in the current prescription (absent when stopped/omitted). */
    current: z.object({ medication: Medication, dosage: Dosage.optional() }).strict().optional(),
    status: z.enum(codeValues(FCT_LINE_STATUSES)).describe(`fr-medication-reconciliation-status: ${FCT_LINE_STATUSES.map((c) => `${c.code} ${c.display}`).join('; ')}`),
    divergence: z.enum(codeValues(CTM_DIVERGENCES)).describe(`${CTM_DIVERGENCES.map((c) => `${c.code} ${c.display}`).join('; ')}`),
    errorType: z.enum(codeValues(FCT_ERROR_TYPES)).optional().describe(`Required when divergence is DNI. ${FCT_ERROR_TYPES.map((c) => `${c.code} ${c.display}`).join('; ')}`),
    severity: z.enum(codeValues(FCT_SEVERITIES)).optional().describe(`${FCT_SEVERITIES.map((c) => `${c.code} ${c.display}`).join('; ')}`),
    resolution: z.enum(codeValues(FCT_RESOLUTIONS)).optional().describe(`${FCT_RESOLUTIONS.map((c) => `${c.code} ${c.display}`).join('; ')}`),
    comment: z.string().trim().min(1).optional(),
  })
  .strict()
  .superRefine((l, ctx) => {
    if (!l.bmoLineId && !l.current) ctx.addIssue({ code: 'custom', path: ['current'], message: 'an FCT line names a BMO line, a current drug, or both' });
    if (l.divergence === 'DNI' && !l.errorType) ctx.addIssue({ code: 'custom', path: ['errorType'], message: 'an unintentional divergence (DNI) is qualified by its error type' });
  });
export type FctLine = z.infer<typeof FctLine>;

export const Fct = z
  .object({
    author: Practitioner,
    date: z.iso.datetime({ offset: true }),
    status: z.enum(['preliminary', 'final']).default('preliminary'),
    lines: z.array(FctLine).min(1),
  })
  .strict();
export type Fct = z.infer<typeof Fct>;

export const Ctm = z
  .object({
    id: z.string().trim().min(1).max(64),
    establishment: Organization,
    patient: PatientIdentity,
    moment: z.enum(['admission', 'transfert', 'sortie']).describe('Moment of the reconciliation: admission, transfer or discharge'),
    mode: z.enum(['proactive', 'retroactive']).describe('proactive: BMO built before the prescription; retroactive: after it'),
    bmo: Bmo,
    fct: Fct.optional(),
    dmp: DmpOptions.optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    checkUniqueIds(ctx, c.bmo.lines, ['bmo', 'lines']);
    if (c.fct) {
      checkUniqueIds(ctx, c.fct.lines, ['fct', 'lines']);
      const bmoIds = new Set(c.bmo.lines.map((l) => l.id));
      c.fct.lines.forEach((l, i) => {
        if (l.bmoLineId) checkRefs(ctx, bmoIds, l.bmoLineId, ['fct', 'lines', i, 'bmoLineId'], 'BMO line');
      });
    }
  });
export type Ctm = z.infer<typeof Ctm>;
export type CtmInput = z.input<typeof Ctm>;
