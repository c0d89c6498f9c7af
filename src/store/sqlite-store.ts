// The embedded storage dialect: one SQLite file through better-sqlite3, in WAL mode. better-sqlite3 is
// synchronous, so write transactions are serialised in-process by an async mutex; reads outside a
// transaction use a second, read-only connection so they never see another request's uncommitted writes.
import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Resource } from '@medplum/fhirtypes';
import { extractIndexValues } from '../fhir/search-params.js';
import { checkMigrations, type Migration } from './migrations/migration.js';
import { sqliteMigrations } from './migrations/sqlite/index.js';
import { auditTrail, auditWho, contentOf, INSERT_AUDIT_COLUMNS, insertValues, LAST_AUDIT_HASH, nextHash, type AuditTrail } from './audit-trail.js';
import type { IdentityRepository } from './identity-repository.js';
import { sqliteIdentityRepository, sqliteIdentityWriter } from './sqlite-identity-repository.js';
import type { OutboxRepository } from './outbox-repository.js';
import { sqliteOutboxRepository, sqliteOutboxWriter } from './sqlite-outbox-repository.js';
import { directoryRepository, type DirectoryRepository } from './directory-repository.js';
import { mssanteRepository, mssanteWriter, type MssanteRepository } from './mssante-repository.js';
import { pathwayRepository, pathwayWriter, type PathwayRepository } from './pathway-repository.js';
import { conflictBoardRepository, type ConflictBoardRepository } from './conflict-board-repository.js';
import { identityAnomalyRepository, identityAnomalyWriter, type IdentityAnomalyRepository } from './identity-anomaly-repository.js';
import { reportRepository, type ReportRepository } from './report-repository.js';
import { pathwayLinkRepository, pathwayLinkWriter, type PathwayLinkRepository } from './pathway-link-repository.js';
import { accessWriter, securityRepository, type SecurityRepository, type SqlRunner } from './security-repository.js';
import {
  auditQuery,
  auditRecordOf,
  indexChanges,
  indexFingerprints,
  planDelete,
  planWrite,
  RECORD_INDEX_STATE,
  REINDEX_BATCH,
  reindexBatch,
  resourceKeyOf,
  staleIndexTypes,
  type AuditRow,
  type ResourceRow,
  type StoredIndexRow,
} from './resource-rows.js';
import { compileSearch, referrersStatement, searchStatements, type CompiledPredicate, type SearchDialect } from './search-sql.js';
import { CACHE_KIB, configureStoreWriter, configureWriter } from './sqlite-connection.js';
import { startCheckpointer, type Checkpointer } from './sqlite-checkpointer.js';
import { textColumns } from './sql-dialect.js';
import { checkApplied, commitHooks, WriteObservers, type CommitHooks } from './store-common.js';
import type { RegistryBatchWriter } from './registry-batch.js';
import { inThreadRegistryWriter, workerRegistryWriter } from './sqlite-registry-writer.js';
import type {
  AuditEntry,
  BulkRegistryLease,
  AuditRecord,
  ResourceKey,
  ResourceStore,
  SearchQuery,
  SearchResult,
  StoredVersion,
  StoreTransaction,
  WriteObserver,
  WriteOptions,
} from './repository.js';

export interface SqliteStoreOptions {
  /** Database file (its directory is created), or `:memory:` for tests. */
  file: string;
  /** Clock for `meta.lastUpdated` and audit timestamps; tests inject one. */
  now?: () => Date;
  /** How long a statement waits for a lock held by another connection. Default 5000 ms. */
  busyTimeoutMs?: number;
  /** Search planning: index rows up to which a predicate drives a query (see `search`). Default 1000. */
  driverMaxRows?: number;
}

export async function openSqliteStore(options: SqliteStoreOptions): Promise<ResourceStore> {
  return SqliteStore.open(options);
}

/** Index rows up to which a predicate drives a search (default of `SqliteStoreOptions.driverMaxRows`). */
const DRIVER_MAX_ROWS = 1000;
type Db = Database.Database;

type Statement = Database.Statement<unknown[], unknown>;

/** One connection with its prepared statements (bounded cache: search SQL varies with the query's shape). */
class Connection {
  private readonly statements = new Map<string, Statement>();

  constructor(
    readonly db: Db,
    private readonly maxStatements = 256,
  ) {}

  prepare(sql: string): Statement {
    let stmt = this.statements.get(sql);
    if (stmt) {
      // Refresh its place in the LRU order.
      this.statements.delete(sql);
    } else {
      stmt = this.db.prepare(sql);
      if (this.statements.size >= this.maxStatements) {
        this.statements.delete(this.statements.keys().next().value as string);
      }
    }
    this.statements.set(sql, stmt);
    return stmt;
  }
}

