// isCertainlyNotPacked: the matcher's cheap drop of candidates, read from packed traits. It must agree EXACTLY with
// the full comparison (compareIdentities … grade 'certainly-not'), or the matcher would lose or invent candidates.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { blockingKeys } from '../../src/identity/blocking.js';
import { CandidateIndex, PackedTraitsView, packTraits } from '../../src/identity/candidate-index.js';
import { compareIdentities, isCertainlyNotPacked } from '../../src/identity/compare.js';
import { matchCandidates } from '../../src/identity/match-candidates.js';
import { matchTraits, normaliseIdentity } from '../../src/identity/normalise.js';
import { guardTwins } from '../../src/identity/decide.js';
import { DEFAULT_IDENTITY_RULES_FILE, compileIdentityRules } from '../../src/identity/rules.js';
import type { MatchResult, NormalisedIdentity } from '../../src/identity/types.js';
import { iterateIdentities } from '../support/identity-generator.js';
import { HELENE, NIA_HELENE, NIR_HELENE, NIR_OTHER, OID, RULES, candidate, person, type IdentityInput } from './identities.js';

const view = new PackedTraitsView();

/** Both verdicts on one pair: [packed, full]. */
function verdicts(q: NormalisedIdentity, c: NormalisedIdentity, rules = RULES): [boolean, boolean] {
  const packed = packTraits(matchTraits(c));
  if (packed === undefined) throw new Error('test identity cannot be packed');
  const full = compareIdentities(q, candidate(c), rules, { explain: false }).grade === 'certainly-not';
  return [isCertainlyNotPacked(q, view.read(packed), rules), full];
}

// Small pools, so that pairs agree and disagree on every field in every way.
const birthNames = ['Lefèvre', 'LEFEVRE', 'Le Fèvre', 'Lefevra', 'Lefébure', 'de la Fontaine', 'Delafontaine', 'FONTAINE', "d'Artagnan", 'Martin', 'Martine', 'Dupont-Durand', 'Dupont Durand', 'Dupond'];
const givenNames = ['Hélène', 'Helene', 'Héléne', 'Marie', 'Jean-Pierre', 'Jean Pierre', 'Jean', 'Pierre', 'Marie-Hélène', 'Héloïse'];
const dates = ['1979-03-08', '1979-08-03', '1979-03', '1979', '1979-01-01', '1979-12-31', '1980-03-08', '1979-04-08', '1979-03-09'];
const places = ['76540', '76451', '76', '75056', '2A004', '2B033', '97411', '97422', '99134', '99350', undefined];
const insValues = [
  undefined,
  { matricule: NIR_HELENE, oid: OID.NIR },
  { matricule: NIR_OTHER, oid: OID.NIR },
  { matricule: NIA_HELENE, oid: OID.NIA },
  { matricule: NIR_HELENE, oid: OID.TEST },
];

const identity: fc.Arbitrary<IdentityInput> = fc
  .record({
    status: fc.constantFrom('PROV' as const, 'RECUP' as const, 'VALI' as const, 'QUAL' as const),
    birthName: fc.constantFrom(...birthNames),
    firstBirthGivenName: fc.constantFrom(...givenNames),
    others: fc.subarray(givenNames, { maxLength: 3 }),
    birthDate: fc.constantFrom(...dates),
    sex: fc.constantFrom('F' as const, 'M' as const, 'I' as const),
    birthPlaceInsee: fc.constantFrom(...places),
    usedName: fc.option(fc.constantFrom(...birthNames), { nil: undefined }),
    ins: fc.constantFrom(...insValues),
  })
  .map(({ others, birthPlaceInsee, usedName, ins, ...t }) => {
    const input: IdentityInput = { ...HELENE, ...t, birthGivenNames: [t.firstBirthGivenName, ...others.filter((g) => g !== t.firstBirthGivenName)] };
    delete input.birthPlaceInsee;
    if (birthPlaceInsee !== undefined) input.birthPlaceInsee = birthPlaceInsee;
    if (usedName !== undefined) input.usedName = usedName;
    // The domain schema accepts an INS only for VALI / QUAL traits in some combinations: keep it simple, any status.
    if (ins !== undefined) input.ins = ins;
    return input;
  });

