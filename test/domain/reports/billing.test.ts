// The billing rules on hand-built participations (src/domain/reports/billing.ts, pseudonym.ts): the tariff of the
// RCP's year (the switch of 1 January 2025), a year without tariff leaving the amount empty and named in the summary,
// pharmacy columns only on PHO lines and a PHO without pharmacy counted, the CSV record's formatting, the patient
// pseudonym stable, keyed and never the id; and who takes part in an RCP (facts.ts tookPart).
import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DEFAULT_TARIFFS } from '../../../src/config.js';
import { BILLING_COLUMNS, billingCsvRecord, billingLine, billingSummary, tariffOf, type Participation } from '../../../src/domain/reports/billing.js';
import { tookPart } from '../../../src/domain/reports/facts.js';
import { patientPseudonym } from '../../../src/domain/reports/pseudonym.js';

const KEY = 'k'.repeat(32);
const OTHER_KEY = 'q'.repeat(40);
const part = (over: Partial<Participation> = {}): Participation => ({
  pppId: 'PPP-1',
  pathway: 'IATROPREV',
  finess: '800000317',
  establishmentName: 'CHU Picardie',
  patient: 'fed-patient-1',
  rcpDay: '2025-01-01',
  rcpMode: 'sync',
  role: 'DAH',
  rpps: '10100890259',
  name: 'Sophie CANIVET',
  ...over,
});

describe('tariffs by RCP year', () => {
  it('the default table: 220/50/50 up to 2024, 125/30/30 from 2025 (RCP 2024-12-31 vs 2025-01-01)', () => {
    expect((['DAH', 'MT', 'PHO'] as const).map((r) => tariffOf(DEFAULT_TARIFFS, '2024-12-31', r))).toEqual([
      { year: 2024, amount: 220 },
      { year: 2024, amount: 50 },
      { year: 2024, amount: 50 },
    ]);
    expect((['DAH', 'MT', 'PHO'] as const).map((r) => tariffOf(DEFAULT_TARIFFS, '2025-01-01', r))).toEqual([
      { year: 2025, amount: 125 },
      { year: 2025, amount: 30 },
      { year: 2025, amount: 30 },
    ]);
    expect(billingLine(part({ rcpDay: '2024-12-31' }), DEFAULT_TARIFFS, 'x', undefined)).toMatchObject({ amount_eur: 220, tariff_year: 2024 });
    expect(billingLine(part({ rcpDay: '2025-01-01' }), DEFAULT_TARIFFS, 'x', undefined)).toMatchObject({ amount_eur: 125, tariff_year: 2025 });
  });

  it('a year the table lacks: empty amount, the year named once in the summary, the total of the others only', () => {
    const tariffs = { '2025': { DAH: 125, MT: 30, PHO: 30 } };
    // Inherited keys of a plain object are no tariff years.
    expect(tariffOf(tariffs, 'cons-01-01', 'DAH').amount).toBeNull();
    expect(tariffOf({ ...tariffs, ...JSON.parse('{"__proto__": {"DAH": 1, "MT": 1, "PHO": 1}}') }, '2028-01-01', 'DAH').amount).toBeNull();
    const lines = [
      billingLine(part({ rcpDay: '2025-06-01' }), tariffs, 'p', undefined),
      billingLine(part({ rcpDay: '2028-02-01', role: 'MT' }), tariffs, 'p', undefined),
      billingLine(part({ rcpDay: '2028-03-01', role: 'DAH' }), tariffs, 'p', undefined),
      billingLine(part({ rcpDay: '2024-03-01', role: 'PHO' }), tariffs, 'p', { finess: '800001562', name: 'Pharmacie' }),
    ];
    expect(lines.map((l) => l.amount_eur)).toEqual([125, null, null, null]);
    expect(lines.map((l) => l.tariff_year)).toEqual([2025, 2028, 2028, 2024]);
    expect(billingSummary(lines)).toEqual({ lines: 4, byRole: { DAH: 2, MT: 1, PHO: 1 }, amountEur: 125, phoWithoutPharmacy: 0, yearsWithoutTariff: ['2024', '2028'] });
    expect(billingCsvRecord(lines[1]!)[BILLING_COLUMNS.indexOf('amount_eur')]).toBe('');
  });

  it('sums in cents: no floating-point drift', () => {
    const tariffs = { '2025': { DAH: 0.1, MT: 0.2, PHO: 30 } };
    const lines = Array.from({ length: 10 }, () => billingLine(part({ role: 'DAH' }), tariffs, 'p', undefined)).concat(billingLine(part({ role: 'MT' }), tariffs, 'p', undefined));
    expect(billingSummary(lines).amountEur).toBe(1.2);
    expect(billingSummary([])).toEqual({ lines: 0, byRole: { DAH: 0, MT: 0, PHO: 0 }, amountEur: 0, phoWithoutPharmacy: 0, yearsWithoutTariff: [] });
  });
});

