// The reports of issue 20 against a generated multi-establishment data set (test/support/report-population.ts), on a
// real SQLite file and on PostgreSQL: 1,500 PPPs of 14 establishments posted through POST /ppp over HTTP (real
// identity resolution: a few patients have two PPPs), a fifth of them taken through the pathway's services with
// explicit clocks (send, link uses, decisions through the links, D45/D90 outcomes); the activity figures, the billing
// lines and the active professionals must equal the figures the test computes on its own from the generator's
// ground truth (never from the gateway's code). Traps in the data: days as written vs UTC days (a PPP created or an
// RCP held just after midnight local time, an RCP on New Year's night that takes the 2025 tariff), a PHO without a
// pharmacy FINESS, asynchronous RCPs where a silent MT or PHO is not paid, MTs shared between establishments, IDNPS
// authors. Two parts: store.reports (exists on this branch) and the HTTP endpoints GET /reports/activity, /billing,
// /professionals (their agreed shapes; written by the parallel branches: that block needs their merge to pass).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Bundle, CarePlan } from '@medplum/fhirtypes';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/api/app.js';
import { mountDomainRoutes } from '../../src/api/domain-routes.js';
import { mountReportRoutes } from '../../src/api/report-routes.js';
import { configFrom } from '../../src/config.js';
import { recordDecisions } from '../../src/services/pathway/decisions.js';
import { resolveLink } from '../../src/services/pathway/links.js';
import { recordOutcomes } from '../../src/services/pathway/outcomes.js';
import { sendPpp } from '../../src/services/pathway/send.js';
import { openPgStore } from '../../src/store/pg-store.js';
import type { ActivityCounts, BillingRow, ProfessionalRow } from '../../src/store/report-repository.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { call, call as httpCall } from '../api/server.js';
import { dropPgSchema, PG_TEST_URL, pgUnreachable } from '../support/pg.js';
import {
  expectedActivity,
  expectedBilling,
  expectedProfessionals,
  FOLLOW_UP,
  generatePopulation,
  type ExpectedActivity,
  type ExpectedBillingLine,
  type Period,
  type PlannedPpp,
} from '../support/report-population.js';
import { available } from '../support/shared.js';
import { contextAt } from '../services/pathway/followup-support.js';

const COUNT = 1500;
const { establishments, ppps } = generatePopulation({ seed: 20, count: COUNT, idnpsAuthors: true });
const json = { 'content-type': 'application/json' };

/** The periods the reports are asked about: everything, a window cutting follow-ups and RCPs, a year, one establishment, New Year's week, an empty month. */
const PERIODS: (Period & { label: string })[] = [
  { label: 'the whole range', from: '2023-12-01', to: '2025-12-31' },
  { label: 'a window that cuts RCPs and follow-up windows', from: '2024-07-15', to: '2025-03-10' },
  { label: 'the year 2025', from: '2025-01-01', to: '2025-12-31' },
  { label: 'one establishment (Corsican FINESS)', from: '2024-01-01', to: '2025-12-31', finess: '2A0000012' },
  { label: 'one establishment, one quarter', from: '2025-04-01', to: '2025-06-30', finess: establishments[0]!.finess },
  { label: "New Year's week", from: '2024-12-28', to: '2025-01-03' },
  { label: 'an empty month', from: '2023-01-01', to: '2023-01-31' },
];

/** The reports' rounding, as the issue states it. */
const round = (x: number, d: number): number => Math.round(x * 10 ** d) / 10 ** d;

