// policy.distinct (mappings/identity-rules.yaml): review items a referent always answers "different persons" become
// certainly-not (a new identity). Per rule: a pair it removes from review and a near pair it keeps there; then, over
// the generator, that the rules only ever lower a grade to certainly-not and that no registration auto-links two persons.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { blockingKeys } from '../../src/identity/blocking.js';
import { CandidateIndex } from '../../src/identity/candidate-index.js';
import { compareIdentities } from '../../src/identity/compare.js';
import { matchCandidates } from '../../src/identity/match-candidates.js';
import { matchTraits, normaliseIdentity } from '../../src/identity/normalise.js';
import { DEFAULT_IDENTITY_RULES_FILE, compileIdentityRules, type IdentityRules } from '../../src/identity/rules.js';
import type { MatchResult, NormalisedIdentity } from '../../src/identity/types.js';
import { iterateIdentities } from '../support/identity-generator.js';
import { NIR_HELENE, OID, RULES, candidate, person } from './identities.js';

/** The package rules without any distinct rule: what the weight alone decides. */
const WITHOUT: IdentityRules = (() => {
  const doc = parseYaml(readFileSync(DEFAULT_IDENTITY_RULES_FILE, 'utf8')) as { policy: Record<string, unknown> };
  doc.policy.distinct = [];
  return compileIdentityRules(doc, 'without distinct rules');
})();

const match = (q: NormalisedIdentity, c: NormalisedIdentity, rules = RULES): MatchResult => compareIdentities(q, candidate(c), rules);
const level = (r: MatchResult, field: string): string | undefined => r.comparisons.find((c) => c.field === field)?.level;
const REVIEW = ['possible', 'probable'];

/** Hélène Marie LEFÈVRE, F, 1979-03-08, Rouen (76540), VALI: the registered identity. */
const helene = person();

describe('each distinct rule removes a review item and keeps its near pair', () => {
  const cases: { rule: string; removed: NormalisedIdentity; kept: NormalisedIdentity; keptBecause: string }[] = [
    {
      // Another birth name, the same given name, commune and year, day and month both other.
      rule: 'other-birth-name-same-year-only',
      removed: person({ birthName: 'Martin', birthDate: '1979-07-21' }),
      // The same, on a default date (12-31): the commonest date error, so a human looks.
      kept: person({ birthName: 'Martin', birthDate: '1979-12-31' }),
      keptBecause: 'a default date',
    },
    {
      rule: 'other-birth-name-other-birthplace',
      removed: person({ birthName: 'Martin', birthPlaceInsee: '13055' }),
      // A commune of the same département (communes merge and get new codes): not a different birthplace.
      kept: person({ birthName: 'Martin', birthPlaceInsee: '76451' }),
      keptBecause: 'a birthplace in the same département',
    },
    {
      rule: 'no-name-in-common',
      removed: person({ birthName: 'Martin', firstBirthGivenName: 'Jeanne', birthGivenNames: ['Jeanne'] }),
      // Marie is Hélène's second given name: a name in common (second given name put first).
      kept: person({ birthName: 'Martin', firstBirthGivenName: 'Marie', birthGivenNames: ['Marie'] }),
      keptBecause: 'the first given name is among the other list',
    },
    {
      rule: 'other-sex-other-year',
      removed: person({ sex: 'M', birthDate: '1980-03-08' }),
      // Sex differs, but the date is the same: a sex entry error is plausible.
      kept: person({ sex: 'M' }),
      keptBecause: 'the same birth date',
    },
  ];

  it.each(cases)('$rule', ({ rule, removed, kept, keptBecause }) => {
    const before = match(removed, helene, WITHOUT);
    expect(REVIEW, 'the weight alone sends the pair to review').toContain(before.grade);
    const after = match(removed, helene);
    expect(after.grade).toBe('certainly-not');
    expect(after.flag).toBeUndefined();
    expect(after.reasons.join(' ')).toContain(`distinct rule ${rule}`);
    // The matcher's cheap path (no reasons) agrees.
    expect(compareIdentities(removed, candidate(helene), RULES, { explain: false }).grade).toBe('certainly-not');

    const near = match(kept, helene);
    expect(REVIEW, keptBecause).toContain(near.grade);
    expect(near.reasons.join(' ')).not.toContain('distinct rule');
  });

  it('a used name known on one side is a name in common: kept for review', () => {
    const r = match(person({ birthName: 'Martin', firstBirthGivenName: 'Jeanne', birthGivenNames: ['Jeanne'] }), person({ usedName: 'Martin' }));
    expect(level(r, 'birthName')).toBe('used-name');
    expect(REVIEW).toContain(r.grade);
  });

  it('a used name resembling the other birth name (married name with a typo) keeps the pair for review', () => {
    const q = person({ birthName: 'Boihaland', firstBirthGivenName: 'Thérèse', birthGivenNames: ['Thérèse'] });
    const r = match(q, person({ usedName: 'Boisaland' }));
    expect(level(r, 'birthName')).toBe('different');
    expect(level(r, 'givenName')).toBe('different');
    expect(REVIEW).toContain(r.grade);
    expect(compareIdentities(q, candidate(person({ usedName: 'Boisaland' })), RULES, { explain: false }).grade).toBe(r.grade);
    // Without the used name, nothing is left in common: removed.
    expect(match(q, helene).grade).toBe('certainly-not');
  });

  it('never settles the same INS: other sex and year with one matricule stay a possible collision (COLP)', () => {
    const ins = { matricule: NIR_HELENE, oid: OID.NIR };
    const r = match(person({ sex: 'M', birthDate: '1980-03-08', ins, status: 'QUAL' }), person({ ins, status: 'QUAL' }));
    expect(level(r, 'ins')).toBe('same');
    expect(r.flag).toBe('COLP');
    expect(REVIEW).toContain(r.grade);
  });

  it('never applies to five equal strict traits, whatever a rules file lists', () => {
    const doc = parseYaml(readFileSync(DEFAULT_IDENTITY_RULES_FILE, 'utf8')) as { policy: Record<string, unknown> };
    doc.policy.distinct = [{ name: 'everything', levels: { sex: ['same'], birthName: ['exact', 'jaro-winkler'] } }];
    const greedy = compileIdentityRules(doc);
    expect(match(person(), helene, greedy).grade).toBe('certain');
    // …but it does remove a fuzzy pair it matches: the rules file is really read.
    expect(match(person({ birthName: 'Lefevra' }), helene, greedy).grade).toBe('certainly-not');
  });
});

