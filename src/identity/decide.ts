// The RNIV decision policy (identity.md §2.4, issue 3 item 5): `certain` only from an INS shared by two qualified
// identities or from five equal strict traits with a QUAL / VALI side; everything fuzzy goes to human review.
import type { IdentityRules } from './rules.js';
import type { Candidate, FieldComparison, IdentityStatus, MatchGrade, MatchTraits } from './types.js';

export interface Decision {
  grade: MatchGrade;
  /** Review flag for probable / possible: COLP when the same INS comes with a differing strict trait, else DPOT. */
  flag?: 'DPOT' | 'COLP';
  reasons: string[];
}

type StrictField = 'birthName' | 'givenName' | 'birthDate' | 'sex' | 'birthPlace';

/** Levels at which a strict trait counts as equal after normalisation. Nothing fuzzy, partial or used-name. */
const STRICT_EQUAL: Readonly<Record<StrictField, ReadonlySet<string>>> = {
  birthName: new Set(['exact']),
  givenName: new Set(['exact']),
  birthDate: new Set(['exact', 'exact-default']),
  sex: new Set(['same']),
  // The same 99xxx code is the same COG code, only a weaker one: the policy compares codes.
  birthPlace: new Set(['exact', 'same-country']),
};
const STRICT_FIELDS = Object.keys(STRICT_EQUAL) as StrictField[];

const TRUSTED: ReadonlySet<IdentityStatus> = new Set(['QUAL', 'VALI']);

const fmt = (w: number): string => String(Math.round(w * 10) / 10);

export function decide(
  query: MatchTraits,
  candidate: Candidate,
  comparisons: readonly FieldComparison[],
  weight: number,
  rules: IdentityRules,
): Decision {
  const level = new Map<string, string>(comparisons.map((c) => [c.field, c.level]));
  const notEqual = STRICT_FIELDS.filter((f) => !STRICT_EQUAL[f].has(level.get(f) ?? 'missing'));
  // A trait present on both sides and not equal; a trait missing on a side is unknown, not different.
  const differing = notEqual.filter((f) => level.get(f) !== 'missing');
  const describe = (fields: readonly StrictField[]): string => fields.map((f) => `${f} ${level.get(f) ?? 'missing'}`).join(', ');
  const c = candidate.identity;
  const statuses = `query ${query.status}, candidate ${c.status}`;

  /** Fuzzy grades by the thresholds; `keepForReview` never lets the pair fall to certainly-not (same INS). */
  const byWeight = (reasons: string[], flag: 'DPOT' | 'COLP', keepForReview: boolean): Decision => {
    const { probable, possible } = rules.thresholds;
    const w = fmt(weight);
    if (weight >= probable) return { grade: 'probable', flag, reasons: [...reasons, `weight ${w} ≥ probable threshold ${probable}`] };
    if (weight >= possible) return { grade: 'possible', flag, reasons: [...reasons, `weight ${w} ≥ possible threshold ${possible}`] };
    if (keepForReview) return { grade: 'possible', flag, reasons: [...reasons, `weight ${w} below possible threshold ${possible}, kept for review`] };
    return { grade: 'certainly-not', reasons: [...reasons, `weight ${w} below possible threshold ${possible}`] };
  };

  const ins = level.get('ins');
  if (ins === 'different') {
    return { grade: 'certainly-not', reasons: ['different INS matricules under the same authority: different persons'] };
  }

  if (ins === 'same') {
    if (differing.length > 0) {
      return byWeight([`same INS but strict traits differ (${describe(differing)}): potential collision (COLP)`], 'COLP', true);
    }
    if (query.status === 'QUAL' && c.status === 'QUAL') {
      return { grade: 'certain', reasons: ['same INS matricule and authority, both identities qualified (QUAL)'] };
    }
  }

  if (notEqual.length === 0) {
    const equal = `the five strict traits are equal after normalisation (${statuses})`;
    const blocking = candidate.flags.filter((f) => rules.policy.flagsBlockingCertain.includes(f));
    if (blocking.length > 0) {
      return { grade: 'probable', flag: 'DPOT', reasons: [equal, `candidate flagged ${blocking.join(', ')}: never auto-linked`] };
    }
    if (!TRUSTED.has(query.status) && !TRUSTED.has(c.status)) {
      return { grade: 'probable', flag: 'DPOT', reasons: [equal, 'neither identity is VALI or QUAL: review'] };
    }
    const defaultAbroad = (query.birthDate.defaultDate || c.birthDate.defaultDate) && level.get('birthPlace') === 'same-country';
    if (defaultAbroad && !rules.policy.certainOnDefaultDateAbroad) {
      return {
        grade: 'probable',
        flag: 'DPOT',
        reasons: [equal, 'a default birth date (01-01 / 12-31) with a birthplace abroad (country only) is shared by too many people to auto-link'],
      };
    }
    const via = ins === 'same' ? 'same INS, ' : '';
    return { grade: 'certain', reasons: [`${equal}: ${via}at least one side VALI or QUAL, no INS conflict`] };
  }

  return byWeight([`not certain: ${describe(notEqual)}`], 'DPOT', false);
}
