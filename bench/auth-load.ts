// The load generator of bench/auth.bench.ts: bench/fhir-api-load.ts's GET loop (a random path per request, warm-up
// then a timed run, each latency kept: bench/support/load-run.ts), plus TLS options for the HTTPS scenarios (the
// test CA, a client certificate).
import { workerData } from 'node:worker_threads';
import type { RawRequest } from 'autocannon';
import { runLoad, type LoadSpec } from './support/load-run.js';

export type AuthLoadSpec = LoadSpec & { tls?: { ca: string; cert?: string; key?: string } };

const spec = workerData as AuthLoadSpec;
const paths = spec.paths ?? [];

function setupRequest(req: RawRequest): RawRequest {
  return { ...req, path: paths[Math.floor(Math.random() * paths.length)] };
}

await runLoad(spec, setupRequest, spec.tls ? { tlsOptions: spec.tls } : {});
