// PPP — Plan Pharmaceutique Personnalisé: the dispositif d'appui's medication review, its problems and
// recommendations, the RCP around it and the MT/PHO decisions (OPTIMEDOC / IATROPREV).
import { z } from 'zod';
import { DmpOptions } from './dmp.js';
import { codeValues, ENTRY_DOORS, PATHWAYS, PLACES_OF_LIVING, RCP_MODES, STAY_TYPES } from './codes.js';
import { ReasonText } from './text.js';
import { MedicationLine } from './drug.js';
import { PatientIdentity } from './identity.js';
import { Organization, Practitioner, Rpps, TeamMember } from './actors.js';
import { Problem, Recommendation } from './review.js';
import { checkUniqueIds, checkRefs } from './integrity.js';

export const RcpMessage = z
  .object({
    id: z.string().trim().min(1),
    /** RPPS of the author. */
    fromRpps: Rpps,
    toRpps: z.array(Rpps).default([]),
    date: z.iso.datetime({ offset: true }),
    text: z.string().trim().min(1),
    inResponseTo: z.string().trim().min(1).optional().describe('Id of the message this one answers (threads an asynchronous RCP)'),
    category: z.enum(['rcp-message', 'avis-mt', 'avis-pho']).default('rcp-message').describe('rcp-message, or the opinion of the MT (avis-mt) or of the PHO (avis-pho)'),
  })
  .strict();
export type RcpMessage = z.infer<typeof RcpMessage>;

export const Rcp = z
  .object({
    mode: z.enum(codeValues(RCP_MODES)).describe('sync: meeting (phone/visio) with MT and PHO; async: separate exchanges with each'),
    /** Meeting date (sync) or opening of the exchanges (async). */
    date: z.iso.datetime({ offset: true }),
    /** Deadline for opinions (async). */
    deadline: z.iso.datetime({ offset: true }).optional(),
    /** How long the meeting lasted (sync), in minutes. */
    durationMinutes: z
      .number({ message: 'expected a number' })
      .int('expected a whole number of minutes')
      .min(1, 'expected 1 minute or more')
      .max(600, 'expected at most 600 minutes')
      .optional()
      .describe('Synchronous RCP: how long the meeting lasted, in minutes'),
    messages: z.array(RcpMessage).default([]),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.mode === 'async' && r.durationMinutes !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['durationMinutes'], message: 'an asynchronous RCP has no meeting: its duration is for a synchronous RCP (mode sync)' });
    }
  });
export type Rcp = z.infer<typeof Rcp>;

export const Consent = z
  .object({
    date: z.iso.datetime({ offset: true }),
    /** Whether the patient agreed to the pathway; a refusal is recorded as such. */
    given: z.boolean().default(true),
  })
  .strict();
export type Consent = z.infer<typeof Consent>;

/**
 * The facts of the inclusion that the rest of the PPP does not carry (age comes from the patient's birth date, the
 * number of medicines from the active medication lines), and a clinician's decision to include anyway.
 */
export const Inclusion = z
  .object({
    placeOfLiving: z.enum(codeValues(PLACES_OF_LIVING)).optional().describe('home (domicile) or ehpad-sans-pui (EHPAD without a pharmacy of its own)'),
    therapeuticModifications: z.number({ message: 'expected a number' }).int('expected a whole number').min(0, 'expected 0 or more').max(1000, 'expected at most 1000').optional().describe('Number of therapeutic modifications during the stay (criterion: 3 or more)'),
    drugRelatedHospitalisation: z.boolean().optional().describe('The hospitalisation was caused by a medicine (criterion)'),
    iatrogenicEventDuringStay: z.boolean().optional().describe('An iatrogenic event occurred during the stay (criterion)'),
    override: z
      .object({ reason: ReasonText().describe('Why the patient is included although the criteria are not met (at most 2,000 characters)') })
      .strict()
      .optional()
      .describe('A clinician includes the patient anyway: the criteria are advisory'),
  })
  .strict()
  .meta({ id: 'Inclusion', description: 'Inclusion facts the criteria need (docs/pathway.md) and an optional override with its reason' });
export type Inclusion = z.infer<typeof Inclusion>;

