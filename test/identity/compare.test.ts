// compareIdentities: the comparison vector and the RNIV decision policy, corruption by corruption and status by status.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { compareIdentities } from '../../src/identity/compare.js';
import { normaliseIdentity } from '../../src/identity/normalise.js';
import { givenListsConflict, guardTwins } from '../../src/identity/decide.js';
import { DEFAULT_IDENTITY_RULES_FILE, compileIdentityRules, type IdentityRules } from '../../src/identity/rules.js';
import type { IdentityStatus, MatchResult, NormalisedIdentity } from '../../src/identity/types.js';
import { HELENE, NIA_HELENE, NIR_HELENE, NIR_OTHER, OID, RULES, candidate, person, type IdentityInput } from './identities.js';

const STATUSES: IdentityStatus[] = ['PROV', 'RECUP', 'VALI', 'QUAL'];

function match(query: NormalisedIdentity, cand: NormalisedIdentity, rules: IdentityRules = RULES, flags: Parameters<typeof candidate>[1] = []): MatchResult {
  return compareIdentities(query, candidate(cand, flags), rules);
}

const level = (r: MatchResult, field: string): string | undefined => r.comparisons.find((c) => c.field === field)?.level;

/** The original: Hélène Marie LEFÈVRE, F, 1979-03-08, Rouen, VALI (no INS). */
const original = person();