/** Most transactions in one group commit, and how long a group may take in before it commits. */
const GROUP_MAX = 64;
const GROUP_MS = 50;
/**
 * Commits after which the background checkpointer starts: a store that writes a little (a CLI command, most tests)
 * does without the extra thread; until then the writer's own automatic checkpoint applies.
 */
const CHECKPOINTER_AFTER = 100;

interface QueuedTransaction {
  fn: (tx: StoreTransaction) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** FIFO async lock. */
class Mutex {
  private tail: Promise<void> = Promise.resolve();

  async lock(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((resolve) => (release = resolve));
    const previous = this.tail;
    this.tail = previous.then(() => next);
    await previous;
    return release;
  }
}

class SqliteStore implements ResourceStore {
  private readonly mutex = new Mutex();
  /** Transactions waiting for the next group (see `transaction`). */
  private readonly queued: QueuedTransaction[] = [];
  private draining = false;
  /** Background WAL checkpoints (sqlite-checkpointer.ts), started once the store has committed CHECKPOINTER_AFTER groups. */
  private checkpointer: Checkpointer | undefined;
  private commits = 0;
  /** Observers of every new version written (ResourceStore.observeWrites). */
  private readonly writes = new WriteObservers();
  /** Set while a transaction callback runs, to refuse nested `transaction()` calls instead of deadlocking. */
  private readonly inTransaction = new AsyncLocalStorage<SqliteStore>();
  private closed = false;
  readonly identities: IdentityRepository;
  readonly outbox: OutboxRepository;
  readonly security: SecurityRepository;
  readonly directory: DirectoryRepository;
  readonly mssante: MssanteRepository;
  readonly links: PathwayLinkRepository;
  readonly pathway: PathwayRepository;
  readonly identityAnomalies: IdentityAnomalyRepository;
  readonly conflictBoard: ConflictBoardRepository;
  readonly reports: ReportRepository;
  readonly auditTrail: AuditTrail;

  private constructor(
    private readonly writer: Connection,
    /** Same object as `writer` for `:memory:` databases, whose reads then queue behind the mutex. */
    private readonly reader: Connection,
    private readonly now: () => Date,
    private readonly driverMaxRows: number,
    private readonly file: string,
    private readonly busyTimeoutMs: number,
  ) {
    this.identities = sqliteIdentityRepository((op) => this.readOp(op));
    this.outbox = sqliteOutboxRepository({ read: (op) => this.readOp(op), write: (op) => this.writeOp(op) }, this.now);
    this.auditTrail = auditTrail((sql, params) => this.readOp((c) => c.prepare(sql).all(...params) as never[]), textColumns);
    const read: SqlRunner = {
      all: <R>(sql: string, params: readonly unknown[]) => this.readOp((c) => c.prepare(sql).all(...params) as R[]),
      run: (sql, params) => this.writeOp((c) => c.prepare(sql).run(...params).changes),
    };
    // One short write transaction: the statements run synchronously inside it.
    const write = async <T>(fn: (run: SqlRunner) => Promise<T>): Promise<T> => {
      let out: Promise<T> | undefined;
      await this.writeOp((c) => {
        out = fn(sqlRunner(c));
      });
      return out as Promise<T>;
    };
    this.security = securityRepository(read, write, this.now);
    this.directory = directoryRepository(read, write, this.now);
    this.mssante = mssanteRepository(read, write);
    this.links = pathwayLinkRepository(read, write);
    this.pathway = pathwayRepository(read, write, 'sqlite');
    this.identityAnomalies = identityAnomalyRepository(read);
    this.conflictBoard = conflictBoardRepository(read, 'sqlite');
    this.reports = reportRepository(read);
  }

  static open(options: SqliteStoreOptions): SqliteStore {
    const memory = options.file === ':memory:';
    if (!memory) mkdirSync(dirname(options.file), { recursive: true });
    const busy = options.busyTimeoutMs ?? 5000;
    const now = options.now ?? (() => new Date());
    const db = new Database(options.file);
    try {
      configureWriter(db, memory, busy);
      migrate(db, sqliteMigrations, now);
      rebuildStaleIndex(new Connection(db), now);
      db.pragma('optimize = 0x10002');
    } catch (e) {
      db.close();
      throw e;
    }
    const writer = new Connection(db);
    let reader = writer;
    if (!memory) {
      const rdb = new Database(options.file, { readonly: true, fileMustExist: true });
      rdb.pragma(`busy_timeout = ${busy}`);
      rdb.pragma(`cache_size = -${CACHE_KIB}`);
      reader = new Connection(rdb);
    }
    return new SqliteStore(writer, reader, now, options.driverMaxRows ?? DRIVER_MAX_ROWS, options.file, busy);
  }

