// The decision page (issue 18 point 4): decision submissions per second through the page over HTTP, beside a plain
// FHIR Task update measured in the same run, on the same store.
// - A page submission is what a browser does: GET /p/<token> (the form: the PPP, the Tasks and their history), POST the
//   summary, POST the confirmation (one transaction: the 3 Tasks of the professional changed through decideTask, one
//   Communication, the audit rows, the completion check) and GET the 303's confirmation page. 4 requests, 3 decisions.
// - The baseline: `PUT /fhir/Task/<id>` of one reco-validation Task with its changed decision output (decideTask, its
//   audit row and the completion check too). 1 request, 1 decision.
// Each submission changes every decision (retenu ↔ non-retenu with a comment), so every one writes. The links are
// spread over BENCH_PPPS PPPs (MT and PHO each), a worker keeps its own links (a link's submissions are sequential by
// design: the form token of the n-th submission is spent by it), BENCH_CONCURRENCY workers at once.
// Knobs: BENCH_PPPS (40), BENCH_SUBMISSIONS (400 page submissions; as many Task updates), BENCH_CONCURRENCY (4),
// BENCH_DIALECT (sqlite | postgresql; PostgreSQL at PASSERELLE_TEST_PG_URL or 127.0.0.1:5432/test).
import type { Task } from '@medplum/fhirtypes';
import { loadavg } from 'node:os';
import { CS } from '../src/fhir/canonical.js';
import { decisionTaskId } from '../src/services/pathway/decisions.js';
import type { Ppp } from '../src/domain/ppp.js';
import { choiceFields, decisionLinks, formTokenOf, getPage, hostilePpp, postForm, startDecisionEnv, submitPpp, type DecisionEnv } from '../test/pages/decision-support.js';
import { machine } from './stats.js';

const env = process.env;
const PPPS = Number(env.BENCH_PPPS ?? 40);
const SUBMISSIONS = Number(env.BENCH_SUBMISSIONS ?? 400);
const CONCURRENCY = Number(env.BENCH_CONCURRENCY ?? 4);
const DIALECT = (env.BENCH_DIALECT ?? 'sqlite') as 'sqlite' | 'postgresql';
const log = (line: string): void => console.log(line);

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
};

interface Run {
  count: number;
  seconds: number;
  latencies: number[];
  failures: number;
}

