// The billing extraction, the active professionals and the rebuilding of the report rows (services/reports/*.ts) on
// a real SQLite file and on PostgreSQL, from PPPs submitted as the pathway receives them: who is billed at a sync RCP,
// at an async RCP with and without the MT's and the PHO's messages, nobody without RCP; the tariff switch of 2025 and
// a year without tariff; the PHO's pharmacy from the PPP, else from the directory by RPPS, else none (counted); the
// patient pseudonym; the period and establishment filters; the CSV; the pseudonym key file.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { parse } from 'csv-parse/sync';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFrom, DEFAULT_TARIFFS } from '../../../src/config.js';
import { BILLING_COLUMNS, type BillingLine } from '../../../src/domain/reports/billing.js';
import { patientPseudonym } from '../../../src/domain/reports/pseudonym.js';
import { billingCsv, billingReport } from '../../../src/services/reports/billing.js';
import { professionalsCsv, professionalsReport } from '../../../src/services/reports/professionals.js';
import { PSEUDONYM_KEY_FILE, reportsPseudonymKey } from '../../../src/services/reports/pseudonym-key.js';
import { rebuildReports } from '../../../src/services/reports/rebuild.js';
import { openPgStore } from '../../../src/store/pg-store.js';
import type { ResourceStore } from '../../../src/store/repository.js';
import { openSqliteStore } from '../../../src/store/sqlite-store.js';
import { dropPgSchema, PG_TEST_URL, pgUnreachable } from '../../support/pg.js';
import { available } from '../../support/shared.js';
import { EST_A, EST_B, importDirectory, links, PHARMACY, PHARMACY_BY_RPPS, RPPS, submitAll } from './support.js';

const KEY = 'test-pseudonym-key-0123456789abcdef';
const opts = { tariffs: DEFAULT_TARIFFS, pseudonymKey: KEY };
const ALL = { from: '2024-01-01', to: '2028-12-31' };
/** A line as [ppp, role, rpps, amount, year, pharmacy FINESS, pharmacy name]. */
const brief = (l: BillingLine) => [l.ppp_id, l.role, l.rpps, l.amount_eur, l.tariff_year, l.pharmacy_finess, l.pharmacy_name];

