// The synthetic identity generator: deterministic, schema-valid, INS consistent with the traits, and every
// corruption / hard case does what its ground-truth name says (the identity benchmark's accuracy rests on it).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateFiles } from '../../scripts/generate-identities.js';
import { INS_OIDS, PatientIdentity } from '../../src/domain/identity.js';
import { insKey, isValidInsMatricule } from '../../src/domain/ins.js';
import { validateResource } from '../../src/fhir/validate.js';
import {
  birthplace,
  CORRUPTION_KINDS,
  deburr,
  generateIdentities,
  iterateIdentities,
  toFhirPatient,
  TRUTH_CSV_HEADER,
  type CorruptionKind,
  type GeneratedIdentity,
  type GeneratedPerson,
} from './identity-generator.js';

const PERSONS = 20_000;
let sample: GeneratedIdentity[] = [];
const persons = new Map<string, GeneratedPerson>();

beforeAll(() => {
  sample = generateIdentities({ seed: 7, persons: PERSONS, duplicateRate: 0.3 }).identities;
  for (const g of sample) persons.set(g.personId, g.person);
});

const withKind = (kind: CorruptionKind, only = true) =>
  sample.filter((g) => (only ? g.corruptions.length === 1 && g.corruptions[0] === kind : g.corruptions.includes(kind)));
const accents = (s: string) => [...s].filter((c) => c !== deburr(c)).length;
const collapse = (s: string) => s.replace(/[-\s]/g, '');
const givenList = (i: PatientIdentity) => i.birthGivenNames ?? [i.firstBirthGivenName];

