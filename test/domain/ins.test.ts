// INS matricule key: 97 − (13-character body mod 97), Corsica 2A/2B counted as 19/18.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Ins, insKey, isValidInsMatricule } from '../../src/domain/index.js';

const digits = (n: number) => fc.array(fc.integer({ min: 0, max: 9 }), { minLength: n, maxLength: n }).map((d) => d.join(''));

/** A 13-character NIR/NIA body: sex/type, year, month, département (or 2A/2B), commune, order. */
const body = fc
  .tuple(fc.constantFrom('1', '2', '3', '7', '8'), digits(4), fc.oneof(digits(2), fc.constantFrom('2A', '2B')), digits(6))
  .map((parts) => parts.join(''));

const withKey = (b: string) => b + String(insKey(b)).padStart(2, '0');

describe('INS key', () => {
  it('matches a published NIR example (2 55 08 14 168 025 38)', () => {
    expect(insKey('2550814168025')).toBe(38);
    expect(isValidInsMatricule('255081416802538')).toBe(true);
  });

  it('body + computed key always validates', () => {
    fc.assert(fc.property(body, (b) => isValidInsMatricule(withKey(b))));
  });

  it('changing any one digit of a valid matricule breaks it', () => {
    fc.assert(
      fc.property(body, fc.nat(14), fc.integer({ min: 1, max: 9 }), (b, at, delta) => {
        const m = withKey(b);
        fc.pre(/\d/.test(m[at]));
        const changed = m.slice(0, at) + String((Number(m[at]) + delta) % 10) + m.slice(at + 1);
        return !isValidInsMatricule(changed);
      }),
    );
  });

  it('counts Corsica 2A as 19 and 2B as 18', () => {
    expect(insKey('138112A004057')).toBe(97 - Number(1381119004057n % 97n));
    expect(insKey('138112B033011')).toBe(97 - Number(1381118033011n % 97n));
    expect(isValidInsMatricule('138112A00405796')).toBe(true);
    expect(isValidInsMatricule('138112B03301175')).toBe(true);
    // The same digits with the other Corsican département do not validate.
    expect(isValidInsMatricule('138112B00405796')).toBe(false);
  });

  it('gives 97, not 00, when the body is a multiple of 97', () => {
    expect(insKey('138112A004056')).toBe(97);
    expect(isValidInsMatricule('138112A00405697')).toBe(true);
    expect(isValidInsMatricule('138112A00405600')).toBe(false);
  });

  it('rejects bodies that are not a NIR/NIA shape', () => {
    expect(insKey('4550814168025')).toBeUndefined();
    expect(insKey('25508141680')).toBeUndefined();
    expect(insKey('2550A14168025')).toBeUndefined();
  });

  it('the Ins schema reports a wrong key on matricule and accepts the OID with or without urn:oid:', () => {
    const bad = Ins.safeParse({ matricule: '255081416802539', oid: '1.2.250.1.213.1.4.10' });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues.map((i) => i.path)).toEqual([['matricule']]);
    expect(Ins.parse({ matricule: '255081416802538', oid: 'urn:oid:1.2.250.1.213.1.4.10' }).oid).toBe('1.2.250.1.213.1.4.10');
    expect(Ins.safeParse({ matricule: '255081416802538', oid: '1.2.250.1.213.1.4.99' }).success).toBe(false);
  });
});