function suite(dialect: 'sqlite' | 'postgresql'): void {
  const schema = `reports_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  let dir: string;
  let store: ResourceStore;
  let ids: Record<string, string>;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'passerelle-reports-'));
    store = dialect === 'sqlite' ? await openSqliteStore({ file: path.join(dir, 'db.sqlite') }) : await openPgStore({ url: PG_TEST_URL, schema, poolSize: 4 });
    ids = await submitAll(store);
    await importDirectory(store);
  }, 60_000);
  afterAll(async () => {
    await store?.close();
    if (dialect === 'postgresql') await dropPgSchema(schema);
    rmSync(dir, { recursive: true, force: true });
  });

  it('one line per participation: sync RCP all three, async only who wrote, no RCP nothing; tariffs by RCP year', async () => {
    const r = await billingReport(store, ALL, opts);
    expect(r.period).toEqual(ALL);
    expect(r).not.toHaveProperty('establishment');
    expect(r.columns).toEqual([...BILLING_COLUMNS]);
    expect(r.lines.map(brief)).toEqual([
      // A (800000317), by RCP day.
      ['B-3-ASYNC', 'DAH', RPPS.DAH, 220, 2024, null, null],
      ['B-3-ASYNC', 'PHO', RPPS.PHO, 50, 2024, PHARMACY_BY_RPPS.finess, PHARMACY_BY_RPPS.name],
      ['B-4-ASYNC', 'DAH', RPPS.DAH, 125, 2025, null, null],
      ['B-1-SYNC', 'DAH', RPPS.DAH, 125, 2025, null, null],
      ['B-1-SYNC', 'MT', RPPS.MT, 30, 2025, null, null],
      ['B-1-SYNC', 'PHO', RPPS.PHO, 30, 2025, PHARMACY.finess, PHARMACY.name],
      ['B-5-2028', 'DAH', RPPS.DAH, null, 2028, null, null],
      ['B-5-2028', 'MT', RPPS.MT, null, 2028, null, null],
      ['B-5-2028', 'PHO', RPPS.PHO2, null, 2028, null, null],
      // B (990000010): its PHO's pharmacy is known by FINESS only.
      ['B-6-ESTB', 'DAH', RPPS.DAH, 125, 2025, null, null],
      ['B-6-ESTB', 'MT', RPPS.MT, 30, 2025, null, null],
      ['B-6-ESTB', 'PHO', RPPS.PHO, 30, 2025, '990001111', null],
    ]);
    expect(r.lines.some((l) => l.ppp_id === 'B-2-NORCP')).toBe(false);
    expect(r.summary).toEqual({ lines: 12, byRole: { DAH: 5, MT: 3, PHO: 4 }, amountEur: 220 + 50 + 125 + 125 + 30 + 30 + 125 + 30 + 30, phoWithoutPharmacy: 1, yearsWithoutTariff: ['2028'] });
    const sync = r.lines.find((l) => l.ppp_id === 'B-1-SYNC' && l.role === 'MT')!;
    expect(sync).toMatchObject({ pathway: 'IATROPREV', establishment_finess: EST_A, establishment_name: 'CHU Picardie (démo), site Sud', rcp_date: '2025-05-14', rcp_mode: 'sync', professional_name: 'Pierre BENASSIS' });
    expect(r.lines.find((l) => l.ppp_id === 'B-3-ASYNC')?.rcp_mode).toBe('async');
  });

  it('the patient pseudonym: the keyed hash of the federated id, the same for the same patient, never the id or a name', async () => {
    const r = await billingReport(store, ALL, opts);
    const federated = (await store.pathway.getCase(ids['B-1-SYNC']!))!.patient;
    const other = (await store.pathway.getCase(ids['B-3-ASYNC']!))!.patient;
    expect(federated).not.toBe(other);
    const of = (ppp: string) => new Set(r.lines.filter((l) => l.ppp_id === ppp).map((l) => l.patient_pseudonym));
    expect(of('B-1-SYNC')).toEqual(new Set([patientPseudonym(federated, KEY)]));
    expect(of('B-4-ASYNC')).toEqual(of('B-1-SYNC'));
    expect(of('B-3-ASYNC')).toEqual(new Set([patientPseudonym(other, KEY)]));
    const text = JSON.stringify(r);
    for (const leak of [federated, other, 'FALCONE', '138112A00405796', '80057321']) expect(text).not.toContain(leak);
    const rekeyed = await billingReport(store, ALL, { ...opts, pseudonymKey: 'another-key-of-at-least-32-characters' });
    expect(rekeyed.lines[0]!.patient_pseudonym).not.toBe(r.lines[0]!.patient_pseudonym);
  });

  it('filters on the RCP day (bounds included) and on the establishment; another table of tariffs', async () => {
    const y2025 = await billingReport(store, { from: '2025-01-01', to: '2025-12-31' }, opts);
    expect([...new Set(y2025.lines.map((l) => l.ppp_id))]).toEqual(['B-4-ASYNC', 'B-1-SYNC', 'B-6-ESTB']);
    expect((await billingReport(store, { from: '2024-12-31', to: '2024-12-31' }, opts)).lines.map((l) => l.role)).toEqual(['DAH', 'PHO']);
    expect((await billingReport(store, { from: '2025-05-15', to: '2027-12-31' }, opts)).lines).toEqual([]);
    const b = await billingReport(store, { ...ALL, finess: EST_B }, opts);
    expect(b.establishment).toBe(EST_B);
    expect(b.lines.map((l) => l.ppp_id)).toEqual(['B-6-ESTB', 'B-6-ESTB', 'B-6-ESTB']);
    expect(b.summary).toMatchObject({ lines: 3, phoWithoutPharmacy: 0, yearsWithoutTariff: [] });
    const custom = await billingReport(store, ALL, { ...opts, tariffs: { '2028': { DAH: 100, MT: 10.5, PHO: 20 } } });
    expect(custom.summary.yearsWithoutTariff).toEqual(['2024', '2025']);
    expect(custom.summary.amountEur).toBe(130.5);
  });

  it('the CSV: RFC 4180, the header in order, null as empty, amounts with two decimals', async () => {
    const csv = billingCsv(await billingReport(store, ALL, opts));
    expect(csv.split('\r\n')[0]).toBe(BILLING_COLUMNS.join(','));
    expect(csv).toContain(`${PHARMACY.finess},"Pharmacie du Beffroi, ""centre""",30.00,2025\r\n`);
    const rows = parse(csv, { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(12);
    expect(rows.map((r) => r.amount_eur)).toContain('220.00');
    expect(rows.find((r) => r.ppp_id === 'B-5-2028' && r.role === 'PHO')).toMatchObject({ amount_eur: '', pharmacy_finess: '', pharmacy_name: '', tariff_year: '2028' });
  });

  it('active professionals: who opened a link in the period, establishments, PPPs answered, first and last use', async () => {
    const useA = await links(store, ids['B-1-SYNC']!, '2025-05-15T08:00:00Z', [{ role: 'MT', rpps: RPPS.MT }, { role: 'PHO', rpps: RPPS.PHO }]);
    const useB = await links(store, ids['B-6-ESTB']!, '2025-05-15T08:00:00Z', [{ role: 'MT', rpps: RPPS.MT }]);
    await useA('MT', '2025-05-16T10:00:00Z');
    await useA('MT', '2025-05-20T10:00:00Z');
    await useA('PHO', '2025-05-17T10:00:00Z');
    await useA('PHO', '2025-05-17T11:00:00Z');
    await useB('MT', '2025-06-01T10:00:00Z');
    const r = await professionalsReport(store, { from: '2025-05-01', to: '2025-06-30' });
    expect(r).toEqual({
      period: { from: '2025-05-01', to: '2025-06-30' },
      professionals: [
        {
          rpps: RPPS.MT,
          name: 'Pierre BENASSIS',
          role: 'MT',
          establishments: [
            { finess: EST_A, name: 'CHU Picardie (démo), site Sud' },
            { finess: EST_B, name: 'Clinique B' },
          ],
          pppAnswered: 2,
          firstUse: '2025-05-16',
          lastUse: '2025-06-01',
        },
        { rpps: RPPS.PHO, name: 'Madeleine FORESTIER', role: 'PHO', establishments: [{ finess: EST_A, name: 'CHU Picardie (démo), site Sud' }], pppAnswered: 1, firstUse: '2025-05-17', lastUse: '2025-05-17' },
      ],
    });
    expect((await professionalsReport(store, { from: '2025-05-01', to: '2025-06-30', role: 'PHO' })).professionals.map((p) => p.rpps)).toEqual([RPPS.PHO]);
    const onlyB = await professionalsReport(store, { from: '2025-05-01', to: '2025-06-30', finess: EST_B });
    expect(onlyB).toMatchObject({ establishment: EST_B, professionals: [{ rpps: RPPS.MT, establishments: [{ finess: EST_B }], firstUse: '2025-06-01' }] });
    expect((await professionalsReport(store, { from: '2025-05-18', to: '2025-05-31' })).professionals.map((p) => [p.rpps, p.firstUse, p.lastUse])).toEqual([[RPPS.MT, '2025-05-20', '2025-05-20']]);
    expect((await professionalsReport(store, { from: '2026-01-01', to: '2026-12-31' })).professionals).toEqual([]);
    const csv = parse(professionalsCsv(r), { columns: true }) as Record<string, string>[];
    expect(csv[0]).toEqual({
      rpps: RPPS.MT,
      name: 'Pierre BENASSIS',
      role: 'MT',
      establishments_finess: `${EST_A}; ${EST_B}`,
      establishments_names: 'CHU Picardie (démo), site Sud; Clinique B',
      ppp_answered: '2',
      first_use: '2025-05-16',
      last_use: '2025-06-01',
    });
  });

  it('rebuild: every case’s rows rewritten from its document (the billing comes back as it was)', async () => {
    const before = await billingReport(store, ALL, opts);
    expect(before.lines.length).toBeGreaterThan(0);
    // The rows lost (as after a migration that adds a table): nothing billable any more.
    const wipe = 'DELETE FROM report_member; DELETE FROM report_decision; DELETE FROM report_ppp;';
    if (dialect === 'sqlite') {
      const db = new Database(path.join(dir, 'db.sqlite'));
      db.exec(wipe);
      db.close();
    } else {
      const client = new pg.Client({ connectionString: PG_TEST_URL });
      await client.connect();
      await client.query(`SET search_path TO "${schema}"; ${wipe}`);
      await client.end();
    }
    expect((await billingReport(store, ALL, opts)).lines).toEqual([]);
    // What serve does at start: only the cases without rows (all of them here), then none are left.
    expect(await rebuildReports(store, { missingOnly: true })).toBe(Object.keys(ids).length);
    expect(await rebuildReports(store, { missingOnly: true })).toBe(0);
    expect(await billingReport(store, ALL, opts)).toEqual(before);
    expect(await rebuildReports(store)).toBe(Object.keys(ids).length);
    expect(await billingReport(store, ALL, opts)).toEqual(before);
    // Link uses are events: they survive the rebuild.
    expect((await professionalsReport(store, { from: '2025-05-01', to: '2025-06-30' })).professionals).toHaveLength(2);
  });
}

describe('reports: billing and professionals on SQLite', () => suite('sqlite'));

const pgDown = await pgUnreachable();
describe.skipIf(!available('PostgreSQL', pgDown === undefined, 'the reports service tests on PostgreSQL'))('reports: billing and professionals on PostgreSQL', () => suite('postgresql'));

describe('the pseudonym key', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'passerelle-key-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the configured key wins; else one generated once in <dataDir>/reports-pseudonym.key (0600) and kept', () => {
    const configured = configFrom({ dataDir: dir, reports: { pseudonymKey: KEY } });
    expect(reportsPseudonymKey(configured)).toBe(KEY);
    const data = path.join(dir, 'data');
    const config = configFrom({ dataDir: data });
    const key = reportsPseudonymKey(config);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    const file = path.join(data, PSEUDONYM_KEY_FILE);
    expect(readFileSync(file, 'utf8').trim()).toBe(key);
    if (process.platform !== 'win32') expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(reportsPseudonymKey(configFrom({ dataDir: data }))).toBe(key);
    expect(reportsPseudonymKey(configFrom({ dataDir: path.join(dir, 'elsewhere') }))).not.toBe(key);
  });
});