  observeWrites(observer: WriteObserver): () => void {
    return this.writes.add(observer);
  }

  // --- transactions ------------------------------------------------------------------------------------

  /**
   * Group commit: transactions that arrive while another group holds the writer queue up, and the next group runs
   * them one after the other inside one SQLite transaction, each in its own savepoint, then commits once. A callback
   * that throws is rolled back to its savepoint (nothing of it remains) and rejected at once; the others are answered
   * only after the group's COMMIT, so an answered transaction is durable exactly as before. Each commit writes every
   * page it dirtied to the WAL, and concurrent submissions share many of those pages (B-tree interior pages, the
   * tables' last pages, the hot index values): grouping writes fewer of them per submission (docs/benchmarks.md).
   */
  transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('The SQLite store is closed'));
    if (this.inTransaction.getStore() === this) {
      return Promise.reject(new Error('Nested store.transaction(): use the StoreTransaction passed to the outer callback'));
    }
    return new Promise<T>((resolve, reject) => {
      this.queued.push({ fn: fn as (tx: StoreTransaction) => Promise<unknown>, resolve: resolve as (v: unknown) => void, reject });
      if (!this.draining) void this.drain();
    });
  }

  /** Runs queued transactions, group after group, until none is left. */
  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queued.length > 0) {
        const release = await this.mutex.lock();
        try {
          await this.runGroup();
        } finally {
          release();
        }
      }
    } finally {
      this.draining = false;
    }
  }

  /**
   * One group: BEGIN, the queued callbacks (up to GROUP_MAX, or GROUP_MS of work), COMMIT. The group's first callback
   * runs without a savepoint (if it fails, the transaction is rolled back and the group starts again): a savepoint
   * copies every page it is the first to change, which a lone large transaction (a bulk import's) would pay in full.
   */
  private async runGroup(): Promise<void> {
    const db = this.writer.db;
    const begin = (): boolean => {
      try {
        this.assertOpen();
        db.exec('BEGIN IMMEDIATE');
        return true;
      } catch (err) {
        for (const job of this.queued.splice(0)) job.reject(err);
        return false;
      }
    };
    if (!begin()) return;
    const started = performance.now();
    const done: { job: QueuedTransaction; result: unknown; hooks: CommitHooks }[] = [];
    while (this.queued.length > 0 && done.length < GROUP_MAX && performance.now() - started < GROUP_MS) {
      const job = this.queued.shift() as QueuedTransaction;
      const alone = done.length === 0;
      if (!alone) db.exec('SAVEPOINT passerelle_tx');
      try {
        const { result, hooks } = await this.runCallback(job.fn);
        if (!alone) db.exec('RELEASE passerelle_tx');
        done.push({ job, result, hooks });
      } catch (err) {
        job.reject(err);
        if (alone || !db.inTransaction) {
          // The first callback's failure, or SQLite rolled the whole transaction back (an I/O error, the disk full):
          // the group's earlier callbacks, if any, are lost with it; they were not answered yet, so they fail now.
          if (db.inTransaction) db.exec('ROLLBACK');
          for (const d of done) d.job.reject(err);
          this.lost(done.length);
          if (this.queued.length === 0 || !alone || !begin()) return;
          continue;
        }
        db.exec('ROLLBACK TO passerelle_tx');
        db.exec('RELEASE passerelle_tx');
      }
    }
    try {
      db.exec('COMMIT');
    } catch (err) {
      if (db.inTransaction) db.exec('ROLLBACK');
      for (const d of done) d.job.reject(err);
      this.lost(done.length);
      return;
    }
    if (++this.commits === CHECKPOINTER_AFTER && this.file !== ':memory:') {
      this.checkpointer = startCheckpointer(this.file);
      configureStoreWriter(db);
    }
    for (const d of done) {
      d.hooks.runAfter();
      d.job.resolve(d.result);
    }
  }

  private readonly lostListeners = new Set<(lost: number) => void>();

  onLostCommits(listener: (lost: number) => void): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  /** Completed callbacks of a group that did not commit: listeners drop what they learned inside it. */
  private lost(count: number): void {
    if (count === 0) return;
    for (const listener of this.lostListeners) {
      try {
        listener(count);
      } catch (err) {
        process.emitWarning(`store: a lost-commit listener failed: ${(err as Error).message}`);
      }
    }
  }

  /**
   * Bulk registry writing: holds the store's write lock until `release` (the store's other writes wait); the
   * batches go to a worker thread with its own connection (in this thread for `:memory:`).
   */
  async bulkRegistryLease(): Promise<BulkRegistryLease> {
    this.assertOpen();
    if (this.inTransaction.getStore() === this) throw new Error('store: a bulk registry lease cannot be taken inside a transaction');
    const unlock = await this.mutex.lock();
    let writer: RegistryBatchWriter;
    try {
      this.assertOpen();
      writer = this.file === ':memory:' ? inThreadRegistryWriter(this.writer.db) : workerRegistryWriter(this.file, this.busyTimeoutMs);
    } catch (err) {
      unlock();
      throw err;
    }
    let released = false;
    return {
      writer,
      registeredSources: async (keys) => {
        // One statement for the whole batch: the keys as a JSON array of [system, localId] pairs.
        const found = this.writer
          .prepare(
            `SELECT CAST(j.key AS INTEGER) AS i FROM json_each(?) j
             WHERE EXISTS (SELECT 1 FROM identity_sources s WHERE s.system = j.value ->> 0 AND s.local_id = j.value ->> 1)`,
          )
          .all(JSON.stringify(keys.map((k) => [k.system, k.localId]))) as { i: number }[];
        const out = new Array<boolean>(keys.length).fill(false);
        for (const { i } of found) out[i] = true;
        return out;
      },
      transaction: (fn) => {
        if (released) return Promise.reject(new Error('store: bulk registry lease already released'));
        return this.runTransaction(fn);
      },
      release: async () => {
        if (released) return;
        released = true;
        try {
          await writer.close();
        } finally {
          unlock();
        }
      },
    };
  }

  /** A whole transaction on its own (the bulk lease's), once the caller holds the write lock. */
  private async runTransaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    this.assertOpen();
    const db = this.writer.db;
    db.exec('BEGIN IMMEDIATE');
    let out: { result: T; hooks: CommitHooks };
    try {
      out = await this.runCallback(fn);
      db.exec('COMMIT');
    } catch (e) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw e;
    }
    out.hooks.runAfter();
    return out.result;
  }

  /** Runs `fn` on a StoreTransaction over the open SQLite transaction; the caller commits, then runs the after-commit hooks. */
  private async runCallback<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<{ result: T; hooks: CommitHooks }> {
    let active = true;
    const guard = (): void => {
      if (!active) throw new Error('StoreTransaction used after its transaction ended');
    };
    const w = this.writer;
    const hooks = commitHooks(guard);
    const tx: StoreTransaction = {
      read: async <R extends Resource = Resource>(type: string, id: string) => {
        guard();
        return readCurrent(w, type, id) as R | undefined;
      },
      put: async <R extends Resource>(resource: R, opts?: WriteOptions) => {
        guard();
        return this.writes.after(tx, putResource(w, resource, opts, this.now));
      },
      readMany: async <R extends Resource = Resource>(type: string, ids: readonly string[]) => {
        guard();
        return readCurrentMany(w, type, ids) as Map<string, R>;
      },
      putMany: async <R extends Resource>(resources: readonly R[]) => {
        guard();
        const results = putResources(w, resources, this.now);
        for (const r of results) await this.writes.after(tx, r);
        return results;
      },
      delete: async (type: string, id: string) => {
        guard();
        return deleteResource(w, type, id, this.now);
      },
      search: async (query: SearchQuery) => {
        guard();
        return search(w, query, this.driverMaxRows);
      },
      referrers: async (targetType: string, targetId: string, limit: number) => {
        guard();
        return referrers(w, targetType, targetId, limit);
      },
      audit: async (entry: AuditEntry) => {
        guard();
        insertAudit(w, entry, this.now);
      },
      identities: sqliteIdentityWriter(w, this.now, guard),
      outbox: sqliteOutboxWriter(w, this.now, guard),
      access: accessWriter(guarded(sqlRunner(w), guard), this.now),
      mssante: mssanteWriter(guarded(sqlRunner(w), guard)),
      links: pathwayLinkWriter(guarded(sqlRunner(w), guard)),
      pathway: pathwayWriter(guarded(sqlRunner(w), guard), 'sqlite'),
      identityAnomalies: identityAnomalyWriter(guarded(sqlRunner(w), guard), this.now),
      beforeCommit: hooks.beforeCommit,
      afterCommit: hooks.afterCommit,
    };
    try {
      const result = await this.inTransaction.run(this, async () => {
        const r = await fn(tx);
        await hooks.runBefore();
        return r;
      });
      return { result, hooks };
    } finally {
      active = false;
    }
  }

  /** Runs a short write in its own transaction (outbox bookkeeping), queued with the other transactions. */
  private async writeOp<T>(op: (c: Connection) => T): Promise<T> {
    this.assertOpen();
    if (this.inTransaction.getStore() === this) throw new Error('store: an outbox operation cannot run inside a transaction');
    const release = await this.mutex.lock();
    try {
      this.assertOpen();
      return this.writer.db.transaction(() => op(this.writer)).immediate();
    } finally {
      release();
    }
  }

  /** Runs a read on the reader connection; on `:memory:` (one connection) waits for running transactions. */
  private async readOp<T>(op: (c: Connection) => T): Promise<T> {
    this.assertOpen();
    if (this.reader !== this.writer || this.inTransaction.getStore() === this) return op(this.reader);
    const release = await this.mutex.lock();
    try {
      this.assertOpen();
      return op(this.reader);
    } finally {
      release();
    }
  }

  // --- reads -------------------------------------------------------------------------------------------

  read<T extends Resource = Resource>(resourceType: string, id: string): Promise<T | undefined> {
    return this.readOp((c) => readCurrent(c, resourceType, id) as T | undefined);
  }

  readJson(resourceType: string, ids: readonly string[]): Promise<Map<string, string>> {
    // No query for no ids (a $match without candidates): the IN list alone costs ~10 µs.
    if (ids.length === 0) return Promise.resolve(new Map());
    return this.readOp((c) => {
      // The ids as one JSON array parameter: one prepared statement whatever their number.
      const rows = c
        .prepare('SELECT id, json FROM resources WHERE type = ? AND id IN (SELECT value FROM json_each(?)) AND deleted = 0')
        .all(resourceType, JSON.stringify(ids)) as { id: string; json: string }[];
      return new Map(rows.map((r) => [r.id, r.json]));
    });
  }

  search(query: SearchQuery): Promise<SearchResult> {
    // count and page in one read transaction, so they agree.
    return this.readOp((c) => c.db.transaction(() => search(c, query, this.driverMaxRows))());
  }

  referrers(targetType: string, targetId: string, limit: number): Promise<ResourceKey[]> {
    return this.readOp((c) => referrers(c, targetType, targetId, limit));
  }

  vread(resourceType: string, id: string, versionId: string): Promise<StoredVersion | undefined> {
    return this.readOp((c) => {
      if (!/^\d{1,15}$/.test(versionId)) return undefined;
      const row = c
        .prepare('SELECT deleted, json FROM resource_versions WHERE type = ? AND id = ? AND version = ?')
        .get(resourceType, id, Number(versionId)) as { deleted: number; json: string } | undefined;
      return row && { resource: JSON.parse(row.json) as Resource, deleted: row.deleted === 1 };
    });
  }

  history(resourceType: string, id: string): Promise<StoredVersion[]> {
    return this.readOp((c) => {
      const rows = c
        .prepare('SELECT deleted, json FROM resource_versions WHERE type = ? AND id = ? ORDER BY version DESC')
        .all(resourceType, id) as { deleted: number; json: string }[];
      return rows.map((r) => ({ resource: JSON.parse(r.json) as Resource, deleted: r.deleted === 1 }));
    });
  }

  auditLog(filter: { entity?: string; limit?: number } = {}): Promise<AuditRecord[]> {
    const { sql, params } = auditQuery(filter);
    return this.readOp((c) => (c.prepare(sql).all(...params) as AuditRow<'text'>[]).map((r) => auditRecordOf(r, textColumns)));
  }

  async ping(): Promise<void> {
    await this.readOp((c) => c.prepare('SELECT 1').get());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const release = await this.mutex.lock();
    try {
      if (this.closed) return;
      this.closed = true;
      await this.checkpointer?.close();
      try {
        this.writer.db.pragma('optimize');
      } catch {
        // Statistics are a nicety; closing must not fail because of them.
      }
      if (this.reader !== this.writer) this.reader.db.close();
      this.writer.db.close();
    } finally {
      release();
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('The SQLite store is closed');
  }
}

