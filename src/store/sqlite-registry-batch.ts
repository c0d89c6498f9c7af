// The identity registry's bulk write path on SQLite: the rows a batch of bulk registrations decided (see
// registry-batch.ts and services/identity-bulk.ts), applied in ONE transaction with multi-row statements. It runs on a worker thread with
// its own connection to the database file (sqlite-registry-worker.ts), so the matcher keeps the main thread, or in
// the calling thread on a `:memory:` database. A batch's rows arrive in parts, as they are planned (the planning
// thread does not hold a whole batch of rows); the transaction is opened with the first and committed after the
// last. The change sequence is checked first: if another writer changed the registry since the batch was planned,
// nothing is written and the batch fails.
import type Database from 'better-sqlite3';
import { AUDIT_GENESIS, chainHash, contentOf, INSERT_AUDIT_COLUMNS, insertValues, LAST_AUDIT_HASH } from './audit-trail.js';
import { ANOMALY_COLUMNS } from './identity-anomaly-repository.js';
import { RegistryChangedError, type BatchEnd, type BatchStart, type RegistryRows } from './registry-batch.js';

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

  /**
   * Opens a batch's transaction: then `rows` for each part of it, `end` to commit, `abort` to roll back. Throws, with
   * nothing open, if the registry changed since the batch was planned (`RegistryChangedError`).
   */
  begin(start: BatchStart): void {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const { value: seq } = this.prepare('SELECT value FROM identity_seq WHERE one = 1').get() as { value: number };
      if (seq !== start.seqBefore) throw new RegistryChangedError(start.seqBefore, seq);
    } catch (err) {
      this.abort();
      throw err;
    }
    this.now = start.now;
    this.seqBefore = start.seqBefore;
  }

  /** Rolls back the open transaction, if any. */
  abort(): void {
    if (this.db.inTransaction) this.db.exec('ROLLBACK');
  }

  /** Of the open batch. */
  private now = '';
  private seqBefore = 0;

  /** Writes rows in the open transaction. */
  rows(b: RegistryRows): void {
    const now = this.now;
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
    this.insertAll(
      `INSERT INTO identity_anomaly (${ANOMALY_COLUMNS})`,
      9,
      b.anomalies ?? [],
      (r, out) => out.push(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], now),
    );
    // Audit ids: one multi-row INSERT in a write transaction numbers its rows consecutively (AUTOINCREMENT, no other
    // writer), so a chunk's rows are lastInsertRowid − count + 1 … lastInsertRowid.
    const entities: [string, number][] = [];
    let chunkStart = 0;
    // Each row chained to the one before (src/store/audit-trail.ts), from the last row this transaction sees.
    let previous = b.audits.length > 0 ? ((this.prepare(LAST_AUDIT_HASH).get() as { hash: string | null } | undefined)?.hash ?? AUDIT_GENESIS) : '';
    this.insertAll(
      `INSERT INTO audit (${INSERT_AUDIT_COLUMNS})`,
      11,
      b.audits,
      (r, out) => {
        const content = contentOf({ action: r[0], actor: r[1], entities: r[2], outcome: 'success', detail: r[3], ...(r[4] !== null ? { requestId: r[4] } : {}) }, now);
        previous = chainHash(previous, content);
        out.push(...insertValues(content, previous, JSON.stringify(content.entities)));
      },
      (info, count) => {
        const first = Number(info.lastInsertRowid) - count + 1;
        for (let i = 0; i < count; i++) for (const e of b.audits[chunkStart + i][2]) entities.push([e, first + i]);
        chunkStart += count;
      },
    );
    this.insertAll('INSERT OR IGNORE INTO audit_entities (entity, audit_id)', 2, entities, (r, out) => out.push(r[0], r[1]));
  }

  /** Files the pending projections, moves the change number and commits. */
  end(e: BatchEnd): void {
    this.insertAll('INSERT OR IGNORE INTO identity_projection_pending (federated_id)', 1, e.projectionPending, (id, out) => out.push(id));
    if (e.seqAfter !== this.seqBefore) this.prepare('UPDATE identity_seq SET value = ? WHERE one = 1').run(e.seqAfter);
    this.db.exec('COMMIT');
  }
}

/**
 * The applier with the writer's rules, for the worker thread and the in-thread writer alike: a batch's error is
 * reported at its commit, and the first failure refuses every later batch (they were planned on top of it).
 */
export class RegistryBatchSession {
  private failed: Error | undefined;
  /** The error of the batch in progress. */
  private current: Error | undefined;

  constructor(private readonly applier: RegistryBatchApplier) {}

  begin(start: BatchStart): void {
    this.current = this.failed && new Error(`not written: an earlier batch failed (${this.failed.message})`);
    this.attempt(() => this.applier.begin(start));
  }

  rows(rows: RegistryRows): void {
    this.attempt(() => this.applier.rows(rows));
  }

  /** Commits the batch; its error if it was not written. */
  commit(end: BatchEnd): Error | undefined {
    this.attempt(() => this.applier.end(end));
    return this.current;
  }

  /** Abandons the batch being planned: nothing of it, nor of any later batch, is written. */
  abort(): void {
    this.applier.abort();
    this.failed ??= new Error('a batch was abandoned while it was planned');
  }

  private attempt(op: () => void): void {
    if (this.current) return;
    try {
      op();
    } catch (err) {
      this.current = err instanceof Error ? err : new Error(String(err));
      this.failed ??= this.current;
      this.applier.abort();
    }
  }
}