describe('French corruptions against a VALI original', () => {
  it('the same traits written identically are certain', () => {
    const r = match(person(), original);
    expect(r.grade).toBe('certain');
    expect(r.flag).toBeUndefined();
    expect(r.reasons.join(' ')).toMatch(/five strict traits are equal/);
  });

  it('accents dropped and case / spacing changed are still certain (normalisation, not fuzziness)', () => {
    const r = match(person({ birthName: ' LEFEVRE ', firstBirthGivenName: 'helene', birthGivenNames: ['helene', 'MARIE'], status: 'PROV' }), original);
    expect(level(r, 'birthName')).toBe('exact');
    expect(level(r, 'givenName')).toBe('exact');
    expect(r.grade).toBe('certain');
  });

  const review: [string, Partial<IdentityInput>, string, string, 'probable' | 'possible'][] = [
    ['hyphen ↔ space in the birth name', { birthName: 'LE FEVRE' }, 'birthName', 'collapsed', 'probable'],
    ['typo in the birth name', { birthName: 'Lefevra' }, 'birthName', 'jaro-winkler', 'probable'],
    ['phonetic spelling of the birth name', { birthName: 'Lefebvre' }, 'birthName', 'phonetic', 'probable'],
    ['used name (spouse) entered as birth name', { birthName: 'Martin' }, 'birthName', 'used-name', 'probable'],
    ['second given name first', { firstBirthGivenName: 'Marie', birthGivenNames: ['Marie', 'Hélène'] }, 'givenName', 'other-form', 'probable'],
    ['typo in the given name', { firstBirthGivenName: 'Hélèna', birthGivenNames: ['Hélèna', 'Marie'] }, 'givenName', 'jaro-winkler', 'probable'],
    ['day / month inversion', { birthDate: '1979-08-03' }, 'birthDate', 'day-month-swapped', 'probable'],
    ['partial date (year and month)', { birthDate: '1979-03' }, 'birthDate', 'partial-agree', 'possible'],
    ['partial date (year only)', { birthDate: '1979' }, 'birthDate', 'partial-agree', 'possible'],
    ['birthplace recoded within the département', { birthPlaceInsee: '76541' }, 'birthPlace', 'same-department', 'probable'],
    ['birthplace missing', { birthPlaceInsee: undefined }, 'birthPlace', 'missing', 'probable'],
    ['sex typo', { sex: 'M' }, 'sex', 'different', 'probable'],
  ];

  it.each(review)('%s → review, never certain', (_kind, over, field, expectedLevel, grade) => {
    const orig = person({ usedName: 'Martin' });
    const r = match(person({ ...over, status: 'VALI' }), orig);
    expect(level(r, field)).toBe(expectedLevel);
    expect(r.grade).toBe(grade);
    expect(r.flag).toBe('DPOT');
    expect(r.reasons[0]).toContain(`${field} ${expectedLevel}`);
  });

  it('hyphen ↔ space ↔ nothing in a compound given name → collapsed, review', () => {
    const jp = person({ firstBirthGivenName: 'Jean-Pierre', birthGivenNames: ['Jean-Pierre'], sex: 'M' });
    for (const written of ['Jean Pierre', 'JEANPIERRE']) {
      const r = match(person({ firstBirthGivenName: written, birthGivenNames: [written], sex: 'M' }), jp);
      expect(level(r, 'givenName')).toBe('collapsed');
      expect(r.grade).toBe('probable');
    }
    // Only the first part of the compound name: the compound split is another form.
    const r = match(person({ firstBirthGivenName: 'Jean', birthGivenNames: ['Jean'], sex: 'M' }), jp);
    expect(level(r, 'givenName')).toBe('other-form');
    expect(r.grade).toBe('probable');
  });

  it('particle collapsed or dropped → collapsed, review', () => {
    const spaced = person({ birthName: 'de la Fontaine' });
    for (const birthName of ['DELAFONTAINE', 'Fontaine', 'De-La-Fontaine']) {
      const r = match(person({ birthName }), spaced);
      expect(level(r, 'birthName')).toBe('collapsed');
      expect(r.grade).toBe('probable');
    }
  });

  it('twins (everything equal but the first given name) are never certain', () => {
    const twin = person({ firstBirthGivenName: 'Claire', birthGivenNames: ['Claire', 'Marie'] });
    const r = match(twin, original);
    expect(level(r, 'givenName')).toBe('different');
    expect(r.grade).not.toBe('certain');
    expect(r.grade).toBe('possible');
    // With both INS known the twins are told apart for good.
    const withIns = match(person({ firstBirthGivenName: 'Claire', birthGivenNames: ['Claire'], status: 'QUAL', ins: { matricule: NIR_OTHER, oid: OID.NIR } }), person({ status: 'QUAL', ins: { matricule: NIR_HELENE, oid: OID.NIR } }));
    expect(withIns.grade).toBe('certainly-not');
  });

  it('homonyms (same names, another birth date and place) are certainly-not', () => {
    const r = match(person({ birthDate: '1952-11-20', birthPlaceInsee: '59350' }), original);
    expect(r.grade).toBe('certainly-not');
    expect(r.flag).toBeUndefined();
    expect(r.reasons.at(-1)).toMatch(/below possible threshold/);
  });

  it('a candidate flagged as homonym, doubtful or fictitious is never auto-linked', () => {
    for (const flag of ['HOMA', 'HOMD', 'DOUT', 'FICT'] as const) {
      const r = match(person(), original, RULES, [flag]);
      expect(r.grade).toBe('probable');
      expect(r.flag).toBe('DPOT');
      expect(r.reasons.join(' ')).toContain(flag);
    }
    // Flags outside the list do not block.
    expect(match(person(), original, RULES, ['DPOT']).grade).toBe('certain');
  });

  it('an unrelated person in the same birth-date block is certainly-not', () => {
    const r = match(person({ birthName: 'Benali', firstBirthGivenName: 'Yasmina', birthGivenNames: ['Yasmina'], birthPlaceInsee: '99350' }), original);
    expect(r.grade).toBe('certainly-not');
    expect(r.weight).toBeLessThan(0);
  });
});

describe('INS', () => {
  const qual = (over: Partial<IdentityInput> = {}) => person({ status: 'QUAL', ins: { matricule: NIR_HELENE, oid: OID.NIR }, ...over });

  it('missing INS on one side: strict traits decide (certain with a QUAL or VALI side)', () => {
    const r = match(person({ status: 'PROV' }), qual());
    expect(level(r, 'ins')).toBe('missing');
    expect(r.grade).toBe('certain');
  });

  it('NIA instead of NIR is not an INS conflict', () => {
    const r = match(person({ status: 'RECUP', ins: { matricule: NIA_HELENE, oid: OID.NIA } }), qual());
    expect(level(r, 'ins')).toBe('other-authority');
    expect(r.grade).toBe('certain');
  });

  it('different valid matricules under the same authority → certainly-not, whatever else agrees', () => {
    const r = match(qual({ ins: { matricule: NIR_OTHER, oid: OID.NIR } }), qual());
    expect(level(r, 'ins')).toBe('different');
    expect(r.grade).toBe('certainly-not');
    expect(r.reasons).toEqual(['different INS matricules under the same authority: different persons']);
  });

  it('the same INS with a differing strict trait is a potential collision (COLP), never certain nor dismissed', () => {
    const renamed = match(qual({ firstBirthGivenName: 'Claire', birthGivenNames: ['Claire'] }), qual());
    expect(renamed.grade).toBe('probable');
    expect(renamed.flag).toBe('COLP');
    expect(renamed.reasons[0]).toContain('givenName different');
    // Birth name, sex and birth date differ: the weight is low, the pair still goes to review.
    const mixed = match(
      person({ status: 'RECUP', sex: 'M', birthName: 'Martin', birthDate: '1950-06-01', birthPlaceInsee: '13055', firstBirthGivenName: 'Paul', birthGivenNames: ['Paul'], ins: { matricule: NIR_HELENE, oid: OID.NIR } }),
      qual(),
    );
    expect(mixed.grade).toBe('possible');
    expect(mixed.flag).toBe('COLP');
    expect(mixed.weight).toBeLessThan(RULES.thresholds.possible);
  });
});

