// The FHIR API over HTTP (issue 15): read by id, `Patient?name=`, `CarePlan?patient=…&_include=…` and a PPP
// transaction of 55 resources against the gateway as `passerelle serve` wires it (auth off), on a SQLite store of
// 1M Patients (1.2M resources). Baseline in the same run: a bare express handler answering a fixed 1 KB JSON.
// autocannon drives each scenario from a worker thread (the machine has 2 cores: the server's event loop gets one).
//
// The scenarios run in interleaved rounds (baseline, read, …, baseline, read, …) so that the shared machine's drift
// weighs on the baseline as on the gateway.
//
// Knobs: BENCH_PATIENTS (1000000; or BENCH_RESOURCES, the total, /1.2), BENCH_SECONDS (10 per scenario, split over
// the rounds), BENCH_ROUNDS (2), BENCH_WARMUP_SECONDS (1 per round), BENCH_CONNECTIONS (4), BENCH_SCENARIOS (subset of
// baseline,read,name,include,transaction), BENCH_CPU_PROFILE (a directory: a CPU profile of the gateway's thread per
// timed scenario, warm-up excluded). The store file is cached in $TMPDIR/passerelle-bench-fhir-api.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { pino } from 'pino';
import type { Bundle, OperationOutcome } from '@medplum/fhirtypes';
import { startServer } from '../src/api/app.js';
import { mountDomainRoutes } from '../src/api/domain-routes.js';
import { mountIdentityRoutes } from '../src/api/identity-routes.js';
import { configFrom } from '../src/config.js';
import { submissionSourceId } from '../src/documents/ids.js';
import { loadDocumentSettings } from '../src/documents/settings.js';
import { validateResource } from '../src/fhir/validate.js';
import { metrics } from '../src/observability/metrics.js';
import { startDispatcher } from '../src/services/outbox-dispatch.js';
import { identityServiceFor } from '../src/services/patient-identity.js';
import { openStore } from '../src/store/open.js';
import { dataset, namePrefixes, pppTransactions, RESOURCES_PER_PATIENT, samples } from './fhir-api-dataset.js';
import type { LoadRun, LoadSpec } from './fhir-api-load.js';
import { machine, peakRssMiB } from './stats.js';
import { loadWorker as startLoadWorker } from './support/load-worker.js';
import { summarise, type Summary } from './support/summary.js';

const env = process.env;
const PATIENTS = Number(env.BENCH_PATIENTS ?? (env.BENCH_RESOURCES ? Math.round(Number(env.BENCH_RESOURCES) / RESOURCES_PER_PATIENT) : 1_000_000));
const SECONDS = Number(env.BENCH_SECONDS ?? 10);
const WARMUP = Number(env.BENCH_WARMUP_SECONDS ?? 1);
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 4);
const ROUNDS = Math.max(1, Number(env.BENCH_ROUNDS ?? 2));
const PROFILE_DIR = env.BENCH_CPU_PROFILE;
const SCENARIOS = new Set((env.BENCH_SCENARIOS ?? 'baseline,read,name,include,transaction').split(',').map((s) => s.trim()));
const log = (line: string): void => console.log(line);
const ms = (x: number): string => `${x.toFixed(2)} ms`;

// ---- the load generator's thread -------------------------------------------------------------------------------

/** The worker (bench/fhir-api-load.ts) under tsx; its timed run starts the profiler (with BENCH_CPU_PROFILE). */
const loadWorker = (spec: LoadSpec): Promise<LoadRun> => startLoadWorker(new URL('./fhir-api-load.ts', import.meta.url), spec, () => void profiler.start());

