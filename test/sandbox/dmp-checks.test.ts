// The small parsers the DMP peer's rules rest on: stored-query values, HL7 TS → XDS DTM in UTC, DTM validity,
// INS CX and OIDs. Properties over generated inputs, plus the cases a DMP integrator meets.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tsToUtcDtm } from '../../src/sandbox/dmp/cda.js';
import { dtmProblem, insProblem, isOid } from '../../src/sandbox/dmp/checks.js';
import { queryValues } from '../../src/sandbox/dmp/iti18.js';

const quote = (v: string): string => `'${v.replace(/'/g, "''")}'`;
const value = fc.string({ minLength: 1, maxLength: 20 }).filter((v) => v.trim() === v && v.length > 0);

describe('queryValues', () => {
  it('reads back any list written as a stored-query list, quotes doubled', () => {
    fc.assert(fc.property(fc.array(value, { minLength: 1, maxLength: 5 }), (values) => {
      expect(queryValues([`(${values.map(quote).join(',')})`])).toEqual(values);
      expect(queryValues(values.map(quote))).toEqual(values);
    }));
  });

  it('reads the forms ITI-18 clients send', () => {
    expect(queryValues(["('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved', 'urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated')"])).toEqual([
      'urn:oasis:names:tc:ebxml-regrep:StatusType:Approved',
      'urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated',
    ]);
    expect(queryValues(["'279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH'"])).toEqual(['279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH']);
  });
});

describe('tsToUtcDtm', () => {
  const pad = (n: number, width = 2): string => String(Math.abs(n)).padStart(width, '0');

  it('gives the UTC digits of the instant a TS with an offset names', () => {
    const instant = fc.date({ min: new Date('1950-01-01T00:00:00Z'), max: new Date('2099-12-31T00:00:00Z'), noInvalidDate: true });
    const offset = fc.integer({ min: -48, max: 56 }).map((q) => q * 15);
    fc.assert(fc.property(instant, offset, (date, minutes) => {
      const utc = new Date(Math.floor(date.getTime() / 1000) * 1000);
      const local = new Date(utc.getTime() + minutes * 60_000);
      const digits = local.toISOString().replace(/[-:T]/g, '').slice(0, 14);
      const ts = `${digits}${minutes < 0 ? '-' : '+'}${pad(Math.trunc(minutes / 60))}${pad(minutes % 60)}`;
      expect(tsToUtcDtm(ts)).toBe(utc.toISOString().replace(/[-:T]/g, '').slice(0, 14));
    }));
  });

  it('keeps a TS without offset as written and refuses what is not a TS', () => {
    expect(tsToUtcDtm('20261105143000+0100')).toBe('20261105133000');
    expect(tsToUtcDtm('20261105')).toBe('20261105');
    expect(tsToUtcDtm('2026-11-05')).toBeUndefined();
  });
});

describe('dtmProblem', () => {
  it('accepts existing dates and times at the allowed precisions only', () => {
    expect(dtmProblem('20261105133000', [14])).toBeUndefined();
    expect(dtmProblem('20240229', [8, 14])).toBeUndefined();
    expect(dtmProblem('20230229120000', [14])).toMatch(/not a valid date/);
    expect(dtmProblem('20261105', [14])).toMatch(/14 digits/);
    expect(dtmProblem('20261105246000', [14])).toMatch(/not a valid date/);
    expect(dtmProblem(undefined, [14])).toBe('missing');
  });
});

describe('insProblem / isOid', () => {
  it('accepts an INS CX under an INS OID with a valid key, and says what is wrong otherwise', () => {
    expect(insProblem('279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH')).toBeUndefined();
    expect(insProblem('279035121518989^^^&1.2.250.1.213.1.4.5&ISO^NH')).toMatch(/not an INS OID/);
    expect(insProblem('279035121518988^^^&1.2.250.1.213.1.4.8&ISO^NH')).toMatch(/valid key/);
    expect(insProblem('279035121518989^^^&1.2.250.1.213.1.4.8&ISO^PI')).toMatch(/is not a CX/);
  });

  it('accepts dotted decimal OIDs only', () => {
    expect(isOid('1.2.250.1.213.1.4.10')).toBe(true);
    expect(isOid('1.2.250.01')).toBe(false);
    expect(isOid('urn:oid:1.2.3')).toBe(false);
    expect(isOid(`1.${'2.'.repeat(40)}3`)).toBe(false);
  });
});
