// The in-memory blocking index: capped lookups, a transaction's overlay seen only by it, later states winning.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { blockingKeys } from '../../src/identity/blocking.js';
import { CandidateIndex, IndexOverlay, packTraits, unpackTraits, type IndexEntry } from '../../src/identity/candidate-index.js';
import { matchTraits, normaliseIdentity } from '../../src/identity/normalise.js';
import type { MatchTraits } from '../../src/identity/types.js';
import { NIA_HELENE, NIR_HELENE, OID, person } from './identities.js';

const identity = normaliseIdentity({
  sourceId: { system: 'urn:oid:1.2.3', value: 'x' },
  status: 'PROV',
  birthName: 'DUPONT',
  firstBirthGivenName: 'MARIE',
  birthDate: '1969-05-12',
  sex: 'F',
});
const entry = (id: string, keys: string[], seq: number): IndexEntry => ({ id, identity, flags: [], keys, seq });

describe('CandidateIndex', () => {
  it('files identities under their keys and looks them up, distinct, capped per key', () => {
    const index = new CandidateIndex();
    index.set(entry('A', ['k1', 'hot'], 1));
    index.set(entry('B', ['k2', 'hot'], 2));
    index.set(entry('C', ['hot', 'hot'], 3));
    expect(index.size).toBe(3);
    expect(index.lookup(['k1', 'k2', 'none'], 10)).toMatchObject({ ids: ['A', 'B'], truncatedKeys: [] });
    expect(index.lookup(['hot'], 2)).toMatchObject({ ids: ['A', 'B'], truncatedKeys: ['hot'] });
    // Each id comes with its stored traits, packed when they could be.
    const { ids, packed } = index.lookup(['k1', 'k2', 'hot'], 10);
    expect(packed).toHaveLength(ids.length);
    ids.forEach((id, i) => expect(packed[i] === undefined ? undefined : unpackTraits(packed[i] as string)).toEqual(packTraits(index.get(id)!.identity) === undefined ? undefined : index.get(id)!.identity));
    expect(index.lookup(['hot', 'k1'], 3).ids).toEqual(['A', 'B', 'C']);
  });

  it('reads the flags of an identity without its traits', () => {
    const index = new CandidateIndex();
    index.set({ ...entry('A', ['k1'], 1), flags: ['DPOT', 'COLV'] });
    index.set(entry('B', ['k1'], 2));
    expect(index.flagsOf('A')).toEqual(['DPOT', 'COLV']);
    expect(index.flagsOf('B')).toEqual([]);
    index.set({ ...entry('A', ['k1'], 3), flags: ['COLP'] });
    expect(index.flagsOf('A')).toEqual(index.get('A')?.flags);
    index.remove('A', 4);
    expect(index.flagsOf('A')).toBeUndefined();
  });

  it('re-files an identity whose keys changed and forgets a removed one', () => {
    const index = new CandidateIndex();
    index.set(entry('A', ['k1', 'k2'], 1));
    index.set(entry('A', ['k2', 'k3'], 2));
    expect(index.lookup(['k1'], 10).ids).toEqual([]);
    expect(index.lookup(['k3'], 10).ids).toEqual(['A']);
    index.remove('A', 3);
    expect(index.lookup(['k2', 'k3'], 10).ids).toEqual([]);
    expect(index.keyCount).toBe(0);
  });

  it('ignores a state older than the one it holds (a catch-up read before a commit applied after it)', () => {
    const index = new CandidateIndex();
    index.set(entry('A', ['new'], 5));
    index.set(entry('A', ['old'], 4));
    expect(index.get('A')?.keys).toEqual(['new']);
    index.remove('A', 7);
    index.set(entry('A', ['stale'], 6));
    expect(index.get('A')).toBeUndefined();
    index.set(entry('A', ['back'], 8));
    expect(index.get('A')?.keys).toEqual(['back']);
  });

  it('shows a transaction its own staged changes, and everyone once applied', () => {
    const index = new CandidateIndex();
    index.set(entry('A', ['k1'], 1));
    index.set(entry('B', ['k1'], 2));
    const overlay = new IndexOverlay();
    overlay.set(entry('C', ['k1'], 3));
    overlay.set(entry('A', ['k9'], 4));
    overlay.remove('B', 5);
    expect(index.lookup(['k1'], 10, overlay).ids).toEqual(['C']);
    expect(index.lookup(['k9'], 10, overlay).ids).toEqual(['A']);
    expect(index.get('B', overlay)).toBeUndefined();
    expect(index.lookup(['k1'], 10).ids).toEqual(['A', 'B']);
    index.apply(overlay);
    expect(index.lookup(['k1'], 10).ids).toEqual(['C']);
    expect(index.lookup(['k9'], 10).ids).toEqual(['A']);
    expect(index.size).toBe(2);
  });

  it('caps a key across committed and staged identities', () => {
    const index = new CandidateIndex();
    index.set(entry('A', ['hot'], 1));
    const overlay = new IndexOverlay();
    overlay.set(entry('B', ['hot'], 2));
    overlay.set(entry('C', ['hot'], 3));
    expect(index.lookup(['hot'], 2, overlay)).toMatchObject({ ids: ['A', 'B'], truncatedKeys: ['hot'] });
  });
});

