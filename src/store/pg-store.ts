// The PostgreSQL storage dialect, for several gateway processes on one database. A transaction is one pooled
// client between BEGIN and COMMIT; reads outside transactions go through the pool, so they only see committed rows.
// Writers do not lose updates across processes: a read or write of a resource inside a transaction locks its row
// until the end (SELECT … FOR UPDATE), and registry writers are ordered by the identity_seq row lock and, from
// `lockRegistry()` on, by a transaction-scoped advisory lock.
import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import type { PoolClient, QueryResultRow } from 'pg';
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
import { pgMigrations } from './migrations/pg/index.js';
import type { IdentityRepository } from './identity-repository.js';
import { pgIdentityRepository, pgIdentityWriter, type PgQuery } from './pg-identity-repository.js';
import type { OutboxRepository } from './outbox-repository.js';
import { pgOutboxRepository, pgOutboxWriter } from './pg-outbox-repository.js';
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

export interface PgStoreOptions {
  /** `postgres://user:password@host:port/database` (libpq-style parameters such as `sslmode` are understood). */
  url: string;
  /** Schema holding the tables (created if missing); default: the connection's search_path (usually `public`). */
  schema?: string;
  /** Clock for `meta.lastUpdated` and audit timestamps; tests inject one. */
  now?: () => Date;
  /** Connections in the pool. Default 10. */
  poolSize?: number;
  /** Apply pending migrations at open (default). When false, opening fails while migrations are pending. */
  migrate?: boolean;
}

/** The store, plus what opening found and did to the schema. */
export interface PgStore extends ResourceStore {
  readonly schemaInfo: SchemaInfo;
}

export interface SchemaInfo {
  /** Schema version after opening (the last migration this Passerelle knows). */
  version: number;
  /** Versions applied by this open (empty when the schema was current). */
  applied: number[];
}

export async function openPgStore(options: PgStoreOptions): Promise<PgStore> {
  return PgStoreImpl.open(options);
}

const ID_RE = /^[A-Za-z0-9\-.]{1,64}$/;
const AUDIT_DEFAULT_LIMIT = 100;
const AUDIT_MAX_LIMIT = 1000;
const DEFAULT_POOL_SIZE = 10;
/**
 * Advisory lock classes (first key of the two-key form; the second is a hash of the schema name, so stores in
 * different schemas of one database do not wait for each other).
 */
const LOCK_MIGRATIONS = 0x7061_0001;
const LOCK_REGISTRY = 0x7061_0002;

/** bigint (count(*), seq, audit ids) as a JS number: every value we store stays far below 2^53. */
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8_OID && format !== 'binary'
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

interface ResourceRow {
  version: number;
  deleted: boolean;
  json: Resource;
}

interface AuditRow {
  id: number;
  recorded: string;
  action: string;
  actor: string;
  entities: string[];
  outcome: 'success' | 'failure';
  detail: string | null;
  request_id: string | null;
}