/** store.reports.activity's counts in the agreed body's shape (what the route adds: shares, totals, by-month sums). */
function activityOf(c: ActivityCounts, period: Period): ExpectedActivity {
  const establishments = c.establishments.map((e) => ({
    finess: e.finess,
    name: e.name,
    ppp: e.ppp,
    pppWithRcp: e.pppWithRcp,
    rcpShare: e.ppp === 0 ? 0 : round(e.pppWithRcp / e.ppp, 3),
    byEntryDoor: { hopital: e.hopital, ville: e.ville },
    rcpSync: e.rcpSync,
    rcpAsync: e.rcpAsync,
    recommendations: e.recommendations,
    patients: e.patients,
  }));
  const sum = (f: (e: (typeof establishments)[number]) => number): number => establishments.reduce((s, e) => s + f(e), 0);
  const decision = (actor: 'MT' | 'PHO', d: string): number => c.decisions.find((x) => x.actor === actor && x.decision === d)?.count ?? 0;
  const decisions = (actor: 'MT' | 'PHO') => ({
    retenu: decision(actor, 'retenu'),
    nonRetenu: decision(actor, 'non-retenu'),
    retenuModifie: decision(actor, 'retenu-modifie'),
    pending: decision(actor, 'pending'),
    declined: decision(actor, 'declined'),
  });
  const months = new Map<string, number>();
  for (const m of c.months) months.set(m.month, (months.get(m.month) ?? 0) + m.ppp);
  const fu = (w: 'd45' | 'd90') => {
    const r = c.followUp.find((f) => f.followup === w);
    return { due: r?.due ?? 0, done: r?.done ?? 0 };
  };
  const ppp = sum((e) => e.ppp);
  const withRcp = sum((e) => e.pppWithRcp);
  const recommendations = sum((e) => e.recommendations);
  return {
    period: { from: period.from, to: period.to },
    ...(period.finess !== undefined ? { establishment: period.finess } : {}),
    total: {
      ppp,
      pppWithRcp: withRcp,
      rcpShare: ppp === 0 ? 0 : round(withRcp / ppp, 3),
      rcpSync: sum((e) => e.rcpSync),
      rcpAsync: sum((e) => e.rcpAsync),
      byEntryDoor: { hopital: sum((e) => e.byEntryDoor.hopital), ville: sum((e) => e.byEntryDoor.ville) },
      recommendationsPerPatient: c.patients === 0 ? 0 : round(recommendations / c.patients, 2),
      patients: c.patients,
      recommendations,
    },
    establishments,
    decisions: { mt: decisions('MT'), pho: decisions('PHO') },
    followUp: { d45: fu('d45'), d90: fu('d90') },
    activeProfessionals: { mt: c.activeProfessionals.find((a) => a.role === 'MT')?.count ?? 0, pho: c.activeProfessionals.find((a) => a.role === 'PHO')?.count ?? 0 },
    months: [...months.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([month, n]) => ({ month, ppp: n })),
  };
}

/** The comparable columns of a billing line (the pseudonym and the amount are checked apart). */
const lineKey = (l: Pick<ExpectedBillingLine, 'ppp_id' | 'pathway' | 'establishment_finess' | 'establishment_name' | 'rcp_date' | 'rcp_mode' | 'role' | 'rpps' | 'professional_name' | 'pharmacy_finess'>) => ({
  ppp_id: l.ppp_id,
  pathway: l.pathway,
  establishment_finess: l.establishment_finess,
  establishment_name: l.establishment_name,
  rcp_date: l.rcp_date,
  rcp_mode: l.rcp_mode,
  role: l.role,
  rpps: l.rpps,
  professional_name: l.professional_name,
  pharmacy_finess: l.pharmacy_finess,
});
const storeLine = (r: BillingRow) =>
  lineKey({
    ppp_id: r.pppId,
    pathway: r.pathway,
    establishment_finess: r.finess,
    establishment_name: r.establishmentName,
    rcp_date: r.rcpDay,
    rcp_mode: r.rcpMode,
    role: r.role,
    rpps: r.rpps,
    professional_name: r.name,
    pharmacy_finess: r.pharmacyFiness ?? null,
  });

/** Lines of the same patient share one patient value and lines of different patients never do. */
function expectOnePatientValuePerPatient(expected: ExpectedBillingLine[], values: string[]): void {
  expect(values).toHaveLength(expected.length);
  const byKey = new Map<string, string>();
  const byValue = new Map<string, string>();
  expected.forEach((l, i) => {
    const v = values[i]!;
    expect(byKey.get(l.patientKey) ?? v).toBe(v);
    expect(byValue.get(v) ?? l.patientKey).toBe(l.patientKey);
    byKey.set(l.patientKey, v);
    byValue.set(v, l.patientKey);
  });
}

interface Gateway {
  url: string;
  store: ResourceStore;
  /** CarePlan id of each PPP, by PPP id. */
  carePlans: Map<string, string>;
  close(): Promise<void>;
}

