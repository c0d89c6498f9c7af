// Worker thread of the bulk registry writer: its own connection to the database file, applying the batches it is sent
// in order, one transaction each, their rows arriving in parts (sqlite-registry-batch.ts). After a failed batch it
// refuses the later ones: they were planned on top of the failed one.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { configureWriter } from './sqlite-connection.js';
import { RegistryBatchApplier, type BatchEnd, type BatchStart, type RegistryRows } from './sqlite-registry-batch.js';

export interface RegistryWorkerData {
  file: string;
  busyTimeoutMs: number;
}

/** A batch comes as `begin`, any number of `rows`, then `commit` (answered) or `abort` (not answered). */
export type RegistryWorkerRequest =
  | { kind: 'begin'; id: number; start: BatchStart }
  | { kind: 'rows'; id: number; rows: RegistryRows }
  | { kind: 'commit'; id: number; end: BatchEnd }
  | { kind: 'abort'; id: number }
  | { kind: 'close' };
export type RegistryWorkerReply = { id: number; ok: true } | { id: number; ok: false; error: string; name: string };

const port = parentPort;
if (port) {
  const { file, busyTimeoutMs } = workerData as RegistryWorkerData;
  const db = new Database(file, { fileMustExist: true });
  configureWriter(db, false, busyTimeoutMs);
  const applier = new RegistryBatchApplier(db);
  /** The first error: this batch and every later one are refused (they were planned on top of it). */
  let failed: Error | undefined;
  /** The error of the batch in progress (answered at its commit). */
  let current: Error | undefined;
  const attempt = (op: () => void): void => {
    if (current) return;
    try {
      op();
    } catch (err) {
      current = err instanceof Error ? err : new Error(String(err));
      failed ??= current;
      applier.abort();
    }
  };
  port.on('message', (m: RegistryWorkerRequest) => {
    switch (m.kind) {
      case 'begin':
        current = failed ? new Error(`not written: an earlier batch failed (${failed.message})`) : undefined;
        attempt(() => applier.begin(m.start));
        return;
      case 'rows':
        attempt(() => applier.rows(m.rows));
        return;
      case 'commit':
        attempt(() => applier.end(m.end));
        port.postMessage((current ? { id: m.id, ok: false, error: current.message, name: current.name } : { id: m.id, ok: true }) satisfies RegistryWorkerReply);
        return;
      case 'abort':
        applier.abort();
        failed ??= new Error('a batch was abandoned while it was planned');
        return;
      case 'close':
        applier.abort();
        db.close();
        port.close();
    }
  });
}