// --- schema ----------------------------------------------------------------------------------------------

function migrate(db: Db, migrations: readonly Migration[], now: () => Date): void {
  checkMigrations(migrations);
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
  );
  const applied = db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all() as {
    version: number;
    name: string;
  }[];
  checkApplied(applied, migrations);
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const m of migrations.slice(applied.length)) {
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.version, m.name, now().toISOString());
    }).immediate();
  }
}

/**
 * Rebuilds the index rows of the types whose fingerprint changed since they were written (resource-rows.ts), one
 * transaction per batch; a crash midway leaves the type stale, so the next open starts it again. Returns the types
 * rebuilt.
 */
function rebuildStaleIndex(c: Connection, now: () => Date): string[] {
  const stale = staleIndexTypes(c.prepare('SELECT type, fingerprint FROM search_index_state').all() as { type: string; fingerprint: string }[]);
  if (stale.length === 0) return [];
  const used = (
    c
      .prepare('SELECT j.value AS t FROM json_each(?) j WHERE EXISTS (SELECT 1 FROM resources r WHERE r.type = j.value AND r.deleted = 0)')
      .all(JSON.stringify(stale)) as { t: string }[]
  ).map((r) => r.t);
  const batch = c.prepare(reindexBatch('deleted = 0'));
  const remove = c.prepare('DELETE FROM search_index WHERE type = ? AND id = ?');
  for (const type of used) {
    let after = '';
    for (;;) {
      const rows = c.db
        .transaction(() => {
          const found = batch.all(type, after) as { id: string; json: string }[];
          for (const r of found) {
            remove.run(type, r.id);
            replaceIndex(c, JSON.parse(r.json) as Resource, false);
          }
          return found;
        })
        .immediate();
      if (rows.length < REINDEX_BATCH) break;
      after = rows[rows.length - 1].id;
    }
  }
  const record = c.prepare(RECORD_INDEX_STATE);
  const at = now().toISOString();
  c.db.transaction(() => stale.forEach((t) => record.run(t, indexFingerprints().get(t), at))).immediate();
  return used;
}