describe('RNIV status combinations', () => {
  const pairs = STATUSES.flatMap((a) => STATUSES.map((b) => [a, b] as const));
  const trusted = (s: IdentityStatus) => s === 'VALI' || s === 'QUAL';
  /** INSi-retrieved statuses carry the INS; PROV and VALI do not. */
  const withStatus = (status: IdentityStatus, over: Partial<IdentityInput> = {}) =>
    person({ status, ins: status === 'QUAL' || status === 'RECUP' ? { matricule: NIR_HELENE, oid: OID.NIR } : undefined, ...over });

  it.each(pairs)('identical strict traits, %s × %s: certain only with a QUAL or VALI side', (a, b) => {
    const r = match(withStatus(a), withStatus(b));
    if (trusted(a) || trusted(b)) {
      expect(r.grade).toBe('certain');
      expect(r.flag).toBeUndefined();
    } else {
      expect(r.grade).toBe('probable');
      expect(r.flag).toBe('DPOT');
      expect(r.reasons).toContain('neither identity is VALI or QUAL: review');
    }
  });

  it.each(pairs)('same INS on both sides, identical traits, %s × %s', (a, b) => {
    const ins = { matricule: NIR_HELENE, oid: OID.NIR };
    const r = match(person({ status: a, ins }), person({ status: b, ins }));
    expect(level(r, 'ins')).toBe('same');
    expect(r.grade).toBe(trusted(a) || trusted(b) ? 'certain' : 'probable');
    if (a === 'QUAL' && b === 'QUAL') expect(r.reasons).toEqual(['same INS matricule and authority, both identities qualified (QUAL)']);
  });

  it.each(pairs)('same INS, first given name differs, %s × %s: COLP review', (a, b) => {
    const ins = { matricule: NIR_HELENE, oid: OID.NIR };
    const r = match(person({ status: a, ins, firstBirthGivenName: 'Claire', birthGivenNames: ['Claire'] }), person({ status: b, ins }));
    expect(['probable', 'possible']).toContain(r.grade);
    expect(r.flag).toBe('COLP');
  });

  it.each(pairs)('different INS, identical traits, %s × %s: certainly-not', (a, b) => {
    const r = match(person({ status: a, ins: { matricule: NIR_OTHER, oid: OID.NIR } }), person({ status: b, ins: { matricule: NIR_HELENE, oid: OID.NIR } }));
    expect(r.grade).toBe('certainly-not');
  });
});

describe('default dates and birthplaces abroad', () => {
  const abroad = (over: Partial<IdentityInput> = {}) => person({ birthName: 'Benali', firstBirthGivenName: 'Mohamed', birthGivenNames: ['Mohamed'], sex: 'M', birthDate: '1950-01-01', birthPlaceInsee: '99350', ...over });

  it('a default date in France still allows certain, with less weight than an ordinary date', () => {
    const r = match(person({ birthDate: '1950-12-31' }), person({ birthDate: '1950-12-31' }));
    expect(level(r, 'birthDate')).toBe('exact-default');
    expect(r.grade).toBe('certain');
    expect(r.weight).toBeLessThan(match(person(), original).weight);
  });

  it('a default date with a birthplace abroad is kept for review unless the rules allow it', () => {
    const r = match(abroad(), abroad());
    expect(level(r, 'birthPlace')).toBe('same-country');
    expect(r.grade).toBe('probable');
    expect(r.reasons.join(' ')).toMatch(/default birth date/);
    const doc = parseYaml(readFileSync(DEFAULT_IDENTITY_RULES_FILE, 'utf8')) as { policy: { certainOnDefaultDateAbroad: boolean } };
    doc.policy.certainOnDefaultDateAbroad = true;
    expect(match(abroad(), abroad(), compileIdentityRules(doc)).grade).toBe('certain');
  });

  it('born abroad with an ordinary date: the same country code is a strict-trait match', () => {
    expect(match(abroad({ birthDate: '1950-06-14' }), abroad({ birthDate: '1950-06-14' })).grade).toBe('certain');
  });
});

