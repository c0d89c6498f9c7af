// The write path (issue 22): distinct PPPs (12 medicines, 55 resources, a new VALI patient each) posted to `POST /ppp`
// of real gateway processes (`node bin/passerelle.js serve`, a child process each) by a small keep-alive HTTP client,
// at concurrency 1, 8 and 32; beside, in the same run, the in-process map+validate rate (`prepareSubmission`) and the
// raw store write rate (the same 55 resources put in one transaction each, no identity, no HTTP).
// Then PostgreSQL (a fresh database): the same load on one gateway process, and on three processes sharing it.
// `npm run bench submit`; knobs: SUBMIT_SECONDS (10 per run), SUBMIT_PG (1; 0 skips PostgreSQL), SUBMIT_PROFILE
// (a directory: the gateways write a V8 CPU profile there — `node --cpu-prof`), SUBMIT_CONCURRENCY (1,8,32).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { prepareSubmission, type PreparedSubmission } from '../src/services/submission.js';
import { openSqliteStore } from '../src/store/sqlite-store.js';
import { distinctPpps } from './support/ppp-stream.js';
import { machine, timedLoop } from './stats.js';

const num = (name: string, fallback: number): number => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name}: expected a number ≥ 0`);
  return v;
};
const SECONDS = num('SUBMIT_SECONDS', 10);
const WITH_PG = num('SUBMIT_PG', 1) > 0;
const PROFILE = process.env.SUBMIT_PROFILE;
const CONCURRENCY = (process.env.SUBMIT_CONCURRENCY ?? '1,8,32').split(',').map(Number);
const PG_ADMIN = process.env.PASSERELLE_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/test';
const PG_DB = 'passerelle_submit_bench';
const stamp = Date.now().toString(36);

const line = (label: string, figure: string, beside = ''): void => console.log(`${label.padEnd(44)}: ${figure}${beside ? `   ${beside}` : ''}`);
const pct = (sorted: Float64Array, p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;

// ---- gateways ---------------------------------------------------------------------------------------------------

interface Gateway {
  url: string;
  stop(): Promise<void>;
}

async function startGateway(dir: string, name: string, port: number, databaseUrl?: string): Promise<Gateway> {
  const config = join(dir, `${name}.json`);
  writeFileSync(config, JSON.stringify({ port, dataDir: join(dir, name), log: { level: 'warn' }, ...(databaseUrl ? { databaseUrl } : {}) }));
  const args = ['--max-semi-space-size=64', ...(PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE}`] : []), 'bin/passerelle.js', 'serve', '-c', config, '--no-scheduler'];
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`gateway ${name} exited with ${child.exitCode}`);
    const ok = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
    if (ok) break;
    if (i > 600) throw new Error(`gateway ${name} not ready after 60 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

// ---- the load client --------------------------------------------------------------------------------------------

interface Run {
  perSecond: number;
  p50: number;
  p99: number;
  statuses: Record<string, number>;
}

/** `connections` clients, each posting the next distinct PPP as soon as its previous one is answered, for `seconds`; spread over `urls`. */
async function load(urls: string[], connections: number, seconds: number, bodies: Generator<string>): Promise<Run> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const post = (url: string, body: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = request(`${url}/ppp`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
        res.once('error', reject);
      });
      req.once('error', reject);
      req.end(body);
    });
  const deadline = performance.now() + seconds * 1000;
  const t0 = performance.now();
  let done = 0;
  await Promise.all(
    Array.from({ length: connections }, async (_, c) => {
      const url = urls[c % urls.length];
      while (performance.now() < deadline) {
        const body = bodies.next().value as string;
        const s = performance.now();
        const status = await post(url, body);
        latencies.push(performance.now() - s);
        statuses[status] = (statuses[status] ?? 0) + 1;
        done++;
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  agent.destroy();
  const sorted = Float64Array.from(latencies).sort();
  const ok = (statuses['200'] ?? 0) + (statuses['201'] ?? 0);
  return { perSecond: ok / elapsed, p50: pct(sorted, 0.5), p99: pct(sorted, 0.99), statuses: done === ok ? {} : statuses };
}

const describe = (r: Run): string =>
  `${r.perSecond.toFixed(0).padStart(4)} PPP/s   p50 ${r.p50.toFixed(1).padStart(6)} ms   p99 ${r.p99.toFixed(1).padStart(6)} ms${Object.keys(r.statuses).length ? `   statuses ${JSON.stringify(r.statuses)}` : ''}`;

// ---- in-process baselines ---------------------------------------------------------------------------------------

function mapValidateRate(): number {
  const bodies = distinctPpps(`${stamp}-mv`);
  const r = timedLoop(() => prepareSubmission('ppp', JSON.parse(bodies.next().value as string), new Date().toISOString()), 3, 50);
  return r.perSecond;
}

async function rawStoreRate(dir: string): Promise<number> {
  const bodies = distinctPpps(`${stamp}-raw`);
  const prepared: PreparedSubmission[] = [];
  for (let i = 0; i < 1500; i++) prepared.push(prepareSubmission('ppp', JSON.parse(bodies.next().value as string), new Date().toISOString()));
  const store = await openSqliteStore({ file: join(dir, 'raw.sqlite') });
  try {
    let i = 0;
    const write = async (): Promise<void> => {
      const p = prepared[i++ % prepared.length];
      await store.transaction(async (tx) => {
        for (const e of p.bundle.entry ?? []) await tx.put(e.resource!);
      });
    };
    for (let k = 0; k < 100; k++) await write();
    const t0 = performance.now();
    const n = 1000;
    for (let k = 0; k < n; k++) await write();
    return n / ((performance.now() - t0) / 1000);
  } finally {
    await store.close();
  }
}

// ---- PostgreSQL -------------------------------------------------------------------------------------------------

async function freshPgDatabase(): Promise<string | undefined> {
  const admin = new pg.Client({ connectionString: PG_ADMIN, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch (err) {
    console.log(`PostgreSQL not reachable at ${PG_ADMIN} (${(err as Error).message}): PostgreSQL part skipped`);
    return undefined;
  }
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${PG_DB} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${PG_DB}`);
  } finally {
    await admin.end();
  }
  const u = new URL(PG_ADMIN);
  u.pathname = `/${PG_DB}`;
  return u.toString();
}