/** Runs `total` jobs over `workers` workers; worker w runs jobs w, w+workers, …; each job is timed. */
async function drive(total: number, workers: number, job: (worker: number, i: number) => Promise<boolean>): Promise<Run> {
  const latencies: number[] = [];
  let failures = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (let i = w; i < total; i += workers) {
        const t = performance.now();
        if (!(await job(w, i))) failures++;
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { count: total, seconds: (performance.now() - started) / 1000, latencies, failures };
}

const line = (label: string, r: Run, decisionsPer: number): string =>
  `${label.padEnd(44)} ${(r.count / r.seconds).toFixed(1).padStart(7)} /s  (${((r.count * decisionsPer) / r.seconds).toFixed(1)} decisions/s)  p50 ${pct(r.latencies, 0.5).toFixed(1)} ms  p99 ${pct(r.latencies, 0.99).toFixed(1)} ms  (${r.count} in ${r.seconds.toFixed(1)} s${r.failures ? `; ${r.failures} FAILED` : ''})`;

log(`machine: ${machine()}; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
log(`store: ${DIALECT}; ${PPPS} PPPs (3 recommendations, MT and PHO links each), ${SUBMISSIONS} submissions / updates, ${CONCURRENCY} at once`);
const e: DecisionEnv = await startDecisionEnv(DIALECT);
try {
  const links: string[] = [];
  const tasks: { id: string; body: Task }[] = [];
  for (let i = 0; i < PPPS; i++) {
    const carePlan = await submitPpp(e.store, hostilePpp(`BENCH-${i}`));
    const l = await decisionLinks(e, carePlan);
    links.push(l.MT, l.PHO);
    const doc = (await e.store.pathway.getCase(carePlan))!.document as Ppp;
    for (const r of ['R1', 'R2', 'R3']) {
      const id = decisionTaskId(doc, r, 'MT');
      tasks.push({ id, body: (await e.store.read<Task>('Task', id))! });
    }
  }
  // Workers own disjoint links: worker w uses links w, w+CONCURRENCY, …
  const mine = (w: number, i: number): string => {
    const own = links.filter((_, k) => k % CONCURRENCY === w);
    return own[Math.floor(i / CONCURRENCY) % own.length] as string;
  };
  const seq = new Map<string, number>();
  const choicesFor = (n: number) =>
    n % 2 === 0
      ? ([['R1', 'retenu'], ['R2', 'retenu'], ['R3', 'retenu']] as const)
      : ([['R1', 'non-retenu', `Motif ${n}`], ['R2', 'retenu-modifie', `Modification ${n}`], ['R3', 'non-retenu', `Motif ${n}`]] as const);

  const page = async (w: number, i: number): Promise<boolean> => {
    const link = mine(w, i);
    const n = (seq.get(link) ?? 0) + 1;
    seq.set(link, n);
    const form = await getPage(e, link);
    if (form.status !== 200) return false;
    const fields = choiceFields(choicesFor(n));
    const summary = await postForm(e, link, [['jeton', formTokenOf(form.text)], ...fields, ['etape', 'resume']]);
    if (summary.status !== 200) return false;
    const confirm = await postForm(e, link, [['jeton', formTokenOf(summary.text)], ...fields, ['etape', 'confirmer']]);
    if (confirm.status !== 303 || !confirm.location) return false;
    return (await getPage(e, confirm.location)).status === 200;
  };

  const versions = new Map<string, Task>();
  const put = async (w: number, i: number): Promise<boolean> => {
    const own = tasks.filter((_, k) => k % CONCURRENCY === w);
    const t = own[Math.floor(i / CONCURRENCY) % own.length]!;
    const current = versions.get(t.id) ?? t.body;
    const code = current.businessStatus?.coding?.[0]?.code === 'retenu' ? 'non-retenu' : 'retenu';
    const next: Task = {
      ...current,
      status: 'completed',
      output: [{ type: { text: 'decision' }, valueCodeableConcept: { coding: [{ system: CS.pppDecision, code }] } }, ...(code === 'non-retenu' ? [{ type: { text: 'motif' }, valueString: `Motif ${i}` }] : [])],
    };
    delete next.businessStatus;
    const res = await fetch(`${e.fhir}/Task/${t.id}`, { method: 'PUT', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(next) });
    const body = (await res.json()) as Task;
    if (res.status !== 200) return false;
    versions.set(t.id, body);
    return true;
  };

  // Warm-up (not counted): a few of each.
  await drive(CONCURRENCY * 2, CONCURRENCY, page);
  await drive(CONCURRENCY * 2, CONCURRENCY, put);
  // Interleaved halves, so a drift of the machine weighs on both.
  const half = Math.floor(SUBMISSIONS / 2);
  const p1 = await drive(half, CONCURRENCY, (w, i) => page(w, i + CONCURRENCY * 2));
  const t1 = await drive(half, CONCURRENCY, (w, i) => put(w, i + CONCURRENCY * 2));
  const p2 = await drive(SUBMISSIONS - half, CONCURRENCY, (w, i) => page(w, i + half + CONCURRENCY * 2));
  const t2 = await drive(SUBMISSIONS - half, CONCURRENCY, (w, i) => put(w, i + half + CONCURRENCY * 2));
  const join = (a: Run, b: Run): Run => ({ count: a.count + b.count, seconds: a.seconds + b.seconds, latencies: [...a.latencies, ...b.latencies], failures: a.failures + b.failures });
  log(line('decision page (GET, summary, confirm, GET)', join(p1, p2), 3));
  log(line('baseline: PUT /fhir/Task/<id> (1 decision)', join(t1, t2), 1));
  if (p1.failures + p2.failures + t1.failures + t2.failures > 0) process.exitCode = 1;
} finally {
  await e.close();
}
