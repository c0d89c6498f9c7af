// Comparison vector of a query identity against one candidate: one agreement level per field, each level worth
// the log-odds weight of the rules; compareIdentities adds the RNIV decision policy (decide.ts).
import { decide, distinctRule, isCertainlyNot, usedNameResembles } from './decide.js';
import { PACKED_FIELD as F, type PackedTraitsView } from './candidate-index.js';
import { birthDepartment, compareDateParts, compareDates } from './normalise.js';
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
  if (options.explain === false && isCertainlyNot(query, candidate.identity, comparisons, weight, rules)) {
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

/** The first `n` characters of `a` and of field `f` of `c` agree (both are at least `n` long). */
function samePrefix(a: string, c: PackedTraitsView, f: number, n: number): boolean {
  if (a.length < n || c.length(f) < n) return false;
  for (let i = 0; i < n; i++) if (a.charCodeAt(i) !== c.charCodeAt(f, i)) return false;
  return true;
}

/** Field `f` of `c` equals one of `values`. */
function anyEquals(c: PackedTraitsView, f: number, values: readonly string[]): boolean {
  for (let i = 0; i < values.length; i++) if (c.equals(f, values[i])) return true;
  return false;
}

/** The weight of a comparison vector as compareIdentities computes it: summed in field order, rounded to 0.001. */
function rounded(ins: number, birthName: number, givenName: number, birthDate: number, sex: number, birthPlace: number): number {
  return Math.round((0 + ins + birthName + givenName + birthDate + sex + birthPlace) * 1000) / 1000;
}

/** Length of the département part of a COG code (see `birthDepartment`), from its first two characters. */
function departmentLength(c0: number, c1: number, length: number): number {
  return Math.min(length, c0 === 57 && (c1 === 55 || c1 === 56) ? 3 : 2);
}

/**
 * Exactly `compareIdentities(query, candidate, rules, { explain: false }).grade === 'certainly-not'`, read straight
 * from the candidate's packed traits (`Lookup.packed`): no unpacking, no comparison vector, and the Jaro-Winkler
 * similarities only when the other levels leave the grade open. Most candidates of a block are other persons; this
 * drops them at a fraction of the cost. `packed-compare.test.ts` holds it to the full comparison.
 */
export function isCertainlyNotPacked(q: MatchTraits, c: PackedTraitsView, rules: IdentityRules): boolean {
  const w = rules.weights;
  let wIns: number;
  // The levels, for the `policy.distinct` rules at the end (the weights below are the rules' weights of these levels).
  let lIns: LevelOf<'ins'>;
  let lBn: LevelOf<'birthName'>;
  let lGn: LevelOf<'givenName'>;
  let lSex: LevelOf<'sex'>;
  let lBp: LevelOf<'birthPlace'>;
  // ins (insLevel): the same INS is never certainly-not, a different one under one authority always is.
  if (q.ins === undefined || !c.hasIns) wIns = w.ins[(lIns = 'missing')];
  else if (!c.equals(F.insOid, q.ins.oid)) wIns = w.ins[(lIns = 'other-authority')];
  else return !c.equals(F.insMatricule, q.ins.matricule);

  // birthName (birthNameLevel); `bnFuzzy`: only jaro-winkler, used-name or different remain.
  let strict = true;
  let wBn = 0;
  let bnFuzzy = false;
  let bnUsed = false;
  if (q.birthNameKey === '' || c.length(F.birthNameKey) === 0) {
    wBn = w.birthName[(lBn = 'missing')];
    strict = false;
  } else if (c.equals(F.birthNameForm, q.birthNameForm)) wBn = w.birthName[(lBn = 'exact')];
  else {
    strict = false;
    lBn = 'different'; // settled below for the fuzzy levels
    if (c.equals(F.birthNameKey, q.birthNameKey) || c.equals(F.birthNameNoParticles, q.birthNameNoParticles)) wBn = w.birthName[(lBn = 'collapsed')];
    else if (q.birthNamePhonetic !== '' && c.equals(F.birthNamePhonetic, q.birthNamePhonetic)) wBn = w.birthName[(lBn = 'phonetic')];
    else {
      bnFuzzy = true;
      bnUsed = (q.usedNameKey !== undefined && c.equals(F.birthNameKey, q.usedNameKey)) || (c.hasUsedName && c.equals(F.usedNameKey, q.birthNameKey));
    }
  }

  // givenName (givenNameLevel)
  let wGn = 0;
  let gnFuzzy = false;
  if (q.firstGivenKey === '' || c.length(F.firstGivenKey) === 0) {
    wGn = w.givenName[(lGn = 'missing')];
    strict = false;
  } else if (c.equals(F.firstGivenForm, q.firstGivenForm)) wGn = w.givenName[(lGn = 'exact')];
  else {
    strict = false;
    lGn = 'different'; // settled below when fuzzy
    if (c.equals(F.firstGivenKey, q.firstGivenKey)) wGn = w.givenName[(lGn = 'collapsed')];
    else if (c.listIncludes(F.givenKeys, q.firstGivenKey) || anyEquals(c, F.firstGivenKey, q.givenKeys)) wGn = w.givenName[(lGn = 'other-form')];
    else gnFuzzy = true;
  }

  // birthDate (birthDateLevel)
  const { year, month, day } = q.birthDate;
  const date = compareDateParts(year, month ?? 0, day ?? 0, c.year, c.month, c.day);
  let wDate: number;
  const lDate: LevelOf<'birthDate'> = date === 'exact' && (q.birthDate.defaultDate || c.defaultDate) ? 'exact-default' : date;
  if (date === 'exact') wDate = w.birthDate[lDate];
  else {
    wDate = w.birthDate[date];
    strict = false;
  }

  // sex (sexLevel)
  let wSex: number;
  if (q.sex === 'I' || c.sex === 'I') {
    wSex = w.sex[(lSex = 'missing')];
    strict = false;
  } else if (q.sex === c.sex) wSex = w.sex[(lSex = 'same')];
  else {
    wSex = w.sex[(lSex = 'different')];
    strict = false;
  }

  // birthPlace (birthPlaceLevel)
  const place = q.birthPlace;
  let wBp: number;
  if (place === undefined || !c.hasBirthPlace) {
    wBp = w.birthPlace[(lBp = 'missing')];
    strict = false;
  } else if (c.equals(F.birthPlace, place.code)) wBp = w.birthPlace[(lBp = place.abroad ? 'same-country' : 'exact')];
  else {
    strict = false;
    const n = departmentLength(place.code.charCodeAt(0), place.code.charCodeAt(1), place.code.length);
    const m = departmentLength(c.charCodeAt(F.birthPlace, 0), c.charCodeAt(F.birthPlace, 1), c.length(F.birthPlace));
    lBp = !place.abroad && !c.abroad && n === m && samePrefix(place.code, c, F.birthPlace, n) ? 'same-department' : 'different';
    wBp = w.birthPlace[lBp];
  }

  // Five equal strict traits may be certain: the full comparison decides.
  if (strict) return false;
  const { possible } = rules.thresholds;
  // Summed in the order of the comparison vector and rounded as compareIdentities does (both monotone): a bound below
  // `possible` settles the grade before the similarities are computed. (No closures here: this runs per candidate.)
  const bnOther = bnUsed ? w.birthName['used-name'] : w.birthName.different;
  const bnMax = bnFuzzy ? Math.max(w.birthName['jaro-winkler'], bnOther) : wBn;
  const gnMax = gnFuzzy ? Math.max(w.givenName['jaro-winkler'], w.givenName.different) : wGn;
  if (rounded(wIns, bnMax, gnMax, wDate, wSex, wBp) < possible) return true;

  // The similarities decide: computed as the full comparison computes them.
  if (bnFuzzy) {
    const t = rules.jaroWinkler.birthName;
    const jw = jaroWinkler(q.birthNameKey, c.text(F.birthNameKey)) >= t || jaroWinkler(q.birthNameNoParticles, c.text(F.birthNameNoParticles)) >= t;
    lBn = jw ? 'jaro-winkler' : bnUsed ? 'used-name' : 'different';
    wBn = w.birthName[lBn];
    if (rounded(wIns, wBn, gnMax, wDate, wSex, wBp) < possible) return true;
  }
  if (gnFuzzy) {
    lGn = jaroWinkler(q.firstGivenKey, c.text(F.firstGivenKey)) >= rules.jaroWinkler.givenName ? 'jaro-winkler' : 'different';
    wGn = w.givenName[lGn];
  }
  if (rounded(wIns, wBn, wGn, wDate, wSex, wBp) < possible) return true;
  // Weighed for review: a `policy.distinct` rule may still settle it (rare, so the levels are only looked up here).
  if (rules.policy.distinct.length === 0) return false;
  const levels: Record<ComparedField, string> = { ins: lIns, birthName: lBn, givenName: lGn, birthDate: lDate, sex: lSex, birthPlace: lBp };
  if (distinctRule((f) => levels[f], q.birthDate.defaultDate || c.defaultDate, rules) === undefined) return false;
  return !usedNameResembles(q.usedNameKey, q.birthNameKey, c.hasUsedName ? c.text(F.usedNameKey) : undefined, c.text(F.birthNameKey), rules);
}
