// Comparison vector of a query identity against one candidate: one agreement level per field, each level worth
// the log-odds weight of the rules; compareIdentities adds the RNIV decision policy (decide.ts).
import { decide, isCertainlyNot } from './decide.js';
import { birthDepartment, compareDates } from './normalise.js';
import { jaroWinkler } from './phonetic.js';
import { scoreOf, type ComparedField, type IdentityRules, type LevelOf } from './rules.js';
import type { Candidate, FieldComparison, MatchResult, MatchTraits } from './types.js';

export function insLevel(q: MatchTraits, c: MatchTraits): LevelOf<'ins'> {
  if (!q.ins || !c.ins) return 'missing';
  // NIR vs NIA (a person gets a NIR after a NIA) or production vs test/demo: not evidence either way.
  if (q.ins.oid !== c.ins.oid) return 'other-authority';
  return q.ins.matricule === c.ins.matricule ? 'same' : 'different';
}

export function birthNameLevel(q: MatchTraits, c: MatchTraits, rules: IdentityRules): LevelOf<'birthName'> {
  if (q.birthNameKey === '' || c.birthNameKey === '') return 'missing';
  if (q.birthNameForm === c.birthNameForm) return 'exact';
  if (q.birthNameKey === c.birthNameKey || q.birthNameNoParticles === c.birthNameNoParticles) return 'collapsed';
  if (q.birthNamePhonetic !== '' && q.birthNamePhonetic === c.birthNamePhonetic) return 'phonetic';
  const threshold = rules.jaroWinkler.birthName;
  if (jaroWinkler(q.birthNameKey, c.birthNameKey) >= threshold || jaroWinkler(q.birthNameNoParticles, c.birthNameNoParticles) >= threshold) {
    return 'jaro-winkler';
  }
  // The used name is recall-only evidence: it can raise a pair to review, never to certain.
  if ((q.usedNameKey !== undefined && q.usedNameKey === c.birthNameKey) || (c.usedNameKey !== undefined && c.usedNameKey === q.birthNameKey)) {
    return 'used-name';
  }
  return 'different';
}

export function givenNameLevel(q: MatchTraits, c: MatchTraits, rules: IdentityRules): LevelOf<'givenName'> {
  if (q.firstGivenKey === '' || c.firstGivenKey === '') return 'missing';
  if (q.firstGivenForm === c.firstGivenForm) return 'exact';
  if (q.firstGivenKey === c.firstGivenKey) return 'collapsed';
  if (c.givenKeys.includes(q.firstGivenKey) || q.givenKeys.includes(c.firstGivenKey)) return 'other-form';
  if (jaroWinkler(q.firstGivenKey, c.firstGivenKey) >= rules.jaroWinkler.givenName) return 'jaro-winkler';
  return 'different';
}

export function birthDateLevel(q: MatchTraits, c: MatchTraits): LevelOf<'birthDate'> {
  const level = compareDates(q.birthDate, c.birthDate);
  return level === 'exact' && (q.birthDate.defaultDate || c.birthDate.defaultDate) ? 'exact-default' : level;
}

export function sexLevel(q: MatchTraits, c: MatchTraits): LevelOf<'sex'> {
  if (q.sex === 'I' || c.sex === 'I') return 'missing';
  return q.sex === c.sex ? 'same' : 'different';
}

export function birthPlaceLevel(q: MatchTraits, c: MatchTraits): LevelOf<'birthPlace'> {
  const a = q.birthPlace;
  const b = c.birthPlace;
  if (!a || !b) return 'missing';
  if (a.code === b.code) return a.abroad ? 'same-country' : 'exact';
  if (!a.abroad && !b.abroad && birthDepartment(a.code) === birthDepartment(b.code)) return 'same-department';
  return 'different';
}

function field<F extends ComparedField>(name: F, level: LevelOf<F>, rules: IdentityRules): FieldComparison {
  return { field: name, level, weight: (rules.weights[name] as Record<LevelOf<F>, number>)[level] };
}

/** The comparison vector, in a fixed field order: ins, birthName, givenName, birthDate, sex, birthPlace. */
export function comparisonVector(q: MatchTraits, c: MatchTraits, rules: IdentityRules): FieldComparison[] {
  return [
    field('ins', insLevel(q, c), rules),
    field('birthName', birthNameLevel(q, c, rules), rules),
    field('givenName', givenNameLevel(q, c, rules), rules),
    field('birthDate', birthDateLevel(q, c), rules),
    field('sex', sexLevel(q, c), rules),
    field('birthPlace', birthPlaceLevel(q, c), rules),
  ];
}

/**
 * Compare a query identity with a candidate and grade the pair by the RNIV policy (see decide.ts). With
 * `explain: false` a `certainly-not` pair comes back without reasons (the matcher drops those anyway).
 */
export function compareIdentities(query: MatchTraits, candidate: Candidate, rules: IdentityRules, options: { explain?: boolean } = {}): MatchResult {
  const comparisons = comparisonVector(query, candidate.identity, rules);
  let sum = 0;
  for (const c of comparisons) sum += c.weight;
  const weight = Math.round(sum * 1000) / 1000;
  if (options.explain === false && isCertainlyNot(comparisons, weight, rules)) {
    return { federatedId: candidate.federatedId, weight, score: scoreOf(weight, rules), grade: 'certainly-not', comparisons, reasons: [] };
  }
  const decision = decide(query, candidate, comparisons, weight, rules);
  const result: MatchResult = {
    federatedId: candidate.federatedId,
    weight,
    score: scoreOf(weight, rules),
    grade: decision.grade,
    comparisons,
    reasons: decision.reasons,
  };
  if (decision.flag) result.flag = decision.flag;
  return result;
}
