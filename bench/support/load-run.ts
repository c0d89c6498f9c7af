// The worker side of the benches' load generators (bench/fhir-api-load.ts, bench/auth-load.ts): autocannon for a
// warm-up and then a timed run, each response's latency kept exactly (autocannon's own histogram rounds to whole
// milliseconds) and posted back to the bench's thread.
import { parentPort } from 'node:worker_threads';
import autocannon, { type Options, type RawRequest } from 'autocannon';

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

type AutocannonOptions = Options & { tlsOptions?: Record<string, string> };

async function run(spec: LoadSpec, setupRequest: (req: RawRequest) => RawRequest, seconds: number, extra: Partial<AutocannonOptions>): Promise<LoadRun> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const options: AutocannonOptions = {
    url: spec.url,
    connections: spec.connections,
    duration: seconds,
    timeout: 30,
    method: spec.method,
    headers: spec.headers,
    requests: [{ setupRequest }],
    ...extra,
  };
  const instance = autocannon(options);
  instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    latencies.push(ms);
    statuses[status] = (statuses[status] ?? 0) + 1;
  });
  const result = await instance;
  return { latencies: Float64Array.from(latencies), seconds: result.duration, statuses, errors: result.errors, timeouts: result.timeouts };
}

/**
 * The warm-up (if any), then 'timed' to the bench's thread, then the timed run, posted back. `extra`: more
 * autocannon options (TLS).
 */
export async function runLoad(spec: LoadSpec, setupRequest: (req: RawRequest) => RawRequest, extra: Partial<AutocannonOptions> = {}): Promise<void> {
  if (spec.warmupSeconds > 0) await run(spec, setupRequest, spec.warmupSeconds, extra);
  parentPort?.postMessage('timed');
  const timed = await run(spec, setupRequest, spec.seconds, extra);
  parentPort?.postMessage(timed, [timed.latencies.buffer as ArrayBuffer]);
}
