// The in-memory blocking index: capped lookups, a transaction's overlay seen only by it, later states winning.
import { describe, expect, it } from 'vitest';
import { CandidateIndex, IndexOverlay, type IndexEntry } from '../../src/identity/candidate-index.js';
import { normaliseIdentity } from '../../src/identity/normalise.js';

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
    expect(index.lookup(['k1', 'k2', 'none'], 10)).toEqual({ ids: ['A', 'B'], truncatedKeys: [] });
    expect(index.lookup(['hot'], 2)).toEqual({ ids: ['A', 'B'], truncatedKeys: ['hot'] });
    expect(index.lookup(['hot', 'k1'], 3).ids).toEqual(['A', 'B', 'C']);
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
    expect(index.lookup(['hot'], 2, overlay)).toEqual({ ids: ['A', 'B'], truncatedKeys: ['hot'] });
  });
});