// --- writes ----------------------------------------------------------------------------------------------

function readRow(c: Connection, type: string, id: string): ResourceRow<'text'> | undefined {
  return c.prepare('SELECT version, deleted, json FROM resources WHERE type = ? AND id = ?').get(type, id) as
    | ResourceRow<'text'>
    | undefined;
}

function readCurrent(c: Connection, type: string, id: string): Resource | undefined {
  const row = readRow(c, type, id);
  return row && row.deleted === 0 ? (JSON.parse(row.json) as Resource) : undefined;
}

function putResource<T extends Resource>(
  c: Connection,
  resource: T,
  options: WriteOptions | undefined,
  now: () => Date,
): { resource: T; created: boolean; changed: boolean } {
  const { type, id } = resourceKeyOf(resource);
  const plan = planWrite(type, id, resource, readRow(c, type, id), textColumns, options, now);
  if (plan.write) {
    const { version, lastUpdated, json, replacing } = plan.write;
    writeVersion(c, type, id, version, lastUpdated, false, json);
    replaceIndex(c, plan.result.resource, replacing);
  }
  return plan.result;
}

function deleteResource(c: Connection, type: string, id: string, now: () => Date): boolean {
  const marker = planDelete(type, id, readRow(c, type, id), textColumns, now);
  if (!marker) return false;
  writeVersion(c, type, id, marker.version, marker.lastUpdated, true, marker.json);
  c.prepare('DELETE FROM search_index WHERE type = ? AND id = ?').run(type, id);
  return true;
}

