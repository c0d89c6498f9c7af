// `POST /fhir/Patient/$match` over HTTP beside `IdentityService.match` in process, on the same registry, in the same
// process, alternated round by round (the machine is shared: a load spike hits both sides). Issue 21, point 6: where
// the gap between the two comes from (GC pauses, Patient reads, JSON, express) — each side's GC pauses during its own
// rounds are counted from `perf_hooks` 'gc' entries.
// The registry (N generated source identities through the bulk path, FHIR Patients drained) and its held-out queries
// are built once into IDENTITY_MATCH_DIR and reused: at 1M the build takes ~30 min.
// `npm run bench identity-match-http`; knobs: IDENTITY_MATCH_N (100000), IDENTITY_MATCH_QUERIES (1000),
// IDENTITY_MATCH_ROUNDS (5), IDENTITY_MATCH_DIR (os tmpdir/passerelle-identity-match-<N>-<seed>), IDENTITY_MATCH_BUILD_ONLY, IDENTITY_MATCH_DRAIN (1),
// IDENTITY_MATCH_SERVE (1: a fourth side, the same POST to a real `passerelle serve` child process on the same registry,
// as a DPI would call it: the server's heap and event loop hold no client and no bench), IDENTITY_MATCH_SERVE_ARGS
// (extra node options of that process, e.g. `--trace-gc` or `--cpu-prof --cpu-prof-dir=/tmp/prof`), IDENTITY_MATCH_SERVE_LOG
// (a file to keep that process's output in).
import { spawn, type ChildProcess } from 'node:child_process';
import { request, Agent } from 'node:http';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { pino } from 'pino';
import { startServer, type AppDeps } from '../src/api/app.js';
import { rankMatches } from '../src/api/fhir-match-operation.js';
import { patientIdentityFromFhir } from '../src/fhir/fhir-patient.js';
import { configFrom } from '../src/config.js';
import type { SourceIdentity as PatientIdentity } from '../src/identity/types.js';
import { configureAccessAudit } from '../src/services/audit/access.js';
import { identityServiceFor } from '../src/services/patient-identity.js';
import { openSqliteStore } from '../src/store/sqlite-store.js';
import { iterateIdentities, toFhirPatient, type GeneratedIdentity } from '../test/support/identity-generator.js';
import { machine, peakRssMiB } from './stats.js';
import { freePort } from '../test/support/crash-harness.js';

const env = (name: string, fallback: number): number => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name}: expected a number ≥ 0`);
  return v;
};
const SEED = env('IDENTITY_BENCH_SEED', 20260303) + 1; // the scale part's stream of bench/identity.bench.ts
const N = env('IDENTITY_MATCH_N', 100_000);
const QUERIES = env('IDENTITY_MATCH_QUERIES', 1000);
const ROUNDS = Math.max(1, env('IDENTITY_MATCH_ROUNDS', 5));
const RESULTS = 10;
const DIR = process.env.IDENTITY_MATCH_DIR ?? join(tmpdir(), `passerelle-identity-match-${N}-${SEED}`);
const DB = join(DIR, 'registry.sqlite');
const READY = join(DIR, 'queries.json');
const CTX = { actor: 'bench' };

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const ms = (x: number): string => `${x.toFixed(3)} ms`;
const line = (label: string, figure: string, beside = ''): void => console.log(`${label.padEnd(40)}: ${figure}${beside ? `   ${beside}` : ''}`);
const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;

/** Builds the registry (bulk path, as `passerelle identity import`), writes its Patients, keeps every ~100th corrupted copy out as a query. */
async function build(): Promise<void> {
  mkdirSync(DIR, { recursive: true });
  const store = await openSqliteStore({ file: DB });
  try {
    const service = identityServiceFor(store);
    const bulk = await service.openBulk<undefined>({ ctx: CTX });
    const queries: PatientIdentity[] = [];
    const step = Math.max(1, Math.floor((N * 0.1) / Math.max(1, QUERIES)));
    let seen = 0;
    let taken = 0;
    let batch: { identity: PatientIdentity; tag: undefined }[] = [];
    const t0 = performance.now();
    const persons = Math.ceil((N + QUERIES) * 0.7 * 1.02);
    for (const g of iterateIdentities({ seed: SEED, persons, duplicateRate: 0.3 }) as Iterable<GeneratedIdentity>) {
      if (taken >= N) break;
      if (queries.length < QUERIES && g.copy > 0 && g.corruptions.length > 0 && seen++ % step === 0) {
        queries.push(g.identity);
        continue;
      }
      taken++;
      batch.push({ identity: g.identity, tag: undefined });
      if (batch.length === 1000) {
        await bulk.add(batch);
        batch = [];
      }
      if (taken % 100_000 === 0) console.log(`  built ${int(taken)} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    }
    if (batch.length) await bulk.add(batch);
    await bulk.finish();
    const t1 = performance.now();
    // IDENTITY_MATCH_DRAIN=0: registry only (the Patients stay pending; $match then answers the few it finds): the
    // heap and GC of a large index without the hour of Patient writes at 1M.
    const drained = env('IDENTITY_MATCH_DRAIN', 1) > 0 ? await service.drainProjections() : 0;
    console.log(`registry built: ${int(taken)} sources in ${((t1 - t0) / 1000).toFixed(0)} s; ${int(drained)} federated Patients written in ${((performance.now() - t1) / 1000).toFixed(0)} s`);
    writeFileSync(READY, JSON.stringify(queries));
  } finally {
    await store.close();
  }
}

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'mark-compact',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak',
};

