// Where the bulk registry batches are written: a worker thread with its own connection to the database file (the
// matcher keeps the main thread), or the calling thread for a `:memory:` database. A batch is opened, its rows sent
// in parts as they are planned, then committed (one transaction); batches commit in the order they are opened.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { RegistryBatchApplier, RegistryChangedError, type BatchEnd, type BatchStart, type RegistryRows } from './sqlite-registry-batch.js';
import type { RegistryWorkerData, RegistryWorkerReply, RegistryWorkerRequest } from './sqlite-registry-worker.js';

export interface RegistryBatchWriter {
  /** Starts a batch (one transaction); its rows follow in parts. Batches are written in the order they are opened. */
  open(start: BatchStart): BatchWriting;
  /** Waits for the batches committed so far, then stops. */
  close(): Promise<void>;
}

export interface BatchWriting {
  /** More rows of the batch. */
  send(rows: RegistryRows): void;
  /** The batch's last part: resolves once it committed, rejects with its error (every later batch is then refused). */
  commit(end: BatchEnd): Promise<void>;
  /** Abandons the batch: nothing of it is written, nor of any later batch. */
  abort(): void;
}

const errorOf = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

/** Writes in the calling thread, on `db` (a `:memory:` database has no file a worker could open). */
export function inThreadRegistryWriter(db: Database.Database): RegistryBatchWriter {
  const applier = new RegistryBatchApplier(db);
  let failed: Error | undefined;
  return {
    open: (start) => {
      let current: Error | undefined = failed && new Error(`not written: an earlier batch failed (${failed.message})`);
      const attempt = (op: () => void): void => {
        if (current) return;
        try {
          op();
        } catch (err) {
          current = errorOf(err);
          failed ??= current;
          applier.abort();
        }
      };
      attempt(() => applier.begin(start));
      return {
        send: (rows) => attempt(() => applier.rows(rows)),
        commit: async (end) => {
          attempt(() => applier.end(end));
          if (current) throw current;
        },
        abort: () => {
          applier.abort();
          failed ??= new Error('a batch was abandoned while it was planned');
        },
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
    else p.reject(m.name === 'RegistryChangedError' ? Object.assign(new RegistryChangedError(0, 0), { message: m.error }) : new Error(m.error));
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