function writeVersion(
  c: Connection,
  type: string,
  id: string,
  version: number,
  lastUpdated: string,
  deleted: boolean,
  json: string,
): void {
  const d = deleted ? 1 : 0;
  c.prepare(
    `INSERT INTO resources (type, id, version, last_updated, deleted, json) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (type, id) DO UPDATE SET version = excluded.version, last_updated = excluded.last_updated,
       deleted = excluded.deleted, json = excluded.json`,
  ).run(type, id, version, lastUpdated, d, json);
  c.prepare(
    'INSERT INTO resource_versions (type, id, version, last_updated, deleted, json) VALUES (?, ?, ?, ?, ?, ?)',
  ).run(type, id, version, lastUpdated, d, json);
}

/**
 * Makes the resource's index rows those of `resource`. A resource that had no live version has none to
 * remove; otherwise only the rows that differ are deleted and inserted (an update usually keeps most).
 */
function replaceIndex(c: Connection, resource: Resource, hadRows: boolean): void {
  const type = resource.resourceType;
  const id = resource.id as string;
  const wanted = extractIndexValues(resource);
  const insert = c.prepare(
    'INSERT INTO search_index (type, id, param, system, value, date_start, date_end) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  if (!hadRows) {
    for (const row of wanted) insert.run(type, id, row.param, row.system, row.value, row.start, row.end);
    return;
  }
  const existing = c
    .prepare('SELECT rowid AS rid, param, system, value, date_start, date_end FROM search_index WHERE type = ? AND id = ?')
    .all(type, id) as StoredIndexRow<number>[];
  const { stale, missing } = indexChanges(existing, wanted);
  const remove = c.prepare('DELETE FROM search_index WHERE rowid = ?');
  for (const rid of stale) remove.run(rid);
  for (const row of missing) insert.run(type, id, row.param, row.system, row.value, row.start, row.end);
}