interface Served {
  url: string;
  warmSeconds: number;
  /** Stops the process; gives the `durationMs` of its access-log lines for `$match` (the server's own view of each request) and its `--trace-gc` lines. */
  stop(): Promise<{ durations: number[]; gcLines: string[] }>;
}

/** `node bin/passerelle.js serve` on the registry file (auth off as the local default, no scheduler); ready once its index is loaded. */
async function serveRegistry(): Promise<Served> {
  const dir = mkdtempSync(join(tmpdir(), 'passerelle-match-serve-'));
  const port = await freePort();
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ port, dataDir: dir, database: DB, log: { level: 'info' } }));
  const extra = (process.env.IDENTITY_MATCH_SERVE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const t0 = performance.now();
  const child: ChildProcess = spawn(process.execPath, ['--max-semi-space-size=64', ...extra, 'bin/passerelle.js', 'serve', '-c', config, '--no-scheduler'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let log = '';
  const logFile = join(dir, 'serve.log');
  const out = createWriteStream(logFile);
  child.stdout!.pipe(out);
  const loaded = new Promise<void>((resolve, reject) => {
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      log = (log + chunk).slice(-20_000);
      if (log.includes('identity index loaded')) resolve();
      if (log.includes('identity index: loading')) reject(new Error(`the gateway could not load its index: ${log.slice(-2000)}`));
    });
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code}: ${log.slice(-2000)}`)));
  });
  await loaded;
  const warmSeconds = (performance.now() - t0) / 1000;
  return {
    url: `http://127.0.0.1:${port}`,
    warmSeconds,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      await new Promise((r) => out.end(r));
      const durations: number[] = [];
      const gcLines: string[] = [];
      for (const l of readFileSync(logFile, 'utf8').split('\n')) {
        if (l.startsWith('{')) {
          const entry = JSON.parse(l) as { route?: string; durationMs?: number };
          if (entry.route?.includes('$match') && typeof entry.durationMs === 'number') durations.push(entry.durationMs);
        } else if (/Scavenge|Mark-Compact|Mark-sweep/i.test(l)) gcLines.push(l.trim());
      }
      // IDENTITY_MATCH_SERVE_LOG=file keeps the process's whole output (access log, --trace-gc lines) for a closer look.
      if (process.env.IDENTITY_MATCH_SERVE_LOG) writeFileSync(process.env.IDENTITY_MATCH_SERVE_LOG, readFileSync(logFile));
      rmSync(dir, { recursive: true, force: true });
      return { durations, gcLines };
    },
  };
}

interface Side {
  label: string;
  latencies: number[];
  gc: Map<string, { count: number; ms: number; max: number }>;
  run: (q: PatientIdentity) => Promise<string[]>;
}

function percentiles(samples: number[]): { p50: number; p90: number; p99: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: s[s.length - 1] };
}