describe('no weight makes a fuzzy agreement certain', () => {
  /** Rules where every non-strict agreement is worth more than the whole strict set. */
  function inflated(): IdentityRules {
    const doc = parseYaml(readFileSync(DEFAULT_IDENTITY_RULES_FILE, 'utf8')) as { fields: Record<string, Record<string, unknown>> };
    for (const [f, l] of [['birthName', 'used-name'], ['birthName', 'jaro-winkler'], ['birthName', 'collapsed'], ['givenName', 'other-form'], ['birthDate', 'partial-agree']]) {
      doc.fields[f][l] = { weight: 500 };
    }
    return compileIdentityRules(doc);
  }

  it.each([
    ['used name', { birthName: 'Martin' }],
    ['Jaro-Winkler', { birthName: 'Lefevra' }],
    ['particle / hyphen', { birthName: 'Le-Fèvre' }],
    ['second given name', { firstBirthGivenName: 'Marie', birthGivenNames: ['Marie'] }],
    ['partial date', { birthDate: '1979-03' }],
  ] as [string, Partial<IdentityInput>][])('%s agreement with QUAL / VALI sides and a huge weight → probable', (_kind, over) => {
    const r = match(person({ ...over, status: 'VALI' }), person({ usedName: 'Martin', status: 'VALI' }), inflated());
    expect(r.weight).toBeGreaterThan(400);
    expect(r.grade).toBe('probable');
    expect(r.score).toBe(1);
  });
});

describe('result shape', () => {
  it('carries the candidate id, a 0..1 score that follows the weight, and the six-field vector', () => {
    const certain = match(person({ status: 'QUAL', ins: { matricule: NIR_HELENE, oid: OID.NIR } }), person({ status: 'QUAL', ins: { matricule: NIR_HELENE, oid: OID.NIR } }));
    const fuzzy = match(person({ birthDate: '1979' }), original);
    expect(certain.federatedId).toBe('FED-1');
    expect(certain.comparisons.map((c) => c.field)).toEqual(['ins', 'birthName', 'givenName', 'birthDate', 'sex', 'birthPlace']);
    expect(certain.weight).toBeCloseTo(certain.comparisons.reduce((s, c) => s + c.weight, 0), 2);
    expect(certain.score).toBeGreaterThan(fuzzy.score);
    expect(fuzzy.score).toBeGreaterThan(0);
    expect(certain.score).toBeLessThanOrEqual(1);
  });

  it('reasons name levels and statuses, never the traits themselves', () => {
    const r = match(person({ birthName: 'Martin', birthDate: '1979' }), person({ usedName: 'Martin' }));
    const text = r.reasons.join(' ');
    expect(text).toContain('birthName used-name');
    expect(text).not.toMatch(/MARTIN|LEFEVRE|1979|Hélène/i);
  });

  it('the original input is untouched by normalisation', () => {
    expect(original.source).toMatchObject({ birthName: HELENE.birthName, firstBirthGivenName: HELENE.firstBirthGivenName });
  });
});

