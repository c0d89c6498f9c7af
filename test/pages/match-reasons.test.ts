// The matcher's reasons in French (pages/match-reasons.ts), taken from the matcher itself: crafted pairs reach every
// template of decide.ts, guardTwins and collision.ts, and a seeded sweep of corrupted pairs checks that nothing the
// matcher says falls back to the untranslated text. A template added to the matcher and reached by these pairs, or
// a template of the page the matcher no longer produces, fails here.
import { describe, expect, it } from 'vitest';
import { changedStrictTraits, collisionComparison } from '../../src/identity/collision.js';
import { compareIdentities } from '../../src/identity/compare.js';
import { guardTwins } from '../../src/identity/decide.js';
import { matchTraits } from '../../src/identity/normalise.js';
import type { IdentityFlag, IdentityStatus, MatchResult, NormalisedIdentity } from '../../src/identity/types.js';
import { REASON_TEMPLATES, UNTRANSLATED_PREFIX, reasonLabel, translateReason } from '../../src/pages/match-reasons.js';
import { NIA_HELENE, NIR_HELENE, NIR_OTHER, OID, RULES, candidate, person, type IdentityInput } from '../identity/identities.js';
import { seededRandom } from '../support/random.js';

const match = (q: NormalisedIdentity, c: NormalisedIdentity, flags: IdentityFlag[] = [], id = 'FED-1'): MatchResult => compareIdentities(q, candidate(c, flags, id), RULES);
const qual = (over: Partial<IdentityInput> = {}) => person({ status: 'QUAL', ins: { matricule: NIR_HELENE, oid: OID.NIR }, ...over });
const stranger: Partial<IdentityInput> = { birthName: 'Martin', firstBirthGivenName: 'Paul', birthGivenNames: ['Paul'], birthDate: '1950-06-01', sex: 'M', birthPlaceInsee: '13055' };

/** Pairs chosen so that, together, they make the matcher say every one of its reasons; named by what they show. */
function craftedResults(): [string, MatchResult][] {
  const twinQuery = person({ firstBirthGivenName: 'Marie', birthGivenNames: ['Marie', 'Noëlle', 'France'] });
  const sister = qual({ firstBirthGivenName: 'Marie', birthGivenNames: undefined });
  const twin = person({ firstBirthGivenName: 'Marie-Noëlle', birthGivenNames: ['Marie-Noëlle', 'France'] });
  const before = qual();
  const after = qual({ birthName: 'Martin', sex: 'M' });
  const collision = collisionComparison(matchTraits(after), { federatedId: 'FED-Q', identity: matchTraits(before), flags: [] }, changedStrictTraits(matchTraits(before), matchTraits(after), RULES), RULES);
  return [
    ['equal, a VALI side', match(person(), person())],
    ['equal, same INS, a VALI side', match(person({ ins: { matricule: NIR_HELENE, oid: OID.NIR } }), qual())],
    ['same INS, both QUAL', match(qual(), qual())],
    ['different INS', match(qual({ ins: { matricule: NIR_OTHER, oid: OID.NIR } }), qual())],
    ['same INS, a given name differs', match(qual({ firstBirthGivenName: 'Claire', birthGivenNames: ['Claire'] }), qual())],
    ['same INS, another person altogether', match(person({ ...stranger, status: 'RECUP', ins: { matricule: NIR_HELENE, oid: OID.NIR } }), qual())],
    ['lists of given names differ (query side)', match(person({ birthGivenNames: ['Hélène', 'Claire'] }), person())],
    ['lists of given names differ (candidate side)', match(person(), person({ birthGivenNames: ['Hélène', 'Claire'] }))],
    ['candidate flagged', match(person(), person(), ['HOMA', 'DOUT'])],
    ['neither VALI nor QUAL', match(person({ status: 'PROV' }), person({ status: 'RECUP' }))],
    ['default date abroad', match(person({ birthDate: '1979-01-01', birthPlaceInsee: '99134' }), person({ birthDate: '1979-01-01', birthPlaceInsee: '99134' }))],
    ['phonetic birth name', match(person({ birthName: 'Lefebvre' }), person())],
    ['partial birth date', match(person({ birthDate: '1979-03' }), person())],
    ['a stranger', match(person(stranger), person())],
    ['another birth name, the same year only', match(person({ birthName: 'Durand', birthDate: '1979-11-20' }), person())],
    ['NIA against NIR, a typo', match(person({ birthName: 'Lefevra', ins: { matricule: NIA_HELENE, oid: OID.NIA } }), qual())],
    ['twin guard', guardTwins([match(twinQuery, sister, [], 'SISTER'), match(twinQuery, twin, [], 'TWIN')])[0]!],
    ['collision of a qualified identity', collision],
  ];
}