async function measure(): Promise<void> {
  const queries = JSON.parse(readFileSync(READY, 'utf8')) as PatientIdentity[];
  const store = await openSqliteStore({ file: DB });
  const service = identityServiceFor(store);
  const t0 = performance.now();
  const indexed = await service.warm();
  const warmSeconds = (performance.now() - t0) / 1000;
  const config = configFrom({ port: 0, log: { level: 'silent' } });
  // As `passerelle serve`: the access rows of reads as configured (group commit by default).
  configureAccessAudit(store, { mode: config.audit.reads });
  const deps: AppDeps = { store, config, logger: pino({ level: 'silent' }) };
  const server = await startServer(deps);
  const url = `${server.url}/fhir/Patient/$match`;
  const bodies = queries.map((q) => JSON.stringify({ resourceType: 'Parameters', parameter: [{ name: 'resource', resource: toFhirPatient(q) }, { name: 'count', valueInteger: RESULTS }] }));
  // What the handler matches is the identity read back from that Patient (FR Core rendering: the INS only for QUAL, a
  // birth-list of one left out); the in-process side matches the same, so that both answers can be compared.
  const asSent = queries.map((q) => {
    const read = patientIdentityFromFhir(toFhirPatient(q), { requireSource: false });
    if (!read.ok) throw new Error(`query Patient refused: ${JSON.stringify(read.issues)}`);
    return read.identity;
  });
  const index = new Map(queries.map((q, i) => [q, i]));
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const served = env('IDENTITY_MATCH_SERVE', 1) > 0 ? await serveRegistry() : undefined;
  /** The same POST through node:http (keep-alive, no Accept-Encoding): the client's own cost kept small. */
  const post = (body: string, to = server.url): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      const { hostname, port } = new URL(to);
      const req = request({ agent, hostname, port, method: 'POST', path: '/fhir/Patient/$match', headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  const sides: Side[] = [
    {
      label: 'IdentityService.match (in process)',
      latencies: [],
      gc: new Map(),
      // What the handler asks and keeps (every candidate, ranked grade first, the first RESULTS): the same answers.
      run: async (q) => rankMatches(await service.match(asSent[index.get(q)!], { count: Number.MAX_SAFE_INTEGER }), RESULTS).map((r) => r.federatedId),
    },
    {
      label: 'POST $match (HTTP, fetch, gzip accepted)',
      latencies: [],
      gc: new Map(),
      run: async (q) => {
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json' }, body: bodies[index.get(q)!] });
        const json = (await res.json()) as { resourceType?: string; entry?: { resource?: { id?: string } }[] };
        if (res.status !== 200 || json.resourceType !== 'Bundle') throw new Error(`HTTP ${res.status} ${JSON.stringify(json).slice(0, 300)}`);
        return (json.entry ?? []).map((e) => e.resource?.id ?? '?');
      },
    },
    {
      label: 'POST $match (HTTP, node:http, no gzip)',
      latencies: [],
      gc: new Map(),
      run: async (q) => {
        const res = await post(bodies[index.get(q)!]);
        const json = JSON.parse(res.text) as { resourceType?: string; entry?: { resource?: { id?: string } }[] };
        if (res.status !== 200 || json.resourceType !== 'Bundle') throw new Error(`HTTP ${res.status} ${res.text.slice(0, 300)}`);
        return (json.entry ?? []).map((e) => e.resource?.id ?? '?');
      },
    },
    ...(served
      ? [
          {
            label: 'POST $match (HTTP, node:http, to `serve`)',
            latencies: [],
            gc: new Map(),
            run: async (q: PatientIdentity) => {
              const res = await post(bodies[index.get(q)!], served.url);
              const json = JSON.parse(res.text) as { resourceType?: string; entry?: { resource?: { id?: string } }[] };
              if (res.status !== 200 || json.resourceType !== 'Bundle') throw new Error(`HTTP ${res.status} ${res.text.slice(0, 300)}`);
              return (json.entry ?? []).map((e) => e.resource?.id ?? '?');
            },
          } satisfies Side,
        ]
      : []),
  ];
  const only = process.env.IDENTITY_MATCH_ONLY;
  const active = only ? sides.filter((s) => s.label.includes(only)) : sides;
  let current: Side | undefined;
  const observer = new PerformanceObserver((list) => {
    if (!current) return;
    for (const e of list.getEntries()) {
      const kind = GC_KINDS[((e as PerformanceEntry & { detail?: { kind?: number } }).detail)?.kind ?? -1] ?? 'other';
      const g = current.gc.get(kind) ?? { count: 0, ms: 0, max: 0 };
      g.count++;
      g.ms += e.duration;
      g.max = Math.max(g.max, e.duration);
      current.gc.set(kind, g);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  try {
    // Warm-up: one pass each, untimed; then the answers of both sides must name the same identities.
    let differ = 0;
    for (const q of queries) {
      const a = await sides[0].run(q);
      for (const side of active.filter((x) => x !== sides[0])) {
        const b = await side.run(q);
        if (a.length !== b.length || a.some((id) => !b.includes(id))) {
          if (differ++ < 3 && process.env.IDENTITY_MATCH_DEBUG) console.log(`differ (${side.label}): in process ${a.join(' ')} / ${b.join(' ')}`);
        }
      }
    }
    // IDENTITY_MATCH_HEAPSAMPLE=file (with --expose-gc): what the HTTP side allocates and a minor GC does not free
    // (objects promoted to the old generation), sampled over one round — diagnosis only.
    const sampleTo = process.env.IDENTITY_MATCH_HEAPSAMPLE;
    if (sampleTo) {
      const { Session } = await import('node:inspector/promises');
      const session = new Session();
      session.connect();
      globalThis.gc?.();
      await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: false } as never);
      for (const q of queries) await sides[2].run(q);
      (globalThis.gc as unknown as ((o: { type: string }) => void) | undefined)?.({ type: 'minor' });
      const { profile } = await session.post('HeapProfiler.stopSampling');
      writeFileSync(sampleTo, JSON.stringify(profile));
      session.disconnect();
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const side of round % 2 === 0 ? active : [...active].reverse()) {
        current = side;
        for (const q of queries) {
          const t = performance.now();
          await side.run(q);
          side.latencies.push(performance.now() - t);
        }
        current = undefined;
        await new Promise((r) => setImmediate(r)); // lets the observer deliver this side's entries
      }
    }
    const heap = getHeapStatistics();
    console.log(`machine: ${machine()}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; node ${process.version} ${process.execArgv.join(' ')}`);
    line('registry', `${int(indexed)} active federated identities (index load ${warmSeconds.toFixed(1)} s${served ? `; \`serve\` ready in ${served.warmSeconds.toFixed(1)} s` : ''})`, `heap used ${mib(heap.used_heap_size)}, peak RSS ${int(peakRssMiB())} MiB`);
    line('answers', differ === 0 ? `same identities in process and over HTTP for all ${int(queries.length)} queries` : `${differ} answers differ from the in-process one`);
    for (const side of active) {
      const p = percentiles(side.latencies);
      const gc = [...side.gc].map(([k, g]) => `${k} ${g.count}× ${g.ms.toFixed(0)} ms (max ${g.max.toFixed(1)})`).join(', ');
      const gcNote = side.label.includes('`serve`') ? 'GC: in the other process (IDENTITY_MATCH_SERVE_ARGS=--trace-gc)' : `GC in its rounds: ${gc || 'none'}`;
      line(side.label, `p50 ${ms(p.p50)}  p90 ${ms(p.p90)}  p99 ${ms(p.p99)}  max ${ms(p.max)}`, `(${int(side.latencies.length)} sequential, ${ROUNDS} rounds alternated; ${gcNote})`);
    }
  } finally {
    observer.disconnect();
    agent.destroy();
    const log = await served?.stop();
    if (log) {
      // The server's own durations (access log: from the request's first middleware to the answer's end), warm-up included.
      const p = percentiles(log.durations.length ? log.durations : [NaN]);
      line('`serve` access log, $match durationMs', `p50 ${ms(p.p50)}  p90 ${ms(p.p90)}  p99 ${ms(p.p99)}  max ${ms(p.max)}`, `(${int(log.durations.length)} requests, warm-up included; 0.1 ms resolution)`);
      if (log.gcLines.length) {
        const pauses = log.gcLines.map((l) => Number(/([\d.]+) \/ [\d.]+ ms/.exec(l)?.[1] ?? NaN)).filter(Number.isFinite);
        line('`serve` GC (--trace-gc)', `${log.gcLines.length} collections, longest ${Math.max(...pauses).toFixed(1)} ms, total ${pauses.reduce((a, b) => a + b, 0).toFixed(0)} ms`);
      }
    }
    await server.close();
    await store.close();
  }
}

if (!existsSync(READY)) await build();
if (!process.env.IDENTITY_MATCH_BUILD_ONLY) await measure();
