// The identity registry's bulk write path on SQLite: the rows a batch of bulk registrations decided (see
// services/identity-bulk.ts), applied in ONE transaction with multi-row statements. It runs on a worker thread with
// its own connection to the database file (sqlite-registry-worker.ts), so the matcher keeps the main thread, or in
// the calling thread on a `:memory:` database. The change sequence is checked first: if another writer changed the
// registry since the batch was planned, nothing is written and the batch fails.
import type Database from 'better-sqlite3';

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

export interface RegistryBatch {
  /** The registry's change number the batch was planned on (`identity_seq`). */
  seqBefore: number;
  /** The last change number the batch's writes took (`seqBefore` when it changes no federated identity). */
  seqAfter: number;
  /** ISO timestamp of every row of the batch. */
  now: string;
  federatedInserts: FederatedInsertRow[];
  /** Applied in order, after the inserts (an update may change an identity inserted by the same batch). */
  federatedUpdates: FederatedUpdateRow[];
  sources: SourceInsertRow[];
  reviews: ReviewInsertRow[];
  audits: AuditInsertRow[];
  /** Federated identities whose FHIR Patients are written later (`drainProjections`). */
  projectionPending: string[];
}

export const emptyRegistryBatch = (seq: number, now: string): RegistryBatch => ({
  seqBefore: seq,
  seqAfter: seq,
  now,
  federatedInserts: [],
  federatedUpdates: [],
  sources: [],
  reviews: [],
  audits: [],
  projectionPending: [],
});

/** Thrown when the registry changed under a planned batch (another process or connection wrote it). */
export class RegistryChangedError extends Error {
  constructor(expected: number, found: number) {
    super(`identity registry changed by another writer while a bulk import ran (change number ${found}, planned on ${expected})`);
    this.name = 'RegistryChangedError';
  }
}

/** Rows per multi-row INSERT (SQLite binds at most 32,766 parameters; the widest row here has 9 columns). */
const ROWS_PER_STATEMENT = 64;

type Statement = Database.Statement<unknown[], unknown>;

/** Applies batches on one connection, with its statements prepared once. */
export class RegistryBatchApplier {
  private readonly statements = new Map<string, Statement>();

  constructor(private readonly db: Database.Database) {}

  private prepare(sql: string): Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  /** `INSERT INTO table (columns) VALUES (…), (…)…` for `rows` rows; `tail` after the VALUES. */
  private insertStatement(head: string, width: number, rows: number, tail = ''): Statement {
    const one = `(${new Array<string>(width).fill('?').join(', ')})`;
    return this.prepare(`${head} VALUES ${new Array<string>(rows).fill(one).join(', ')}${tail}`);
  }

  /** Inserts `rows` (each `width` values, `map` turns a row into them) by chunks; calls `done` with each chunk's result. */
  private insertAll<R>(head: string, width: number, rows: readonly R[], map: (r: R, out: unknown[]) => void, done?: (info: Database.RunResult, count: number) => void): void {
    for (let at = 0; at < rows.length; at += ROWS_PER_STATEMENT) {
      const count = Math.min(ROWS_PER_STATEMENT, rows.length - at);
      const params: unknown[] = [];
      for (let i = at; i < at + count; i++) map(rows[i], params);
      const info = this.insertStatement(head, width, count).run(params);
      done?.(info, count);
    }
  }

  /** One transaction: every row of the batch, or none. Throws `RegistryChangedError` if the registry moved. */
  apply(batch: RegistryBatch): void {
    this.db.transaction(() => this.write(batch)).immediate();
  }

  private write(b: RegistryBatch): void {
    const { value: seq } = this.prepare('SELECT value FROM identity_seq WHERE one = 1').get() as { value: number };
    if (seq !== b.seqBefore) throw new RegistryChangedError(b.seqBefore, seq);
    const now = b.now;
    this.insertAll(
      'INSERT INTO identity_federated (id, status, flags, active, replaced_by, traits, blocking_keys, seq, created, updated)',
      10,
      b.federatedInserts,
      (r, out) => out.push(r[0], r[1], r[2], 1, null, r[3], r[4], r[5], now, now),
    );
    const update = this.prepare(
      'UPDATE identity_federated SET status = ?, flags = ?, traits = COALESCE(?, traits), blocking_keys = ?, seq = ?, updated = ? WHERE id = ? AND active = 1',
    );
    for (const r of b.federatedUpdates) {
      if (update.run(r[1], r[2], r[3], r[4], r[5], now, r[0]).changes !== 1) throw new Error(`identity registry: federated identity ${r[0]} is missing or inactive`);
    }
    this.insertAll(
      'INSERT INTO identity_sources (system, local_id, federated_id, traits, status, decision, score, created, updated)',
      9,
      b.sources,
      (r, out) => out.push(r[0], r[1], r[2], r[3], r[4], r[5], r[6], now, now),
    );
    this.insertAll(
      'INSERT INTO identity_reviews (id, source_system, source_id, new_federated_id, candidate_federated_id, grade, score, comparison, flag, created)',
      10,
      b.reviews,
      (r, out) => out.push(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], now),
    );
    // Audit ids: one multi-row INSERT in a write transaction numbers its rows consecutively (AUTOINCREMENT, no other
    // writer), so a chunk's rows are lastInsertRowid − count + 1 … lastInsertRowid.
    const entities: [string, number][] = [];
    let chunkStart = 0;
    this.insertAll(
      'INSERT INTO audit (recorded, action, actor, entities, outcome, detail, request_id)',
      7,
      b.audits,
      (r, out) => out.push(now, r[0], r[1], JSON.stringify(r[2]), 'success', r[3], r[4]),
      (info, count) => {
        const first = Number(info.lastInsertRowid) - count + 1;
        for (let i = 0; i < count; i++) for (const e of b.audits[chunkStart + i][2]) entities.push([e, first + i]);
        chunkStart += count;
      },
    );
    this.insertAll('INSERT OR IGNORE INTO audit_entities (entity, audit_id)', 2, entities, (r, out) => out.push(r[0], r[1]));
    this.insertAll('INSERT OR IGNORE INTO identity_projection_pending (federated_id)', 1, b.projectionPending, (id, out) => out.push(id));
    if (b.seqAfter !== b.seqBefore) this.prepare('UPDATE identity_seq SET value = ? WHERE one = 1').run(b.seqAfter);
  }
}
