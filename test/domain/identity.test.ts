// Identity traits: partial birth dates, birthplace codes, and what a qualified (QUAL) identity must carry.
import { supportedIdentity } from '../../src/domain/identity-support.js';
import { describe, expect, it } from 'vitest';
import { InseeCode, PartialDate, PatientIdentity } from '../../src/domain/index.js';

const base = {
  sourceId: { system: 'urn:oid:1.2.250.1.999.1.760000018.1', value: 'IPP-1' },
  birthName: 'ROUAULT',
  firstBirthGivenName: 'Emma',
  sex: 'F',
};
const ins = { matricule: '240037654012380', oid: 'urn:oid:1.2.250.1.213.1.4.10' };

describe('partial birth dates', () => {
  it.each(['1938', '1938-05', '1938-05-12', '2000-02-29'])('accepts %s as is', (d) => {
    expect(PartialDate.parse(d)).toBe(d);
  });

  it.each(['1938-13', '1938-00', '1938-02-30', '1900-02-29', '38-05', '1938-5', '1938-05-1', '12/05/1938', ''])('rejects %s', (d) => {
    expect(PartialDate.safeParse(d).success).toBe(false);
  });

  it('a provisional identity may have a partial birth date and defaults to PROV', () => {
    const p = PatientIdentity.parse({ ...base, birthDate: '1940-03' });
    expect(p.status).toBe('PROV');
    expect(p.birthDate).toBe('1940-03');
  });

  it('a qualified identity with a partial birth date is read, then registered RECUP with an anomaly (identity-support.ts)', () => {
    const p = PatientIdentity.parse({ ...base, ins, status: 'QUAL', birthDate: '1940', birthPlaceInsee: '76540' });
    const kept = supportedIdentity(p);
    expect([kept.identity.status, kept.anomalies.map((a) => a.code)]).toEqual(['RECUP', ['QUAL_PARTIAL_BIRTH_DATE']]);
  });
});

describe('birthplace and qualification', () => {
  it.each(['76540', '2A004', '2B033', '99134'])('accepts the INSEE code %s', (c) => expect(InseeCode.parse(c)).toBe(c));
  it.each(['7654', '2C004', '99-134'])('rejects the INSEE code %s', (c) => expect(InseeCode.safeParse(c).success).toBe(false));

  it('a person born abroad (99xxx) can be qualified', () => {
    const p = PatientIdentity.parse({ ...base, ins, status: 'QUAL', birthDate: '1940-03-14', birthPlaceInsee: '99134' });
    expect(p.birthPlaceInsee).toBe('99134');
  });

  it('QUAL without INS is read, then registered PROV with an anomaly on ins; VALI without INS is fine', () => {
    const full = { ...base, birthDate: '1940-03-14', birthPlaceInsee: '76540' };
    const kept = supportedIdentity(PatientIdentity.parse({ ...full, status: 'QUAL' }));
    expect([kept.identity.status, kept.anomalies.map((a) => a.field)]).toEqual(['PROV', ['ins']]);
    const vali = PatientIdentity.parse({ ...full, status: 'VALI' });
    expect(supportedIdentity(vali)).toEqual({ identity: vali, anomalies: [] });
  });
});