describe('lines', () => {
  it('a line carries the participation, in the agreed JSON shape; pharmacy columns on PHO lines only', () => {
    const pho = billingLine(part({ role: 'PHO', rpps: '10101523388', name: 'Madeleine FORESTIER', rcpMode: 'async' }), DEFAULT_TARIFFS, 'ab12', { finess: '800001562', name: 'Pharmacie du Beffroi' });
    expect(pho).toEqual({
      ppp_id: 'PPP-1',
      pathway: 'IATROPREV',
      establishment_finess: '800000317',
      establishment_name: 'CHU Picardie',
      patient_pseudonym: 'ab12',
      rcp_date: '2025-01-01',
      rcp_mode: 'async',
      role: 'PHO',
      rpps: '10101523388',
      professional_name: 'Madeleine FORESTIER',
      pharmacy_finess: '800001562',
      pharmacy_name: 'Pharmacie du Beffroi',
      amount_eur: 30,
      tariff_year: 2025,
    });
    expect(Object.keys(pho)).toEqual([...BILLING_COLUMNS]);
    // A pharmacy given for an MT line is not written: the columns are the PHO's.
    expect(billingLine(part({ role: 'MT' }), DEFAULT_TARIFFS, 'p', { finess: '800001562', name: 'x' })).toMatchObject({ pharmacy_finess: null, pharmacy_name: null });
    // A pharmacy known by its FINESS only (the directory lacks its name) is a pharmacy: not counted as missing.
    const nameless = billingLine(part({ role: 'PHO' }), DEFAULT_TARIFFS, 'p', { finess: '800001562', name: null });
    expect(nameless).toMatchObject({ pharmacy_finess: '800001562', pharmacy_name: null });
    expect(billingSummary([nameless]).phoWithoutPharmacy).toBe(0);
  });

  it('a PHO whose pharmacy was not found: empty pharmacy columns, counted in the summary (MT lines are not)', () => {
    const lines = [
      billingLine(part({ role: 'PHO' }), DEFAULT_TARIFFS, 'p', null),
      billingLine(part({ role: 'PHO', rpps: '10100000001' }), DEFAULT_TARIFFS, 'p', undefined),
      billingLine(part({ role: 'MT' }), DEFAULT_TARIFFS, 'p', undefined),
    ];
    expect(lines.map((l) => [l.pharmacy_finess, l.pharmacy_name])).toEqual([
      [null, null],
      [null, null],
      [null, null],
    ]);
    expect(billingSummary(lines).phoWithoutPharmacy).toBe(2);
    const rec = billingCsvRecord(lines[0]!);
    expect(rec[BILLING_COLUMNS.indexOf('pharmacy_finess')]).toBe('');
    expect(rec[BILLING_COLUMNS.indexOf('pharmacy_name')]).toBe('');
  });

  it('the CSV record: columns in order, amounts with a dot and two decimals, the year as digits', () => {
    const rec = billingCsvRecord(billingLine(part(), { '2025': { DAH: 125, MT: 30.5, PHO: 30 } }, 'ps', undefined));
    expect(rec).toEqual(['PPP-1', 'IATROPREV', '800000317', 'CHU Picardie', 'ps', '2025-01-01', 'sync', 'DAH', '10100890259', 'Sophie CANIVET', '', '', '125.00', '2025']);
    expect(billingCsvRecord(billingLine(part({ role: 'MT' }), { '2025': { DAH: 125, MT: 30.5, PHO: 30 } }, 'ps', undefined))[12]).toBe('30.50');
  });
});

describe('patient pseudonym', () => {
  it('stable for a patient and a key, different across patients and keys, never the id, fixed length hex', () => {
    const a = patientPseudonym('fed-patient-1', KEY);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(patientPseudonym('fed-patient-1', KEY)).toBe(a);
    expect(patientPseudonym('fed-patient-2', KEY)).not.toBe(a);
    expect(patientPseudonym('fed-patient-1', OTHER_KEY)).not.toBe(a);
    expect(a).not.toContain('fed-patient-1');
    // HMAC, not a bare hash of the id: knowing the ids is not enough to find them again.
    expect(a).not.toBe(createHash('sha256').update('fed-patient-1').digest('hex'));
    expect(a).toBe(createHmac('sha256', KEY).update('fed-patient-1').digest('hex'));
    expect(billingLine(part(), DEFAULT_TARIFFS, a, undefined).patient_pseudonym).toBe(a);
  });

  it('refuses a short key', () => {
    expect(() => patientPseudonym('x', 'short')).toThrow(/32/);
  });
});

describe('who takes part in the RCP', () => {
  const msg = (fromRpps: string) => ({ id: 'm', fromRpps, date: '2025-01-01T10:00:00Z', text: 't' });
  it('no RCP: nobody; sync: everyone; async: the DAH, and an MT or PHO who wrote a message', () => {
    expect(tookPart({ rcp: undefined } as never, 'DAH', '1')).toBe(false);
    expect(tookPart({ rcp: { mode: 'sync', date: '2025-01-01', messages: [] } } as never, 'MT', '1')).toBe(true);
    const async = { rcp: { mode: 'async', date: '2025-01-01', messages: [msg('2')] } } as never;
    expect(tookPart(async, 'DAH', '9')).toBe(true);
    expect(tookPart(async, 'MT', '1')).toBe(false);
    expect(tookPart(async, 'PHO', '2')).toBe(true);
  });
});
