// GET /reports/billing and GET /reports/professionals over real HTTP (a gateway with authentication, dev tokens):
// the JSON shape agreed for the billing file, the CSV (parsed back: header order, RFC 4180 quoting of a name holding a
// comma and quotes), bad parameters as 400 naming each (and nothing written: not even the pseudonym key), tenants
// (an establishment sees its own; another's or a pharmacy: 403, before the parameters), scopes and credentials.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountReportRoutes } from '../../src/api/report-routes.js';
import { BILLING_COLUMNS } from '../../src/domain/reports/billing.js';
import { patientPseudonym } from '../../src/domain/reports/pseudonym.js';
import { PSEUDONYM_KEY_FILE } from '../../src/services/reports/pseudonym-key.js';
import { EST_A, EST_B, importDirectory, links, PHARMACY, RPPS, submitAll } from '../services/reports/support.js';
import { call, startTestServer, type Outcome, type TestServer } from './server.js';

const token = (id: string) => ({ authorization: `Bearer dev-token-${id}-0123456789abcdef` });
const CLIENTS = [
  { id: 'regional', roles: ['regional'], tenant: 'region:NOR' },
  { id: 'est-b', roles: ['regional'], tenant: `establishment:${EST_B}` },
  { id: 'pharmacy', roles: ['lgo'], scopes: ['reports.read'], tenant: 'pharmacy:760001016' },
  { id: 'dpi-a', roles: ['dpi'], tenant: `establishment:${EST_A}` },
  { id: 'admin', roles: ['admin'] },
].map((c) => ({ ...c, token: `dev-token-${c.id}-0123456789abcdef` }));

let srv: TestServer;
let ids: Record<string, string>;

beforeAll(async () => {
  srv = await startTestServer({ auth: { enabled: true, devTokens: true, clients: CLIENTS } }, [mountReportRoutes]);
  ids = await submitAll(srv.store);
  await importDirectory(srv.store);
}, 60_000);
afterAll(async () => srv?.close());

const get = <T = Record<string, unknown>>(client: string | undefined, pathAndQuery: string) => call<T>(`${srv.url}${pathAndQuery}`, { headers: client ? token(client) : {} });
const raw = async (client: string, pathAndQuery: string) => {
  const res = await fetch(`${srv.url}${pathAndQuery}`, { headers: token(client) });
  return { status: res.status, headers: res.headers, text: await res.text() };
};
const ALL = 'from=2024-01-01&to=2028-12-31';