/** Runs the pathway events of one PPP through the services, each at its own clock reading. */
async function runEvents(store: ResourceStore, carePlan: string, p: PlannedPpp): Promise<void> {
  const ev = p.events!;
  const sent = await sendPpp(store, carePlan, { ...contextAt(new Date(ev.sendAt)), actor: 'test' });
  const tokenOf = (role: 'MT' | 'PHO'): string => {
    const url = sent.links.find((l) => l.role === role)?.url;
    if (!url) throw new Error(`${p.truth.pppId}: no ${role} link`);
    return url.slice(url.indexOf('/p/') + 3);
  };
  for (const role of ['MT', 'PHO'] as const) {
    const uses = ev.uses.filter((u) => u.role === role);
    for (const [i, u] of uses.entries()) {
      const r = await resolveLink(store, tokenOf(role), { now: new Date(u.at), purpose: 'decision' });
      if (!r.ok) throw new Error(`${p.truth.pppId}: the ${role} link was refused at ${u.at}`);
      const decide = i === 0 ? ev.decide.find((d) => d.role === role) : undefined;
      if (decide) {
        await recordDecisions(store, r.link, decide.choices, { ...contextAt(new Date(decide.at)), actor: `link:${role}`, submission: 1, person: `rpps:${r.link.rpps}` });
      }
    }
  }
  for (const o of ev.outcomes) {
    const cp = await store.read<CarePlan>('CarePlan', carePlan);
    const refs = (cp?.activity ?? []).map((a) => a.reference?.reference).filter((r): r is string => !!r);
    await recordOutcomes(store, carePlan, { window: o.window, outcomes: refs.map((recommendation) => ({ recommendation, outcome: 'implementee' })) }, { now: new Date(o.at), actor: 'person:test', followUp: FOLLOW_UP });
  }
}