export const Ppp = z
  .object({
    /** Establishment's own id of this PPP; with its FINESS it makes the business identifier. */
    id: z.string().trim().min(1).max(64),
    pathway: z.enum(codeValues(PATHWAYS)).describe('OPTIMEDOC (Normandie) or IATROPREV (Hauts-de-France)'),
    entryDoor: z.enum(codeValues(ENTRY_DOORS)).describe('hopital: included during a stay (stayType required); ville: referred by the MT or the PHO'),
    /** Hospital entry: the kind of stay during which the patient was included. */
    stayType: z.enum(codeValues(STAY_TYPES)).optional().describe('Hospital entry only: hospitalisation, hdj (hôpital de jour) or consultation'),
    status: z.enum(['draft', 'active', 'completed', 'revoked']).default('active'),
    created: z.iso.datetime({ offset: true }),
    /** When the plan was sent to MT/PHO: anchor of the D45/D90 follow-up. */
    sentAt: z.iso.datetime({ offset: true }).optional().describe('When the plan was sent to MT and PHO: anchor of the D45/D90 follow-up'),
    establishment: Organization,
    patient: PatientIdentity,
    author: Practitioner,
    team: z.array(TeamMember).min(1).describe('The care team; must name the médecin traitant (role medecin-traitant)'),
    consent: Consent.optional(),
    inclusion: Inclusion.optional(),
    medications: z.array(MedicationLine).default([]),
    problems: z.array(Problem).default([]),
    recommendations: z.array(Recommendation).default([]),
    rcp: Rcp.optional(),
    noRcpReason: ReasonText().optional().describe('Why the PPP goes to the MT and the PHO without an RCP; such a PPP is not billable for the DAH (docs/pathway.md)'),
    note: z.string().trim().min(1).optional(),
    dmp: DmpOptions.optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.entryDoor === 'hopital' && !p.stayType) {
      ctx.addIssue({ code: 'custom', path: ['stayType'], message: 'a hospital inclusion names its stay type (hospitalisation, hdj, consultation)' });
    }
    // The age criterion is read on the creation day: a patient born after it is a typing error, not a young patient.
    const earliestBirthDay = p.patient.birthDate + '-01-01'.slice(0, 10 - p.patient.birthDate.length); // 1938 → 1938-01-01
    if (earliestBirthDay > p.created.slice(0, 10)) {
      ctx.addIssue({ code: 'custom', path: ['patient', 'birthDate'], message: `the birth date is after the PPP's creation (${p.created.slice(0, 10)})` });
    }
    if (p.rcp && p.noRcpReason !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['noRcpReason'], message: 'a PPP with an RCP has no no-RCP reason: remove one of them' });
    }
    checkUniqueIds(ctx, p.medications, ['medications']);
    checkUniqueIds(ctx, p.problems, ['problems']);
    checkUniqueIds(ctx, p.recommendations, ['recommendations']);
    const lineIds = new Set(p.medications.map((m) => m.id));
    const problemIds = new Set(p.problems.map((m) => m.id));
    p.problems.forEach((pb, i) =>
      pb.medicationLineIds.forEach((ref, j) => checkRefs(ctx, lineIds, ref, ['problems', i, 'medicationLineIds', j], 'medication line')),
    );
    p.recommendations.forEach((r, i) => {
      checkRefs(ctx, problemIds, r.problemId, ['recommendations', i, 'problemId'], 'problem');
      if (r.kind === 'medication') {
        if (r.medicationLineId) checkRefs(ctx, lineIds, r.medicationLineId, ['recommendations', i, 'medicationLineId'], 'medication line');
        else if (r.action !== 'add') {
          ctx.addIssue({ code: 'custom', path: ['recommendations', i, 'medicationLineId'], message: `a "${r.action}" recommendation names the medication line it changes` });
        }
      }
      const seen = new Set<string>();
      r.decisions.forEach((d, j) => {
        if (seen.has(d.actor)) ctx.addIssue({ code: 'custom', path: ['recommendations', i, 'decisions', j, 'actor'], message: `${d.actor} already decided on this recommendation` });
        seen.add(d.actor);
      });
    });
    const roles = new Set(p.team.map((t) => t.role));
    if (!roles.has('medecin-traitant')) ctx.addIssue({ code: 'custom', path: ['team'], message: 'the team names the médecin traitant (role medecin-traitant)' });
    if (p.rcp) checkUniqueIds(ctx, p.rcp.messages, ['rcp', 'messages']);
    const messageIds = new Set(p.rcp?.messages.map((m) => m.id) ?? []);
    p.rcp?.messages.forEach((m, i) => {
      if (m.inResponseTo) checkRefs(ctx, messageIds, m.inResponseTo, ['rcp', 'messages', i, 'inResponseTo'], 'RCP message');
    });
  });
export type Ppp = z.infer<typeof Ppp>;
export type PppInput = z.input<typeof Ppp>;
