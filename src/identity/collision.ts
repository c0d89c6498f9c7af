// A qualified identity must not change silently (issue 13): when a known source of a QUAL identity sends a strict
// trait that contradicts what it sent before, the registry opens a COLP item on the identity itself. Pure.
import { comparisonVector, compareIdentities } from './compare.js';
import type { IdentityRules } from './rules.js';
import type { Candidate, IdentityStatus, MatchResult, MatchTraits } from './types.js';

export type StrictTrait = 'birthName' | 'givenName' | 'birthDate' | 'sex' | 'birthPlace';

/**
 * Levels at which a strict trait has not changed: equal after normalisation (case, accents, separators), or unknown
 * on one side (a trait that goes missing, or a date sent at a lower precision, contradicts nothing).
 */
const UNCHANGED: Readonly<Record<StrictTrait, ReadonlySet<string>>> = {
  birthName: new Set(['exact', 'missing']),
  givenName: new Set(['exact', 'missing']),
  birthDate: new Set(['exact', 'exact-default', 'partial-agree']),
  sex: new Set(['same', 'missing']),
  birthPlace: new Set(['exact', 'same-country', 'missing']),
};

/**
 * While a person decides, the identity is VALI: a qualified identity (QUAL) is one retrieved through INSi AND checked
 * against a high-trust ID document; a source now contradicts the INSi traits under that INS, so only the document
 * check of the reference traits still stands (RNIV: not retrieved via INSi + checked = VALI).
 */
export const STATUS_UNDER_COLLISION: IdentityStatus = 'VALI';

/** The strict traits of `after` that contradict `before` (same source, two sendings), in field order. */
export function changedStrictTraits(before: MatchTraits, after: MatchTraits, rules: IdentityRules): StrictTrait[] {
  const changed: StrictTrait[] = [];
  for (const c of comparisonVector(after, before, rules)) {
    if (c.field === 'ins' || c.field === 'usedName') continue;
    if (!UNCHANGED[c.field].has(c.level)) changed.push(c.field);
  }
  return changed;
}

/**
 * The comparison kept on the COLP item: the source's new traits against the identity's qualified reference traits,
 * always open for review (never `certain` nor `certainly-not`: a person decides), naming fields, never traits.
 */
export function collisionComparison(source: MatchTraits, federated: Candidate, changed: readonly StrictTrait[], rules: IdentityRules): MatchResult {
  const r = compareIdentities(source, federated, rules);
  return {
    ...r,
    grade: r.grade === 'probable' ? 'probable' : 'possible',
    flag: 'COLP',
    reasons: [
      `a known source of a qualified identity changed strict traits (${changed.join(', ')}): potential collision (COLP), the identity is ${STATUS_UNDER_COLLISION} until a person decides`,
      ...r.reasons,
    ],
  };
}

/** A COLP item opened on one identity for one of its own sources (new and candidate are the same identity). */
export const isCollisionItem = (r: { newFederatedId: string; candidateFederatedId: string; flag: string }): boolean =>
  r.newFederatedId === r.candidateFederatedId && r.flag === 'COLP';