async function openGateway(dialect: 'sqlite' | 'postgresql', schema: string): Promise<Gateway> {
  const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-reports-'));
  const store = dialect === 'sqlite' ? await openSqliteStore({ file: path.join(dir, 'db.sqlite') }) : await openPgStore({ url: PG_TEST_URL, schema, poolSize: 6 });
  const config = configFrom({ port: 0, dataDir: dir, log: { level: 'silent' } });
  const running = await startServer({ store, config, logger: pino({ level: 'silent' }), mounts: [mountDomainRoutes, mountReportRoutes] });
  const carePlans = new Map<string, string>();
  // POST /ppp, four at a time.
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < ppps.length) {
      const p = ppps[next++]!;
      const res = await call<Bundle>(`${running.url}/ppp`, { body: p.document, headers: json });
      if (res.status !== 200) throw new Error(`POST /ppp ${p.truth.pppId}: ${res.status} ${JSON.stringify(res.body).slice(0, 600)}`);
      const cp = res.body.entry?.map((e) => e.resource).find((r) => r?.resourceType === 'CarePlan');
      carePlans.set(p.truth.pppId, cp?.id as string);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  for (const p of ppps) if (p.events) await runEvents(store, carePlans.get(p.truth.pppId)!, p);
  return {
    url: running.url,
    store,
    carePlans,
    async close() {
      await running.close();
      await store.close();
      if (dialect === 'postgresql') await dropPgSchema(schema);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function suite(dialect: 'sqlite' | 'postgresql'): void {
  let gw: Gateway;
  const schema = `reports_ds_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  beforeAll(async () => {
    gw = await openGateway(dialect, schema);
  }, 1_800_000);
  afterAll(async () => {
    await gw?.close();
  }, 60_000);

  it('the data set is what the issue asks for, and it exercises every rule', () => {
    expect(establishments.length).toBeGreaterThanOrEqual(12);
    expect(gw.carePlans.size).toBe(COUNT);
    expect(new Set(gw.carePlans.values()).size).toBe(COUNT);
    const all = expectedActivity(ppps, PERIODS[0]!, '2026-12-01T00:00:00.000Z');
    expect(all.establishments.map((e) => e.finess)).toEqual(establishments.map((e) => e.finess).sort());
    expect(all.total.patients).toBeLessThan(all.total.ppp); // some patients have two PPPs
    for (const n of [all.total.rcpSync, all.total.rcpAsync, all.total.ppp - all.total.pppWithRcp, all.total.byEntryDoor.ville]) expect(n).toBeGreaterThan(20);
    for (const c of [all.decisions.mt, all.decisions.pho]) for (const n of [c.retenu, c.nonRetenu, c.retenuModifie, c.pending]) expect(n).toBeGreaterThan(20);
    expect(all.followUp.d45.done).toBeGreaterThan(0);
    expect(all.followUp.d90.done).toBeGreaterThan(0);
    expect(all.followUp.d45.done).toBeLessThan(all.followUp.d45.due);
    const bill = expectedBilling(ppps, PERIODS[0]!);
    expect(bill.summary.phoWithoutPharmacy).toBeGreaterThan(0);
    expect(new Set(bill.lines.map((l) => l.tariff_year))).toEqual(new Set([2024, 2025]));
    // An async RCP where the PHO stayed silent: a PHO in the team, no PHO line.
    expect(ppps.some((p) => p.truth.rcp?.mode === 'async' && p.truth.pho && !p.truth.billable.some((b) => b.role === 'PHO'))).toBe(true);
    // Days as written differ from UTC days, for creations and for RCPs.
    expect(ppps.filter((p) => new Date(String(p.document.created)).toISOString().slice(0, 10) !== p.truth.createdDay).length).toBeGreaterThan(5);
    expect(ppps.filter((p) => p.truth.rcp && new Date(String((p.document.rcp as { date: string }).date)).toISOString().slice(0, 10) !== p.truth.rcp.day).length).toBeGreaterThan(5);
    expect(bill.lines.find((l) => l.ppp_id === ppps[1]!.truth.pppId)).toMatchObject({ rcp_date: '2025-01-01', tariff_year: 2025, amount_eur: 125 });
  });

  describe('store.reports', () => {
    for (const period of PERIODS) {
      it(`activity: ${period.label}`, async () => {
        for (const dueBy of [`${period.to}T23:59:59.999Z`, '2025-06-30T23:59:59.999Z']) {
          const got = activityOf(await gw.store.reports.activity(period, dueBy), period);
          expect(got).toEqual(expectedActivity(ppps, period, dueBy));
        }
      });
      it(`billing: ${period.label}`, async () => {
        const rows = await gw.store.reports.billing(period);
        const expected = expectedBilling(ppps, period);
        expect(rows.map(storeLine)).toEqual(expected.lines.map(lineKey));
        expectOnePatientValuePerPatient(expected.lines, rows.map((r) => r.patient));
        for (const r of rows) expect(r.carePlan).toBe(gw.carePlans.get(r.pppId));
      });
      it(`professionals: ${period.label}`, async () => {
        for (const role of [undefined, 'MT', 'PHO'] as const) {
          const q = { ...period, ...(role ? { role } : {}) };
          const rows: ProfessionalRow[] = await gw.store.reports.professionals(q);
          const got = rows.map((r) => ({ ...r, establishments: [...r.establishments].sort() })).sort((a, b) => (a.rpps < b.rpps ? -1 : a.rpps > b.rpps ? 1 : a.role < b.role ? -1 : 1));
          expect(got).toEqual(expectedProfessionals(ppps, q));
        }
      });
    }
    it('knows the establishments of the data set and no other', async () => {
      for (const e of establishments) expect(await gw.store.reports.establishmentKnown(e.finess)).toBe(true);
      expect(await gw.store.reports.establishmentKnown('999999999')).toBe(false);
    });
  });

  describe('over HTTP: GET /reports/activity, /reports/billing, /reports/professionals (agreed shapes)', () => {
    // The posting phase and the store-level checks leave the client's pooled keep-alive connection idle for minutes; on
    // a loaded machine its expiry timer can fire after the server closed it (ECONNRESET on the next request). These
    // reads are idempotent GETs: a reset before any answer is tried once more; any HTTP answer is kept as it is.
    const call = async <T,>(url: string): Promise<Awaited<ReturnType<typeof httpCall<T>>>> => {
      try {
        return await httpCall<T>(url);
      } catch (err) {
        if ((err as { cause?: { code?: string } }).cause?.code !== 'ECONNRESET') throw err;
        return httpCall<T>(url);
      }
    };
    const query = (p: Period, extra: Record<string, string> = {}): string =>
      new URLSearchParams({ from: p.from, to: p.to, ...(p.finess !== undefined ? { establishment: p.finess } : {}), ...extra }).toString();

    for (const period of PERIODS) {
      it(`activity: ${period.label}`, async () => {
        const res = await call<ExpectedActivity>(`${gw.url}/reports/activity?${query(period)}`);
        expect(res.status).toBe(200);
        // Follow-up due by the end of `to`, or now when that is later than now (the server's clock).
        const dueBy = new Date(Math.min(Date.parse(`${period.to}T23:59:59.999Z`), Date.now())).toISOString();
        const expected = expectedActivity(ppps, period, dueBy);
        const body = res.body;
        // The shares are rounded numbers: compared as such; the rest exactly. Months with no PPP may be listed or not.
        expect(body.total.rcpShare).toBeCloseTo(expected.total.rcpShare, 3);
        expect(body.total.recommendationsPerPatient).toBeCloseTo(expected.total.recommendationsPerPatient, 2);
        expect(body.months.filter((m) => m.ppp > 0)).toEqual(expected.months);
        expect({ ...body, months: [] }).toEqual({ ...expected, months: [], ...(expected.establishments.length === 0 && body.establishments === undefined ? { establishments: undefined } : {}) });
      });

      it(`billing (JSON): ${period.label}`, async () => {
        const res = await call<{
          period: { from: string; to: string };
          establishment?: string;
          columns: string[];
          lines: (ExpectedBillingLine & { patient_pseudonym: string; pharmacy_name: string | null; tariff_year: number | string })[];
          summary: Record<string, unknown>;
        }>(`${gw.url}/reports/billing?${query(period, { format: 'json' })}`);
        expect(res.status).toBe(200);
        const expected = expectedBilling(ppps, period);
        expect(res.body.period).toEqual({ from: period.from, to: period.to });
        if (period.finess !== undefined) expect(res.body.establishment).toBe(period.finess);
        expect(res.body.columns).toEqual([
          'ppp_id',
          'pathway',
          'establishment_finess',
          'establishment_name',
          'patient_pseudonym',
          'rcp_date',
          'rcp_mode',
          'role',
          'rpps',
          'professional_name',
          'pharmacy_finess',
          'pharmacy_name',
          'amount_eur',
          'tariff_year',
        ]);
        expect(res.body.lines.map(lineKey)).toEqual(expected.lines.map(lineKey));
        expect(res.body.lines.map((l) => [l.amount_eur, Number(l.tariff_year)])).toEqual(expected.lines.map((l) => [l.amount_eur, l.tariff_year]));
        // The pseudonym: one per patient, never the federated id nor anything of the identity.
        const pseudonyms = res.body.lines.map((l) => l.patient_pseudonym);
        expectOnePatientValuePerPatient(expected.lines, pseudonyms);
        const federated = new Set((await gw.store.reports.billing(period)).map((r) => r.patient));
        for (const p of pseudonyms) expect(federated.has(p)).toBe(false);
        expect(res.body.summary).toEqual(expected.summary);
      });

      it(`professionals: ${period.label}`, async () => {
        for (const role of [undefined, 'MT', 'PHO'] as const) {
          const res = await call<{ period: unknown; professionals: { rpps: string; name: string; role: 'MT' | 'PHO'; establishments: { finess: string; name: string }[]; pppAnswered: number; firstUse: string; lastUse: string }[] }>(
            `${gw.url}/reports/professionals?${query(period, role ? { role } : {})}`,
          );
          expect(res.status).toBe(200);
          const nameOf = new Map(establishments.map((e) => [e.finess, e.name]));
          const expected = expectedProfessionals(ppps, { ...period, ...(role ? { role } : {}) }).map((r) => ({ ...r, establishments: r.establishments.map((f) => ({ finess: f, name: nameOf.get(f) })) }));
          const got = [...res.body.professionals]
            .map((r) => ({ ...r, establishments: [...r.establishments].sort((a, b) => (a.finess < b.finess ? -1 : 1)) }))
            .sort((a, b) => (a.rpps < b.rpps ? -1 : a.rpps > b.rpps ? 1 : a.role < b.role ? -1 : 1));
          expect(got).toEqual(expected);
        }
      });
    }

    it('the per-establishment figures add up to the all-establishment ones', async () => {
      const period = PERIODS[1]!;
      const all = (await call<ExpectedActivity>(`${gw.url}/reports/activity?${query(period)}`)).body;
      let ppp = 0;
      let lines = 0;
      for (const e of establishments) {
        const one = (await call<ExpectedActivity>(`${gw.url}/reports/activity?${query({ ...period, finess: e.finess })}`)).body;
        ppp += one.total.ppp;
        expect(one.establishments ?? []).toEqual(all.establishments.filter((x) => x.finess === e.finess));
        lines += ((await call<{ lines: unknown[] }>(`${gw.url}/reports/billing?${query({ ...period, finess: e.finess }, { format: 'json' })}`)).body.lines).length;
      }
      expect(ppp).toBe(all.total.ppp);
      expect(lines).toBe((await call<{ lines: unknown[] }>(`${gw.url}/reports/billing?${query(period, { format: 'json' })}`)).body.lines.length);
    });
  });
}

describe('reports over a generated data set on SQLite', () => suite('sqlite'));

const pgDown = await pgUnreachable();
describe.skipIf(!available('PostgreSQL', pgDown === undefined, 'the reports data-set test on PostgreSQL'))('reports over a generated data set on PostgreSQL', () => suite('postgresql'));
