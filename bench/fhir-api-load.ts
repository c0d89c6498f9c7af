// The load generator of bench/fhir-api.bench.ts, on its own worker thread so it does not share the server's event
// loop: autocannon for a warm-up and then a timed run, each response's latency kept exactly (autocannon's own
// histogram rounds to whole milliseconds) and posted back.
import { parentPort, workerData } from 'node:worker_threads';
import autocannon, { type RawRequest } from 'autocannon';
import { pppTransactions } from './fhir-api-dataset.js';

export interface LoadSpec {
  url: string;
  connections: number;
  seconds: number;
  warmupSeconds: number;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  /** GET: a random one of these per request. */
  paths?: string[];
  /** POST: a new PPP transaction Bundle per request, built on this thread. */
  pppTransactions?: { path: string; runStamp: string };
}

/** One timed run, as measured by this thread. */
export interface LoadRun {
  /** Latency of each response, ms, in completion order. */
  latencies: Float64Array;
  seconds: number;
  /** Count per HTTP status. */
  statuses: Record<string, number>;
  errors: number;
  timeouts: number;
}

const spec = workerData as LoadSpec;
const bodies = spec.pppTransactions ? pppTransactions(spec.pppTransactions.runStamp) : undefined;
const paths = spec.paths ?? [];

function setupRequest(req: RawRequest): RawRequest {
  if (bodies) return { ...req, path: spec.pppTransactions!.path, body: bodies.next().value };
  return { ...req, path: paths[Math.floor(Math.random() * paths.length)] };
}

async function run(seconds: number): Promise<LoadRun> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const instance = autocannon({
    url: spec.url,
    connections: spec.connections,
    duration: seconds,
    timeout: 30,
    method: spec.method,
    headers: spec.headers,
    requests: [{ setupRequest }],
  });
  instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    latencies.push(ms);
    statuses[status] = (statuses[status] ?? 0) + 1;
  });
  const result = await instance;
  return { latencies: Float64Array.from(latencies), seconds: result.duration, statuses, errors: result.errors, timeouts: result.timeouts };
}

if (spec.warmupSeconds > 0) await run(spec.warmupSeconds);
parentPort?.postMessage('timed');
const timed = await run(spec.seconds);
parentPort?.postMessage(timed, [timed.latencies.buffer as ArrayBuffer]);