/** With BENCH_CPU_PROFILE: the gateway thread's profile over each timed run (the worker says when it starts). */
const profiler = {
  session: undefined as Session | undefined,
  started: false,
  async start(): Promise<void> {
    if (!PROFILE_DIR) return;
    this.session = new Session();
    this.session.connect();
    await this.session.post('Profiler.enable');
    await this.session.post('Profiler.start');
    this.started = true;
  },
  async save(scenario: string): Promise<void> {
    if (!this.session || !this.started) return;
    this.started = false;
    const { profile } = await this.session.post('Profiler.stop');
    this.session.disconnect();
    mkdirSync(PROFILE_DIR!, { recursive: true });
    const file = join(PROFILE_DIR!, `fhir-api-${scenario}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    log(`  CPU profile of the gateway thread: ${file}`);
  },
};

// ---- the servers -----------------------------------------------------------------------------------------------

/** The baseline: express, one route, a fixed 1 KB JSON body (as a FHIR server's small resource). */
async function startBaseline(): Promise<{ url: string; close: () => Promise<void> }> {
  const filler = 'x'.repeat(1024 - JSON.stringify({ resourceType: 'Basic', id: 'baseline', text: '' }).length);
  const body = JSON.stringify({ resourceType: 'Basic', id: 'baseline', text: filler });
  if (Buffer.byteLength(body) !== 1024) throw new Error(`baseline body is ${Buffer.byteLength(body)} bytes`);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.get('/baseline', (_req, res) => {
    res.type('application/json').send(body);
  });
  const server = createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

async function startGateway(file: string) {
  const dataDir = mkdtempSync(join(tmpdir(), 'passerelle-bench-api-'));
  const config = configFrom({ port: 0, host: '127.0.0.1', dataDir, database: file });
  // The access log at info, as in production, written to /dev/null (its cost stays in the figures).
  const logger = pino({ level: config.log.level }, pino.destination('/dev/null'));
  const opening = performance.now();
  const store = await openStore({ file });
  const openSeconds = (performance.now() - opening) / 1000;
  validateResource({ resourceType: 'Patient' });
  const documents = { settings: loadDocumentSettings(config.documents.settings), sourceId: submissionSourceId(config.documents) };
  const outbox = config.outbox.dispatcher ? startDispatcher(store, config.outbox, { logger, metrics, documents }) : undefined;
  const running = await startServer({ store, config, logger, metrics, mounts: [mountDomainRoutes, mountIdentityRoutes] });
  // `serve` loads the matcher's index in the background; here it is awaited so it does not overlap a scenario.
  const indexed = await identityServiceFor(store).warm();
  return {
    url: running.url.replace('localhost', '127.0.0.1'),
    indexed,
    openSeconds,
    close: async () => {
      await outbox?.stop(1000);
      await running.close();
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// ---- scenarios -------------------------------------------------------------------------------------------------

interface Scenario {
  key: string;
  label: string;
  spec?: LoadSpec;
  skipped?: string;
  note?: string;
  /** Resources per request, for the transaction. */
  resourcesPerRequest?: number;
  runs: LoadRun[];
}

const ACCEPT = { accept: 'application/fhir+json' };
const JSON_POST = { ...ACCEPT, 'content-type': 'application/fhir+json' };

function diagnostics(body: unknown): string {
  const oo = body as OperationOutcome;
  return oo?.resourceType === 'OperationOutcome' ? (oo.issue ?? []).map((i) => `${i.code}: ${i.diagnostics ?? i.details?.text ?? ''}`).join('; ') : JSON.stringify(body).slice(0, 300);
}

const failed = (r: Summary): boolean => Object.keys(r.statuses).some((s) => !s.startsWith('2')) || r.errors > 0;

function line(label: string, r: Summary): string {
  const statuses = Object.entries(r.statuses)
    .map(([s, n]) => `${s}×${n}`)
    .join(' ');
  return `${label.padEnd(44)} ${r.perSecond.toFixed(0).padStart(6)} req/s  p50 ${ms(r.p50Ms)}  p99 ${ms(r.p99Ms)}  max ${ms(r.maxMs)}  (${r.requests} in ${r.seconds.toFixed(1)} s; ${statuses}${r.errors ? `; ${r.errors} errors/timeouts` : ''})`;
}

// ---- the run -----------------------------------------------------------------------------------------------------

const load = (): string => loadavg().map((x) => x.toFixed(1)).join(' ');
log(`machine: ${machine()}; load average ${load()} (other processes share the 2 cores)`);
log(
  `load: autocannon, ${CONNECTIONS} connections, on a worker thread of this process (the gateway's event loop on the main thread); ` +
    `${ROUNDS} interleaved rounds of ${WARMUP} s warm-up + ${(SECONDS / ROUNDS).toFixed(1)} s per scenario`,
);
const data = await dataset(PATIENTS, log);
log(
  `data set: ${data.file} (${(data.bytes / 2 ** 30).toFixed(2)} GiB), ${data.patients.toLocaleString('en')} Patients, ` +
    `${data.resources.toLocaleString('en')} resources${data.loadSeconds !== undefined ? `, written in ${data.loadSeconds.toFixed(0)} s` : ' (cached)'}`,
);
const sample = samples(data.file, 20_000);
log(`store holds ${sample.stored.toLocaleString('en')} resources (with the bench transactions of earlier runs on this file)`);

const gateway = await startGateway(data.file);
const baseline = await startBaseline();
log(
  `gateway ${gateway.url} (store opened in ${gateway.openSeconds.toFixed(1)} s, identity index: ${gateway.indexed} federated identities); ` +
    `baseline ${baseline.url}/baseline`,
);

async function probe(path: string, init: RequestInit = { headers: ACCEPT }): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${gateway.url}${path}`, init);
  return { status: res.status, body: await res.json() };
}

const get = (url: string, paths: string[], headers: Record<string, string> = ACCEPT): LoadSpec => ({
  url,
  connections: CONNECTIONS,
  seconds: SECONDS / ROUNDS,
  warmupSeconds: WARMUP,
  method: 'GET',
  headers,
  paths,
});

const scenarios: Scenario[] = [];
if (SCENARIOS.has('baseline')) {
  scenarios.push({ key: 'baseline', label: 'baseline: bare express, fixed 1 KB JSON', spec: get(baseline.url, ['/baseline'], {}), runs: [] });
}
if (SCENARIOS.has('read')) {
  const paths = sample.patientIds.map((id) => `/fhir/Patient/${id}`);
  const { status, body } = await probe(paths[0]!);
  if (status !== 200) throw new Error(`${paths[0]}: ${status} ${diagnostics(body)}`);
  scenarios.push({ key: 'read', label: 'GET /fhir/Patient/<id>', spec: get(gateway.url, paths), runs: [], note: `${sample.patientIds.length.toLocaleString('en')} random Patients` });
}
if (SCENARIOS.has('name')) {
  const prefixes = namePrefixes(sample.names, 20_000);
  const paths = prefixes.map((p) => `/fhir/Patient?name=${encodeURIComponent(p)}`);
  const first = await probe(paths[0]!);
  if (first.status === 400) {
    log(`Patient?name=: skipped: name search not available (400 ${diagnostics(first.body)})`);
    scenarios.push({ key: 'name', label: 'GET /fhir/Patient?name=<prefix>', skipped: 'skipped: name search not available (400)', runs: [] });
  } else {
    // What the queries find (the Bundle's total) on a sample, before the timed runs.
    const totals: number[] = [];
    for (const path of paths.slice(0, 200)) {
      const { status, body } = await probe(path);
      if (status !== 200) throw new Error(`${path}: ${status} ${diagnostics(body)}`);
      totals.push((body as Bundle).total ?? (body as Bundle).entry?.length ?? 0);
    }
    totals.sort((a, b) => a - b);
    const q = (x: number): number => totals[Math.min(totals.length - 1, Math.floor(x * totals.length))]!;
    const note = `matches per query (200 prefixes): median ${q(0.5)}, p90 ${q(0.9)}, max ${q(1)}, none for ${totals.filter((t) => t === 0).length}; pages of 20 with the total`;
    log(`Patient?name=: prefixes such as ${prefixes.slice(0, 6).map((p) => JSON.stringify(p)).join(', ')}; ${note}`);
    scenarios.push({ key: 'name', label: 'GET /fhir/Patient?name=<prefix>', spec: get(gateway.url, paths), runs: [], note });
  }
}
if (SCENARIOS.has('include')) {
  const paths = sample.carePlanPatientIds.map((id) => `/fhir/CarePlan?patient=${id}&_include=CarePlan:supporting-info`);
  const { status, body } = await probe(paths[0]!);
  if (status !== 200) throw new Error(`${paths[0]}: ${status} ${diagnostics(body)}`);
  const entries = (body as Bundle).entry?.length ?? 0;
  scenarios.push({ key: 'include', label: 'GET /fhir/CarePlan?patient=…&_include=…', spec: get(gateway.url, paths), runs: [], note: `${entries} entries per Bundle (the CarePlan + ${entries - 1} included)` });
}
if (SCENARIOS.has('transaction')) {
  const runStamp = Date.now().toString(36);
  const one = pppTransactions(`${runStamp}-probe`).next().value;
  const size = (JSON.parse(one) as Bundle).entry?.length ?? 0;
  const { status, body } = await probe('/fhir', { method: 'POST', headers: JSON_POST, body: one });
  const label = `POST /fhir transaction (${size} resources)`;
  if (status !== 200) {
    log(`${label}: refused: ${status} ${diagnostics(body)}`);
    scenarios.push({ key: 'transaction', label, skipped: `refused: ${status} ${diagnostics(body)}`, runs: [] });
  } else {
    const spec: LoadSpec = { url: gateway.url, connections: CONNECTIONS, seconds: SECONDS / ROUNDS, warmupSeconds: WARMUP, method: 'POST', headers: JSON_POST, pppTransactions: { path: '/fhir', runStamp } };
    scenarios.push({ key: 'transaction', label, spec, runs: [], resourcesPerRequest: size, note: 'a PPP as a DPI sends it: new Patient (identity service), team by conditional create' });
  }
}

for (let round = 1; round <= ROUNDS; round++) {
  for (const s of scenarios) {
    if (!s.spec) continue;
    const run = await loadWorker(s.spec);
    await profiler.save(`${s.key}-${round}`);
    s.runs.push(run);
    log(`round ${round}/${ROUNDS}  ${line(s.label, summarise([run]))}`);
  }
}

await baseline.close();
await gateway.close();

// ---- summary -----------------------------------------------------------------------------------------------------

const summaries = new Map(scenarios.filter((s) => s.runs.length > 0).map((s) => [s.key, summarise(s.runs)]));
const base = summaries.get('baseline');
log('');
for (const s of scenarios) if (s.note) log(`${s.label}: ${s.note}`);
log('');
log('| scenario | req/s | p50 | p99 | baseline (same run, interleaved) |');
log('|---|---|---|---|---|');
for (const s of scenarios) {
  const r = summaries.get(s.key);
  if (!r) {
    log(`| ${s.label} | ${s.skipped} | | | |`);
    continue;
  }
  const extra = s.resourcesPerRequest ? ` (${(r.perSecond * s.resourcesPerRequest).toFixed(0)} resources/s)` : '';
  const versus = base && s.key !== 'baseline' ? `${base.perSecond.toFixed(0)} req/s, p50 ${ms(base.p50Ms)}, p99 ${ms(base.p99Ms)}: ${((100 * r.perSecond) / base.perSecond).toFixed(0)} %` : '';
  log(`| ${s.label}${failed(r) ? ' **(non-2xx or errors)**' : ''} | ${r.perSecond.toFixed(0)}${extra} | ${ms(r.p50Ms)} | ${ms(r.p99Ms)} | ${versus} |`);
}
const read = summaries.get('read');
if (read && base) {
  const share = read.perSecond / base.perSecond;
  log(
    `aim: read by id ≥ 50 % of the bare handler's req/s with p99 < 10 ms → ${(100 * share).toFixed(0)} %, p99 ${ms(read.p99Ms)}: ` +
      (share >= 0.5 && read.p99Ms < 10 ? 'met' : 'NOT met'),
  );
}
const name = summaries.get('name');
if (name) log(`aim: Patient?name= p99 < 20 ms at ${data.patients.toLocaleString('en')} Patients → p99 ${ms(name.p99Ms)}: ${name.p99Ms < 20 ? 'met' : 'NOT met'}`);
else if (SCENARIOS.has('name')) log('aim: Patient?name= p99 < 20 ms: not measured (name search not available)');
log(`peak RSS: ${peakRssMiB().toFixed(0)} MiB (gateway and load generator together); load average at the end ${load()}`);
if ([...summaries.values()].some(failed)) process.exitCode = 1;
