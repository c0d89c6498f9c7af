// Inclusion in the pathway (issue 18, IATROPREV V2): 65 years or more, and 10 medicines or more, or 3 therapeutic
// modifications or more, or a drug-related hospitalisation, or an iatrogenic event during the stay. Advisory: a
// clinician may include anyway, with a reason. Pure: everything comes from the PPP.
import { INCLUSION_CRITERIA } from '../codes.js';
import type { MedicationLine } from '../drug.js';
import type { Ppp } from '../ppp.js';

export type InclusionCriterionCode = (typeof INCLUSION_CRITERIA)[number]['code'];

export const MIN_AGE = 65;
export const MIN_MEDICINES = 10;
export const MIN_MODIFICATIONS = 3;

export interface CriterionResult {
  code: InclusionCriterionCode;
  met: boolean;
  /** The figure the criterion was judged on (age in years, count), when it is a figure and it is known. */
  value?: number;
  /** Why, in French, for the people reading the plan. */
  reason: string;
}

export interface InclusionResult {
  /** The criteria are met. */
  eligible: boolean;
  criteria: CriterionResult[];
  override?: { reason: string };
  /** Eligible, or included anyway by a clinician (with a reason). */
  included: boolean;
}

/** The lines that count as medicines the patient takes: active lines, self-medication included. */
export const countsAsMedicine = (line: MedicationLine): boolean => line.status === 'active';

/**
 * Completed years between a birth date (YYYY, YYYY-MM or YYYY-MM-DD) and a calendar day (YYYY-MM-DD). A partial
 * birth date counts from its latest possible day (31 December, the month's last day): the age is never overstated.
 */
export function ageOn(birthDate: string, day: string): number {
  const [by, bm, bd] = birthDate.split('-').map(Number) as [number, number?, number?];
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  const month = bm ?? 12;
  const dayOfMonth = bd ?? new Date(Date.UTC(by, month, 0)).getUTCDate();
  const hadBirthday = m > month || (m === month && d >= dayOfMonth);
  return y - by - (hadBirthday ? 0 : 1);
}

const flag = (code: InclusionCriterionCode, fact: boolean | undefined, yes: string, no: string): CriterionResult => ({
  code,
  met: fact === true,
  reason: fact === undefined ? `${no} : non renseigné` : fact ? yes : no,
});

export function evaluateInclusion(ppp: Ppp): InclusionResult {
  // The day the PPP was created, as the sender wrote it (its own time zone): ages change on that calendar day.
  const day = ppp.created.slice(0, 10);
  const age = ageOn(ppp.patient.birthDate, day);
  const partial = ppp.patient.birthDate.length < 10 ? ' (date de naissance incomplète : âge minimal)' : '';
  const medicines = ppp.medications.filter(countsAsMedicine).length;
  const facts = ppp.inclusion ?? {};
  const modifications = facts.therapeuticModifications;

  const ageCriterion: CriterionResult = {
    code: 'age-65',
    met: age >= MIN_AGE,
    value: age,
    reason: `${age} ans le ${day}${partial} : ${age >= MIN_AGE ? 'au moins' : 'moins de'} ${MIN_AGE} ans`,
  };
  const others: CriterionResult[] = [
    {
      code: 'medicines-10',
      met: medicines >= MIN_MEDICINES,
      value: medicines,
      reason: `${medicines} médicament${medicines > 1 ? 's' : ''} en cours (lignes actives) : ${medicines >= MIN_MEDICINES ? 'au moins' : 'moins de'} ${MIN_MEDICINES}`,
    },
    modifications === undefined
      ? { code: 'modifications-3', met: false, reason: 'Nombre de modifications thérapeutiques pendant le séjour : non renseigné' }
      : {
          code: 'modifications-3',
          met: modifications >= MIN_MODIFICATIONS,
          value: modifications,
          reason: `${modifications} modification${modifications > 1 ? 's' : ''} thérapeutique${modifications > 1 ? 's' : ''} pendant le séjour : ${modifications >= MIN_MODIFICATIONS ? 'au moins' : 'moins de'} ${MIN_MODIFICATIONS}`,
        },
    flag('drug-related-hospitalisation', facts.drugRelatedHospitalisation, 'Hospitalisation liée à un médicament', 'Pas d’hospitalisation liée à un médicament'),
    flag('iatrogenic-event', facts.iatrogenicEventDuringStay, 'Événement iatrogène pendant le séjour', 'Pas d’événement iatrogène pendant le séjour'),
  ];
  const eligible = ageCriterion.met && others.some((c) => c.met);
  const override = facts.override ? { reason: facts.override.reason } : undefined;
  return {
    eligible,
    criteria: [ageCriterion, ...others],
    ...(override ? { override } : {}),
    included: eligible || override !== undefined,
  };
}

