// Outbox (issue 4): messages per second from enqueue (inside a store transaction, as a submission writes them) to
// delivered at a local HTTP sink, and end-to-end latency (enqueue → the sink accepted it) p50/p99: SQLite with the
// dispatcher in process; PostgreSQL with 1, 2 and 4 dispatcher processes sharing the database. Baseline in the
// same run: the same deliveries POSTed directly to the sink (same concurrency per process), no outbox.
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Dispatcher } from '../src/outbox/dispatcher.js';
import { httpConnector } from '../src/outbox/http-connector.js';
import { openPgStore } from '../src/store/pg-store.js';
import type { ResourceStore } from '../src/store/repository.js';
import { openSqliteStore } from '../src/store/sqlite-store.js';
import { machine } from './stats.js';

const N = Number(process.env.OUTBOX_BENCH_MESSAGES ?? 5000);
const PER_TX = 50;
const CONCURRENCY = 8;
const PG_URL = process.env.PASSERELLE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const here = fileURLToPath(new URL('.', import.meta.url));

const line = (label: string, figure: string, beside = ''): void => console.log(`${label.padEnd(44)}: ${figure}${beside ? `   ${beside}` : ''}`);
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
};

/** The sink: records when each idempotency key was first accepted (ms since epoch). */
async function sink(): Promise<{ url: string; accepted: Map<string, number>; close: () => Promise<void> }> {
  const accepted = new Map<string, number>();
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const key = String(req.headers['idempotency-key'] ?? '');
      if (!accepted.has(key)) accepted.set(key, Date.now());
      res.writeHead(200).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/inbox`,
    accepted,
    close: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

async function waitUntil(check: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Run {
  perSecond: number;
  p50: number;
  p99: number;
}

/** Enqueue N messages (PER_TX per transaction) while dispatchers run; time until the sink has them all. */
async function outboxRun(store: ResourceStore, s: Awaited<ReturnType<typeof sink>>, prefix: string): Promise<Run> {
  const enqueuedAt = new Map<string, number>();
  const t0 = Date.now();
  for (let b = 0; b < N / PER_TX; b++) {
    await store.transaction(async (tx) => {
      for (let i = b * PER_TX; i < (b + 1) * PER_TX; i++) {
        const key = `${prefix}-${i}`;
        await tx.outbox.enqueue({ destination: 'sink', orderingKey: `Patient/${i % 500}`, idempotencyKey: key, payload: { i, resource: `CarePlan/${i}` } });
        enqueuedAt.set(key, Date.now());
      }
    });
  }
  await waitUntil(() => [...enqueuedAt.keys()].every((k) => s.accepted.has(k)), 300_000);
  const seconds = (Math.max(...[...enqueuedAt.keys()].map((k) => s.accepted.get(k) ?? 0)) - t0) / 1000;
  const lat = [...enqueuedAt].map(([k, t]) => (s.accepted.get(k) ?? 0) - t);
  return { perSecond: N / seconds, p50: pct(lat, 0.5), p99: pct(lat, 0.99) };
}

/** Baseline: the same POSTs made directly, CONCURRENCY × processes at a time. */
async function directRun(url: string, s: Awaited<ReturnType<typeof sink>>, prefix: string, parallel: number): Promise<Run> {
  const connector = httpConnector({ url });
  const lat: number[] = [];
  const t0 = Date.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < N) {
      const i = next++;
      const start = Date.now();
      await connector.deliver(
        { id: String(i), seq: i, destination: 'sink', orderingKey: '', idempotencyKey: `${prefix}-${i}`, payload: { i }, state: 'inflight', attempts: 1, nextAttemptAt: '', created: '', updated: '' },
        { signal: new AbortController().signal },
      );
      lat.push(Date.now() - start);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  const seconds = (Date.now() - t0) / 1000;
  void s;
  return { perSecond: N / seconds, p50: pct(lat, 0.5), p99: pct(lat, 0.99) };
}

const fmt = (r: Run): string => `${Math.round(r.perSecond).toLocaleString('en-US')} msg/s   latency p50 ${r.p50} ms  p99 ${r.p99} ms`;

async function pgAvailable(): Promise<boolean> {
  const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.end();
    return true;
  } catch {
    return false;
  }
}

function worker(db: string, schema: string | undefined, sinkUrl: string): Promise<ChildProcess> {
  const child = fork(join(here, 'outbox-worker.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, OUTBOX_BENCH_DB: db, OUTBOX_BENCH_SINK: sinkUrl, ...(schema ? { OUTBOX_BENCH_SCHEMA: schema } : {}) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`worker exited ${code}`)));
  });
}

async function stopWorkers(children: ChildProcess[]): Promise<void> {
  await Promise.all(children.map((c) => new Promise<void>((r) => {
    c.removeAllListeners('exit');
    c.once('exit', () => r());
    c.kill('SIGTERM');
  })));
}

console.log(`\n### outbox: ${N.toLocaleString('en-US')} messages, ${PER_TX} per enqueue transaction, ${CONCURRENCY} deliveries in flight per process; ${machine()}`);
const s = await sink();
const dir = mkdtempSync(join(tmpdir(), 'passerelle-outbox-bench-'));
try {
  const base1 = await directRun(s.url, s, 'direct1', CONCURRENCY);
  line('baseline: direct POSTs, no outbox (1 × 8)', fmt(base1));

  const sqlite = await openSqliteStore({ file: join(dir, 'outbox.sqlite') });
  const d = new Dispatcher({ outbox: sqlite.outbox, destinations: { sink: { connector: httpConnector({ url: s.url }), concurrency: CONCURRENCY } }, pollMs: 5, batch: 64 });
  d.start();
  const r = await outboxRun(sqlite, s, 'sqlite');
  await d.stop();
  await sqlite.close();
  line('SQLite, dispatcher in process', fmt(r), `${((100 * r.perSecond) / base1.perSecond).toFixed(0)} % of the direct rate`);

  if (!(await pgAvailable())) {
    line('PostgreSQL', `skipped: no server at ${PG_URL.replace(/:[^:@/]*@/, ':***@')}`);
  } else {
    for (const processes of [1, 2, 4]) {
      const schema = `passerelle_bench_${randomBytes(4).toString('hex')}`;
      const store = await openPgStore({ url: PG_URL, schema });
      const children: ChildProcess[] = [];
      try {
        for (let i = 0; i < processes; i++) children.push(await worker(PG_URL, schema, s.url));
        const run = await outboxRun(store, s, `pg${processes}`);
        const base = await directRun(s.url, s, `direct-pg${processes}`, CONCURRENCY * processes);
        line(`PostgreSQL, ${processes} dispatcher process(es)`, fmt(run), `baseline direct ${processes} × 8: ${fmt(base)}`);
      } finally {
        await stopWorkers(children);
        await store.close();
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        await c.query(`DROP SCHEMA ${schema} CASCADE`);
        await c.end();
      }
    }
  }
} finally {
  await s.close();
  rmSync(dir, { recursive: true, force: true });
}
