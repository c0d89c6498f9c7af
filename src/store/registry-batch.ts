// A batch of the identity registry's bulk write path (services/identity-bulk.ts), as rows, whatever writes it: what the
// planner sends and the store's bulk writer applies in one transaction (sqlite-registry-batch.ts on SQLite).
/** A new federated identity: id, status, flags (JSON), traits (JSON), blocking keys (JSON), seq. Active. */
export type FederatedInsertRow = [id: string, status: string, flags: string, traits: string, keys: string, seq: number];
/** A change of a federated identity: id, status, flags (JSON), traits (JSON, null: unchanged), keys (JSON), seq. */
export type FederatedUpdateRow = [id: string, status: string, flags: string, traits: string | null, keys: string, seq: number];
/** A new source identity: system, local id, federated id, traits (JSON), status, decision, score. */
export type SourceInsertRow = [system: string, localId: string, federatedId: string, traits: string, status: string, decision: string, score: number | null];
/** A new review item: id, source system, source id, new federated id, candidate, grade, score, comparison (JSON), flag. */
export type ReviewInsertRow = [id: string, system: string, localId: string, newFederatedId: string, candidateFederatedId: string, grade: string, score: number, comparison: string, flag: string];
/** An audit row: action, actor, entities, detail, request id. Outcome `success`. */
export type AuditInsertRow = [action: string, actor: string, entities: string[], detail: string, requestId: string | null];

/** An identity anomaly (identity-anomaly-repository.ts): id, source system, source id, FINESS, code, field, received, kept. */
export type { AnomalyInsertRow } from './identity-anomaly-repository.js';
import type { AnomalyInsertRow } from './identity-anomaly-repository.js';

/** Rows of a batch (or of one part of it), written in this order: federated inserts, updates, sources, reviews, anomalies, audit. */
export interface RegistryRows {
  federatedInserts: FederatedInsertRow[];
  /** Applied in order, after the inserts (an update may change an identity inserted earlier in the batch). */
  federatedUpdates: FederatedUpdateRow[];
  sources: SourceInsertRow[];
  reviews: ReviewInsertRow[];
  /** Statuses the data did not support, with the registration (identity-support.ts). */
  anomalies: AnomalyInsertRow[];
  audits: AuditInsertRow[];
}

/** How a batch starts: the registry's change number it was planned on (`identity_seq`), its rows' timestamp. */
export interface BatchStart {
  seqBefore: number;
  /** ISO timestamp of every row of the batch. */
  now: string;
}

/** How a batch ends. */
export interface BatchEnd {
  /** The last change number the batch's writes took (`seqBefore` when it changes no federated identity). */
  seqAfter: number;
  /** Federated identities whose FHIR Patients are written later (`drainProjections`). */
  projectionPending: string[];
}

export const emptyRegistryRows = (): RegistryRows => ({ federatedInserts: [], federatedUpdates: [], sources: [], reviews: [], anomalies: [], audits: [] });

/** Thrown when the registry changed under a planned batch (another process or connection wrote it). */
export class RegistryChangedError extends Error {
  constructor(expected: number, found: number) {
    super(`identity registry changed by another writer while a bulk import ran (change number ${found}, planned on ${expected})`);
    this.name = 'RegistryChangedError';
  }
}

/** Where the batches go (`BulkRegistryLease.writer`). Batches are written in the order they are opened. */
export interface RegistryBatchWriter {
  /** Starts a batch (one transaction); its rows follow in parts. */
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

