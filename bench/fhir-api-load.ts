// The load generator of bench/fhir-api.bench.ts, on its own worker thread so it does not share the server's event
// loop: autocannon for a warm-up and then a timed run (bench/support/load-run.ts), each response's latency kept
// exactly and posted back.
import { workerData } from 'node:worker_threads';
import type { RawRequest } from 'autocannon';
import { pppTransactions } from './fhir-api-dataset.js';
import { runLoad, type LoadSpec } from './support/load-run.js';

export type { LoadRun, LoadSpec } from './support/load-run.js';

const spec = workerData as LoadSpec;
const bodies = spec.pppTransactions ? pppTransactions(spec.pppTransactions.runStamp) : undefined;
const paths = spec.paths ?? [];

function setupRequest(req: RawRequest): RawRequest {
  if (bodies) return { ...req, path: spec.pppTransactions!.path, body: bodies.next().value };
  return { ...req, path: paths[Math.floor(Math.random() * paths.length)] };
}

await runLoad(spec, setupRequest);
