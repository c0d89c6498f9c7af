// Starting a load generator's worker thread under tsx, for the benches that drive the gateway from a worker
// (bench/fhir-api.bench.ts, bench/auth.bench.ts). Not a bench itself: bench/run.ts only runs bench/*.bench.ts.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { LoadRun } from './load-run.js';

/**
 * Runs the worker module at `url` (a .ts file) with `spec` as its workerData and resolves with the run it posts
 * back. Its module is loaded under tsx: tsx's loader hooks are registered in the thread first (they are not
 * inherited). `onTimed` is called when the worker says its timed run starts (after the warm-up).
 */
export function loadWorker<Spec>(url: URL, spec: Spec, onTimed?: () => void): Promise<LoadRun> {
  const manifest = createRequire(import.meta.url).resolve('tsx/package.json');
  const { exports } = JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
  const tsxApi = pathToFileURL(join(dirname(manifest), exports['./esm/api'].import.default)).href;
  const script = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); });`;
  return new Promise((resolve, reject) => {
    const worker = new Worker(script, { eval: true, workerData: spec });
    worker.on('message', (m: LoadRun | 'timed') => (m === 'timed' ? onTimed?.() : resolve(m)));
    worker.once('error', reject);
    worker.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`load worker exited with ${code}`))));
  });
}
