// The embedded storage dialect: one SQLite file through better-sqlite3, in WAL mode. better-sqlite3 is
// synchronous, so write transactions are serialised in-process by an async mutex; reads outside a
// transaction use a second, read-only connection so they never see another request's uncommitted writes.
import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Resource } from '@medplum/fhirtypes';
import {
  dateCriterion,
  extractIndexValues,
  getSearchParam,
  isResourceType,
  referenceCriterion,
  tokenCriterion,
  uriCriterion,
  type SearchParamDefinition,
  type SearchPredicate,
} from '../fhir/search-params.js';
import { conflict, invalid } from '../fhir/outcome.js';
import { checkMigrations, type Migration } from './migrations/migration.js';
import { sqliteMigrations } from './migrations/sqlite/index.js';
import type { IdentityRepository } from './identity-repository.js';
import { sqliteIdentityRepository, sqliteIdentityWriter } from './sqlite-identity-repository.js';
import type { OutboxRepository } from './outbox-repository.js';
import { sqliteOutboxRepository, sqliteOutboxWriter } from './sqlite-outbox-repository.js';
import type {
  AuditEntry,
  AuditRecord,
  ResourceStore,
  SearchQuery,
  SearchResult,
  StoredVersion,
  StoreTransaction,
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

const ID_RE = /^[A-Za-z0-9\-.]{1,64}$/;
const AUDIT_DEFAULT_LIMIT = 100;
const AUDIT_MAX_LIMIT = 1000;
/** Index rows up to which a predicate drives a search (default of `SqliteStoreOptions.driverMaxRows`). */
const DRIVER_MAX_ROWS = 1000;
/** Page cache per connection, in KiB (SQLite's default is 2 MiB). */
const CACHE_KIB = 64 * 1024;
/** WAL pages after which a commit checkpoints (SQLite's default is 1000). */
const WAL_AUTOCHECKPOINT_PAGES = 16_384;

type Db = Database.Database;
type Statement = Database.Statement<unknown[], unknown>;

interface ResourceRow {
  version: number;
  deleted: number;
  json: string;
}

interface AuditRow {
  id: number;
  recorded: string;
  action: string;
  actor: string;
  entities: string;
  outcome: 'success' | 'failure';
  detail: string | null;
  request_id: string | null;
}

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

/** After-commit hooks: the data is committed, so a failing hook is reported and the others still run. */
export function runAfterCommit(hooks: readonly (() => void)[]): void {
  for (const hook of hooks) {
    try {
      hook();
    } catch (err) {
      process.emitWarning(`store: after-commit hook failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
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
  /** Set while a transaction callback runs, to refuse nested `transaction()` calls instead of deadlocking. */
  private readonly inTransaction = new AsyncLocalStorage<SqliteStore>();
  private closed = false;
  readonly identities: IdentityRepository;
  readonly outbox: OutboxRepository;

  private constructor(
    private readonly writer: Connection,
    /** Same object as `writer` for `:memory:` databases, whose reads then queue behind the mutex. */
    private readonly reader: Connection,
    private readonly now: () => Date,
    private readonly driverMaxRows: number,
  ) {
    this.identities = sqliteIdentityRepository((op) => this.readOp(op));
    this.outbox = sqliteOutboxRepository({ read: (op) => this.readOp(op), write: (op) => this.writeOp(op) }, this.now);
  }

  static open(options: SqliteStoreOptions): SqliteStore {
    const memory = options.file === ':memory:';
    if (!memory) mkdirSync(dirname(options.file), { recursive: true });
    const busy = options.busyTimeoutMs ?? 5000;
    const now = options.now ?? (() => new Date());
    const db = new Database(options.file);
    try {
      db.pragma(`busy_timeout = ${busy}`);
      if (!memory) db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      db.pragma('temp_store = MEMORY');
      // A bulk write touches index pages all over the file: keep them in the page cache (default 2 MiB).
      db.pragma(`cache_size = -${CACHE_KIB}`);
      // Checkpoint every ~64 MiB of WAL rather than every 4 MiB: a page rewritten by several batch
      // transactions is copied back to the database once. Durability is unchanged (WAL + synchronous=NORMAL).
      if (!memory) db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
      migrate(db, sqliteMigrations, now);
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
    return new SqliteStore(writer, reader, now, options.driverMaxRows ?? DRIVER_MAX_ROWS);
  }

  // --- transactions ------------------------------------------------------------------------------------

  async transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    this.assertOpen();
    if (this.inTransaction.getStore() === this) {
      throw new Error('Nested store.transaction(): use the StoreTransaction passed to the outer callback');
    }
    const release = await this.mutex.lock();
    try {
      this.assertOpen();
      const db = this.writer.db;
      db.exec('BEGIN IMMEDIATE');
      let active = true;
      const guard = (): void => {
        if (!active) throw new Error('StoreTransaction used after its transaction ended');
      };
      const w = this.writer;
      const before: (() => Promise<void>)[] = [];
      const after: (() => void)[] = [];
      const tx: StoreTransaction = {
        read: async <R extends Resource = Resource>(type: string, id: string) => {
          guard();
          return readCurrent(w, type, id) as R | undefined;
        },
        put: async <R extends Resource>(resource: R, opts?: WriteOptions) => {
          guard();
          return putResource(w, resource, opts, this.now);
        },
        delete: async (type: string, id: string) => {
          guard();
          return deleteResource(w, type, id, this.now);
        },
        search: async (query: SearchQuery) => {
          guard();
          return search(w, query, this.driverMaxRows);
        },
        audit: async (entry: AuditEntry) => {
          guard();
          insertAudit(w, entry, this.now);
        },
        identities: sqliteIdentityWriter(w, this.now, guard),
        outbox: sqliteOutboxWriter(w, this.now, guard),
        beforeCommit: (hook) => {
          guard();
          before.push(hook);
        },
        afterCommit: (hook) => {
          guard();
          after.push(hook);
        },
      };
      let result: T;
      try {
        result = await this.inTransaction.run(this, async () => {
          const r = await fn(tx);
          for (let i = 0; i < before.length; i++) await before[i]();
          return r;
        });
        active = false;
        db.exec('COMMIT');
      } catch (e) {
        active = false;
        if (db.inTransaction) db.exec('ROLLBACK');
        throw e;
      }
      runAfterCommit(after);
      return result;
    } finally {
      release();
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

  search(query: SearchQuery): Promise<SearchResult> {
    // count and page in one read transaction, so they agree.
    return this.readOp((c) => c.db.transaction(() => search(c, query, this.driverMaxRows))());
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
    return this.readOp((c) => {
      const wanted = Number.isFinite(filter.limit) ? Math.trunc(filter.limit as number) : AUDIT_DEFAULT_LIMIT;
      const limit = Math.max(1, Math.min(wanted, AUDIT_MAX_LIMIT));
      const rows = (
        filter.entity === undefined
          ? c.prepare('SELECT * FROM audit ORDER BY id DESC LIMIT ?').all(limit)
          : c
              .prepare(
                'SELECT a.* FROM audit_entities e JOIN audit a ON a.id = e.audit_id WHERE e.entity = ? ORDER BY a.id DESC LIMIT ?',
              )
              .all(filter.entity, limit)
      ) as AuditRow[];
      return rows.map(
        (r): AuditRecord => ({
          id: r.id,
          recorded: r.recorded,
          action: r.action,
          actor: r.actor,
          entities: JSON.parse(r.entities) as string[],
          outcome: r.outcome,
          ...(r.detail !== null ? { detail: r.detail } : {}),
          ...(r.request_id !== null ? { requestId: r.request_id } : {}),
        }),
      );
    });
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
  applied.forEach((row, i) => {
    const known = migrations[i];
    if (row.version !== i + 1 || !known) {
      throw new Error(
        `Database schema version ${row.version} is unknown to this Passerelle (it knows 1–${migrations.length}); upgrade Passerelle`,
      );
    }
    if (known.name !== row.name) {
      throw new Error(`Database migration ${row.version} is "${row.name}" but this Passerelle calls it "${known.name}"`);
    }
  });
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const m of migrations.slice(applied.length)) {
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.version, m.name, now().toISOString());
    }).immediate();
  }
}

// --- writes ----------------------------------------------------------------------------------------------

function readRow(c: Connection, type: string, id: string): ResourceRow | undefined {
  return c.prepare('SELECT version, deleted, json FROM resources WHERE type = ? AND id = ?').get(type, id) as
    | ResourceRow
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
  const type = resource.resourceType;
  const id = resource.id;
  if (typeof type !== 'string' || !isResourceType(type)) throw invalid(`Unknown resource type "${String(type)}"`, 'resourceType');
  if (typeof id !== 'string' || !ID_RE.test(id)) throw invalid(`${type}: invalid or missing id "${String(id ?? '')}"`, `${type}.id`);
  const current = readRow(c, type, id);
  if (options?.ifMatchVersion !== undefined && String(current?.version) !== options.ifMatchVersion) {
    throw conflict(
      current
        ? `${type}/${id} is at version ${current.version}, not ${options.ifMatchVersion}`
        : `${type}/${id} does not exist (If-Match version ${options.ifMatchVersion})`,
    );
  }
  // Normalise as JSON (drops undefined, turns Dates into strings) before comparing and storing.
  const { resourceType: _t, id: _i, meta, ...rest } = JSON.parse(JSON.stringify(resource)) as T;
  if (current && current.deleted === 0) {
    const previous = JSON.parse(current.json) as T;
    if (contentKey(previous) === contentKey({ resourceType: type, id, meta, ...rest } as T)) {
      return { resource: previous, created: false, changed: false };
    }
  }
  const version = (current?.version ?? 0) + 1;
  const lastUpdated = now().toISOString();
  const stored = {
    resourceType: type,
    id,
    meta: { ...meta, versionId: String(version), lastUpdated },
    ...rest,
  } as T;
  const json = JSON.stringify(stored);
  writeVersion(c, type, id, version, lastUpdated, false, json);
  // A deleted resource's rows were removed with it; a new one has none.
  replaceIndex(c, stored, current !== undefined && current.deleted === 0);
  return { resource: stored, created: !current || current.deleted === 1, changed: true };
}

function deleteResource(c: Connection, type: string, id: string, now: () => Date): boolean {
  const current = readRow(c, type, id);
  if (!current || current.deleted === 1) return false;
  const version = current.version + 1;
  const lastUpdated = now().toISOString();
  const marker = { resourceType: type, id, meta: { versionId: String(version), lastUpdated } };
  writeVersion(c, type, id, version, lastUpdated, true, JSON.stringify(marker));
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
    .all(type, id) as { rid: number; param: string; system: string; value: string | null; date_start: string | null; date_end: string | null }[];
  const keyOf = (param: string, system: string, value: string | null, start: string | null, end: string | null): string =>
    JSON.stringify([param, system, value, start, end]);
  const current = new Map<string, number[]>();
  for (const r of existing) {
    const k = keyOf(r.param, r.system, r.value, r.date_start, r.date_end);
    const list = current.get(k);
    if (list) list.push(r.rid);
    else current.set(k, [r.rid]);
  }
  const missing: typeof wanted = [];
  for (const row of wanted) {
    const k = keyOf(row.param, row.system, row.value, row.start, row.end);
    const list = current.get(k);
    if (list && list.length > 0) list.pop();
    else missing.push(row);
  }
  const remove = c.prepare('DELETE FROM search_index WHERE rowid = ?');
  for (const list of current.values()) for (const rid of list) remove.run(rid);
  for (const row of missing) insert.run(type, id, row.param, row.system, row.value, row.start, row.end);
}

function insertAudit(c: Connection, entry: AuditEntry, now: () => Date): void {
  const info = c
    .prepare(
      'INSERT INTO audit (recorded, action, actor, entities, outcome, detail, request_id) VALUES (?, ?, ?, ?, ?, ?, ?)',
    )
    .run(
      now().toISOString(),
      entry.action,
      entry.actor,
      JSON.stringify(entry.entities),
      entry.outcome,
      entry.detail ?? null,
      entry.requestId ?? null,
    );
  const link = c.prepare('INSERT OR IGNORE INTO audit_entities (entity, audit_id) VALUES (?, ?)');
  for (const entity of entry.entities) link.run(entity, info.lastInsertRowid);
}

/** Resource content without `meta.versionId` / `meta.lastUpdated`, with sorted keys: equal content ⇔ equal key. */
function contentKey(resource: Resource): string {
  const { meta, ...rest } = resource;
  let kept: Record<string, unknown> | undefined;
  if (meta) {
    const { versionId: _v, lastUpdated: _l, ...others } = meta;
    if (Object.keys(others).length > 0) kept = others;
  }
  return canonicalJson(kept ? { ...rest, meta: kept } : rest);
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

// --- search ----------------------------------------------------------------------------------------------
//
// SQLite has no statistics on our index values, so the plan is chosen here, per query. A predicate backed
// by search_index is either a *driver* (`r.id IN (subquery)`: fetch the few matching resources by key,
// then sort them) or a *filter* (correlated `EXISTS`: walk the type's resources newest first and stop once
// the page is full). A driver wins when it matches few rows (`patient=…`, `identifier=…`), a filter when it
// matches many (`status=active`); a capped count of each predicate's index rows decides. Every table access
// is pinned with INDEXED BY, so the plan does not depend on whether ANALYZE statistics exist yet.

interface CompiledPredicate {
  /** SQL on `r` when the predicate reads resource columns; else undefined. */
  column?: string;
  /** A positive `_id` predicate: the query is fetched by key. */
  byId?: boolean;
  /** For index predicates: the condition on `s`, and the index that serves it across resources. */
  match?: string;
  index?: 'search_index_value' | 'search_index_date';
  param: string;
  negate: boolean;
  params: unknown[];
}

function search(c: Connection, query: SearchQuery, driverMaxRows: number): SearchResult {
  if (!Number.isSafeInteger(query.count) || query.count < 0) throw invalid(`_count: invalid value ${query.count}`, '_count');
  if (!Number.isSafeInteger(query.offset) || query.offset < 0) throw invalid(`_offset: invalid value ${query.offset}`, '_offset');
  const type = query.resourceType;
  const compiled: CompiledPredicate[] = [];
  for (const p of query.predicates) {
    const def = getSearchParam(type, p.param);
    if (!def) throw invalid(`Unknown search parameter "${p.param}" for ${type}`, p.param);
    if (p.values.length > 0) compiled.push(compile(def, p));
  }

  // Choose the driver: `_id`, else the positive index predicate with the fewest rows, if few enough.
  const byId = compiled.some((p) => p.byId);
  let driver: CompiledPredicate | undefined;
  let driverRows = driverMaxRows + 1;
  if (!byId) {
    for (const p of compiled) {
      if (p.match === undefined || p.negate) continue;
      const { n } = c
        .prepare(
          `SELECT count(*) AS n FROM (SELECT 1 FROM search_index s INDEXED BY ${p.index} WHERE s.type = ? AND s.param = ? AND (${p.match}) LIMIT ${driverMaxRows + 1})`,
        )
        .get(type, p.param, ...p.params) as { n: number };
      if (n === 0) return { resources: [], ...(query.total ? { total: 0 } : {}) };
      if (n < driverRows) {
        driver = p;
        driverRows = n;
      }
    }
  }

  const parts = ['r.type = ?', 'r.deleted = 0'];
  const params: unknown[] = [type];
  for (const p of compiled) {
    if (p.column !== undefined) {
      parts.push(p.column);
    } else if (p === driver) {
      parts.push(`r.id IN (SELECT s.id FROM search_index s INDEXED BY ${p.index} WHERE s.type = ? AND s.param = ? AND (${p.match}))`);
      params.push(type, p.param);
    } else {
      // INDEXED BY: without statistics SQLite would rather walk the value index, i.e. every matching row.
      parts.push(
        `${p.negate ? 'NOT EXISTS' : 'EXISTS'} (SELECT 1 FROM search_index s INDEXED BY search_index_resource ` +
          `WHERE s.type = r.type AND s.id = r.id AND s.param = ? AND (${p.match}))`,
      );
      params.push(p.param);
    }
    params.push(...p.params);
  }
  const where = parts.join(' AND ');
  // Driven: fetch by key, then sort the few rows. Otherwise: walk the type newest first.
  const from = `resources r INDEXED BY ${byId || driver ? 'resources_key' : 'resources_live_by_updated'}`;
  const result: SearchResult = { resources: [] };
  if (query.count > 0) {
    const rows = c
      .prepare(`SELECT r.json FROM ${from} WHERE ${where} ORDER BY r.last_updated DESC, r.id LIMIT ? OFFSET ?`)
      .all(...params, query.count, query.offset) as { json: string }[];
    result.resources = rows.map((r) => JSON.parse(r.json) as Resource);
  }
  if (query.total) {
    result.total = (c.prepare(`SELECT count(*) AS n FROM ${from} WHERE ${where}`).get(...params) as { n: number }).n;
  }
  return result;
}

const placeholders = (n: number): string => Array.from({ length: n }, () => '?').join(', ');

function compile(def: SearchParamDefinition, p: SearchPredicate): CompiledPredicate {
  const params: unknown[] = [];
  const negate = p.prefix === 'ne';
  if (def.column === 'id') {
    params.push(...p.values);
    return {
      column: `r.id ${negate ? 'NOT IN' : 'IN'} (${placeholders(p.values.length)})`,
      byId: !negate,
      param: def.code,
      negate,
      params,
    };
  }
  if (def.column === 'lastUpdated') {
    const alternatives = p.values.map((v) => {
      const { start, end } = dateCriterion(def.code, v);
      switch (p.prefix) {
        case 'eq':
          params.push(start, end);
          return '(r.last_updated >= ? AND r.last_updated < ?)';
        case 'ne':
          params.push(start, end);
          return '(r.last_updated < ? OR r.last_updated >= ?)';
        case 'lt':
          params.push(start);
          return 'r.last_updated < ?';
        case 'le':
          params.push(end);
          return 'r.last_updated < ?';
        case 'gt':
          params.push(end);
          return 'r.last_updated >= ?';
        case 'ge':
          params.push(start);
          return 'r.last_updated >= ?';
      }
    });
    return { column: `(${alternatives.join(' OR ')})`, param: def.code, negate: false, params };
  }
  const alternatives: string[] = [];
  if (def.type === 'date') {
    for (const v of p.values) {
      const { start, end } = dateCriterion(def.code, v);
      switch (p.prefix) {
        case 'eq':
        case 'ne': // NOT EXISTS of the `eq` match
          alternatives.push('(s.date_start >= ? AND s.date_end <= ?)');
          params.push(start, end);
          break;
        case 'lt':
          alternatives.push('s.date_start < ?');
          params.push(start);
          break;
        case 'le':
          alternatives.push('s.date_start < ?');
          params.push(end);
          break;
        case 'gt':
          alternatives.push('s.date_end > ?');
          params.push(end);
          break;
        case 'ge':
          alternatives.push('s.date_end > ?');
          params.push(start);
          break;
      }
    }
    return {
      match: `s.date_start IS NOT NULL AND (${alternatives.join(' OR ')})`,
      index: 'search_index_date',
      param: def.code,
      negate,
      params,
    };
  }
  const codesOnly: string[] = [];
  const allCodes: string[] = [];
  for (const v of p.values) {
    let system: string | undefined;
    let code: string | undefined;
    if (def.type === 'reference') {
      const ref = referenceCriterion(def, v);
      system = ref.type;
      code = ref.id;
    } else if (def.type === 'uri') {
      code = uriCriterion(v);
    } else {
      ({ system, code } = tokenCriterion(v));
    }
    if (code !== undefined) allCodes.push(code);
    if (system !== undefined && code !== undefined) {
      alternatives.push('(s.value = ? AND s.system = ?)');
      params.push(code, system);
    } else if (code !== undefined) {
      codesOnly.push(code);
    } else {
      alternatives.push('s.system = ?');
      params.push(system);
    }
  }
  if (codesOnly.length > 0) {
    alternatives.push(codesOnly.length === 1 ? 's.value = ?' : `s.value IN (${placeholders(codesOnly.length)})`);
    params.push(...codesOnly);
  }
  let match = alternatives.join(' OR ');
  if (alternatives.length > 1 && allCodes.length === p.values.length) {
    // Several `system|code` alternatives: a leading IN on the value keeps the lookup on the index.
    match = `s.value IN (${placeholders(allCodes.length)}) AND (${match})`;
    params.unshift(...allCodes);
  }
  return { match, index: 'search_index_value', param: def.code, negate, params };
}
