// Follow-up at D45/D90 (issue 18 point 6): the structured prescription lines a PHO may give, and the outcome proposed
// for each recommendation from them (docs/pathway.md "Follow-up at D45 and D90"). Pure rules: no clock, no I/O.
import type { FOLLOWUP_OUTCOMES } from '../codes.js';
import type { Medication, MedicationLine } from '../drug.js';
import type { Recommendation } from '../review.js';

export type ProposedOutcome = (typeof FOLLOWUP_OUTCOMES)[number]['code'];

/** One line of the current prescription as the PHO typed it. */
export interface PrescriptionLine {
  /** The drug as written on the prescription (`DITROPAN 5 mg`). */
  label: string;
  /** CIS (8 digits) or CIP13 (13 digits, 3400…), when known. */
  code?: string;
  /** Dosage as written (`1 comprimé matin et soir`). */
  dosage?: string;
}

/** Bounds of the structured form (the page refuses more). */
export const MAX_PRESCRIPTION_LINES = 30;
export const MAX_LABEL = 200;
export const MAX_DOSAGE = 300;

export type PrescriptionCodeKind = 'CIS' | 'CIP13';

/** The kind of a code typed by the PHO, or undefined when it is neither a CIS nor a CIP13. */
export function prescriptionCodeKind(code: string): PrescriptionCodeKind | undefined {
  if (/^\d{8}$/.test(code)) return 'CIS';
  if (/^3400\d{9}$/.test(code)) return 'CIP13';
  return undefined;
}

/**
 * A label reduced for comparison: accents removed, upper case, punctuation as spaces (a decimal comma is a point),
 * numbers glued to their unit (`5 mg` → `5MG`, `75 µg` → `75UG`), spaces collapsed.
 */
export function normaliseLabel(text: string): string {
  return text
    .replace(/[\u00B5\u03BC]/g, 'u')
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toUpperCase()
    .replace(/(\d)[,.](?=\d)/g, '$1\u0001')
    .replace(/[^A-Z0-9\u0001]+/g, ' ')
    .replace(/\u0001/g, '.')
    .replace(/(\d)\s+(?=[A-Z])/g, '$1')
    .replace(/\s+/g, ' ')
    .trim();
}

// Words that open a substance name without naming it: the name is then the first two words.
const PREFIXES = new Set(['ACIDE', 'CHLORHYDRATE', 'SULFATE', 'SODIUM', 'POTASSIUM', 'CALCIUM', 'MAGNESIUM', 'FER', 'VITAMINE', 'VIT']);

/** The drug's name in a label: its first word of three letters or more (two when the first is a salt or an acid). */
export function drugName(label: string): string | undefined {
  const words = normaliseLabel(label)
    .split(' ')
    .filter((w) => /^[A-Z]/.test(w));
  const first = words.find((w) => w.length >= 3);
  if (!first) return undefined;
  if (PREFIXES.has(first)) {
    const next = words[words.indexOf(first) + 1];
    return next ? `${first} ${next}` : first;
  }
  return first;
}

/** The drug codes of a medication that a typed code can be compared with. */
function comparableCodes(m: Medication): { kind: PrescriptionCodeKind; code: string }[] {
  return m.codes.filter((c) => c.kind === 'CIS' || c.kind === 'CIP13').map((c) => ({ kind: c.kind as PrescriptionCodeKind, code: c.code }));
}

/**
 * Whether a prescription line is the drug `m`: by code when both carry one of the same system (CIS with CIS, CIP13 with
 * CIP13: equal or not, the label is then not looked at), else by the drug's name in the normalised labels.
 */
export function sameDrug(m: Medication, line: PrescriptionLine): boolean {
  const kind = line.code ? prescriptionCodeKind(line.code) : undefined;
  if (kind && line.code) {
    const codes = comparableCodes(m).filter((c) => c.kind === kind);
    if (codes.length > 0) return codes.some((c) => c.code === line.code);
  }
  const a = drugName(m.text);
  const b = drugName(line.label);
  return a !== undefined && a === b;
}

/** Dosage texts compared once normalised; undefined when either is missing. */
function sameDosage(a: string | undefined, b: string | undefined): boolean | undefined {
  if (!a || !b) return undefined;
  return normaliseLabel(a) === normaliseLabel(b);
}

export interface ProposalInput {
  recommendation: Recommendation;
  /** The line of the reviewed list the recommendation changes (its `medicationLineId`), if any. */
  reviewedLine?: MedicationLine;
  /** The current prescription. */
  lines: readonly PrescriptionLine[];
}

/**
 * The outcome proposed for one recommendation from the current prescription (docs/pathway.md):
 * - `stop`: the drug absent → implemented; present → not implemented;
 * - `add`: present → implemented; absent → not implemented;
 * - `substitute`: the new drug present and the replaced one absent → implemented; the new one absent and the replaced
 *   one present → not implemented; anything else → unknown;
 * - `dose`, `route`, `timing`: the drug present with the recommended dosage text → implemented; present with the
 *   dosage of the reviewed line unchanged → not implemented; otherwise (absent, dosage missing or different) → unknown;
 * - a non-drug recommendation (lab check, referral): a prescription does not tell → unknown.
 */
export function proposeOutcome(input: ProposalInput): ProposedOutcome {
  const r = input.recommendation;
  if (r.kind !== 'medication') return 'inconnue';
  const matching = input.lines.filter((l) => sameDrug(r.medication, l));
  const present = matching.length > 0;
  switch (r.action) {
    case 'stop':
      return present ? 'non-implementee' : 'implementee';
    case 'add':
      return present ? 'implementee' : 'non-implementee';
    case 'substitute': {
      const old = input.reviewedLine?.medication;
      // Substituting a drug by itself (another form of the same name) cannot be told apart: unknown.
      if (!old || sameDrugs(old, r.medication)) return 'inconnue';
      const oldPresent = input.lines.some((l) => sameDrug(old, l));
      if (present && !oldPresent) return 'implementee';
      if (!present && oldPresent) return 'non-implementee';
      return 'inconnue';
    }
    default: {
      if (!present) return 'inconnue';
      if (matching.some((l) => sameDosage(r.dosage?.text, l.dosage) === true)) return 'implementee';
      const before = input.reviewedLine?.dosage?.text;
      if (matching.every((l) => sameDosage(before, l.dosage) === true)) return 'non-implementee';
      return 'inconnue';
    }
  }
}

function sameDrugs(a: Medication, b: Medication): boolean {
  for (const c of comparableCodes(b)) if (comparableCodes(a).some((d) => d.kind === c.kind)) return comparableCodes(a).some((d) => d.kind === c.kind && d.code === c.code);
  const x = drugName(a.text);
  return x !== undefined && x === drugName(b.text);
}

/** The proposals for every recommendation of a PPP, by recommendation id, from the structured prescription. */
export function proposeOutcomes(
  recommendations: readonly Recommendation[],
  reviewed: readonly MedicationLine[],
  lines: readonly PrescriptionLine[],
): Map<string, ProposedOutcome> {
  const byId = new Map(reviewed.map((l) => [l.id, l]));
  const out = new Map<string, ProposedOutcome>();
  for (const r of recommendations) {
    const reviewedLine = r.kind === 'medication' && r.medicationLineId ? byId.get(r.medicationLineId) : undefined;
    out.set(r.id, proposeOutcome({ recommendation: r, ...(reviewedLine ? { reviewedLine } : {}), lines }));
  }
  return out;
}
