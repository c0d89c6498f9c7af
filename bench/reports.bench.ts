// The reports of issue 20 at scale: the activity report and the billing extraction over 100,000 generated PPPs
// (test/support/report-population.ts, 14 establishments, 2024–2025), ms per report on SQLite (a temp file) and on
// PostgreSQL (its own schema, dropped at the end). Aim: each report under 1 s at 100,000 PPPs.
// Baseline in the same run: loading the same PPPs through the store (`store.pathway.cases`) and counting the same
// figures in memory from the documents (pppFacts: per-establishment counts, patients, months, decisions; the billing
// lines of the period).
// The cases are written as the gateway writes them: `tx.pathway.saveCase` (pathway_case + the report rows) in batches
// of 1,000, plus the D45/D90 schedule, recorded decisions, completed windows and link uses of the pathway subset.
// The figures are checked against the generator's own (expectedActivity / expectedBilling) before timing.
// Env: BENCH_PPPS (default 100000), BENCH_RUNS (default 5), BENCH_STORES (default sqlite,postgresql), PASSERELLE_TEST_PG_URL.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Ppp } from '../src/domain/ppp.js';
import { pppFacts } from '../src/domain/reports/facts.js';
import { openPgStore } from '../src/store/pg-store.js';
import type { ReportPeriod } from '../src/store/report-repository.js';
import type { ResourceStore } from '../src/store/repository.js';
import { openSqliteStore } from '../src/store/sqlite-store.js';
import { dropPgSchema, PG_TEST_URL, pgUnreachable } from '../test/support/pg.js';
import { DAY_MS, expectedActivity, expectedBilling, FOLLOW_UP, generatePopulation, type PlannedPpp } from '../test/support/report-population.js';
import { machine, peakRssMiB } from './stats.js';

const N = Number(process.env.BENCH_PPPS ?? 100_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const BATCH = 1000;
/** The report asked: all establishments, 2024–2025 (every PPP); the billing of 2025 (about half). */
const ACTIVITY: ReportPeriod = { from: '2024-01-01', to: '2025-12-31' };
const BILLING: ReportPeriod = { from: '2025-01-01', to: '2025-12-31' };
const ONE: ReportPeriod = { ...ACTIVITY, finess: '760000018' };
const DUE_BY = `${ACTIVITY.to}T23:59:59.999Z`;

const t0 = performance.now();
const { ppps } = generatePopulation({ seed: 100, count: N, identities: 'simple' });
const genSeconds = (performance.now() - t0) / 1000;
// The pathway subset's events, written straight as the services would (their rows only).
const patientOf = (p: PlannedPpp): string => `fp-${p.truth.patientKey}`;
const carePlanOf = (p: PlannedPpp): string => `cp-${p.truth.pppId}`;

async function load(store: ResourceStore): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < ppps.length; i += BATCH) {
    await store.transaction(async (tx) => {
      for (const p of ppps.slice(i, i + BATCH)) {
        const doc = p.document as unknown as Ppp;
        const carePlan = carePlanOf(p);
        await tx.pathway.saveCase({ carePlan, pppId: doc.id, finess: doc.establishment.finess, patient: patientOf(p), document: doc, created: doc.created, updated: doc.created });
        const ev = p.events;
        if (!ev) continue;
        await tx.pathway.markSent(carePlan, ev.sendAt);
        const sent = Date.parse(ev.sendAt);
        await tx.pathway.schedule(carePlan, 'd45', new Date(sent + FOLLOW_UP.d45Days * DAY_MS).toISOString());
        await tx.pathway.schedule(carePlan, 'd90', new Date(sent + FOLLOW_UP.d90Days * DAY_MS).toISOString());
        for (const u of ev.uses) await tx.pathway.linkUsed(carePlan, u.role, u.role === 'MT' ? p.truth.mt.rpps : p.truth.pho!.rpps, u.at);
        for (const d of ev.decide) for (const c of d.choices) await tx.pathway.recordDecision(carePlan, c.recommendation, d.role, c.decision, d.at);
        for (const o of ev.outcomes) await tx.pathway.followupDone(carePlan, o.window, o.at);
      }
    });
  }
  return (performance.now() - start) / 1000;
}

