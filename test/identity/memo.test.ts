// memo: the bounded cache behind name normalisation and phonetic codes.
import { describe, expect, it } from 'vitest';
import { memo } from '../../src/identity/memo.js';
import { normaliseIdentity } from '../../src/identity/normalise.js';
import { HELENE, person } from './identities.js';

describe('memo', () => {
  it('computes a value once per string and forgets everything when full', () => {
    const calls: string[] = [];
    const upper = memo(2, (s: string) => {
      calls.push(s);
      return s.toUpperCase();
    });
    expect([upper('a'), upper('b'), upper('a')]).toEqual(['A', 'B', 'A']);
    expect(calls).toEqual(['a', 'b']);
    expect(upper('c')).toBe('C'); // full: emptied, then c
    expect(upper('a')).toBe('A'); // computed again
    expect(calls).toEqual(['a', 'b', 'c', 'a']);
  });

  it('does not remember a failure', () => {
    let n = 0;
    const f = memo(10, (s: string) => {
      if (n++ === 0) throw new Error('first call fails');
      return s;
    });
    expect(() => f('x')).toThrow('first call fails');
    expect(f('x')).toBe('x');
  });

  it('leaves each normalised identity its own lists and date (the memo values are shared, never handed out)', () => {
    const a = normaliseIdentity(HELENE as Parameters<typeof normaliseIdentity>[0]);
    const b = person();
    a.givenKeys.push('MUTATED');
    a.birthGivenKeys.push('MUTATED');
    a.birthDate.year = 1900;
    const c = person();
    expect(c.givenKeys).toEqual(b.givenKeys);
    expect(c.birthGivenKeys).toEqual(b.birthGivenKeys);
    expect(c.birthDate).toEqual(b.birthDate);
  });
});
