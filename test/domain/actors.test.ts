// National professional and structure ids: prefixed forms used by the ANS OIDs are reduced on input.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Finess, parseDocument, Rpps } from '../../src/domain/index.js';

const fixture = (path: string): unknown => JSON.parse(readFileSync(new URL(`../fixtures/${path}`, import.meta.url), 'utf8'));

describe('RPPS and IDNPS', () => {
  it('keeps an RPPS and reduces an IDNPS (8 + RPPS)', () => {
    expect(Rpps.parse('10100245611')).toBe('10100245611');
    expect(Rpps.parse('810100245611')).toBe('10100245611');
  });

  it.each(['1010024561', '910100245611', '8101002456110', 'ABCDEFGHIJK'])('rejects %s', (v) => {
    expect(Rpps.safeParse(v).success).toBe(false);
  });

  it('reduces IDNPS wherever a document carries an RPPS', () => {
    const ppp = parseDocument('ppp', fixture('ppp/hospital-sync-rcp.json'));
    expect(ppp.author.rpps).toBe('10100890259');
    const bpm = parseDocument('bpm', fixture('bpm/year-only-birthdate.json'));
    expect(bpm.pharmacist.rpps).toBe('10100628170');
  });
});

describe('FINESS and IdNat_Struct', () => {
  it('keeps a FINESS and reduces an IdNat_Struct (1 + FINESS), Corsica included', () => {
    expect(Finess.parse('760000018')).toBe('760000018');
    expect(Finess.parse('1760000018')).toBe('760000018');
    expect(Finess.parse('2A0000012')).toBe('2A0000012');
    expect(Finess.parse('12A0000012')).toBe('2A0000012');
  });

  it.each(['76000001', '2760000018', '2C0000012'])('rejects %s', (v) => {
    expect(Finess.safeParse(v).success).toBe(false);
  });

  it('reduces IdNat_Struct in documents', () => {
    expect(parseDocument('ppp', fixture('ppp/town-async-rcp.json')).establishment.finess).toBe('140000787');
    expect(parseDocument('bpm', fixture('bpm/year-only-birthdate.json')).pharmacy.finess).toBe('760001016');
  });
});