/** `"name"` with embedded quotes doubled. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The URL with its password replaced by `***`, for logs and error messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/([^/@:]*):[^/@]*@/, '//$1:***@');
  }
}

/** After-commit hooks: the data is committed, so a failing hook is reported and the others still run. */
function runAfterCommit(hooks: readonly (() => void)[]): void {
  for (const hook of hooks) {
    try {
      hook();
    } catch (err) {
      process.emitWarning(`store: after-commit hook failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

/**
 * Statements on one client, one at a time: a transaction's callback may start several at once (Promise.all), and
 * the driver only queues them with a deprecation warning.
 */
function queryOn(client: { query: PoolClient['query'] }): PgQuery {
  let tail: Promise<unknown> = Promise.resolve();
  return <R extends QueryResultRow>(sql: string, params?: readonly unknown[]) => {
    const run = tail.then(() => client.query<R>(sql, params as unknown[] | undefined));
    tail = run.catch(() => undefined);
    return run;
  };
}

const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,62}$/;

/** The URL with `-c search_path=<schema>` added to its startup options, so every connection starts in the schema. */
function withSearchPath(url: string, schema: string): string {
  if (!SCHEMA_RE.test(schema)) throw new Error(`PostgreSQL schema "${schema}": expected lower-case letters, digits and _`);
  const u = new URL(url);
  const options = u.searchParams.get('options');
  u.searchParams.set('options', `${options ? `${options} ` : ''}-c search_path=${schema}`);
  return u.toString();
}

class PgStoreImpl implements PgStore {
  /** Set while a transaction callback runs, to refuse nested `transaction()` calls instead of deadlocking. */
  private readonly inTransaction = new AsyncLocalStorage<PgStoreImpl>();
  private closed = false;
  readonly identities: IdentityRepository;
  readonly outbox: OutboxRepository;
  /** Pool reads: refused once closed. */
  private readonly q: PgQuery;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly now: () => Date,
    /** Second key of the registry's advisory lock (hash of the schema name). */
    private readonly schemaKey: number,
    readonly schemaInfo: SchemaInfo,
  ) {
    this.q = async (sql, params) => {
      this.assertOpen();
      return this.pool.query(sql, params as unknown[] | undefined);
    };
    this.identities = pgIdentityRepository(this.q);
    this.outbox = pgOutboxRepository({ query: this.q, transaction: (fn) => this.shortTransaction('BEGIN', fn) }, now);
  }

  static async open(options: PgStoreOptions): Promise<PgStoreImpl> {
    const now = options.now ?? (() => new Date());
    const pool = new pg.Pool({
      connectionString: options.schema === undefined ? options.url : withSearchPath(options.url, options.schema),
      max: Math.max(1, options.poolSize ?? DEFAULT_POOL_SIZE),
      application_name: 'passerelle',
      types,
    });
    // An idle client losing its connection must not crash the process; the next checkout gets a new one.
    pool.on('error', (err) => process.emitWarning(`store: idle PostgreSQL connection failed: ${err.message}`));
    try {
      const schemaInfo = await migrate(pool, options.schema, pgMigrations, now, options.migrate ?? true);
      const { rows } = await pool.query<{ key: number }>('SELECT hashtext(current_schema()) AS key');
      return new PgStoreImpl(pool, now, rows[0].key, schemaInfo);
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw describeError(e, options.url);
    }
  }

  // --- transactions ------------------------------------------------------------------------------------

  async transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    this.assertOpen();
    if (this.inTransaction.getStore() === this) {
      throw new Error('Nested store.transaction(): use the StoreTransaction passed to the outer callback');
    }
    const client = await this.pool.connect();
    /** Set when the client is unusable (BEGIN or ROLLBACK failed): destroyed rather than returned to the pool. */
    let broken: Error | undefined;
    try {
      try {
        await client.query('BEGIN');
      } catch (e) {
        broken = e as Error;
        throw e;
      }
      let active = true;
      const guard = (): void => {
        if (!active) throw new Error('StoreTransaction used after its transaction ended');
      };
      const raw = queryOn(client);
      const q: PgQuery = async (sql, params) => {
        guard();
        return raw(sql, params);
      };
      let registryLocked = false;
      const lockRegistry = async (): Promise<void> => {
        guard();
        if (registryLocked) return;
        await q('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_REGISTRY, this.schemaKey]);
        registryLocked = true;
      };
      const before: (() => Promise<void>)[] = [];
      const after: (() => void)[] = [];
      const tx: StoreTransaction = {
        read: async <R extends Resource = Resource>(type: string, id: string) => (await readCurrent(q, type, id, true)) as R | undefined,
        put: <R extends Resource>(resource: R, opts?: WriteOptions) => putResource(q, resource, opts, this.now),
        delete: (type: string, id: string) => deleteResource(q, type, id, this.now),
        search: (query: SearchQuery) => search(q, query),
        audit: (entry: AuditEntry) => insertAudit(q, entry, this.now),
        identities: pgIdentityWriter(q, this.now, lockRegistry),
        outbox: pgOutboxWriter(q, this.now),
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
        // A transaction in which a statement failed (and the callback caught it) cannot commit: PostgreSQL
        // answers COMMIT with ROLLBACK. Say so instead of reporting a success.
        const done = await client.query('COMMIT');
        if (done.command === 'ROLLBACK') {
          throw new Error('The transaction was rolled back: a statement in it failed (PostgreSQL refuses to commit after an error)');
        }
      } catch (e) {
        active = false;
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          broken = rollbackError as Error;
        }
        throw e;
      }
      runAfterCommit(after);
      return result;
    } finally {
      client.release(broken);
    }
  }

  // --- reads -------------------------------------------------------------------------------------------

  read<T extends Resource = Resource>(resourceType: string, id: string): Promise<T | undefined> {
    return readCurrent(this.q, resourceType, id, false) as Promise<T | undefined>;
  }

  async search(query: SearchQuery): Promise<SearchResult> {
    if (!(query.total && query.count > 0)) return search(this.q, query);
    // Count and page from one snapshot, so they agree.
    return this.shortTransaction('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', (q) => search(q, query));
  }

  /** A short transaction of the store itself (no hooks; not a `StoreTransaction`), on its own pooled client. */
  private async shortTransaction<T>(begin: string, fn: (q: PgQuery) => Promise<T>): Promise<T> {
    this.assertOpen();
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      try {
        await client.query(begin);
      } catch (e) {
        broken = e as Error;
        throw e;
      }
      try {
        const result = await fn(queryOn(client));
        await client.query('COMMIT');
        return result;
      } catch (e) {
        await client.query('ROLLBACK').catch((err: Error) => (broken = err));
        throw e;
      }
    } finally {
      client.release(broken);
    }
  }

  async vread(resourceType: string, id: string, versionId: string): Promise<StoredVersion | undefined> {
    this.assertOpen();
    if (!/^\d{1,9}$/.test(versionId)) return undefined;
    const { rows } = await this.q<{ deleted: boolean; json: Resource }>(
      'SELECT deleted, json FROM resource_versions WHERE type = $1 AND id = $2 AND version = $3',
      [resourceType, id, Number(versionId)],
    );
    return rows[0] && { resource: rows[0].json, deleted: rows[0].deleted };
  }

  async history(resourceType: string, id: string): Promise<StoredVersion[]> {
    const { rows } = await this.q<{ deleted: boolean; json: Resource }>(
      'SELECT deleted, json FROM resource_versions WHERE type = $1 AND id = $2 ORDER BY version DESC',
      [resourceType, id],
    );
    return rows.map((r) => ({ resource: r.json, deleted: r.deleted }));
  }

  async auditLog(filter: { entity?: string; limit?: number } = {}): Promise<AuditRecord[]> {
    const wanted = Number.isFinite(filter.limit) ? Math.trunc(filter.limit as number) : AUDIT_DEFAULT_LIMIT;
    const limit = Math.max(1, Math.min(wanted, AUDIT_MAX_LIMIT));
    const { rows } =
      filter.entity === undefined
        ? await this.q<AuditRow>('SELECT * FROM audit ORDER BY id DESC LIMIT $1', [limit])
        : await this.q<AuditRow>(
            'SELECT a.* FROM audit_entities e JOIN audit a ON a.id = e.audit_id WHERE e.entity = $1 ORDER BY a.id DESC LIMIT $2',
            [filter.entity, limit],
          );
    return rows.map(
      (r): AuditRecord => ({
        id: r.id,
        recorded: r.recorded,
        action: r.action,
        actor: r.actor,
        entities: r.entities,
        outcome: r.outcome,
        ...(r.detail !== null ? { detail: r.detail } : {}),
        ...(r.request_id !== null ? { requestId: r.request_id } : {}),
      }),
    );
  }

  async ping(): Promise<void> {
    await this.q('SELECT 1');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Waits for the clients of running transactions to come back.
    await this.pool.end();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('The PostgreSQL store is closed');
  }
}

/** Names the database (without its password) in connection errors. */
function describeError(e: unknown, url: string): unknown {
  if (!(e instanceof Error)) return e;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && /^(E[A-Z]+|08|28|3D)/.test(code)) {
    const wrapped = new Error(`PostgreSQL at ${redactUrl(url)}: ${e.message}`, { cause: e });
    return wrapped;
  }
  return e;
}

// --- schema ----------------------------------------------------------------------------------------------

/** Reads the applied migrations (none when the table does not exist yet). */
async function appliedMigrations(q: PgQuery): Promise<{ version: number; name: string }[]> {
  const { rows } = await q<{ t: string | null }>("SELECT to_regclass('schema_migrations')::text AS t");
  if (rows[0].t === null) return [];
  return (await q<{ version: number; name: string }>('SELECT version, name FROM schema_migrations ORDER BY version')).rows;
}

function checkApplied(applied: readonly { version: number; name: string }[], migrations: readonly Migration[]): void {
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
}

/**
 * Brings the schema to the last migration, under a session advisory lock so that processes starting together
 * apply each migration once (the others wait, then find it applied). Each migration runs in its own transaction.
 */
async function migrate(
  pool: pg.Pool,
  schema: string | undefined,
  migrations: readonly Migration[],
  now: () => Date,
  apply: boolean,
): Promise<SchemaInfo> {
  checkMigrations(migrations);
  const client = await pool.connect();
  const q = queryOn(client);
  let broken: Error | undefined;
  try {
    await q('SELECT pg_advisory_lock($1, hashtext(coalesce($2::text, current_schema()::text, \'\')))', [LOCK_MIGRATIONS, schema ?? null]);
    try {
      if (schema !== undefined && apply) {
        await q(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
        // The search_path was set before the schema existed: set it again so this session resolves it.
        await q(`SET search_path TO ${quoteIdent(schema)}`);
      }
      const applied = await appliedMigrations(q);
      checkApplied(applied, migrations);
      const pending = migrations.slice(applied.length);
      if (pending.length > 0 && !apply) {
        throw new Error(
          `Database schema is at version ${applied.length}, this Passerelle needs ${migrations.length}: ` +
            'run `passerelle db migrate` (or start without --no-migrate)',
        );
      }
      if (pending.length > 0) {
        await q('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)');
      }
      for (const m of pending) {
        await q('BEGIN');
        try {
          await q(m.sql);
          await q('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, now().toISOString()]);
          await q('COMMIT');
        } catch (e) {
          await q('ROLLBACK').catch((err: Error) => (broken = err));
          throw new Error(`Database migration ${m.version} (${m.name}) failed: ${(e as Error).message}`, { cause: e });
        }
      }
      return { version: migrations.length, applied: pending.map((m) => m.version) };
    } finally {
      await q('SELECT pg_advisory_unlock($1, hashtext(coalesce($2::text, current_schema()::text, \'\')))', [LOCK_MIGRATIONS, schema ?? null]).catch(
        (err: Error) => (broken = err),
      );
    }
  } finally {
    client.release(broken);
  }
}

/**
 * The schema version of a database without changing it: `current` migrations applied, `latest` known to this
 * Passerelle (for `passerelle db status` and readiness checks). A missing schema or table is version 0.
 */
export async function pgSchemaStatus(options: { url: string; schema?: string }): Promise<{ current: number; latest: number }> {
  const url = options.schema === undefined ? options.url : withSearchPath(options.url, options.schema);
  const client = new pg.Client({ connectionString: url, application_name: 'passerelle', types });
  try {
    await client.connect();
  } catch (e) {
    throw describeError(e, options.url);
  }
  try {
    const applied = await appliedMigrations(queryOn(client));
    checkApplied(applied, pgMigrations);
    return { current: applied.length, latest: pgMigrations.length };
  } finally {
    await client.end();
  }
}

// --- writes ----------------------------------------------------------------------------------------------

/** The current row; inside a transaction (`lock`), locked until its end so read-modify-write loses nothing. */
async function readRow(q: PgQuery, type: string, id: string, lock: boolean): Promise<ResourceRow | undefined> {
  const { rows } = await q<ResourceRow>(
    `SELECT version, deleted, json FROM resources WHERE type = $1 AND id = $2${lock ? ' FOR UPDATE' : ''}`,
    [type, id],
  );
  return rows[0];
}

async function readCurrent(q: PgQuery, type: string, id: string, lock: boolean): Promise<Resource | undefined> {
  const row = await readRow(q, type, id, lock);
  return row && !row.deleted ? row.json : undefined;
}

async function putResource<T extends Resource>(
  q: PgQuery,
  resource: T,
  options: WriteOptions | undefined,
  now: () => Date,
  attempt = 0,
): Promise<{ resource: T; created: boolean; changed: boolean }> {
  const type = resource.resourceType;
  const id = resource.id;
  if (typeof type !== 'string' || !isResourceType(type)) throw invalid(`Unknown resource type "${String(type)}"`, 'resourceType');
  if (typeof id !== 'string' || !ID_RE.test(id)) throw invalid(`${type}: invalid or missing id "${String(id ?? '')}"`, `${type}.id`);
  const current = await readRow(q, type, id, true);
  if (options?.ifMatchVersion !== undefined && String(current?.version) !== options.ifMatchVersion) {
    throw conflict(
      current
        ? `${type}/${id} is at version ${current.version}, not ${options.ifMatchVersion}`
        : `${type}/${id} does not exist (If-Match version ${options.ifMatchVersion})`,
    );
  }
  // Normalise as JSON (drops undefined, turns Dates into strings) before comparing and storing.
  const { resourceType: _t, id: _i, meta, ...rest } = JSON.parse(JSON.stringify(resource)) as T;
  if (current && !current.deleted) {
    const previous = current.json as T;
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
  if (!current) {
    const inserted = await q(
      `INSERT INTO resources (type, id, version, last_updated, deleted, json) VALUES ($1, $2, $3, $4, false, $5)
       ON CONFLICT (type, id) DO NOTHING`,
      [type, id, version, lastUpdated, json],
    );
    // Another transaction created it meanwhile (and committed): start again from its row, now locked.
    if (inserted.rowCount === 0) {
      if (attempt > 2) throw new Error(`${type}/${id}: concurrent creation kept failing`);
      return putResource(q, resource, options, now, attempt + 1);
    }
  } else {
    await q('UPDATE resources SET version = $3, last_updated = $4, deleted = false, json = $5 WHERE type = $1 AND id = $2', [
      type,
      id,
      version,
      lastUpdated,
      json,
    ]);
  }
  await q('INSERT INTO resource_versions (type, id, version, last_updated, deleted, json) VALUES ($1, $2, $3, $4, false, $5)', [
    type,
    id,
    version,
    lastUpdated,
    json,
  ]);
  // A deleted resource's rows were removed with it; a new one has none.
  await replaceIndex(q, stored, current !== undefined && !current.deleted);
  return { resource: stored, created: !current || current.deleted, changed: true };
}

async function deleteResource(q: PgQuery, type: string, id: string, now: () => Date): Promise<boolean> {
  const current = await readRow(q, type, id, true);
  if (!current || current.deleted) return false;
  const version = current.version + 1;
  const lastUpdated = now().toISOString();
  const json = JSON.stringify({ resourceType: type, id, meta: { versionId: String(version), lastUpdated } });
  await q('UPDATE resources SET version = $3, last_updated = $4, deleted = true, json = $5 WHERE type = $1 AND id = $2', [
    type,
    id,
    version,
    lastUpdated,
    json,
  ]);
  await q('INSERT INTO resource_versions (type, id, version, last_updated, deleted, json) VALUES ($1, $2, $3, $4, true, $5)', [
    type,
    id,
    version,
    lastUpdated,
    json,
  ]);
  await q('DELETE FROM search_index WHERE type = $1 AND id = $2', [type, id]);
  return true;
}

/**
 * An index value as PostgreSQL can hold it: without NUL characters (text cannot hold them), and cut to a length that
 * keeps a row within the btree limit (~2.7 kB): a search compares cut values, so only values sharing their first
 * `max` characters could be confused. Query values go through the same function.
 */
const VALUE_MAX = 400;
const SYSTEM_MAX = 200;
function indexText(s: string, max: number): string {
  const clean = s.includes('\u0000') ? s.replace(/\u0000/g, '') : s;
  return clean.length > max ? clean.slice(0, max) : clean;
}

/**
 * Makes the resource's index rows those of `resource`. A resource that had no live version has none to
 * remove; otherwise only the rows that differ are deleted and inserted (an update usually keeps most). The
 * resource row is locked by the caller, so the rows' physical ids (ctid) are stable meanwhile.
 */
async function replaceIndex(q: PgQuery, resource: Resource, hadRows: boolean): Promise<void> {
  const type = resource.resourceType;
  const id = resource.id as string;
  const wanted = extractIndexValues(resource).map((r) => ({
    ...r,
    system: indexText(r.system, SYSTEM_MAX),
    value: r.value === null ? null : indexText(r.value, VALUE_MAX),
  }));
  let missing = wanted;
  if (hadRows) {
    const { rows: existing } = await q<{ rid: string; param: string; system: string; value: string | null; date_start: string | null; date_end: string | null }>(
      'SELECT ctid::text AS rid, param, system, value, date_start, date_end FROM search_index WHERE type = $1 AND id = $2',
      [type, id],
    );
    const keyOf = (param: string, system: string, value: string | null, start: string | null, end: string | null): string =>
      JSON.stringify([param, system, value, start, end]);
    const current = new Map<string, string[]>();
    for (const r of existing) {
      const k = keyOf(r.param, r.system, r.value, r.date_start, r.date_end);
      const list = current.get(k);
      if (list) list.push(r.rid);
      else current.set(k, [r.rid]);
    }
    missing = [];
    for (const row of wanted) {
      const list = current.get(keyOf(row.param, row.system, row.value, row.start, row.end));
      if (list && list.length > 0) list.pop();
      else missing.push(row);
    }
    const stale = [...current.values()].flat();
    if (stale.length > 0) {
      await q('DELETE FROM search_index WHERE type = $1 AND id = $2 AND ctid = ANY($3::tid[])', [type, id, stale]);
    }
  }
  if (missing.length > 0) {
    await q(
      `INSERT INTO search_index (type, id, param, system, value, date_start, date_end)
       SELECT $1::text, $2::text, * FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[])`,
      [
        type,
        id,
        missing.map((r) => r.param),
        missing.map((r) => r.system),
        missing.map((r) => r.value),
        missing.map((r) => r.start),
        missing.map((r) => r.end),
      ],
    );
  }
}

async function insertAudit(q: PgQuery, entry: AuditEntry, now: () => Date): Promise<void> {
  await q(
    `WITH a AS (
       INSERT INTO audit (recorded, action, actor, entities, outcome, detail, request_id)
       VALUES ($1, $2, $3, $4::text[], $5, $6, $7) RETURNING id)
     INSERT INTO audit_entities (entity, audit_id) SELECT DISTINCT e, a.id FROM a, unnest($4::text[]) AS e
     ON CONFLICT DO NOTHING`,
    [now().toISOString(), entry.action, entry.actor, entry.entities, entry.outcome, entry.detail ?? null, entry.requestId ?? null],
  );
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
// The same SQL shape as the SQLite dialect (search_index rows per parameter value; `EXISTS` per index predicate,
// `NOT EXISTS` for :not), without the plan pinning: PostgreSQL's planner has statistics and chooses between
// driving from the index and walking the type newest first. Conditions are written with `?` and numbered last.

interface CompiledPredicate {
  /** SQL on `r` when the predicate reads resource columns; else undefined. */
  column?: string;
  /** For index predicates: the condition on `s`. */
  match?: string;
  param: string;
  negate: boolean;
  params: unknown[];
}

/** `?` placeholders → `$1…$n` (the SQL built here has no `?` of its own). */
function numbered(sql: string): string {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
}

async function search(q: PgQuery, query: SearchQuery): Promise<SearchResult> {
  if (!Number.isSafeInteger(query.count) || query.count < 0) throw invalid(`_count: invalid value ${query.count}`, '_count');
  if (!Number.isSafeInteger(query.offset) || query.offset < 0) throw invalid(`_offset: invalid value ${query.offset}`, '_offset');
  const type = query.resourceType;
  const parts = ['r.type = ?', 'NOT r.deleted'];
  const params: unknown[] = [type];
  for (const p of query.predicates) {
    const def = getSearchParam(type, p.param);
    if (!def) throw invalid(`Unknown search parameter "${p.param}" for ${type}`, p.param);
    if (p.values.length === 0) continue;
    const c = compile(def, p);
    if (c.column !== undefined) {
      parts.push(c.column);
    } else {
      parts.push(
        `${c.negate ? 'NOT EXISTS' : 'EXISTS'} (SELECT 1 FROM search_index s ` +
          `WHERE s.type = r.type AND s.id = r.id AND s.param = ? AND (${c.match}))`,
      );
      params.push(c.param);
    }
    params.push(...c.params);
  }
  const where = parts.join(' AND ');
  const result: SearchResult = { resources: [] };
  if (query.count > 0) {
    const { rows } = await q<{ json: Resource }>(
      numbered(`SELECT r.json FROM resources r WHERE ${where} ORDER BY r.last_updated DESC, r.id LIMIT ? OFFSET ?`),
      [...params, query.count, query.offset],
    );
    result.resources = rows.map((r) => r.json);
  }
  if (query.total) {
    result.total = (await q<{ n: number }>(numbered(`SELECT count(*) AS n FROM resources r WHERE ${where}`), params)).rows[0].n;
  }
  return result;
}

const placeholders = (n: number): string => Array.from({ length: n }, () => '?').join(', ');

function compile(def: SearchParamDefinition, p: SearchPredicate): CompiledPredicate {
  const params: unknown[] = [];
  const negate = p.prefix === 'ne';
  if (def.column === 'id') {
    params.push(...p.values);
    return { column: `r.id ${negate ? 'NOT IN' : 'IN'} (${placeholders(p.values.length)})`, param: def.code, negate, params };
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
    return { match: `s.date_start IS NOT NULL AND (${alternatives.join(' OR ')})`, param: def.code, negate, params };
  }
  const codesOnly: string[] = [];
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
    if (system !== undefined) system = indexText(system, SYSTEM_MAX);
    if (code !== undefined) code = indexText(code, VALUE_MAX);
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
  return { match: alternatives.join(' OR '), param: def.code, negate, params };
}