/** The baseline: every case read back through the store, the same figures counted in memory. */
async function baseline(store: ResourceStore): Promise<{ activity: unknown; billing: number }> {
  const cases = await store.pathway.cases({ closed: true, limit: 200_000 });
  const est = new Map<string, { ppp: number; withRcp: number; sync: number; async: number; hopital: number; ville: number; recommendations: number; patients: Set<string> }>();
  const patients = new Set<string>();
  const months = new Map<string, number>();
  const decisions = new Map<string, number>();
  const lines: unknown[] = [];
  for (const c of cases) {
    const f = pppFacts(c.document as Ppp, { carePlan: c.carePlan, patient: c.patient });
    const p = f.ppp;
    if (p.createdDay >= ACTIVITY.from && p.createdDay <= ACTIVITY.to) {
      let e = est.get(p.finess);
      if (!e) est.set(p.finess, (e = { ppp: 0, withRcp: 0, sync: 0, async: 0, hopital: 0, ville: 0, recommendations: 0, patients: new Set() }));
      e.ppp++;
      if (p.rcpMode) e.withRcp++;
      if (p.rcpMode === 'sync') e.sync++;
      if (p.rcpMode === 'async') e.async++;
      if (p.entryDoor === 'hopital') e.hopital++;
      else e.ville++;
      e.recommendations += p.recommendations;
      e.patients.add(p.patient);
      patients.add(p.patient);
      const m = `${p.createdDay.slice(0, 7)}|${p.finess}`;
      months.set(m, (months.get(m) ?? 0) + 1);
      for (const d of f.decisions) decisions.set(`${d.actor}|${d.decision}`, (decisions.get(`${d.actor}|${d.decision}`) ?? 0) + 1);
    }
    if (p.rcpDay && p.rcpDay >= BILLING.from && p.rcpDay <= BILLING.to) for (const m of f.members) if (m.tookPart) lines.push({ ppp: p.pppId, role: m.role, rpps: m.rpps });
  }
  return { activity: { est: est.size, patients: patients.size, months: months.size, decisions: decisions.size }, billing: lines.length };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  await fn(); // warm-up (statement cache, pages in the OS cache)
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const s = performance.now();
    await fn();
    samples.push(performance.now() - s);
  }
  return median(samples);
}

interface Row {
  dialect: string;
  loadSeconds: number;
  activity: number;
  activityOne: number;
  billing: number;
  billingLines: number;
  baseline: number;
}

async function measure(dialect: 'sqlite' | 'postgresql'): Promise<Row> {
  const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-reports-bench-'));
  const schema = `reports_bench_${process.pid}`;
  const store = dialect === 'sqlite' ? await openSqliteStore({ file: path.join(dir, 'db.sqlite') }) : await openPgStore({ url: PG_TEST_URL, schema, poolSize: 4 });
  try {
    const loadSeconds = await load(store);
    // The figures first: the store's report equals the generator's own count (follow-up and decisions included).
    const a = await store.reports.activity(ACTIVITY, DUE_BY);
    const want = expectedActivity(ppps, ACTIVITY, DUE_BY);
    const got = { ppp: a.establishments.reduce((s, e) => s + e.ppp, 0), patients: a.patients, d45: a.followUp.find((f) => f.followup === 'd45')?.done ?? 0 };
    if (!isDeepStrictEqual(got, { ppp: want.total.ppp, patients: want.total.patients, d45: want.followUp.d45.done })) throw new Error(`${dialect}: activity ${JSON.stringify(got)} ≠ expected`);
    const billingLines = (await store.reports.billing(BILLING)).length;
    if (billingLines !== expectedBilling(ppps, BILLING).lines.length) throw new Error(`${dialect}: ${billingLines} billing lines ≠ expected`);
    const base = await baseline(store);
    if (base.billing !== billingLines) throw new Error(`${dialect}: the baseline counts ${base.billing} billing lines`);
    return {
      dialect,
      loadSeconds,
      activity: await timeIt(() => store.reports.activity(ACTIVITY, DUE_BY)),
      activityOne: await timeIt(() => store.reports.activity(ONE, DUE_BY)),
      billing: await timeIt(() => store.reports.billing(BILLING)),
      billingLines,
      baseline: await timeIt(() => baseline(store)),
    };
  } finally {
    await store.close();
    if (dialect === 'postgresql') await dropPgSchema(schema);
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`${machine()}`);
console.log(`${N} PPPs generated in ${genSeconds.toFixed(1)} s (${ppps.filter((p) => p.events).length} with pathway events); median of ${RUNS} runs after one warm-up`);
const STORES = (process.env.BENCH_STORES ?? 'sqlite,postgresql').split(',');
const rows: Row[] = STORES.includes('sqlite') ? [await measure('sqlite')] : [];
const pgDown = STORES.includes('postgresql') ? await pgUnreachable() : 'not asked (BENCH_STORES)';
if (pgDown === undefined) rows.push(await measure('postgresql'));
else console.log(`PostgreSQL not measured: ${pgDown}`);
console.log('\n| store | load (saveCase, 1,000 per tx) | activity, all establishments | activity, one establishment | billing 2025 (lines) | baseline: load all cases + count in memory |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.dialect} | ${r.loadSeconds.toFixed(0)} s | ${r.activity.toFixed(0)} ms | ${r.activityOne.toFixed(0)} ms | ${r.billing.toFixed(0)} ms (${r.billingLines.toLocaleString('en')}) | ${r.baseline.toFixed(0)} ms |`,
  );
}
const worst = Math.max(...rows.flatMap((r) => [r.activity, r.activityOne, r.billing]));
console.log(`\naim (each report < 1,000 ms at ${N.toLocaleString('en')} PPPs): ${worst < 1000 ? 'met' : 'NOT met'} (slowest ${worst.toFixed(0)} ms); peak RSS ${peakRssMiB().toFixed(0)} MiB`);
