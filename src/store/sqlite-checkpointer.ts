// WAL checkpoints off the request path. With SQLite's automatic checkpoint, the commit that crosses the threshold
// copies the whole WAL back into the database file on the event loop: that request (and every one queued behind it)
// waits ~100–200 ms. Here a worker thread with its own connection runs `wal_checkpoint(PASSIVE)` on a timer: it copies
// the frames no reader still needs while the writer keeps appending (PASSIVE never blocks a writer), and once the
// whole WAL is copied the next write transaction starts it again from the beginning. The writer's automatic
// checkpoint stays as a bound, at a higher threshold, should the worker fall behind (configureWriter).
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** How often the worker checkpoints. */
export const CHECKPOINT_INTERVAL_MS = 500;

export interface Checkpointer {
  /** Stops the timer and closes the worker's connection (a checkpoint under way finishes first). */
  close(): Promise<void>;
}

/** What the worker posts after each checkpoint: SQLite's `wal_checkpoint` row, or the error it met. */
export type CheckpointReport = { busy: number; log: number; checkpointed: number } | { error: string };

// Plain CommonJS run by `new Worker(…, { eval: true })`: no loader is needed in the thread (the gateway runs under tsx).
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 0');
db.pragma('synchronous = NORMAL');
const timer = setInterval(() => {
  try {
    const row = db.pragma('wal_checkpoint(PASSIVE)')[0];
    if (workerData.report) parentPort.postMessage(row);
  } catch (e) {
    parentPort.postMessage({ error: String(e && e.message || e) });
  }
}, workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

/** Starts the checkpointing worker of the database `file` (WAL mode). `onReport` sees each checkpoint's figures (tests). */
export function startCheckpointer(file: string, options: { intervalMs?: number; onReport?: (r: CheckpointReport) => void } = {}): Checkpointer {
  const worker = new Worker(WORKER, {
    eval: true,
    workerData: { file, module: createRequire(import.meta.url).resolve('better-sqlite3'), intervalMs: options.intervalMs ?? CHECKPOINT_INTERVAL_MS, report: options.onReport !== undefined },
  });
  // The process may exit without closing the store (a CLI command that ends): the worker does not keep it alive.
  worker.unref();
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.on('message', (m: CheckpointReport) => {
    if ('error' in m) process.emitWarning(`store: background WAL checkpoint failed: ${m.error}`);
    options.onReport?.(m);
  });
  worker.on('error', (err) => process.emitWarning(`store: WAL checkpointer stopped: ${err.message}`));
  return {
    close: async () => {
      // Held while it closes: an unreferenced worker would let the process end before its connection is closed.
      worker.ref();
      worker.postMessage('close');
      await exited;
    },
  };
}
