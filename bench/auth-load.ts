// The load generator of bench/auth.bench.ts: bench/fhir-api-load.ts's GET loop (a random path per request, warm-up
// then a timed run, each latency kept), plus TLS options for the HTTPS scenarios (the test CA, a client certificate).
import { parentPort, workerData } from 'node:worker_threads';
import autocannon, { type Options, type RawRequest } from 'autocannon';
import type { LoadRun, LoadSpec } from './fhir-api-load.js';

export type AuthLoadSpec = LoadSpec & { tls?: { ca: string; cert?: string; key?: string } };

const spec = workerData as AuthLoadSpec;
const paths = spec.paths ?? [];

function setupRequest(req: RawRequest): RawRequest {
  return { ...req, path: paths[Math.floor(Math.random() * paths.length)] };
}

async function run(seconds: number): Promise<LoadRun> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const options: Options & { tlsOptions?: Record<string, string> } = {
    url: spec.url,
    connections: spec.connections,
    duration: seconds,
    timeout: 30,
    method: spec.method,
    headers: spec.headers,
    requests: [{ setupRequest }],
    ...(spec.tls ? { tlsOptions: spec.tls } : {}),
  };
  const instance = autocannon(options);
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
