// Where the bulk registry batches are written: a worker thread with its own connection to the database file (the
// matcher keeps the main thread), or the calling thread for a `:memory:` database. A batch is opened, its rows sent
// in parts as they are planned, then committed (one transaction); batches commit in the order they are opened.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import type { RegistryBatchWriter } from './registry-batch.js';
import { RegistryBatchApplier, RegistryBatchSession } from './sqlite-registry-batch.js';
import type { RegistryWorkerData, RegistryWorkerReply, RegistryWorkerRequest } from './sqlite-registry-worker.js';

/** Writes in the calling thread, on `db` (a `:memory:` database has no file a worker could open). */
export function inThreadRegistryWriter(db: Database.Database): RegistryBatchWriter {
  const session = new RegistryBatchSession(new RegistryBatchApplier(db));
  return {
    open: (start) => {
      session.begin(start);
      return {
        send: (rows) => session.rows(rows),
        commit: async (end) => {
          const error = session.commit(end);
          if (error) throw error;
        },
        abort: () => session.abort(),
      };
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
    else p.reject(Object.assign(new Error(m.error), { name: m.name }));
  });
  worker.on('error', (e) => failAll(e));
  const exited = new Promise<void>((resolve) => {
    worker.on('exit', (code) => {
      failAll(new Error(`identity registry writer stopped (exit code ${code})`));
      resolve();
    });
  });
  const post = (m: RegistryWorkerRequest): void => {
    if (!dead) worker.postMessage(m);
  };
  /** The last batch committed, settled (batches are answered in order). */
  let tail: Promise<unknown> = Promise.resolve();
  return {
    open: (start) => {
      const id = nextId++;
      post({ kind: 'begin', id, start });
      return {
        send: (rows) => post({ kind: 'rows', id, rows }),
        commit: (end) => {
          if (dead) return Promise.reject(new Error(`identity registry writer unavailable: ${dead.message}`));
          const done = new Promise<void>((resolve, reject) => {
            pending.set(id, { resolve, reject });
            post({ kind: 'commit', id, end });
          });
          tail = done.catch(() => undefined);
          return done;
        },
        abort: () => post({ kind: 'abort', id }),
      };
    },
    close: async () => {
      await tail;
      post({ kind: 'close' });
      await exited;
    },
  };
}