// ---- compact storage ------------------------------------------------------------------------------------------------

const stored = (traits: MatchTraits): MatchTraits | undefined => {
  const index = new CandidateIndex();
  index.set({ id: 'X', identity: traits, flags: [], keys: ['k'], seq: 1 });
  return index.get('X')?.identity;
};

describe('CandidateIndex packed traits', () => {
  const cases: Record<string, MatchTraits> = {
    'every field (used name, French birthplace, NIR, several given names)': matchTraits(
      person({ status: 'QUAL', usedName: 'de la Fontaine', birthGivenNames: ['Hélène', 'Marie-Claire'], ins: { matricule: NIR_HELENE, oid: OID.NIR } }),
    ),
    'born abroad with a NIA': matchTraits(person({ status: 'RECUP', birthPlaceInsee: '99134', ins: { matricule: NIA_HELENE, oid: OID.NIA } })),
    'no optional field': matchTraits(person({ status: 'PROV', birthPlaceInsee: undefined, birthGivenNames: undefined })),
    'year only': matchTraits(person({ birthDate: '1979' })),
    'year and month': matchTraits(person({ birthDate: '1979-03' })),
    'default date 01-01': matchTraits(person({ birthDate: '1979-01-01' })),
    'default date 12-31': matchTraits(person({ birthDate: '1979-12-31' })),
    'Corsican birthplace': matchTraits(person({ birthPlaceInsee: '2A004' })),
  };

  for (const [name, traits] of Object.entries(cases)) {
    it(`packs and unpacks exactly: ${name}`, () => {
      const packed = packTraits(traits);
      expect(packed).toBeTypeOf('string');
      expect(unpackTraits(packed as string)).toStrictEqual(traits);
      expect(stored(traits)).toStrictEqual(traits);
    });
  }

  it('reads back absent optional fields as absent and empty lists and strings as they were', () => {
    const traits: MatchTraits = {
      birthNameForm: '',
      birthNameKey: '',
      birthNameNoParticles: '',
      birthNamePhonetic: '',
      firstGivenForm: '',
      firstGivenKey: '',
      givenKeys: [],
      birthGivenKeys: [],
      birthDate: { year: 0, defaultDate: false },
      sex: 'I',
      status: 'PROV',
    };
    const back = stored(traits) as MatchTraits;
    expect(back).toStrictEqual(traits);
    for (const field of ['usedNameKey', 'birthPlace', 'ins'] as const) expect(field in back).toBe(false);
    expect(back.birthDate).toStrictEqual({ year: 0, defaultDate: false });
    for (const more of [
      { birthPlace: { code: '', abroad: true }, givenKeys: ['A', ''] },
      { usedNameKey: '', ins: { matricule: '', oid: '', kind: 'NIA' as const } },
      { birthNameForm: 'A', birthNameKey: 'A', birthNameNoParticles: 'A', firstGivenForm: 'B', firstGivenKey: 'B' },
      { firstGivenForm: 'B', firstGivenKey: 'B', givenKeys: ['B', 'BC', 'C'], birthGivenKeys: ['C', 'B'] },
      { firstGivenKey: 'B', givenKeys: ['B'], birthGivenKeys: ['B', ''] },
    ]) {
      expect(packTraits({ ...traits, ...more })).toBeTypeOf('string');
      expect(stored({ ...traits, ...more })).toStrictEqual({ ...traits, ...more });
    }
  });

  it('keeps as they are the traits it cannot pack exactly', () => {
    const base = cases['no optional field'];
    for (const odd of [
      { ...base, birthNameForm: 'A\u0001B' },
      { ...base, givenKeys: ['A\u0002B'] },
      { ...base, givenKeys: [''] },
      { ...base, birthNameKey: '\u0003' },
      { ...base, birthNameForm: '\u0003', birthNameKey: '\u0003' },
      { ...base, givenKeys: ['\u0003'] },
      { ...base, firstGivenKey: '\u0003', birthGivenKeys: ['\u0003'] },
      { ...base, status: 'LOST' as MatchTraits['status'] },
      { ...base, birthDate: { year: 1979, month: 0, defaultDate: false } },
      { ...base, birthDate: { year: 10_000, defaultDate: false } },
      { ...base, ins: { matricule: '1\u00012', oid: OID.NIR, kind: 'NIR' as const } },
      { ...base, birthDate: { year: -0, defaultDate: false } },
      { ...base, extra: 'not a MatchTraits field' } as MatchTraits,
    ]) {
      expect(packTraits(odd)).toBeUndefined();
      expect(stored(odd)).toBe(odd);
    }
  });

  it('gives back any traits exactly (property)', () => {
    const text = fc.string({ unit: 'binary', maxLength: 12 });
    const traits: fc.Arbitrary<MatchTraits> = fc.record(
      {
        birthNameForm: text,
        birthNameKey: text,
        birthNameNoParticles: text,
        birthNamePhonetic: text,
        usedNameKey: text,
        firstGivenForm: text,
        firstGivenKey: text,
        givenKeys: fc.array(text, { maxLength: 4 }),
        birthGivenKeys: fc.array(text, { maxLength: 4 }),
        birthDate: fc.record(
          { year: fc.integer({ min: 0, max: 9999 }), month: fc.integer({ min: 1, max: 12 }), day: fc.integer({ min: 1, max: 31 }), defaultDate: fc.boolean() },
          { requiredKeys: ['year', 'defaultDate'], noNullPrototype: true },
        ),
        sex: fc.constantFrom('F' as const, 'M' as const, 'I' as const),
        birthPlace: fc.record({ code: text, abroad: fc.boolean() }, { noNullPrototype: true }),
        ins: fc.record({ matricule: text, oid: text, kind: fc.constantFrom('NIR' as const, 'NIA' as const) }, { noNullPrototype: true }),
        status: fc.constantFrom('PROV' as const, 'RECUP' as const, 'VALI' as const, 'QUAL' as const),
      },
      { requiredKeys: ['birthNameForm', 'birthNameKey', 'birthNameNoParticles', 'birthNamePhonetic', 'firstGivenForm', 'firstGivenKey', 'givenKeys', 'birthGivenKeys', 'birthDate', 'sex', 'status'], noNullPrototype: true },
    );
    fc.assert(
      fc.property(traits, (t) => {
        expect(stored(t)).toStrictEqual(t);
      }),
      { numRuns: 500 },
    );
  });

  it('packs flags and gives back the keys an entry was filed under', () => {
    const n = person({ usedName: 'Martin' });
    const traits = matchTraits(n);
    const derived = blockingKeys(n);
    const index = new CandidateIndex();
    index.set({ id: 'A', identity: traits, flags: ['DPOT', 'HOMD'], keys: derived, seq: 1 });
    index.set({ id: 'B', identity: traits, flags: [], keys: [...derived, 'extra:1', 'extra:2'], seq: 2 });
    index.set({ id: 'C', identity: traits, flags: [], keys: ['other', ...derived], seq: 3 });
    index.set({ id: 'D', identity: traits, flags: [], keys: [], seq: 4 });
    index.set({ id: 'E', identity: traits, flags: [], keys: ['odd\u0002key', ''], seq: 5 });
    const a = index.get('A') as IndexEntry;
    expect([a.id, a.identity, a.flags, a.keys, a.seq]).toStrictEqual(['A', traits, ['DPOT', 'HOMD'], derived, 1]);
    expect(index.get('D')?.flags).toEqual([]);
    expect(index.get('B')?.keys).toEqual([...derived, 'extra:1', 'extra:2']);
    expect(index.get('C')?.keys).toEqual(['other', ...derived]);
    expect(index.get('D')?.keys).toEqual([]);
    expect(index.get('E')?.keys).toEqual(['odd\u0002key', '']);
    expect(index.lookup(['odd\u0002key'], 10).ids).toEqual(['E']);
    expect(index.lookup([derived[0]], 10).ids).toEqual(['A', 'B', 'C']);
  });

  it('keeps every key string when deriving them fails', () => {
    const index = new CandidateIndex({
      deriveKeys: () => {
        throw new Error('no');
      },
    });
    index.set(entry('A', ['k1', 'k2'], 1));
    expect(index.get('A')?.keys).toEqual(['k1', 'k2']);
  });
});