// --- bulk writes (tx.readMany, tx.putMany) -----------------------------------------------------------------

/** Rows per multi-row INSERT of `putResources`: full chunks share one prepared statement, the remainder goes row by row. */
const BULK_ROWS = 100;

/** Index rows ([type, id, param, system, value, …]) in search_index_value's key order: type, param, value, system, id. */
function compareIndexRows(a: unknown[], b: unknown[]): number {
  for (const i of [0, 2, 4, 3, 1]) {
    const x = a[i] as string | null;
    const y = b[i] as string | null;
    if (x === y) continue;
    if (x === null) return -1;
    if (y === null) return 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

/** The current rows of `ids` of one type, by id: one statement (the ids as a JSON array). */
function readRows(c: Connection, type: string, ids: readonly string[]): Map<string, ResourceRow<'text'>> {
  if (ids.length === 0) return new Map();
  const rows = c
    .prepare('SELECT j.value AS id, r.version, r.deleted, r.json FROM json_each(?) j CROSS JOIN resources r WHERE r.type = ? AND r.id = j.value')
    .all(JSON.stringify(ids), type) as (ResourceRow<'text'> & { id: string })[];
  return new Map(rows.map((r) => [r.id, r]));
}

function readCurrentMany(c: Connection, type: string, ids: readonly string[]): Map<string, Resource> {
  const out = new Map<string, Resource>();
  for (const [id, row] of readRows(c, type, ids)) if (row.deleted === 0) out.set(id, JSON.parse(row.json) as Resource);
  return out;
}

/** `INSERT head VALUES (…)…tail` of every row (each `width` values), BULK_ROWS rows per statement. */
function insertRows(c: Connection, head: string, width: number, rows: readonly unknown[][], tail = ''): void {
  const one = `(${new Array<string>(width).fill('?').join(', ')})`;
  let at = 0;
  if (rows.length >= BULK_ROWS) {
    const many = c.prepare(`${head} VALUES ${new Array<string>(BULK_ROWS).fill(one).join(', ')}${tail}`);
    for (; at + BULK_ROWS <= rows.length; at += BULK_ROWS) many.run(rows.slice(at, at + BULK_ROWS).flat());
  }
  if (at === rows.length) return;
  const single = c.prepare(`${head} VALUES ${one}${tail}`);
  for (; at < rows.length; at++) single.run(rows[at]);
}

/**
 * `putResource` of each resource, planned the same way (`planWrite`), its current rows read in one statement per type
 * and its new rows written with multi-row statements. A resource that was live has its index rows replaced as `put`
 * does; a new one gets its rows inserted with the others.
 */
function putResources<T extends Resource>(c: Connection, resources: readonly T[], now: () => Date): { resource: T; created: boolean; changed: boolean }[] {
  const keys = resources.map((r) => resourceKeyOf(r));
  const byType = new Map<string, string[]>();
  for (const { type, id } of keys) {
    const ids = byType.get(type) ?? [];
    ids.push(id);
    byType.set(type, ids);
  }
  const current = new Map<string, ResourceRow<'text'> | undefined>();
  for (const [type, ids] of byType) {
    const rows = readRows(c, type, ids);
    for (const id of ids) {
      const key = `${type}/${id}`;
      if (current.has(key)) throw new Error(`putMany: ${key} appears twice`);
      current.set(key, rows.get(id));
    }
  }
  const versions: unknown[][] = [];
  const index: unknown[][] = [];
  const replaced: Resource[] = [];
  const results = resources.map((resource, i) => {
    const { type, id } = keys[i];
    const plan = planWrite(type, id, resource, current.get(`${type}/${id}`), textColumns, undefined, now);
    if (plan.write) {
      const { version, lastUpdated, json, replacing } = plan.write;
      versions.push([type, id, version, lastUpdated, 0, json]);
      if (replacing) replaced.push(plan.result.resource);
      else for (const row of extractIndexValues(plan.result.resource)) index.push([type, id, row.param, row.system, row.value, row.start, row.end]);
    }
    return plan.result;
  });
  insertRows(
    c,
    'INSERT INTO resources (type, id, version, last_updated, deleted, json)',
    6,
    versions,
    ` ON CONFLICT (type, id) DO UPDATE SET version = excluded.version, last_updated = excluded.last_updated,
       deleted = excluded.deleted, json = excluded.json`,
  );
  insertRows(c, 'INSERT INTO resource_versions (type, id, version, last_updated, deleted, json)', 6, versions);
  // In the order of the widest index (search_index_value): its pages are then visited once each, in turn, rather than
  // at random for every row (the order of the rows is not otherwise observable).
  index.sort((a, b) => compareIndexRows(a, b));
  insertRows(c, 'INSERT INTO search_index (type, id, param, system, value, date_start, date_end)', 7, index);
  for (const r of replaced) replaceIndex(c, r, true);
  return results;
}

/**
 * A `SqlRunner` over a connection. better-sqlite3 is synchronous: each statement has run when the promise is made,
 * so a caller inside `writeOp` (which must not await between statements) can chain them synchronously.
 */
function sqlRunner(c: Connection): SqlRunner {
  return {
    all: <R>(sql: string, params: readonly unknown[]) => Promise.resolve(c.prepare(sql).all(...params) as R[]),
    run: (sql: string, params: readonly unknown[]) => Promise.resolve(c.prepare(sql).run(...params).changes),
  };
}

function guarded(run: SqlRunner, guard: () => void): SqlRunner {
  return {
    all: (sql, params) => (guard(), run.all(sql, params)),
    run: (sql, params) => (guard(), run.run(sql, params)),
  };
}

/** One audit row, chained to the last one (the caller holds the write lock, inside a transaction). */
function insertAudit(c: Connection, entry: AuditEntry, now: () => Date): void {
  const content = contentOf(auditWho(entry), now().toISOString());
  const hash = nextHash(c.prepare(LAST_AUDIT_HASH).get() as { hash: string | null } | undefined, content);
  const info = c
    .prepare(`INSERT INTO audit (${INSERT_AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
    .run(...insertValues(content, hash, JSON.stringify(content.entities)));
  const link = c.prepare('INSERT OR IGNORE INTO audit_entities (entity, audit_id) VALUES (?, ?)');
  for (const entity of content.entities) link.run(entity, info.lastInsertRowid);
}

// --- search ----------------------------------------------------------------------------------------------
//
// SQLite has no statistics on our index values, so the plan is chosen here, per query (search-sql.ts writes the
// SQL). A predicate backed by search_index is either a *driver* (`r.id IN (subquery)`: fetch the few matching
// resources by key, then sort them) or a *filter* (correlated `EXISTS`: walk the type's resources newest first and
// stop once the page is full). A driver wins when it matches few rows (`patient=…`, `identifier=…`), a filter when
// it matches many (`status=active`); a capped count of each predicate's index rows decides. Every table access is
// pinned with INDEXED BY, so the plan does not depend on whether ANALYZE statistics exist yet.

const dialect: SearchDialect = {
  live: (alias) => `${alias}.deleted = 0`,
  indexedBy: (index) => ` INDEXED BY ${index}`,
  numberedPlaceholders: false,
  indexSystem: (system) => system,
  indexValue: (value) => value,
  leadingValueIn: true,
  sortCollation: '',
  contains: (column) => `instr(${column}, ?) > 0`,
};

function search(c: Connection, query: SearchQuery, driverMaxRows: number): SearchResult {
  const compiled = compileSearch(query, dialect);
  // Choose the driver: `_id`, else the positive index predicate with the fewest rows, if few enough.
  let driver: CompiledPredicate | undefined;
  let driverRows = driverMaxRows + 1;
  if (!compiled.byId) {
    for (const p of compiled.predicates) {
      if (!p.driver) continue;
      const probe = p.driver.probe(driverMaxRows + 1);
      const { n } = c.prepare(probe.sql).get(...probe.params) as { n: number };
      if (n === 0) return { resources: [], ...(query.total ? { total: 0 } : {}) };
      if (n < driverRows) {
        driver = p;
        driverRows = n;
      }
    }
  }
  // The total reads every match: through the index rows of a predicate rather than a walk of the type.
  const countDriver = driver ?? (compiled.byId ? undefined : compiled.predicates.find((p) => p.driver));
  const { page, count } = searchStatements(compiled, query, dialect, driver, countDriver);
  const result: SearchResult = { resources: [] };
  if (page) result.resources = (c.prepare(page.sql).all(...page.params) as { json: string }[]).map((r) => JSON.parse(r.json) as Resource);
  if (count) result.total = (c.prepare(count.sql).get(...count.params) as { n: number }).n;
  return result;
}

/** The live resources referring to `targetType/targetId` (search-sql.ts `referrersStatement`). */
function referrers(c: Connection, targetType: string, targetId: string, limit: number): ResourceKey[] {
  const { sql, params } = referrersStatement(targetType, targetId, limit, dialect);
  return c.prepare(sql).all(...params) as ResourceKey[];
}