describe('guardTwins (policy across candidates)', () => {
  const rules = RULES;
  const query = person({ status: 'VALI', firstBirthGivenName: 'Marie', birthGivenNames: ['Marie', 'Noëlle', 'France'] });
  const sister = person({ status: 'QUAL', ins: { matricule: NIR_HELENE, oid: OID.NIR }, firstBirthGivenName: 'Marie', birthGivenNames: undefined });
  const twin = person({ status: 'VALI', firstBirthGivenName: 'Marie-Noëlle', birthGivenNames: ['Marie-Noëlle', 'France'] });

  it('demotes a strict-trait certain match when another candidate shares birth name, date, sex and birthplace', () => {
    const results = [compareIdentities(query, candidate(sister, [], 'SISTER'), rules), compareIdentities(query, candidate(twin, [], 'TWIN'), rules)];
    expect(results[0].grade).toBe('certain');
    const guarded = guardTwins(results);
    expect(guarded[0]).toMatchObject({ federatedId: 'SISTER', grade: 'probable', flag: 'DPOT' });
    expect(guarded[0].reasons.at(-1)).toMatch(/possible twin or homonym/);
    expect(guarded[1]).toEqual(results[1]);
  });

  it('leaves a lone certain match, and a certain match on the same INS, as they are', () => {
    const alone = [compareIdentities(query, candidate(sister, [], 'SISTER'), rules)];
    expect(guardTwins(alone)).toEqual(alone);
    const qualQuery = person({ status: 'QUAL', ins: { matricule: NIR_HELENE, oid: OID.NIR }, firstBirthGivenName: 'Marie', birthGivenNames: undefined });
    const byIns = [compareIdentities(qualQuery, candidate(sister, [], 'SISTER'), rules), compareIdentities(qualQuery, candidate(twin, [], 'TWIN'), rules)];
    expect(byIns[0].grade).toBe('certain');
    expect(guardTwins(byIns)[0].grade).toBe('certain');
  });
});

describe('lists of birth given names (twins sharing a first given name)', () => {
  const vali = (over: Partial<IdentityInput>) => person({ status: 'VALI', ...over });

  it('two lists that disagree on a name keep five equal strict traits at probable', () => {
    const r = match(vali({ firstBirthGivenName: 'Reine', birthGivenNames: ['Reine', 'Danielle'] }), vali({ firstBirthGivenName: 'Reine', birthGivenNames: ['Reine', 'Christine'] }));
    expect(r.grade).toBe('probable');
    expect(r.reasons.join(' ')).toMatch(/lists of birth given names differ/);
  });

  it('the same names written otherwise (hyphen or space, another order) or a list of one still allow certain', () => {
    const base = vali({ firstBirthGivenName: 'Jean-Pierre', birthGivenNames: ['Jean-Pierre', 'Marc'] });
    expect(givenListsConflict(vali({ firstBirthGivenName: 'Jean Pierre', birthGivenNames: ['Jean Pierre', 'Marc'] }), base)).toBeUndefined();
    expect(givenListsConflict(vali({ firstBirthGivenName: 'Jean', birthGivenNames: ['Jean', 'Pierre', 'Marc'] }), base)).toBeUndefined();
    // A name on one side only (both lists have two or more): not the same list, a human checks.
    expect(givenListsConflict(vali({ firstBirthGivenName: 'Jean-Pierre', birthGivenNames: ['Jean-Pierre', 'Marc', 'Louis'] }), base)).toBe('a name of the query is not in the candidate list');
    expect(match(vali({ firstBirthGivenName: 'Jean-Pierre', birthGivenNames: ['Jean-Pierre'] }), base).grade).toBe('certain');
    expect(givenListsConflict(vali({ birthGivenNames: ['Hélène', 'Marie'] }), vali({ firstBirthGivenName: 'Marie', birthGivenNames: ['Marie', 'Hélène'] }))).toBeUndefined();
    expect(givenListsConflict(vali({ birthGivenNames: ['Hélène', 'Marie'] }), vali({ birthGivenNames: ['Hélène'] }))).toBeUndefined();
  });
});

describe('compareIdentities without explanations', () => {
  it('grades every pair as the explained comparison does (generated French identities, same person or not)', async () => {
    const { generateIdentities } = await import('../support/identity-generator.js');
    const { identities } = generateIdentities({ seed: 7, persons: 600, duplicateRate: 0.4 });
    const n = identities.map((g) => normaliseIdentity(g.identity));
    let checked = 0;
    let dropped = 0;
    for (let i = 0; i < n.length; i += 3) {
      for (let j = i + 1; j < Math.min(n.length, i + 40); j++) {
        const full = compareIdentities(n[i], candidate(n[j]), RULES);
        const quick = compareIdentities(n[i], candidate(n[j]), RULES, { explain: false });
        expect(quick.grade, `${i}/${j}`).toBe(full.grade);
        if (quick.grade === 'certainly-not') dropped++;
        else expect(quick).toEqual(full);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(5000);
    expect(dropped).toBeGreaterThan(0);
  });
});
