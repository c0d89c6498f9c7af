// Where the bulk registry batches are written: a worker thread with its own connection to the database file (the
// matcher keeps the main thread), or the calling thread for a `:memory:` database. Batches commit in the order they
// are written; each write resolves once its batch committed.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { RegistryBatchApplier, RegistryChangedError, type RegistryBatch } from './sqlite-registry-batch.js';
import type { RegistryWorkerData, RegistryWorkerReply, RegistryWorkerRequest } from './sqlite-registry-worker.js';

export interface RegistryBatchWriter {
  /** Queues a batch; resolves once it committed, rejects with its error (and every later batch is refused). */
  write(batch: RegistryBatch): Promise<void>;
  /** Waits for the queued batches, then stops. */
  close(): Promise<void>;
}

/** Writes in the calling thread, on `db` (a `:memory:` database has no file a worker could open). */
export function inThreadRegistryWriter(db: Database.Database): RegistryBatchWriter {
  const applier = new RegistryBatchApplier(db);
  let failed: Error | undefined;
  return {
    write: async (batch) => {
      if (failed) throw new Error(`not written: an earlier batch failed (${failed.message})`);
      try {
        applier.apply(batch);
      } catch (err) {
        failed = err instanceof Error ? err : new Error(String(err));
        throw failed;
      }
    },
    close: async () => undefined,
  };
}

/** The worker's module: the TypeScript source under tsx (how Passerelle runs), or the compiled file next to this one. */
function workerScript(): { script: string | URL; eval: boolean } {
  const url = new URL(import.meta.url.endsWith('.ts') ? './sqlite-registry-worker.ts' : './sqlite-registry-worker.js', import.meta.url);
  if (!url.pathname.endsWith('.ts')) return { script: url, eval: false };
  // A worker does not inherit the loader hooks tsx registered in this thread: register them there first, through
  // tsx's ES module API (the file its package exports for `import 'tsx/esm/api'`).
  const manifest = createRequire(import.meta.url).resolve('tsx/package.json');
  const { exports } = JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
  const tsxApi = pathToFileURL(join(dirname(manifest), exports['./esm/api'].import.default)).href;
  return { script: `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); });`, eval: true };
}

/** Writes on a worker thread with its own connection to `file`. */
export function workerRegistryWriter(file: string, busyTimeoutMs: number): RegistryBatchWriter {
  const { script, eval: isEval } = workerScript();
  const worker = new Worker(script, { eval: isEval, workerData: { file, busyTimeoutMs } satisfies RegistryWorkerData });
  const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  let nextId = 0;
  let dead: Error | undefined;
  const failAll = (e: Error): void => {
    dead ??= e;
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  };
  worker.on('message', (m: RegistryWorkerReply) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.ok) p.resolve();
    else {
      const e = m.name === 'RegistryChangedError' ? Object.assign(new RegistryChangedError(0, 0), { message: m.error }) : new Error(m.error);
      p.reject(e);
    }
  });
  worker.on('error', (e) => failAll(e));
  const exited = new Promise<void>((resolve) => {
    worker.on('exit', (code) => {
      failAll(new Error(`identity registry writer stopped (exit code ${code})`));
      resolve();
    });
  });
  /** The last batch sent, settled (batches are answered in order). */
  let tail: Promise<unknown> = Promise.resolve();
  return {
    write: (batch) => {
      if (dead) return Promise.reject(new Error(`identity registry writer unavailable: ${dead.message}`));
      const id = nextId++;
      const done = new Promise<void>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage({ kind: 'batch', id, batch } satisfies RegistryWorkerRequest);
      });
      tail = done.catch(() => undefined);
      return done;
    },
    close: async () => {
      await tail;
      if (!dead) worker.postMessage({ kind: 'close' } satisfies RegistryWorkerRequest);
      await exited;
    },
  };
}
