// GET /reports/activity over real HTTP: the figures of a period as JSON (the region's, one establishment's), a client
// bound to an establishment limited to its own (another: 403, known or not), bad parameters as a 400 OperationOutcome
// naming the parameter (missing, malformed, repeated, huge, control and bidi characters, unknown), never a 5xx;
// scope reports.read required; each call audited.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountReportRoutes } from '../../src/api/report-routes.js';
import type { ActivityReport } from '../../src/domain/reports/activity.js';
import { activityData, decideSome, followSome, FROM, TO, useLinks } from '../services/reports/activity-support.js';
import { call, startTestServer, type Outcome, type TestServer } from './server.js';

const A = '800000317';
const token = (id: string) => ({ authorization: `Bearer dev-token-${id}-0123456789abcdef` });
const CLIENTS = [
  { id: 'region', roles: ['regional'], tenant: 'region:28' },
  { id: 'est-a', roles: ['regional'], tenant: `establishment:${A}` },
  { id: 'lgo-p', roles: ['regional'], tenant: 'pharmacy:760001016' },
  { id: 'dpi-a', roles: ['dpi'], tenant: `establishment:${A}` },
  { id: 'admin', roles: ['admin'] },
].map((c) => ({ ...c, token: `dev-token-${c.id}-0123456789abcdef` }));

let srv: TestServer;

beforeAll(async () => {
  srv = await startTestServer({ auth: { enabled: true, devTokens: true, clients: CLIENTS } }, [mountReportRoutes]);
  const data = await activityData(srv.store);
  await decideSome(srv.store, data);
  await followSome(srv.store, data);
  await useLinks(srv.store, data);
}, 60_000);
afterAll(async () => srv?.close());

const get = <T = ActivityReport>(client: string | undefined, query: string) => call<T>(`${srv.url}/reports/activity${query}`, { headers: client ? token(client) : {} });

describe('GET /reports/activity', () => {
  it('answers the region’s figures of the period', async () => {
    const r = await get('region', `?from=${FROM}&to=${TO}`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    expect(r.body.period).toEqual({ from: FROM, to: TO });
    expect(r.body.total).toEqual({ ppp: 4, pppWithRcp: 3, rcpShare: 0.75, rcpSync: 2, rcpAsync: 1, byEntryDoor: { hopital: 3, ville: 1 }, recommendations: 10, patients: 3, recommendationsPerPatient: 3.33 });
    expect(r.body.establishments.map((e) => [e.finess, e.ppp, e.rcpShare])).toEqual([
      ['140000787', 1, 1],
      ['760000018', 1, 0],
      [A, 2, 1],
    ]);
    expect(r.body.months).toEqual([
      { month: '2025-04', ppp: 1 },
      { month: '2025-05', ppp: 2 },
      { month: '2025-06', ppp: 1 },
    ]);
    expect(r.body.decisions.mt).toMatchObject({ retenu: 1, declined: 1, nonRetenu: 0 });
    expect(r.body.decisions.pho).toMatchObject({ retenuModifie: 1 });
    expect(r.body.followUp).toEqual({ d45: { due: 2, done: 1 }, d90: { due: 0, done: 0 } });
    expect(r.body.activeProfessionals).toEqual({ mt: 1, pho: 1 });
    expect(r.body.establishment).toBeUndefined();
    // The same through admin, and one establishment asked for.
    expect((await get('admin', `?from=${FROM}&to=${TO}`)).body).toEqual(r.body);
    const one = await get('region', `?from=${FROM}&to=${TO}&establishment=${A}`);
    expect(one.body).toMatchObject({ establishment: A, total: { ppp: 2 }, activeProfessionals: { mt: 1, pho: 0 } });
  });

  it('limits a client bound to an establishment to its own (another: 403, whether it has PPPs or not)', async () => {
    const own = await get('est-a', `?from=${FROM}&to=${TO}`);
    expect(own.status).toBe(200);
    expect(own.body.establishment).toBe(A);
    expect(own.body.establishments.map((e) => e.finess)).toEqual([A]);
    expect((await get('est-a', `?from=${FROM}&to=${TO}&establishment=${A}`)).status).toBe(200);
    const other = await get<Outcome>('est-a', `?from=${FROM}&to=${TO}&establishment=760000018`);
    expect(other.status).toBe(403);
    expect(other.body.resourceType).toBe('OperationOutcome');
    expect((await get('est-a', `?from=${FROM}&to=${TO}&establishment=990000010`)).status).toBe(403);
    expect((await get('lgo-p', `?from=${FROM}&to=${TO}`)).status).toBe(403);
    expect((await get('dpi-a', `?from=${FROM}&to=${TO}`)).status).toBe(403);
    expect((await get(undefined, `?from=${FROM}&to=${TO}`)).status).toBe(401);
  });

  it('refuses bad parameters with a 400 OperationOutcome naming each one', async () => {
    const cases: [string, string[]][] = [
      ['', ['from', 'to']],
      [`?from=${FROM}`, ['to']],
      [`?from=2025-02-30&to=${TO}`, ['from']],
      [`?from=${FROM}&to=${TO}&from=2025-01-01`, ['from']],
      [`?from=${FROM}&to=2025-03-01`, ['from']],
      [`?from=2015-01-01&to=${TO}`, ['to']],
      [`?from=${FROM}&to=${'9'.repeat(5000)}`, ['to']],
      [`?from=${FROM}&to=2025-06-3%00`, ['to']],
      [`?from=2025-04-01%E2%80%AE&to=${TO}`, ['from']],
      [`?from=${FROM}&to=${TO}&establishment=12`, ['establishment']],
      [`?from=${FROM}&to=${TO}&establishment=80000031%E2%80%AE`, ['establishment']],
      [`?from=${FROM}&to=${TO}&establishment=990000010`, ['establishment']],
      [`?from=${FROM}&to=${TO}&establishment=${A}&establishment=${A}`, ['establishment']],
      [`?from=${FROM}&to=${TO}&format=csv`, ['format']],
      [`?from=${FROM}&to=${TO}&finess=${A}`, ['finess']],
      [`?from[a]=1&to=${TO}`, ['from']],
    ];
    for (const [query, params] of cases) {
      const r = await get<Outcome>('region', query);
      expect(r.status, query.slice(0, 80)).toBe(400);
      expect(r.body.resourceType).toBe('OperationOutcome');
      const named = r.body.issue.flatMap((i) => i.expression ?? []);
      for (const p of params) expect(named, query.slice(0, 80)).toContain(p);
    }
  });

  it('each call is an access audit row reports.activity, refusals as failures', async () => {
    let rows: { action: string; actor: string; outcome: string }[] = [];
    for (let i = 0; i < 50; i++) {
      rows = (await srv.store.auditLog({ limit: 1000 })).filter((a) => a.action === 'reports.activity');
      if (rows.some((r) => r.actor === 'dpi-a')) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(rows.some((r) => r.actor === 'region' && r.outcome === 'success')).toBe(true);
    expect(rows.filter((r) => r.actor === 'dpi-a').map((r) => r.outcome)).toEqual(['failure']);
  });
});
