// Worker thread of the bulk registry writer: its own connection to the database file, applying the batches it is sent
// in order, one transaction each (sqlite-registry-batch.ts). After a failed batch it refuses the later ones: they were
// planned on top of the failed one.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { configureWriter } from './sqlite-connection.js';
import { RegistryBatchApplier, type RegistryBatch } from './sqlite-registry-batch.js';

export interface RegistryWorkerData {
  file: string;
  busyTimeoutMs: number;
}

export type RegistryWorkerRequest = { kind: 'batch'; id: number; batch: RegistryBatch } | { kind: 'close' };
export type RegistryWorkerReply = { id: number; ok: true } | { id: number; ok: false; error: string; name: string };

const port = parentPort;
if (port) {
  const { file, busyTimeoutMs } = workerData as RegistryWorkerData;
  const db = new Database(file, { fileMustExist: true });
  configureWriter(db, false, busyTimeoutMs);
  const applier = new RegistryBatchApplier(db);
  let failed: string | undefined;
  port.on('message', (m: RegistryWorkerRequest) => {
    if (m.kind === 'close') {
      db.close();
      port.close();
      return;
    }
    if (failed !== undefined) {
      port.postMessage({ id: m.id, ok: false, error: `not written: an earlier batch failed (${failed})`, name: 'Skipped' } satisfies RegistryWorkerReply);
      return;
    }
    try {
      applier.apply(m.batch);
      port.postMessage({ id: m.id, ok: true } satisfies RegistryWorkerReply);
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      failed = e.message;
      port.postMessage({ id: m.id, ok: false, error: e.message, name: e.name } satisfies RegistryWorkerReply);
    }
  });
}
