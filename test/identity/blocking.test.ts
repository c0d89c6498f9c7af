// Multi-pass blocking keys: which passes an identity joins, and that each French corruption still meets its original.
import { describe, expect, it } from 'vitest';
import { blockingKeys } from '../../src/identity/blocking.js';
import { HELENE, NIA_HELENE, NIR_HELENE, OID, person } from './identities.js';

describe('blockingKeys', () => {
  it('emits one key per pass, in a fixed order', () => {
    const n = person({ status: 'QUAL', ins: { matricule: NIR_HELENE, oid: OID.NIR }, birthName: 'de la Fontaine', usedName: 'Martin' });
    expect(blockingKeys(n)).toEqual([
      `ins:${NIR_HELENE}`,
      'bd-sex:1979-03-08|F',
      'name-year:DELAFONTAINE|1979',
      'name-year:FONTAINE|1979',
      'name-year:MARTIN|1979',
      'phon-init-year:F1TYNE|H|1979',
      'place-bd:76540|1979-03-08',
      'given-year-sex-dept:HELENE|1979|F|76',
      'given-year-sex-dept:MARIE|1979|F|76',
    ]);
  });

  it('drops duplicate keys, date keys for partial dates and the place key for people born abroad', () => {
    expect(blockingKeys(person({ birthName: 'Lefèvre', birthGivenNames: ['Hélène', 'HELENE'] }))).toEqual([
      'bd-sex:1979-03-08|F',
      'name-year:LEFEVRE|1979',
      'phon-init-year:LEFEFRE|H|1979',
      'place-bd:76540|1979-03-08',
      'given-year-sex-dept:HELENE|1979|F|76',
    ]);
    expect(blockingKeys(person({ birthDate: '1979-03' }))).toEqual([
      'name-year:LEFEVRE|1979',
      'phon-init-year:LEFEFRE|H|1979',
      'given-year-sex-dept:HELENE|1979|F|76',
      'given-year-sex-dept:MARIE|1979|F|76',
    ]);
    expect(blockingKeys(person({ birthPlaceInsee: '99350' })).some((k) => k.startsWith('place-bd:'))).toBe(false);
  });

  // Original: Hélène LEFÈVRE (used name MARTIN), F, 1979-03-08, Rouen 76540; the duplicate, from another source, has
  // no used name. The shared keys name the passes that still recall it: any one suffices.
  const corruptions: [string, Parameters<typeof person>[0], string[]][] = [
    ['accent drop', { birthName: 'LEFEVRE', firstBirthGivenName: 'HELENE', birthGivenNames: ['HELENE', 'MARIE'] }, ['bd-sex', 'name-year:LEFEVRE', 'phon-init-year', 'place-bd', 'given-year-sex-dept']],
    ['hyphen in the name', { birthName: 'Le-Fèvre' }, ['bd-sex', 'name-year:LEFEVRE', 'place-bd', 'given-year-sex-dept']],
    ['used name instead of birth name', { birthName: 'Martin' }, ['bd-sex', 'name-year:MARTIN', 'place-bd', 'given-year-sex-dept']],
    ['second given name first', { firstBirthGivenName: 'Marie', birthGivenNames: ['Marie', 'Hélène'] }, ['bd-sex', 'name-year:LEFEVRE', 'place-bd', 'given-year-sex-dept']],
    ['day / month inversion', { birthDate: '1979-08-03' }, ['name-year:LEFEVRE', 'phon-init-year', 'given-year-sex-dept']],
    ['partial date', { birthDate: '1979' }, ['name-year:LEFEVRE', 'phon-init-year', 'given-year-sex-dept']],
    ['typo in the birth name', { birthName: 'Lefèbre' }, ['bd-sex', 'phon-init-year', 'place-bd', 'given-year-sex-dept']],
    ['NIA instead of NIR', { status: 'RECUP', ins: { matricule: NIA_HELENE, oid: OID.NIA } }, ['bd-sex', 'name-year:LEFEVRE', 'phon-init-year', 'place-bd', 'given-year-sex-dept']],
    ['birthplace recoded', { birthPlaceInsee: '76541' }, ['bd-sex', 'name-year:LEFEVRE', 'phon-init-year', 'given-year-sex-dept']],
  ];

  it.each(corruptions)('a duplicate with a %s meets its original through the expected passes', (_kind, over, passes) => {
    const original = new Set(blockingKeys(person({ usedName: 'Martin' })));
    const shared = blockingKeys(person(over)).filter((k) => original.has(k));
    const pass = (k: string): string => (k.startsWith('name-year:') ? k.slice(0, k.indexOf('|')) : k.slice(0, k.indexOf(':')));
    expect([...new Set(shared.map(pass))]).toEqual(passes);
  });

  it('particle collapse and particle drop still meet the spaced form', () => {
    const spaced = new Set(blockingKeys(person({ birthName: 'de la Fontaine' })));
    for (const birthName of ['DELAFONTAINE', 'Fontaine']) {
      expect(blockingKeys(person({ birthName })).filter((k) => k.startsWith('name-year:') && spaced.has(k))).not.toEqual([]);
    }
  });

  it('is deterministic and small', () => {
    const n = person({ ...HELENE, usedName: 'Martin' });
    expect(blockingKeys(n)).toEqual(blockingKeys(person({ ...HELENE, usedName: 'Martin' })));
    expect(blockingKeys(n).length).toBeLessThanOrEqual(10);
  });
});