/** Optimal string alignment distance (substitution, insertion, deletion, adjacent transposition). */
function osa(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** Which traits of a copy differ from what a faithful copy of its person would carry. */
function changed(g: GeneratedIdentity): Set<string> {
  const { identity: i, person: p } = g;
  const out = new Set<string>();
  if (i.birthName !== p.birthName) out.add('birthName');
  if (i.firstBirthGivenName !== p.givenNames[0] || (i.birthGivenNames && i.birthGivenNames.join('|') !== p.givenNames.join('|'))) out.add('givenNames');
  if (i.usedName !== p.usedName) out.add('usedName');
  if (i.usedGivenName !== undefined && i.usedGivenName !== p.givenNames[1]) out.add('usedGivenName');
  if (i.birthDate !== p.birthDate) out.add('birthDate');
  if (i.birthPlaceInsee !== p.birthPlaceInsee) out.add('birthPlace');
  if (i.sex !== p.sex) out.add('sex');
  const carriesIns = i.status === 'QUAL' || i.status === 'RECUP';
  if ((carriesIns ? JSON.stringify(p.ins) : undefined) !== (i.ins ? JSON.stringify(i.ins) : undefined)) out.add('ins');
  return out;
}

/** What each corruption may touch, and the exact change it must make. */
const EXPECTED: Record<CorruptionKind, { touches: string[]; check: (g: GeneratedIdentity) => void }> = {
  'used-name-as-birth-name': {
    touches: ['birthName', 'usedName'],
    check: ({ identity: i, person: p }) => {
      expect(i.birthName).toBe(p.usedName);
      expect(i.usedName).toBeUndefined();
    },
  },
  'particle-collapse': {
    touches: ['birthName'],
    check: ({ identity: i, person: p }) => {
      expect(p.birthName).toMatch(/^(DE|DU|DES|DA|DOS|LE|LA|LES|D'|L')[ ']?/);
      expect(p.birthName).toMatch(/[ ']/);
      expect(i.birthName).toBe(p.birthName.replace(/[ ']/g, ''));
    },
  },
  'particle-drop': {
    touches: ['birthName'],
    check: ({ identity: i, person: p }) => {
      const particle = p.birthName.slice(0, p.birthName.length - i.birthName.length);
      expect(p.birthName.endsWith(i.birthName)).toBe(true);
      expect(particle).toMatch(/^(DE LA |DE L'|DES |DE |DU |DA |DOS |LE |LA |LES |D'|L')$/);
    },
  },
  'hyphen-space': {
    touches: ['birthName', 'givenNames'],
    check: ({ identity: i, person: p }) => {
      expect(collapse(i.birthName)).toBe(collapse(p.birthName));
      if (i.birthGivenNames) expect(collapse(i.birthGivenNames.join(''))).toBe(collapse(p.givenNames.join('')));
      else expect(collapse(p.givenNames.join('')).startsWith(collapse(i.firstBirthGivenName))).toBe(true);
    },
  },
  'second-given-first': {
    touches: ['givenNames'],
    check: ({ identity: i, person: p }) => {
      expect(i.firstBirthGivenName).toBe(p.givenNames[1]);
      if (i.birthGivenNames) expect(i.birthGivenNames.slice(0, 2)).toEqual([p.givenNames[1], p.givenNames[0]]);
    },
  },
  'accent-drop': {
    touches: ['birthName', 'givenNames', 'usedName', 'usedGivenName'],
    check: ({ identity: i, person: p }) => {
      const copyNames = [i.birthName, ...givenList(i), i.usedName ?? ''];
      expect(copyNames.map(accents)).toEqual(copyNames.map(() => 0));
      expect([p.birthName, ...p.givenNames, p.usedName ?? ''].some((s) => accents(s) > 0)).toBe(true);
      expect(i.birthName).toBe(deburr(p.birthName));
      expect(givenList(i)).toEqual(p.givenNames.slice(0, givenList(i).length).map(deburr));
    },
  },
  'accent-add': {
    touches: ['birthName', 'givenNames'],
    check: ({ identity: i, person: p }) => {
      expect(deburr(i.birthName)).toBe(deburr(p.birthName));
      expect(deburr(i.firstBirthGivenName)).toBe(deburr(p.givenNames[0]!));
      expect(accents(i.birthName) + accents(i.firstBirthGivenName)).toBe(accents(p.birthName) + accents(p.givenNames[0]!) + 1);
    },
  },
  typo: {
    touches: ['birthName', 'givenNames'],
    check: ({ identity: i, person: p }) => {
      const pairs: Array<[string, string]> = [[i.birthName, p.birthName], [i.firstBirthGivenName, p.givenNames[0]!]];
      const differing = pairs.filter(([a, b]) => a !== b);
      expect(differing).toHaveLength(1);
      const [a, b] = differing[0]!;
      expect(osa(a, b)).toBe(1);
      expect(deburr(a)).not.toBe(deburr(b)); // a real typo, not an accent variant
    },
  },
  'day-month-swap': {
    touches: ['birthDate'],
    check: ({ identity: i, person: p }) => {
      const [y, m, d] = p.birthDate.split('-');
      expect(i.birthDate).toBe(`${y}-${d}-${m}`);
      expect(m).not.toBe(d);
    },
  },
  'partial-date': {
    touches: ['birthDate'],
    check: ({ identity: i, person: p }) => {
      expect([4, 7]).toContain(i.birthDate.length);
      expect(p.birthDate.startsWith(i.birthDate)).toBe(true);
      expect(i.status).not.toBe('QUAL');
    },
  },
  'default-date': {
    touches: ['birthDate'],
    check: ({ identity: i, person: p }) => {
      expect([`${p.birthDate.slice(0, 4)}-12-31`, `${p.birthDate.slice(0, 4)}-01-01`]).toContain(i.birthDate);
      expect(i.birthDate).not.toBe(p.birthDate);
    },
  },
  'new-commune-code': {
    touches: ['birthPlace'],
    check: ({ identity: i, person: p }) => {
      expect(i.birthPlaceInsee).not.toBe(p.birthPlaceInsee);
      expect(i.birthPlaceInsee).toBe(birthplace(p.birthPlaceInsee)?.current);
      expect(i.birthPlaceInsee!.slice(0, 2)).toBe(p.birthPlaceInsee.slice(0, 2)); // same département
    },
  },
  'missing-ins': {
    touches: ['ins'],
    check: ({ identity: i }) => {
      expect(i.ins).toBeUndefined();
      expect(['RECUP', 'VALI']).toContain(i.status); // RECUP stays RECUP, QUAL cannot travel without INS → VALI
    },
  },
  'nia-instead-of-nir': {
    touches: ['ins'],
    check: ({ identity: i, person: p }) => {
      expect(i.ins).toEqual({ matricule: p.formerNia, oid: INS_OIDS.NIA });
      expect(i.ins!.matricule[0]).toMatch(/[78]/);
      expect(p.ins.matricule[0]).toMatch(/[12]/);
      expect(p.birthPlaceInsee.startsWith('99')).toBe(true);
    },
  },
  'status-downgrade': {
    touches: ['ins'],
    check: ({ identity: i, person: p }) => {
      expect(i.status).toBe('PROV');
      expect(i.ins).toEqual(p.ins);
    },
  },
};

describe('determinism', () => {
  const options = { seed: 42, persons: 3000, duplicateRate: 0.3 };

  it('the same seed gives the same identities, byte for byte', () => {
    expect(JSON.stringify(generateIdentities(options))).toBe(JSON.stringify(generateIdentities(options)));
  });

  it('a different seed gives different identities', () => {
    const a = generateIdentities(options).identities.map((g) => g.identity);
    const b = generateIdentities({ ...options, seed: 43 }).identities.map((g) => g.identity);
    expect(JSON.stringify(a)).not.toBe(JSON.stringify(b));
    expect(a.slice(0, 50).filter((x, k) => x.birthName === b[k]?.birthName && x.birthDate === b[k]?.birthDate).length).toBeLessThan(5);
  });

  it('the lazy iterator yields exactly what generateIdentities returns', () => {
    expect(JSON.stringify([...iterateIdentities(options)])).toBe(JSON.stringify(generateIdentities(options).identities));
  });

  it('rejects impossible options, naming the field', () => {
    expect(() => generateIdentities({ seed: 1, persons: 10, duplicateRate: 1 })).toThrow(/duplicateRate/);
    expect(() => generateIdentities({ seed: 1, persons: -1, duplicateRate: 0.3 })).toThrow(/persons/);
    expect(() => generateIdentities({ seed: 1, persons: 10, duplicateRate: 0.3, statusMix: { QUAL: 0 } })).toThrow(/statusMix/);
  });
});

describe('generated identities', () => {
  it('every one parses with the PatientIdentity schema, unchanged', () => {
    for (const g of sample) {
      const r = PatientIdentity.safeParse(g.identity);
      expect(r.error?.issues, JSON.stringify(g.identity)).toBeUndefined();
      expect(r.data).toEqual(g.identity);
    }
  });

  it('there are exactly `persons` persons and every source id is unique', () => {
    expect(persons.size).toBe(PERSONS);
    const ids = new Set(sample.map((g) => `${g.identity.sourceId.system}|${g.identity.sourceId.value}`));
    expect(ids.size).toBe(sample.length);
    expect(sample.every((g) => /^urn:oid:1\.2\.250\.1\.999\.(1\.\d{9}\.1|2\.\d{9})$/.test(g.identity.sourceId.system))).toBe(true);
  });

  it('the duplicate share is close to the requested rate', () => {
    const share = sample.filter((g) => g.copy > 0).length / sample.length;
    expect(Math.abs(share - 0.3)).toBeLessThan(0.01);
    const half = generateIdentities({ seed: 3, persons: 5000, duplicateRate: 0.5 }).identities;
    expect(Math.abs(half.filter((g) => g.copy > 0).length / half.length - 0.5)).toBeLessThan(0.03);
    expect(generateIdentities({ seed: 3, persons: 500, duplicateRate: 0 }).identities.every((g) => g.copy === 0)).toBe(true);
  });

  it('persons are interleaved: extra copies arrive later, mixed with other persons, often from another source', () => {
    const firstAt = new Map<string, number>();
    const gaps: number[] = [];
    let otherSource = 0;
    sample.forEach((g, k) => {
      if (g.copy === 0) firstAt.set(g.personId, k);
      else {
        const first = firstAt.get(g.personId);
        expect(first, `copy ${g.copy} of ${g.personId} came before its first registration`).toBeDefined();
        gaps.push(k - first!);
        if (g.identity.sourceId.system !== sample[first!]!.identity.sourceId.system) otherSource++;
      }
    });
    gaps.sort((a, b) => a - b);
    expect(gaps[Math.floor(gaps.length / 2)]!).toBeGreaterThan(100);
    expect(otherSource / gaps.length).toBeGreaterThan(0.8);
  });

  it('status mix follows the default (QUAL 50, VALI 10, RECUP 15, PROV 25) and a custom one', () => {
    const faithful = sample.filter((g) => g.corruptions.length === 0);
    const share = (s: string) => faithful.filter((g) => g.identity.status === s).length / faithful.length;
    expect(share('QUAL')).toBeCloseTo(0.5, 1);
    expect(share('VALI')).toBeCloseTo(0.1, 1);
    expect(share('RECUP')).toBeCloseTo(0.15, 1);
    expect(share('PROV')).toBeCloseTo(0.25, 1);
    const onlyProv = generateIdentities({ seed: 5, persons: 300, duplicateRate: 0.3, statusMix: { PROV: 1 }, corruptionRate: 0 }).identities;
    expect(onlyProv.every((g) => g.identity.status === 'PROV' && g.identity.ins === undefined)).toBe(true);
  });

  it('a faithful copy carries the INS exactly when retrieved from INSi (RECUP, QUAL)', () => {
    for (const g of sample.filter((x) => x.corruptions.length === 0)) {
      expect(g.identity.ins !== undefined).toBe(g.identity.status === 'RECUP' || g.identity.status === 'QUAL');
      expect(changed(g)).toEqual(new Set());
    }
  });

  it('names are upper case with accents kept, including particle, hyphenated and space-compound forms', () => {
    const all = [...persons.values()];
    expect(all.every((p) => p.birthName === p.birthName.toUpperCase() && p.givenNames.every((n) => n === n.toUpperCase()))).toBe(true);
    expect(all.some((p) => p.birthName.startsWith('DE LA '))).toBe(true);
    expect(all.some((p) => /^[DL]'/.test(p.birthName))).toBe(true);
    expect(all.some((p) => /^[A-Z]+-[A-Z]+$/.test(p.birthName))).toBe(true);
    expect(all.some((p) => /^(JEAN|MARIE|ANNE)-/.test(p.givenNames[0]!))).toBe(true);
    expect(all.some((p) => /^(JEAN|MARIE|ANNE) /.test(p.givenNames[0]!))).toBe(true);
    expect(all.some((p) => accents(p.givenNames.join('')) > 0)).toBe(true);
    expect(all.filter((p) => p.usedName).every((p) => p.sex === 'F' && p.usedName !== p.birthName)).toBe(true);
    expect(all.filter((p) => p.usedName).length / all.length).toBeGreaterThan(0.15);
  });

  it('birth names are long-tailed like French surnames (50,000 persons), deterministically for a seed', () => {
    const birthNames = (seed: number) => generateIdentities({ seed, persons: 50_000, duplicateRate: 0 }).identities.map((g) => g.person.birthName);
    const names = birthNames(21);
    expect(names).toHaveLength(50_000);
    const counts = new Map<string, number>();
    for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1);
    expect(Math.max(...counts.values()) / names.length).toBeLessThan(0.01);
    expect(counts.size).toBeGreaterThan(10_000);
    expect(birthNames(21)).toEqual(names);
  });

  it('birth dates are mostly 1930–1960; birthplaces include Corsica, DOM and countries', () => {
    const all = [...persons.values()];
    const years = all.map((p) => Number(p.birthDate.slice(0, 4)));
    expect(years.every((y) => y >= 1920 && y <= 2010)).toBe(true);
    expect(years.filter((y) => y >= 1930 && y <= 1960).length / years.length).toBeGreaterThan(0.55);
    const places = new Set(all.map((p) => p.birthPlaceInsee));
    for (const code of ['2A004', '2B033', '97105', '97209', '97411', '97302', '97611', '99109', '99134', '99350', '99352', '99351', '99127', '99139']) {
      expect(places, code).toContain(code);
    }
  });
});

describe('INS matricules', () => {
  it('every key is valid (insKey), on copies and on persons', () => {
    for (const g of sample) if (g.identity.ins) expect(isValidInsMatricule(g.identity.ins.matricule), g.identity.ins.matricule).toBe(true);
    for (const p of persons.values()) {
      for (const m of [p.ins.matricule, p.formerNia].filter((x): x is string => x !== undefined)) {
        expect(Number(m.slice(13))).toBe(insKey(m.slice(0, 13)));
      }
    }
  });

  it('NIR / NIA agree with sex, birth year, month and place; OIDs test NIR (.10) and NIA (.9)', () => {
    for (const p of persons.values()) {
      const m = p.ins.matricule;
      const nia = p.ins.oid === INS_OIDS.NIA;
      expect(p.ins.oid).toBe(nia ? INS_OIDS.NIA : INS_OIDS['NIR-TEST']);
      expect(m[0]).toBe(nia ? (p.sex === 'M' ? '7' : '8') : p.sex === 'M' ? '1' : '2');
      expect(m.slice(1, 3)).toBe(p.birthDate.slice(2, 4));
      expect(m.slice(3, 5)).toBe(p.birthDate.slice(5, 7));
      expect(m.slice(5, 10)).toBe(p.birthPlaceInsee);
      expect(Number(m.slice(10, 13))).toBeGreaterThanOrEqual(1);
      if (nia || p.formerNia) expect(p.birthPlaceInsee.startsWith('99')).toBe(true);
      if (p.formerNia) expect(p.formerNia.slice(1, 10)).toBe(m.slice(1, 10));
    }
    const kinds = [...persons.values()].map((p) => p.ins.oid);
    expect(kinds).toContain(INS_OIDS.NIA);
    expect([...persons.values()].some((p) => p.ins.matricule.slice(5, 7) === '2A')).toBe(true);
  });

  it('faithful copies carry an INS consistent with their own traits', () => {
    for (const g of sample.filter((x) => x.corruptions.length === 0 && x.identity.ins)) {
      const { ins, sex, birthDate, birthPlaceInsee } = g.identity;
      expect('1278'.indexOf(ins!.matricule[0]!) % 2).toBe(sex === 'M' ? 0 : 1);
      expect(ins!.matricule.slice(1, 5)).toBe(birthDate.slice(2, 4) + birthDate.slice(5, 7));
      expect(ins!.matricule.slice(5, 10)).toBe(birthPlaceInsee);
    }
  });

  it('no two persons share a matricule', () => {
    const all = [...persons.values()].flatMap((p) => [p.ins.matricule, ...(p.formerNia ? [p.formerNia] : [])]);
    expect(new Set(all).size).toBe(all.length);
  });

  it('the NIR OID is configurable', () => {
    const prod = generateIdentities({ seed: 1, persons: 200, duplicateRate: 0, nirOid: INS_OIDS.NIR }).identities;
    expect(prod.every((g) => [INS_OIDS.NIR, INS_OIDS.NIA].includes(g.person.ins.oid as '1.2.250.1.213.1.4.8'))).toBe(true);
  });
});

describe('corruptions', () => {
  it.each(CORRUPTION_KINDS)('%s occurs and does exactly what it says', (kind) => {
    const hits = withKind(kind);
    expect(hits.length, `${kind} alone`).toBeGreaterThanOrEqual(5);
    for (const g of hits) {
      const diff = changed(g);
      for (const field of diff) expect(EXPECTED[kind].touches, `${kind} changed ${field}: ${JSON.stringify(g.identity)}`).toContain(field);
      EXPECTED[kind].check(g);
    }
  });

  it('combined corruptions are all named, each at most once, in a stable order', () => {
    const multi = sample.filter((g) => g.corruptions.length >= 2);
    expect(multi.length).toBeGreaterThan(100);
    for (const g of multi) {
      expect(new Set(g.corruptions).size).toBe(g.corruptions.length);
      const order = g.corruptions.map((k) => CORRUPTION_KINDS.indexOf(k));
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }
    const share = sample.filter((g) => g.corruptions.length > 0).length / sample.length;
    expect(share).toBeGreaterThan(0.3);
    expect(share).toBeLessThan(0.45);
  });

  it('hyphen-space covers hyphen → space, → nothing and space → hyphen', () => {
    const pairs = withKind('hyphen-space').flatMap((g) => g.person.givenNames.map((n, k) => [n, g.identity.birthGivenNames?.[k]] as const));
    const variants = new Set(pairs.filter(([a, b]) => b !== undefined && a !== b).map(([a, b]) => `${a.includes('-') ? 'hyphen' : 'space'}→${b!.includes('-') ? 'hyphen' : b!.includes(' ') ? 'space' : 'none'}`));
    expect(variants).toContain('hyphen→space');
    expect(variants).toContain('hyphen→none');
    expect(variants).toContain('space→hyphen');
  });

  it('corruptionRate 0 gives faithful copies only; corruptionWeights can single out one kind', () => {
    expect(generateIdentities({ seed: 9, persons: 500, duplicateRate: 0.3, corruptionRate: 0 }).identities.every((g) => g.corruptions.length === 0)).toBe(true);
    const onlyTypos = generateIdentities({
      seed: 9,
      persons: 500,
      duplicateRate: 0.3,
      corruptionRate: 1,
      corruptionWeights: Object.fromEntries(CORRUPTION_KINDS.map((k) => [k, k === 'typo' ? 1 : 0])),
    }).identities;
    expect(onlyTypos.every((g) => g.corruptions.join() === 'typo')).toBe(true);
  });
});

describe('hard cases', () => {
  it('twins share every trait but the first given name, with consecutive order numbers', () => {
    const twins = [...persons.values()].filter((p) => p.hardCase?.kind === 'twin');
    expect(twins.length).toBeGreaterThan(PERSONS * 0.005);
    for (const a of twins) {
      const b = persons.get(a.hardCase!.of)!;
      expect(b.hardCase).toEqual({ kind: 'twin', of: a.personId });
      expect(b.personId).not.toBe(a.personId);
      expect([b.birthName, b.sex, b.birthDate, b.birthPlaceInsee, b.givenNames.slice(1)]).toEqual([a.birthName, a.sex, a.birthDate, a.birthPlaceInsee, a.givenNames.slice(1)]);
      expect(collapse(deburr(b.givenNames[0]!))).not.toBe(collapse(deburr(a.givenNames[0]!)));
      expect(b.ins.matricule.slice(0, 10)).toBe(a.ins.matricule.slice(0, 10));
      expect(Math.abs(Number(b.ins.matricule.slice(10, 13)) - Number(a.ins.matricule.slice(10, 13)))).toBe(1);
    }
  });

  it('homonyms share birth name, first given name and birth year but are other persons', () => {
    const homonyms = [...persons.values()].filter((p) => p.hardCase?.kind === 'homonym');
    expect(homonyms.length).toBeGreaterThan(PERSONS * 0.005);
    for (const h of homonyms) {
      const of = persons.get(h.hardCase!.of)!;
      expect(of.personId).not.toBe(h.personId);
      expect([h.birthName, h.givenNames[0], h.sex, h.birthDate.slice(0, 4)]).toEqual([of.birthName, of.givenNames[0], of.sex, of.birthDate.slice(0, 4)]);
      expect(h.birthDate).not.toBe(of.birthDate);
      expect(h.ins.matricule).not.toBe(of.ins.matricule);
    }
  });
});

describe('FHIR export', () => {
  it('gives FR Core-style Patients: official birth name + first given + birth list, usual used name, INS only when QUAL', () => {
    const qual = sample.find((g) => g.identity.status === 'QUAL' && g.identity.usedName && g.identity.birthGivenNames && g.identity.birthGivenNames.length > 1)!;
    const p = toFhirPatient(qual.identity);
    const official = p.name?.find((n) => n.use === 'official');
    expect(official?.family).toBe(qual.identity.birthName);
    expect(official?.given).toEqual([qual.identity.firstBirthGivenName]);
    expect(official?.extension?.[0]?.valueString).toBe(qual.identity.birthGivenNames!.join(' '));
    expect(p.name?.find((n) => n.use === 'usual')?.family).toBe(qual.identity.usedName);
    expect(p.gender).toBe(qual.identity.sex === 'F' ? 'female' : 'male');
    expect(p.birthDate).toBe(qual.identity.birthDate);
    expect(JSON.stringify(p.extension)).toContain(`"code":"${qual.identity.birthPlaceInsee}"`);
    expect(p.identifier?.find((i) => i.use === 'official')).toMatchObject({ system: `urn:oid:${qual.identity.ins!.oid}`, value: qual.identity.ins!.matricule });
    expect(p.identifier?.find((i) => i.use === 'usual')).toMatchObject(qual.identity.sourceId);

    const recup = sample.find((g) => g.identity.status === 'RECUP' && g.identity.ins)!;
    expect(toFhirPatient(recup.identity).identifier?.map((i) => i.use)).toEqual(['usual']);
  });

  it('exported Patients validate against their profiles', () => {
    const some = sample.slice(0, 300);
    for (const g of some) {
      const errors = validateResource(toFhirPatient(g.identity)).filter((i) => i.severity === 'error');
      expect(errors, JSON.stringify(g.identity)).toEqual([]);
    }
  });

  it('the script writes one Patient per line and the ground truth CSV', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'passerelle-identities-'));
    const out = join(dir, 'p.ndjson');
    const truth = join(dir, 'truth.csv');
    const summary = await generateFiles({ seed: 1, persons: 500, duplicateRate: 0.3, out, truth });
    const lines = readFileSync(out, 'utf8').trimEnd().split('\n');
    const rows = readFileSync(truth, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(summary.identities);
    expect(rows[0]).toBe(TRUTH_CSV_HEADER);
    expect(rows).toHaveLength(summary.identities + 1);
    const expected = generateIdentities({ seed: 1, persons: 500, duplicateRate: 0.3 }).identities;
    lines.forEach((line, k) => {
      const patient = JSON.parse(line) as { resourceType: string; identifier: Array<{ use: string; system: string; value: string }> };
      expect(patient.resourceType).toBe('Patient');
      const usual = patient.identifier.find((i) => i.use === 'usual')!;
      const [system, value, personId, copy, corruptions] = rows[k + 1]!.split(',');
      expect([usual.system, usual.value]).toEqual([system, value]);
      expect([personId, Number(copy), corruptions]).toEqual([expected[k]!.personId, expected[k]!.copy, expected[k]!.corruptions.join('|')]);
    });
  });
});

describe('scale', () => {
  it('streams 100,000 source identities lazily', () => {
    let n = 0;
    let duplicates = 0;
    for (const g of iterateIdentities({ seed: 11, persons: 70_000, duplicateRate: 0.3 })) {
      n++;
      if (g.copy > 0) duplicates++;
    }
    expect(n).toBeGreaterThan(95_000);
    expect(Math.abs(duplicates / n - 0.3)).toBeLessThan(0.01);
  });
});
