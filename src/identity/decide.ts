// The RNIV decision policy (identity.md §2.4, issue 3 item 5): `certain` only from an INS shared by two qualified
// identities or from five equal strict traits with a QUAL / VALI side; everything fuzzy goes to human review.
import { jaroWinkler } from './phonetic.js';
import type { ComparedField, DistinctRule, IdentityRules } from './rules.js';
import type { Candidate, FieldComparison, IdentityStatus, MatchGrade, MatchResult, MatchTraits } from './types.js';

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

/**
 * What `decide` would grade `certainly-not`, without building its reasons: different INS under one authority, or —
 * without the same INS — a strict trait not equal and a weight below `possible` or a `policy.distinct` rule holding.
 * Lets the matcher skip explaining the many candidates it drops.
 */
export function isCertainlyNot(query: MatchTraits, candidate: MatchTraits, comparisons: readonly FieldComparison[], weight: number, rules: IdentityRules): boolean {
  let ins: string | undefined;
  let allStrictEqual = true;
  for (const c of comparisons) {
    if (c.field === 'ins') ins = c.level;
    else if (c.field !== 'usedName' && !STRICT_EQUAL[c.field].has(c.level)) allStrictEqual = false;
  }
  if (ins === 'different') return true;
  if (ins === 'same' || allStrictEqual) return false;
  if (weight < rules.thresholds.possible) return true;
  if (rules.policy.distinct.length === 0) return false;
  const defaultDate = query.birthDate.defaultDate || candidate.birthDate.defaultDate;
  if (distinctRule((f) => comparisons.find((c) => c.field === f)?.level ?? 'missing', defaultDate, rules) === undefined) return false;
  return !usedNameResembles(query.usedNameKey, query.birthNameKey, candidate.usedNameKey, candidate.birthNameKey, rules);
}

/**
 * The first rule of `policy.distinct` whose every field is at one of its levels (`levelOf` gives a field's level), or
 * undefined; `defaultDate`: either birth date is a default date (01-01 / 12-31). Callers apply it only where the weight alone would open a review item: never to the same INS, never to
 * five equal strict traits.
 */
export function distinctRule(levelOf: (field: ComparedField) => string, defaultDate: boolean, rules: IdentityRules): DistinctRule | undefined {
  for (const rule of rules.policy.distinct) {
    if (defaultDate && rule.unlessDefaultDate) continue;
    let holds = true;
    for (const f in rule.levels) {
      const allowed = rule.levels[f as ComparedField] as readonly string[];
      if (!allowed.includes(levelOf(f as ComparedField))) {
        holds = false;
        break;
      }
    }
    if (holds) return rule;
  }
  return undefined;
}

/**
 * A used name on one side resembling the other's birth name (Jaro-Winkler ≥ the birth-name threshold: a married name
 * sent as birth name, with a typo): the names are not "different" to a referent, so no distinct rule holds.
 */
export function usedNameResembles(qUsed: string | undefined, qBirth: string, cUsed: string | undefined, cBirth: string, rules: IdentityRules): boolean {
  const t = rules.jaroWinkler.birthName;
  return (qUsed !== undefined && cBirth !== '' && jaroWinkler(qUsed, cBirth) >= t) || (cUsed !== undefined && qBirth !== '' && jaroWinkler(cUsed, qBirth) >= t);
}

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
    const lists = givenListsConflict(query, c);
    if (lists) {
      return { grade: 'probable', flag: 'DPOT', reasons: [equal, `the lists of birth given names differ (${lists}): possibly twins, review`] };
    }
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

  const reasons = [`not certain: ${describe(notEqual)}`];
  // Same INS: a possible collision or a missing trait, always for a human.
  if (ins !== 'same' && weight >= rules.thresholds.possible) {
    const rule = distinctRule((f) => level.get(f) ?? 'missing', query.birthDate.defaultDate || c.birthDate.defaultDate, rules);
    if (rule && !usedNameResembles(query.usedNameKey, query.birthNameKey, c.usedNameKey, c.birthNameKey, rules)) {
      return { grade: 'certainly-not', reasons: [...reasons, `distinct rule ${rule.name}: a referent always answers "different persons" (a new identity, never a link)`] };
    }
  }
  return byWeight(reasons, 'DPOT', false);
}

/**
 * When both identities list two or more birth given names, a name of one list found nowhere in the other (compared
 * collapsed, so JEAN-PIERRE and JEAN PIERRE agree, and in any order) says two persons — typically twins with the
 * same first given name. Returns which side's name is missing, or undefined when the lists agree or one is unknown.
 */
export function givenListsConflict(q: MatchTraits, c: MatchTraits): string | undefined {
  const a = q.birthGivenKeys ?? [];
  const b = c.birthGivenKeys ?? [];
  if (a.length < 2 || b.length < 2) return undefined;
  const joinedA = a.join('');
  const joinedB = b.join('');
  if (a.some((k) => k.length >= 2 && !joinedB.includes(k))) return 'a name of the query is not in the candidate list';
  if (b.some((k) => k.length >= 2 && !joinedA.includes(k))) return 'a name of the candidate is not in the query list';
  return undefined;
}

const levelOf = (r: MatchResult, field: FieldComparison['field']): string | undefined => r.comparisons.find((c) => c.field === field)?.level;

/**
 * Policy across candidates: a certain match made on the strict traits without the same INS on both sides is only
 * probable when another candidate of the same query shares its birth name, full birth date, sex and birthplace —
 * twins, or homonyms born the same day in the same place: a copy whose first given name lost half of a compound (MARIE for
 * MARIE-NOËLLE) would otherwise be linked to the sibling. A human decides. Returns the results, graded again.
 */
export function guardTwins(results: readonly MatchResult[]): MatchResult[] {
  // The same INS on both sides tells twins apart (each has a NIR): such a certain match stands.
  const certain = results.filter((r) => r.grade === 'certain' && levelOf(r, 'ins') !== 'same');
  if (certain.length === 0) return [...results];
  const sibling = results.find(
    (r) =>
      !certain.includes(r) &&
      r.grade !== 'certainly-not' &&
      ['exact', 'collapsed'].includes(levelOf(r, 'birthName') ?? '') &&
      ['exact', 'exact-default'].includes(levelOf(r, 'birthDate') ?? '') &&
      levelOf(r, 'sex') === 'same' &&
      ['exact', 'same-country', 'missing'].includes(levelOf(r, 'birthPlace') ?? 'missing'),
  );
  if (!sibling) return [...results];
  const reason = `another candidate (${sibling.federatedId}) shares the birth name, birth date, sex and birthplace: possible twin or homonym, review`;
  return results.map((r) => (certain.includes(r) ? { ...r, grade: 'probable', flag: r.flag ?? 'DPOT', reasons: [...r.reasons, reason] } : r));
}