describe('GET /reports/billing: bad parameters', () => {
  it('400 with an OperationOutcome naming the parameter, never 5xx; nothing written (no pseudonym key yet)', async () => {
    const cases: [string, string][] = [
      ['from=2025-06-01&to=2025-01-01', 'from'],
      ['from=2025-13-01&to=2025-12-31', 'from'],
      ['from=2025-02-30&to=2025-12-31', 'from'],
      ['from=01/01/2025&to=2025-12-31', 'from'],
      ['to=2025-12-31', 'from'],
      ['from=2025-01-01', 'to'],
      ['from=2020-01-01&to=2025-01-01', 'to'],
      ['from=2025-01-01&to=2025-01-01&from=2025-02-01', 'from'],
      [`from=${'2'.repeat(8000)}&to=2025-12-31`, 'from'],
      ['from=2025-01-01%E2%80%AE&to=2025-12-31', 'from'],
      ['from=2025-01-01%00&to=2025-12-31', 'from'],
      ['from[gt]=2025-01-01&to=2025-12-31', 'from[gt]'],
      [`${ALL}&establishment=123456789`, 'establishment'],
      [`${ALL}&establishment=80000031`, 'establishment'],
      [`${ALL}&establishment=${EST_A}&establishment=${EST_B}`, 'establishment'],
      [`${ALL}&format=xml`, 'format'],
      [`${ALL}&format=CSV`, 'format'],
      [`${ALL}&format=json&format=csv`, 'format'],
      [`${ALL}&role=MT`, 'role'],
      [`${ALL}&%E2%80%AEx=1`, '\u202Ex'],
    ];
    for (const [q, param] of cases) {
      const r = await get<Outcome>('regional', `/reports/billing?${q}`);
      expect(r.status, q.slice(0, 80)).toBe(400);
      expect(r.body.resourceType).toBe('OperationOutcome');
      expect(r.body.issue.flatMap((i) => i.expression ?? []), q.slice(0, 80)).toContain(param);
    }
    expect(existsSync(path.join(srv.dataDir, PSEUDONYM_KEY_FILE))).toBe(false);
  });

  it('professionals: the same checks, and role MT or PHO only', async () => {
    for (const [q, param] of [
      ['from=2025-06-01&to=2025-01-01', 'from'],
      [`${ALL}&role=GP`, 'role'],
      [`${ALL}&role=MT&role=PHO`, 'role'],
      [`${ALL}&format=table`, 'format'],
      [`${ALL}&establishment=123456789`, 'establishment'],
    ] as const) {
      const r = await get<Outcome>('regional', `/reports/professionals?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.issue.flatMap((i) => i.expression ?? [])).toContain(param);
    }
  });
});

describe('GET /reports/billing', () => {
  it('format=json: the agreed shape, lines in order, summary', async () => {
    const r = await get<Record<string, unknown> & { lines: Record<string, unknown>[] }>('regional', `/reports/billing?${ALL}&format=json`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    expect(Object.keys(r.body)).toEqual(['period', 'columns', 'lines', 'summary']);
    expect(r.body.period).toEqual({ from: '2024-01-01', to: '2028-12-31' });
    expect(r.body.columns).toEqual([...BILLING_COLUMNS]);
    expect(r.body.lines).toHaveLength(12);
    for (const l of r.body.lines) expect(Object.keys(l)).toEqual([...BILLING_COLUMNS]);
    const key = (await import('node:fs')).readFileSync(path.join(srv.dataDir, PSEUDONYM_KEY_FILE), 'utf8').trim();
    const federated = (await srv.store.pathway.getCase(ids['B-1-SYNC']!))!.patient;
    expect(r.body.lines.find((l) => l.ppp_id === 'B-1-SYNC' && l.role === 'PHO')).toEqual({
      ppp_id: 'B-1-SYNC',
      pathway: 'IATROPREV',
      establishment_finess: EST_A,
      establishment_name: 'CHU Picardie (démo), site Sud',
      patient_pseudonym: patientPseudonym(federated, key),
      rcp_date: '2025-05-14',
      rcp_mode: 'sync',
      role: 'PHO',
      rpps: RPPS.PHO,
      professional_name: 'Madeleine FORESTIER',
      pharmacy_finess: PHARMACY.finess,
      pharmacy_name: PHARMACY.name,
      amount_eur: 30,
      tariff_year: 2025,
    });
    expect(r.body.lines.find((l) => l.ppp_id === 'B-5-2028')).toMatchObject({ amount_eur: null, tariff_year: 2028 });
    expect(r.body.summary).toEqual({ lines: 12, byRole: { DAH: 5, MT: 3, PHO: 4 }, amountEur: 765, phoWithoutPharmacy: 1, yearsWithoutTariff: ['2028'] });
  });

  it('CSV by default: RFC 4180 with a header in the documented order, a name with a comma and quotes quoted, as an attachment', async () => {
    const r = await raw('regional', `/reports/billing?${ALL}`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(r.headers.get('content-disposition')).toBe('attachment; filename="facturation-2024-01-01-2028-12-31.csv"');
    expect(r.text.slice(0, r.text.indexOf('\r\n'))).toBe(BILLING_COLUMNS.join(','));
    expect(r.text).toContain(',"Pharmacie du Beffroi, ""centre""",30.00,2025\r\n');
    expect(r.text.endsWith('\r\n')).toBe(true);
    const rows = parse(r.text, { bom: true }) as string[][];
    expect(rows[0]).toEqual([...BILLING_COLUMNS]);
    expect(rows).toHaveLength(13);
    const byCol = rows.slice(1).map((row) => Object.fromEntries(BILLING_COLUMNS.map((c, i) => [c, row[i]])));
    expect(byCol.find((l) => l.ppp_id === 'B-1-SYNC' && l.role === 'PHO')).toMatchObject({ pharmacy_name: PHARMACY.name, amount_eur: '30.00' });
    expect(byCol.find((l) => l.ppp_id === 'B-3-ASYNC' && l.role === 'DAH')?.amount_eur).toBe('220.00');
    expect(byCol.find((l) => l.ppp_id === 'B-5-2028' && l.role === 'PHO')).toMatchObject({ amount_eur: '', pharmacy_finess: '', pharmacy_name: '' });
    expect(byCol.every((l) => /^[0-9a-f]{64}$/.test(l.patient_pseudonym!))).toBe(true);
  });

  it('an establishment’s principal gets its own lines; another establishment, or a pharmacy: 403 (before the parameters)', async () => {
    const own = await get<{ establishment?: string; lines: { establishment_finess: string }[] }>('est-b', `/reports/billing?${ALL}&format=json`);
    expect(own.status).toBe(200);
    expect(own.body.establishment).toBe(EST_B);
    expect(own.body.lines.map((l) => l.establishment_finess)).toEqual([EST_B, EST_B, EST_B]);
    expect((await get('est-b', `/reports/billing?${ALL}&format=json&establishment=${EST_B}`)).status).toBe(200);
    expect((await get('est-b', `/reports/billing?${ALL}&establishment=${EST_A}`)).status).toBe(403);
    // An establishment it does not know is another's too: 403, not a 400 telling whether the gateway knows it.
    expect((await get('est-b', `/reports/billing?${ALL}&establishment=123456789`)).status).toBe(403);
    expect((await get('est-b', '/reports/billing?from=bad')).status).toBe(400);
    expect((await get('pharmacy', `/reports/billing?${ALL}`)).status).toBe(403);
    expect((await get('pharmacy', '/reports/billing?from=bad')).status).toBe(403);
    expect((await get('pharmacy', `/reports/professionals?${ALL}`)).status).toBe(403);
    const regionalB = await get<{ establishment?: string; lines: unknown[] }>('regional', `/reports/billing?${ALL}&format=json&establishment=${EST_B}`);
    expect(regionalB.body).toMatchObject({ establishment: EST_B });
    expect(regionalB.body.lines).toHaveLength(3);
  });

  it('a principal without reports.read: 403; no credentials: 401; admin reads', async () => {
    expect((await get('dpi-a', `/reports/billing?${ALL}`)).status).toBe(403);
    expect((await get('dpi-a', `/reports/professionals?${ALL}`)).status).toBe(403);
    expect((await get(undefined, `/reports/billing?${ALL}`)).status).toBe(401);
    expect((await get('admin', `/reports/billing?${ALL}&format=json`)).status).toBe(200);
  });

  it('each call is an access audit row reports.billing, refusals as failures', async () => {
    let rows: { action: string; actor: string; outcome: string }[] = [];
    for (let i = 0; i < 50; i++) {
      rows = (await srv.store.auditLog({ limit: 1000 })).filter((a) => a.action === 'reports.billing');
      if (rows.some((r) => r.actor === 'dpi-a')) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(rows.some((r) => r.actor === 'regional' && r.outcome === 'success')).toBe(true);
    expect(rows.some((r) => r.actor === 'regional' && r.outcome === 'failure')).toBe(true);
    expect(rows.filter((r) => r.actor === 'dpi-a').map((r) => r.outcome)).toEqual(['failure']);
  });
});

describe('GET /reports/professionals', () => {
  it('JSON by default, CSV on request, filtered by role and establishment', async () => {
    const use = await links(srv.store, ids['B-1-SYNC']!, '2025-05-15T08:00:00Z', [{ role: 'MT', rpps: RPPS.MT }, { role: 'PHO', rpps: RPPS.PHO }]);
    await use('MT', '2025-05-16T10:00:00Z');
    await use('PHO', '2025-05-18T10:00:00Z');
    const r = await get<{ period: unknown; professionals: { rpps: string; role: string; firstUse: string }[] }>('regional', '/reports/professionals?from=2025-05-01&to=2025-05-31');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      period: { from: '2025-05-01', to: '2025-05-31' },
      professionals: [
        { rpps: RPPS.MT, name: 'Pierre BENASSIS', role: 'MT', establishments: [{ finess: EST_A, name: 'CHU Picardie (démo), site Sud' }], pppAnswered: 2, firstUse: '2025-05-16', lastUse: '2025-05-16' },
        { rpps: RPPS.PHO, name: 'Madeleine FORESTIER', role: 'PHO', establishments: [{ finess: EST_A, name: 'CHU Picardie (démo), site Sud' }], pppAnswered: 1, firstUse: '2025-05-18', lastUse: '2025-05-18' },
      ],
    });
    const pho = await get<{ role?: string; professionals: { rpps: string }[] }>('regional', '/reports/professionals?from=2025-05-01&to=2025-05-31&role=PHO');
    expect(pho.body.role).toBe('PHO');
    expect(pho.body.professionals.map((p) => p.rpps)).toEqual([RPPS.PHO]);
    expect((await get<{ professionals: unknown[] }>('est-b', '/reports/professionals?from=2025-05-01&to=2025-05-31')).body.professionals).toEqual([]);
    const csv = await raw('regional', '/reports/professionals?from=2025-05-01&to=2025-05-31&format=csv');
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(csv.headers.get('content-disposition')).toBe('attachment; filename="professionnels-2025-05-01-2025-05-31.csv"');
    expect((parse(csv.text) as string[][]).map((row) => row.slice(0, 3))).toEqual([
      ['rpps', 'name', 'role'],
      [RPPS.MT, 'Pierre BENASSIS', 'MT'],
      [RPPS.PHO, 'Madeleine FORESTIER', 'PHO'],
    ]);
  });
});