// ---- main -------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  console.log(`machine: ${machine()}; load ${loadavg()[0].toFixed(2)}; ${SECONDS} s per run; distinct PPPs of 12 medicines (55 resources, a new VALI patient each)`);
  const dir = mkdtempSync(join(tmpdir(), 'passerelle-submit-'));
  try {
    const mv = mapValidateRate();
    line('baseline: map + validate, in process', `${mv.toFixed(0)} PPP/s`);
    const raw = await rawStoreRate(dir);
    line('baseline: raw store writes, in process', `${raw.toFixed(0)} PPP/s`, '(55 puts in one transaction, no identity, no HTTP)');

    const bodies = distinctPpps(`${stamp}-http`);
    const sqlite = await startGateway(dir, 'sqlite', 18_431);
    try {
      await load([sqlite.url], 4, 2, bodies); // warm-up
      for (const c of CONCURRENCY) line(`SQLite, 1 process, concurrency ${c}`, describe(await load([sqlite.url], c, SECONDS, bodies)));
    } finally {
      await sqlite.stop();
    }

    if (!WITH_PG) return;
    const url = await freshPgDatabase();
    if (!url) return;
    const one = await startGateway(dir, 'pg-1', 18_441, url);
    let single: Run | undefined;
    try {
      await load([one.url], 4, 2, bodies);
      for (const c of CONCURRENCY) {
        const r = await load([one.url], c, SECONDS, bodies);
        if (c === 8) single = r;
        line(`PostgreSQL, 1 process, concurrency ${c}`, describe(r));
      }
    } finally {
      await one.stop();
    }
    const three = await Promise.all([0, 1, 2].map((k) => startGateway(dir, `pg-3-${k}`, 18_451 + k, url)));
    try {
      const urls = three.map((g) => g.url);
      await load(urls, 6, 2, bodies);
      for (const c of CONCURRENCY.filter((c) => c >= 8)) {
        const r = await load(urls, c, SECONDS, bodies);
        const ratio = single && c === 8 ? `   ${(r.perSecond / single.perSecond).toFixed(2)}× one process` : '';
        line(`PostgreSQL, 3 processes, concurrency ${c}`, describe(r) + ratio);
      }
    } finally {
      await Promise.all(three.map((g) => g.stop()));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