describe('CandidateIndex hash collisions', () => {
  // Keys of the same length share a hash.
  const byLength = { hash: (key: string) => key.length };

  it('returns extra candidates from a shared block, never fewer', () => {
    const index = new CandidateIndex(byLength);
    index.set(entry('A', ['ab', 'xyz'], 1));
    index.set(entry('B', ['cd'], 2));
    index.set(entry('C', ['ef', 'gh'], 3));
    expect(index.keyCount).toBe(2);
    expect(index.lookup(['ab'], 10).ids).toEqual(['A', 'B', 'C']);
    expect(index.lookup(['xyz'], 10).ids).toEqual(['A']);
    expect(index.lookup(['zz'], 10).ids).toEqual(['A', 'B', 'C']);
    // The cap counts the shared block.
    expect(index.lookup(['cd'], 2)).toMatchObject({ ids: ['A', 'B'], truncatedKeys: ['cd'] });
    expect(index.get('C')?.keys).toEqual(['ef', 'gh']);
  });

  it('un-files by hash only once no key of that hash is left', () => {
    const index = new CandidateIndex(byLength);
    index.set(entry('A', ['ab', 'cd'], 1));
    index.set(entry('B', ['ef'], 2));
    index.set(entry('A', ['cd', 'xyz'], 3));
    expect(index.lookup(['ab'], 10).ids).toEqual(['A', 'B']);
    index.set(entry('A', ['xyz'], 4));
    expect(index.lookup(['ab'], 10).ids).toEqual(['B']);
    index.remove('B', 5);
    expect(index.lookup(['ab'], 10).ids).toEqual([]);
    expect(index.lookup(['xyz'], 10).ids).toEqual(['A']);
    expect(index.keyCount).toBe(1);
  });

  it('takes an identity the transaction rewrote from its overlay, by the exact key', () => {
    const index = new CandidateIndex(byLength);
    index.set(entry('A', ['ab'], 1));
    index.set(entry('B', ['cd'], 2));
    const overlay = new IndexOverlay();
    overlay.set(entry('A', ['xyz'], 3));
    overlay.set(entry('C', ['ef'], 4));
    expect(index.lookup(['ab'], 10, overlay).ids).toEqual(['B']);
    expect(index.lookup(['ef'], 10, overlay).ids).toEqual(['B', 'C']);
    index.apply(overlay);
    expect(index.lookup(['ab'], 10).ids).toEqual(['B', 'C']);
    expect(index.lookup(['xyz'], 10).ids).toEqual(['A']);
  });

  it('works with every key in one block', () => {
    const index = new CandidateIndex({ hash: () => 0 });
    for (let i = 0; i < 50; i++) index.set(entry(`id${i}`, [`k${i}`, `j${i}`], i));
    for (let i = 0; i < 50; i += 2) index.remove(`id${i}`, 100 + i);
    expect(index.keyCount).toBe(1);
    expect(index.lookup(['anything'], 1000).ids).toEqual(Array.from({ length: 25 }, (_, i) => `id${2 * i + 1}`));
  });
});

