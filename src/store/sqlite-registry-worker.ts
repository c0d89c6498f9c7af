// Worker thread of the bulk registry writer: its own connection to the database file, applying the batches it is sent
// in order, one transaction each, their rows arriving in parts (sqlite-registry-batch.ts). After a failed batch it
// refuses the later ones: they were planned on top of the failed one.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { configureWriter } from './sqlite-connection.js';
import type { BatchEnd, BatchStart, RegistryRows } from './registry-batch.js';
import { RegistryBatchApplier, RegistryBatchSession } from './sqlite-registry-batch.js';

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
  const session = new RegistryBatchSession(new RegistryBatchApplier(db));
  port.on('message', (m: RegistryWorkerRequest) => {
    switch (m.kind) {
      case 'begin':
        session.begin(m.start);
        return;
      case 'rows':
        session.rows(m.rows);
        return;
      case 'commit': {
        const error = session.commit(m.end);
        port.postMessage((error ? { id: m.id, ok: false, error: error.message, name: error.name } : { id: m.id, ok: true }) satisfies RegistryWorkerReply);
        return;
      }
      case 'abort':
        session.abort();
        return;
      case 'close':
        session.abort();
        db.close();
        port.close();
    }
  });
}