const safePerson = (i: IdentityInput): NormalisedIdentity | undefined => {
  try {
    return person(i, i);
  } catch {
    return undefined;
  }
};

describe('isCertainlyNotPacked agrees with the full comparison', () => {
  it('on pairs drawn from small pools of French variants (every field, every level)', () => {
    let checked = 0;
    fc.assert(
      fc.property(identity, identity, (a, b) => {
        const q = safePerson(a);
        const c = safePerson(b);
        if (!q || !c) return;
        checked++;
        const [packed, full] = verdicts(q, c);
        expect(packed, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`).toBe(full);
      }),
      { numRuns: 20_000, seed: 20261122 },
    );
    expect(checked).toBeGreaterThan(10_000);
  });

  it('with other weights and thresholds (a rules file tuned differently)', () => {
    const doc = parseYaml(readFileSync(DEFAULT_IDENTITY_RULES_FILE, 'utf8')) as {
      fields: Record<string, Record<string, Record<string, number>>>;
      thresholds: Record<string, number>;
      jaroWinkler: Record<string, number>;
    };
    // Looser similarity, a used name worth more than a similarity, a lower review threshold.
    doc.jaroWinkler = { birthName: 0.8, givenName: 0.85 };
    doc.fields.birthName['used-name'] = { m: 0.01, u: 0.00001 };
    doc.thresholds = { probable: 20, possible: 2 };
    // Distinct rules on the levels the cheap path settles last (similarities, used name) and on a default date.
    (doc as unknown as { policy: Record<string, unknown> }).policy.distinct = [
      { name: 'fuzzy-names', levels: { birthName: ['jaro-winkler', 'used-name'], givenName: ['jaro-winkler', 'different'] } },
      { name: 'swapped-abroad', levels: { birthDate: ['day-month-swapped', 'exact-default'], birthPlace: ['same-country', 'missing'] }, unlessDefaultDate: true },
      { name: 'other-authority', levels: { ins: ['other-authority'], sex: ['missing', 'different'] } },
    ];
    const tuned = compileIdentityRules(doc, 'tuned');
    fc.assert(
      fc.property(identity, identity, (a, b) => {
        const q = safePerson(a);
        const c = safePerson(b);
        if (!q || !c) return;
        const [packed, full] = verdicts(q, c, tuned);
        expect(packed, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`).toBe(full);
      }),
      { numRuns: 5_000, seed: 7 },
    );
  });

  it('on every candidate the blocking index gives, over a generated registry with French duplicates', () => {
    const index = new CandidateIndex();
    let seq = 0;
    let pairs = 0;
    let dropped = 0;
    for (const g of iterateIdentities({ seed: 77, persons: 6000, duplicateRate: 0.3 })) {
      const n = normaliseIdentity(g.identity);
      const keys = blockingKeys(n);
      const { ids, packed: packedOf } = index.lookup(keys, RULES.blocking.maxCandidatesPerKey);
      const full: MatchResult[] = [];
      for (const [i, id] of ids.entries()) {
        const e = index.get(id);
        if (!e) continue;
        const packed = packedOf[i];
        expect(packed).toBeDefined();
        const r = compareIdentities(n, { federatedId: id, identity: e.identity, flags: e.flags }, RULES, { explain: false });
        if (r.grade !== 'certainly-not') full.push(r);
        const fast = isCertainlyNotPacked(n, view.read(packed as string), RULES);
        expect(fast, `${JSON.stringify(g.identity)} vs ${id}`).toBe(r.grade === 'certainly-not');
        pairs++;
        if (fast) dropped++;
      }
      // The matcher's loop gives what comparing every candidate in full gives.
      expect(matchCandidates(index, n, RULES, { cap: RULES.blocking.maxCandidatesPerKey }).results).toEqual(guardTwins(full));
      index.set({ id: `f${++seq}`, identity: matchTraits(n), flags: [], keys, seq });
    }
    expect(pairs).toBeGreaterThan(5000);
    // The cheap path is taken (at this size many candidates are copies of the same person; at a million, most are not).
    expect(dropped / pairs).toBeGreaterThan(0.2);
  });
});
