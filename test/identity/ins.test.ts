// INS parsing for the SRI: length, key (BigInt, Corsica), authority, and the QUAL-only emission rule.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InsError, canEmitIns, parseIns } from '../../src/identity/ins.js';
import { NIA_HELENE, NIR_HELENE, OID, withKey } from './identities.js';

function errorOf(fn: () => unknown): InsError {
  try {
    fn();
  } catch (err) {
    if (err instanceof InsError) return err;
    throw err;
  }
  throw new Error('expected an InsError');
}

describe('parseIns', () => {
  it('parses a production NIR, with or without urn:oid:, tolerating spaces', () => {
    expect(parseIns('255081416802538', OID.NIR)).toEqual({ matricule: '255081416802538', oid: OID.NIR, kind: 'NIR', environment: 'production' });
    expect(parseIns('2 55 08 14 168 025 38', `urn:oid:${OID.NIR}`)).toEqual({ matricule: '255081416802538', oid: OID.NIR, kind: 'NIR', environment: 'production' });
  });

  it('tells NIA from NIR and production from test and demo by the OID', () => {
    expect(parseIns(NIA_HELENE, OID.NIA)).toMatchObject({ kind: 'NIA', environment: 'production' });
    expect(parseIns(NIR_HELENE, OID.TEST)).toMatchObject({ kind: 'NIR', environment: 'test' });
    expect(parseIns(NIR_HELENE, OID.DEMO)).toMatchObject({ kind: 'NIR', environment: 'demo' });
  });

  it('accepts Corsica 2A / 2B (lower case too) and keeps them upper case', () => {
    expect(parseIns('138112A00405796', OID.NIR).matricule).toBe('138112A00405796');
    expect(parseIns('138112b03301175', OID.NIR).matricule).toBe('138112B03301175');
    // 2A and 2B are different départements: the 2A key does not fit a 2B body.
    expect(errorOf(() => parseIns('138112B00405796', OID.NIR)).message).toContain('expected 26');
  });

  it('rejects a wrong length, naming the expected and actual lengths', () => {
    const err = errorOf(() => parseIns('25508141680253', OID.NIR));
    expect(err.field).toBe('matricule');
    expect(err.message).toBe('ins.matricule: expected 15 characters (13 + 2-digit key), got 14');
  });

  it('rejects a wrong key, naming the expected key (zero-padded)', () => {
    const err = errorOf(() => parseIns('255081416802539', OID.NIR));
    expect(err.field).toBe('matricule');
    expect(err.message).toContain('wrong key 39, expected 38');
    // A key below 10 is reported on two digits (97 − 1800175056001 mod 97 = 3).
    expect(errorOf(() => parseIns('180017505600100', OID.NIR)).message).toContain('wrong key 00, expected 03');
  });

  it('rejects a body that is not a NIR / NIA shape and a key that is not digits', () => {
    expect(errorOf(() => parseIns('455081416802538', OID.NIR)).message).toMatch(/not a NIR\/NIA/);
    expect(errorOf(() => parseIns('2550814168025AB', OID.NIR)).message).toMatch(/key .* must be digits/);
  });

  it('rejects an unknown OID and names the obsolete INS-C one, listing the accepted OIDs', () => {
    const unknown = errorOf(() => parseIns(NIR_HELENE, '1.2.250.1.213.1.4.5'));
    expect(unknown.field).toBe('oid');
    expect(unknown.message).toContain('unknown assigning authority "1.2.250.1.213.1.4.5"');
    expect(unknown.message).toContain('1.2.250.1.213.1.4.9 (NIA)');
    expect(errorOf(() => parseIns(NIR_HELENE, 'urn:oid:1.2.250.1.213.1.4.2')).message).toMatch(/obsolete calculated INS/);
  });

  it('any valid body + its key parses; any other key is refused with the right expected key', () => {
    const digits = (n: number) => fc.array(fc.integer({ min: 0, max: 9 }), { minLength: n, maxLength: n }).map((d) => d.join(''));
    const body = fc
      .tuple(fc.constantFrom('1', '2', '3', '7', '8'), digits(4), fc.oneof(digits(2), fc.constantFrom('2A', '2B')), digits(6))
      .map((p) => p.join(''));
    fc.assert(
      fc.property(body, fc.integer({ min: 0, max: 99 }), (b, other) => {
        const good = withKey(b);
        expect(parseIns(good, OID.NIR).matricule).toBe(good);
        const key = good.slice(13);
        const wrong = String(other).padStart(2, '0');
        fc.pre(wrong !== key);
        expect(() => parseIns(b + wrong, OID.NIR)).toThrow(`expected ${key}`);
      }),
    );
  });
});

describe('canEmitIns', () => {
  it('only a qualified identity emits its INS', () => {
    expect(canEmitIns('QUAL')).toBe(true);
    for (const s of ['PROV', 'RECUP', 'VALI'] as const) expect(canEmitIns(s)).toBe(false);
  });
});