const STATUSES: IdentityStatus[] = ['PROV', 'RECUP', 'VALI', 'QUAL'];
/** One corruption per trait, mild to total, so the sweep reaches every agreement level. */
const VARIANTS: Partial<IdentityInput>[][] = [
  [{}, { birthName: 'Le Fèvre' }, { birthName: 'Lefebvre' }, { birthName: 'Lefevra' }, { birthName: 'Martin' }, { birthName: 'Benali' }],
  [{}, { firstBirthGivenName: 'Marie', birthGivenNames: ['Marie', 'Hélène'] }, { firstBirthGivenName: 'Hélèna', birthGivenNames: ['Hélèna'] }, { firstBirthGivenName: 'Yasmina', birthGivenNames: ['Yasmina'] }, { firstBirthGivenName: 'Hélène', birthGivenNames: ['Hélène', 'Claire'] }],
  [{}, { birthDate: '1979-08-03' }, { birthDate: '1979-03' }, { birthDate: '1979' }, { birthDate: '1979-11-20' }, { birthDate: '1979-01-01' }, { birthDate: '1952-11-20' }],
  [{}, { sex: 'M' }, { sex: 'I' }],
  [{}, { birthPlaceInsee: '76541' }, { birthPlaceInsee: '59350' }, { birthPlaceInsee: undefined }, { birthPlaceInsee: '99134' }],
  [{}, { ins: { matricule: NIR_HELENE, oid: OID.NIR } }, { ins: { matricule: NIR_OTHER, oid: OID.NIR } }, { ins: { matricule: NIA_HELENE, oid: OID.NIA } }],
];

function sweep(n: number): MatchResult[] {
  const random = seededRandom(21);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const side = (): NormalisedIdentity => person(Object.assign({ status: pick(STATUSES), usedName: pick([undefined, 'Martin']) }, ...VARIANTS.map(pick)));
  const out: MatchResult[] = [];
  for (let i = 0; i < n; i++) {
    const q = side();
    const flags = random() < 0.1 ? [pick<IdentityFlag>(['HOMA', 'HOMD', 'DOUT', 'FICT', 'DPOT'])] : [];
    // Two candidates per query, the way the matcher grades them: the twin guard looks across candidates.
    out.push(...guardTwins([match(q, side(), flags, `FED-${i}-A`), match(q, side(), [], `FED-${i}-B`)]));
  }
  return out;
}

describe('the matcher’s reasons in French', () => {
  it('every reason of the crafted pairs is translated, and together they reach every template', () => {
    const seen = new Set<string>();
    for (const [name, r] of craftedResults()) {
      expect(r.reasons.length, name).toBeGreaterThan(0);
      for (const reason of r.reasons) {
        const french = translateReason(reason);
        expect(french, `${name}: ${reason}`).toBeDefined();
        seen.add(french!.template);
      }
    }
    expect([...seen].sort()).toEqual(REASON_TEMPLATES.map((t) => t.id).sort());
  });

  it('nothing the matcher says on 3,000 corrupted pairs falls back to the untranslated text', () => {
    const untranslated = new Set<string>();
    let reasons = 0;
    for (const r of sweep(1500)) {
      for (const reason of r.reasons) {
        reasons++;
        if (reasonLabel(reason).startsWith(UNTRANSLATED_PREFIX)) untranslated.add(reason);
      }
    }
    expect(reasons).toBeGreaterThan(3000);
    expect([...untranslated]).toEqual([]);
  });

  it('reads as French: field and level words of the page, decimal comma, RNIV codes kept, no English left', () => {
    const reasons = craftedResults().flatMap(([, r]) => r.reasons);
    const french = reasons.map(reasonLabel);
    for (const text of french) expect(text).not.toMatch(/threshold|not certain|\breview\b|flagged|identity|weight|same INS|strict traits|auto-link/);
    expect(reasonLabel('not certain: birthName phonetic, sex missing')).toBe('Correspondance non « certaine » : Nom de naissance : proche à l’oreille ; Sexe : absent');
    expect(reasonLabel('weight 12.3 ≥ probable threshold 10')).toBe('Poids 12,3, au moins le seuil de la correspondance « probable » (10)');
    expect(reasonLabel('weight -3.1 below possible threshold 5, kept for review')).toBe('Poids -3,1, sous le seuil de la correspondance « possible » (5) : gardé pour examen malgré tout');
    expect(reasonLabel('candidate flagged COLV: never auto-linked')).toBe('Identité existante signalée COLV : jamais rapprochée automatiquement');
    expect(french.join('\n')).toContain('Même INS mais des traits stricts diffèrent (Prénoms : différent) : collision potentielle (COLP)');
    expect(french.join('\n')).toContain('(identité nouvelle validée (VALI), identité existante qualifiée (QUAL)) : même INS, au moins une identité validée (VALI) ou qualifiée (QUAL)');
    expect(french.join('\n')).toContain('a changé des traits stricts (Nom de naissance, Sexe) : collision potentielle (COLP), l’identité reste validée (VALI)');
    expect(french.join('\n')).toContain('Une autre identité candidate (TWIN) a les mêmes nom de naissance');
  });

  it('an unknown text, or a known template naming something unknown, is shown as written behind the marker', () => {
    expect(reasonLabel('a brand new rule of the matcher')).toBe(`${UNTRANSLATED_PREFIX} a brand new rule of the matcher`);
    // Half a translation would mislead: an unknown level or field, status or list side leaves the whole reason as it is.
    for (const raw of [
      'not certain: birthName telepathic',
      'not certain: shoeSize exact',
      'same INS but strict traits differ (constructor exact): potential collision (COLP)',
      'the five strict traits are equal after normalisation (query ABCD, candidate VALI)',
      'the lists of birth given names differ (toString): possibly twins, review',
    ]) {
      expect(translateReason(raw), raw).toBeUndefined();
      expect(reasonLabel(raw)).toBe(`${UNTRANSLATED_PREFIX} ${raw}`);
    }
  });
});