describe('over the generator', () => {
  it('the rules only turn review items into new identities: no grade goes up, nothing new is certain', () => {
    const byKey = new Map<string, { n: NormalisedIdentity; person: string }[]>();
    let compared = 0;
    let removedWrong = 0;
    let removedRight = 0;
    let reviewWrong = 0;
    for (const g of iterateIdentities({ seed: 4242, persons: 6000, duplicateRate: 0.3 })) {
      const n = normaliseIdentity(g.identity);
      const seen = new Set<NormalisedIdentity>();
      for (const k of blockingKeys(n)) {
        const block = byKey.get(k) ?? [];
        for (const e of block) {
          if (seen.has(e.n)) continue;
          seen.add(e.n);
          compared++;
          const with_ = compareIdentities(n, candidate(e.n), RULES).grade;
          const without = compareIdentities(n, candidate(e.n), WITHOUT).grade;
          const same = e.person === g.personId;
          if (with_ !== without) {
            expect(with_, `${JSON.stringify(g.identity)} vs ${JSON.stringify(e.n.source)}`).toBe('certainly-not');
            expect(REVIEW).toContain(without);
            if (same) removedRight++;
            else removedWrong++;
          } else if (!same && REVIEW.includes(with_)) reviewWrong++;
        }
        if (block.length < 200) byKey.set(k, [...block, { n, person: g.personId }]);
      }
    }
    expect(compared).toBeGreaterThan(5000);
    // The rules do remove wrong review items here…
    expect(removedWrong).toBeGreaterThan(20);
    // …and no true duplicate (a married name sent as birth name, with a typo, was one before the used-name guard).
    expect(removedRight).toBe(0);
    expect(reviewWrong).toBeGreaterThan(0);
  });

  it('registering a generated stream through the matcher never auto-links two persons', () => {
    const index = new CandidateIndex();
    const personsOf = new Map<string, Set<string>>();
    let seq = 0;
    let autoLinks = 0;
    for (const g of iterateIdentities({ seed: 20261123, persons: 6000, duplicateRate: 0.3, twinsRate: 0.05, homonymsRate: 0.05 })) {
      const n = normaliseIdentity(g.identity);
      const { results } = matchCandidates(index, n, RULES, { cap: RULES.blocking.maxCandidatesPerKey });
      const certain = results.filter((r) => r.grade === 'certain');
      if (certain.length === 1) {
        const persons = personsOf.get(certain[0].federatedId) as Set<string>;
        expect([...persons], `${JSON.stringify(g.identity)} auto-linked to ${certain[0].federatedId}`).toEqual([g.personId]);
        autoLinks++;
        continue;
      }
      const id = `f${++seq}`;
      personsOf.set(id, new Set([g.personId]));
      index.set({ id, identity: matchTraits(n), flags: [], keys: blockingKeys(n), seq });
    }
    expect(autoLinks).toBeGreaterThan(500);
  });
});