describe('CandidateIndex against a plain model', () => {
  /** The index as it was before its compact layout: maps of strings. */
  class Model {
    readonly entries = new Map<string, { keys: readonly string[]; seq: number }>();
    readonly blocks = new Map<string, string[]>();
    readonly removedAt = new Map<string, number>();
    set(id: string, keys: readonly string[], seq: number): void {
      const old = this.entries.get(id);
      if (old && old.seq > seq) return;
      if ((this.removedAt.get(id) ?? -1) > seq) return;
      this.removedAt.delete(id);
      for (const key of old?.keys ?? []) if (!keys.includes(key)) this.unfile(key, id);
      for (const key of keys) if (!old?.keys.includes(key)) this.blocks.set(key, [...(this.blocks.get(key) ?? []), id]);
      this.entries.set(id, { keys, seq });
    }
    remove(id: string, seq: number): void {
      const old = this.entries.get(id);
      if (old && old.seq > seq) return;
      this.removedAt.set(id, Math.max(seq, this.removedAt.get(id) ?? -1));
      if (!old) return;
      for (const key of old.keys) this.unfile(key, id);
      this.entries.delete(id);
    }
    lookup(keys: readonly string[], cap: number): string[] {
      const seen = new Set<string>();
      for (const key of new Set(keys)) for (const id of (this.blocks.get(key) ?? []).slice(0, cap)) seen.add(id);
      return [...seen];
    }
    private unfile(key: string, id: string): void {
      const block = (this.blocks.get(key) ?? []).filter((x) => x !== id);
      if (block.length > 0) this.blocks.set(key, block);
      else this.blocks.delete(key);
    }
  }

  it('gives the same answers through growth, slot reuse and key-pool compaction (property)', () => {
    const ids = Array.from({ length: 400 }, (_, i) => `id-${i}`);
    const keyNames = Array.from({ length: 3000 }, (_, i) => `key:${i}`);
    const keys = fc.uniqueArray(fc.constantFrom(...keyNames), { maxLength: 9 });
    const op = fc.oneof(
      { weight: 5, arbitrary: fc.record({ kind: fc.constant('set' as const), id: fc.constantFrom(...ids), keys, seq: fc.nat(60) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), id: fc.constantFrom(...ids), keys: fc.constant([]), seq: fc.nat(60) }) },
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 200, maxLength: 1500 }), fc.array(keys, { maxLength: 30 }), (ops, queries) => {
        const index = new CandidateIndex();
        const model = new Model();
        for (const o of ops) {
          if (o.kind === 'set') {
            index.set(entry(o.id, o.keys, o.seq));
            model.set(o.id, o.keys, o.seq);
          } else {
            index.remove(o.id, o.seq);
            model.remove(o.id, o.seq);
          }
        }
        expect(index.size).toBe(model.entries.size);
        expect(index.keyCount).toBe(model.blocks.size);
        for (const [id, e] of model.entries) expect({ keys: index.get(id)?.keys, seq: index.get(id)?.seq }).toEqual(e);
        for (const key of model.blocks.keys()) expect(index.lookup([key], 1000).ids).toEqual(model.lookup([key], 1000));
        for (const q of queries) expect(index.lookup(q, 3).ids).toEqual(model.lookup(q, 3));
      }),
      { numRuns: 40 },
    );
  });

  it('gives the same answers at a larger scale (slot arrays and key pool grown, pool compacted)', () => {
    let state = 1;
    const random = (n: number): number => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return (state >>> 8) % n;
    };
    const index = new CandidateIndex();
    const model = new Model();
    for (let i = 0; i < 30_000; i++) {
      const id = `id-${random(3000)}`;
      const seq = random(1000);
      if (random(5) === 0) {
        index.remove(id, seq);
        model.remove(id, seq);
      } else {
        const keys = [...new Set(Array.from({ length: random(12) }, () => `key:${random(20_000)}`))];
        index.set(entry(id, keys, seq));
        model.set(id, keys, seq);
      }
    }
    expect(index.size).toBeGreaterThan(1024);
    expect(index.size).toBe(model.entries.size);
    expect(index.keyCount).toBe(model.blocks.size);
    for (const [id, e] of model.entries) expect(index.get(id)?.keys).toEqual(e.keys);
    for (const key of model.blocks.keys()) expect(index.lookup([key], 1000).ids).toEqual(model.lookup([key], 1000));
  });
});
