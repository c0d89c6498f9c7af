// The PostgreSQL storage dialect, for several gateway processes on one database. A transaction is one pooled
// client between BEGIN and COMMIT; reads outside transactions go through the pool, so they only see committed rows.
// Writers do not lose updates across processes: a read or write of a resource inside a transaction locks its row
// until the end (SELECT … FOR UPDATE), and registry writers are ordered by the identity_seq row lock and, from
// `lockRegistry()` on, by a transaction-scoped advisory lock.
import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import type { PoolClient, QueryResultRow } from 'pg';
import type { Resource } from '@medplum/fhirtypes';
import { extractIndexValues, type IndexRow } from '../fhir/search-params.js';
import { checkMigrations, type Migration } from './migrations/migration.js';
import { pgMigrations } from './migrations/pg/index.js';
import { auditTrail, auditWho, contentOf, INSERT_AUDIT_COLUMNS, insertValues, LAST_AUDIT_HASH, nextHash, type AuditContent, type AuditTrail } from './audit-trail.js';
import type { IdentityRepository } from './identity-repository.js';
import { pgIdentityRepository, pgIdentityWriter, type PgQuery } from './pg-identity-repository.js';
import type { OutboxRepository } from './outbox-repository.js';
import { pgOutboxRepository, pgOutboxWriter } from './pg-outbox-repository.js';
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
  REINDEX_BATCH,
  reindexBatch,
  resourceKeyOf,
  staleIndexTypes,
  type AuditRow,
  type ResourceRow,
  type StoredIndexRow,
} from './resource-rows.js';
import { compileSearch, referrersStatement, searchStatements, type SearchDialect } from './search-sql.js';
import { nativeColumns, numbered } from './sql-dialect.js';
import { checkApplied, commitHooks, WriteObservers } from './store-common.js';
import type {
  AuditEntry,
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

const DEFAULT_POOL_SIZE = 10;
/**
 * Advisory lock classes (first key of the two-key form; the second is a hash of the schema name, so stores in
 * different schemas of one database do not wait for each other).
 */
const LOCK_MIGRATIONS = 0x7061_0001;
const LOCK_REGISTRY = 0x7061_0002;
/** The audit chain's tail: one appender at a time (src/store/audit-trail.ts). */
const LOCK_AUDIT = 0x7061_0003;

/** bigint (count(*), seq, audit ids) as a JS number: every value we store stays far below 2^53. */
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8_OID && format !== 'binary'
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

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
  /** Observers of every new version written (ResourceStore.observeWrites). */
  private readonly writes = new WriteObservers();
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
    this.auditTrail = auditTrail(async (sql, params) => (await this.q(numbered(sql), params)).rows as never[], nativeColumns);
    this.outbox = pgOutboxRepository({ query: this.q, transaction: (fn) => this.shortTransaction('BEGIN', fn) }, now);
    const write = <T>(fn: (run: SqlRunner) => Promise<T>): Promise<T> => this.shortTransaction('BEGIN', (q) => fn(pgRunner(q)));
    this.security = securityRepository(pgRunner(this.q), write, now);
    this.directory = directoryRepository(pgRunner(this.q), write, now);
    this.mssante = mssanteRepository(pgRunner(this.q), write);
    this.links = pathwayLinkRepository(pgRunner(this.q), write);
    this.pathway = pathwayRepository(pgRunner(this.q), write, 'pg');
    this.identityAnomalies = identityAnomalyRepository(pgRunner(this.q));
    this.conflictBoard = conflictBoardRepository(pgRunner(this.q), 'pg');
    this.reports = reportRepository(pgRunner(this.q));
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

  observeWrites(observer: WriteObserver): () => void {
    return this.writes.add(observer);
  }

  // --- transactions ------------------------------------------------------------------------------------

  async transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    this.assertOpen();
    if (this.inTransaction.getStore() === this) {
      throw new Error('Nested store.transaction(): use the StoreTransaction passed to the outer callback');
    }
    let active = true;
    const guard = (): void => {
      if (!active) throw new Error('StoreTransaction used after its transaction ended');
    };
    const hooks = commitHooks(guard);
    const result = await this.onClient('BEGIN', async (raw) => {
      try {
        const q: PgQuery = async (sql, params) => {
          guard();
          return raw(sql, params);
        };
        const audits: AuditContent[] = [];
        let registryLocked = false;
        const lockRegistry = async (): Promise<void> => {
          guard();
          if (registryLocked) return;
          await q('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_REGISTRY, this.schemaKey]);
          registryLocked = true;
        };
        const tx: StoreTransaction = {
          read: async <R extends Resource = Resource>(type: string, id: string) => (await readCurrent(q, type, id, true)) as R | undefined,
          put: async <R extends Resource>(resource: R, opts?: WriteOptions) => this.writes.after(tx, await putResource(q, resource, opts, this.now)),
          // One resource at a time, as `read` and `put` (the bulk path of the identity import runs on SQLite).
          readMany: async <R extends Resource = Resource>(type: string, ids: readonly string[]) => {
            const out = new Map<string, R>();
            for (const id of ids) {
              const r = await readCurrent(q, type, id, true);
              if (r) out.set(id, r as R);
            }
            return out;
          },
          putMany: async <R extends Resource>(resources: readonly R[]) => {
            const keys = new Set<string>();
            for (const r of resources) {
              const key = `${r.resourceType}/${r.id ?? ''}`;
              if (keys.has(key)) throw new Error(`putMany: ${key} appears twice`);
              keys.add(key);
            }
            const results = await putResources(q, resources, this.now);
            for (const r of results) await this.writes.after(tx, r);
            return results;
          },
          delete: (type: string, id: string) => deleteResource(q, type, id, this.now),
          search: (query: SearchQuery) => search(q, query),
          referrers: (targetType: string, targetId: string, limit: number) => referrers(q, targetType, targetId, limit),
          audit: async (entry: AuditEntry) => {
            guard();
            audits.push(contentOf(auditWho(entry), this.now().toISOString()));
          },
          identities: pgIdentityWriter(q, this.now, lockRegistry),
          outbox: pgOutboxWriter(q, this.now),
          access: accessWriter(pgRunner(q), this.now),
          mssante: mssanteWriter(pgRunner(q)),
          links: pathwayLinkWriter(pgRunner(q)),
          pathway: pathwayWriter(pgRunner(q), 'pg'),
          identityAnomalies: identityAnomalyWriter(pgRunner(q), this.now),
          beforeCommit: hooks.beforeCommit,
          afterCommit: hooks.afterCommit,
        };
        return await this.inTransaction.run(this, async () => {
          const r = await fn(tx);
          await hooks.runBefore();
          await insertAudits(q, audits, this.schemaKey);
          return r;
        });
      } finally {
        active = false;
      }
    });
    hooks.runAfter();
    return result;
  }

  // --- reads -------------------------------------------------------------------------------------------

  read<T extends Resource = Resource>(resourceType: string, id: string): Promise<T | undefined> {
    return readCurrent(this.q, resourceType, id, false) as Promise<T | undefined>;
  }

  async readJson(resourceType: string, ids: readonly string[]): Promise<Map<string, string>> {
    if (ids.length === 0) return new Map();
    // `json` is PostgreSQL's json type: its text is the one written, byte for byte.
    const { rows } = await this.q<{ id: string; json: string }>(
      'SELECT id, json::text AS json FROM resources WHERE type = $1 AND id = ANY($2::text[]) AND NOT deleted',
      [resourceType, ids],
    );
    return new Map(rows.map((r) => [r.id, r.json]));
  }

  async search(query: SearchQuery): Promise<SearchResult> {
    if (!(query.total && query.count > 0)) return search(this.q, query);
    // Count and page from one snapshot, so they agree.
    return this.shortTransaction('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', (q) => search(q, query));
  }

  referrers(targetType: string, targetId: string, limit: number): Promise<ResourceKey[]> {
    return referrers(this.q, targetType, targetId, limit);
  }

  /** A short transaction of the store itself (no hooks; not a `StoreTransaction`), on its own pooled client. */
  private shortTransaction<T>(begin: string, fn: (q: PgQuery) => Promise<T>): Promise<T> {
    this.assertOpen();
    return this.onClient(begin, fn);
  }

  /**
   * Runs `fn` in a transaction opened by `begin` on a pooled client: committed when it returns, rolled back when it
   * throws. A client whose BEGIN or ROLLBACK failed is destroyed rather than returned to the pool.
   */
  private async onClient<T>(begin: string, fn: (q: PgQuery) => Promise<T>): Promise<T> {
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
        // A transaction in which a statement failed (and the callback caught it) cannot commit: PostgreSQL
        // answers COMMIT with ROLLBACK. Say so instead of reporting a success.
        const done = await client.query('COMMIT');
        if (done.command === 'ROLLBACK') {
          throw new Error('The transaction was rolled back: a statement in it failed (PostgreSQL refuses to commit after an error)');
        }
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
    const { sql, params } = auditQuery(filter);
    const { rows } = await this.q<AuditRow<'native'>>(numbered(sql), params);
    return rows.map((r) => auditRecordOf(r, nativeColumns));
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
      if (apply) await rebuildStaleIndex(q, now);
      else if ((await staleTypesWithResources(q)).length > 0) {
        process.emitWarning('store: search index rows predate this Passerelle: run `passerelle db migrate` to rebuild them');
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

/**
 * The current row; inside a transaction (`lock`), locked until its end: `update` (or true) so read-modify-write loses
 * nothing, `key share` so it is not deleted meanwhile.
 */
async function readRow(q: PgQuery, type: string, id: string, lock: boolean | 'update' | 'key share'): Promise<ResourceRow<'native'> | undefined> {
  const clause = lock === 'key share' ? ' FOR KEY SHARE' : lock ? ' FOR UPDATE' : '';
  const { rows } = await q<ResourceRow<'native'>>(
    `SELECT version, deleted, json FROM resources WHERE type = $1 AND id = $2${clause}`,
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
  const { type, id } = resourceKeyOf(resource);
  // Read without a lock first. A resource whose content is unchanged (the Practitioners and Organizations every PPP
  // of an establishment repeats) then takes only FOR KEY SHARE, which concurrent submissions share; a lock until the
  // commit for each of them made every submission of the establishment wait for the one before (issue 22). KEY
  // SHARE still holds a DELETE back until the commit, so a referred resource cannot vanish under the submission.
  let current = await readRow(q, type, id, false);
  let plan = planWrite(type, id, resource, current, nativeColumns, options, now);
  if (!plan.write && current) {
    const held = await readRow(q, type, id, 'key share');
    if (held && held.version === current.version) return plan.result;
  }
  if (current) {
    // A write: the row locked until the commit, and the plan made again from it (it may have changed since).
    current = await readRow(q, type, id, 'update');
    plan = planWrite(type, id, resource, current, nativeColumns, options, now);
  }
  if (!plan.write) return plan.result;
  const { version, lastUpdated, json, replacing } = plan.write;
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
  }
  await writeVersion(q, { type, id, version, lastUpdated, json }, false, current !== undefined);
  await replaceIndex(q, plan.result.resource, replacing);
  return plan.result;
}

/**
 * `putMany`: the puts of many resources in a few round trips (each statement is a round trip to the server, and a
 * PPP is 55 resources). Their current rows are read in one query; the new ones are inserted with one statement per
 * table; the unchanged ones are held FOR KEY SHARE in one query (as `putResource` does). What needs more — an update,
 * an unchanged row that changed meanwhile, a creation another transaction won — goes through `putResource`.
 */
async function putResources<T extends Resource>(q: PgQuery, resources: readonly T[], now: () => Date): Promise<{ resource: T; created: boolean; changed: boolean }[]> {
  const keys = resources.map((r) => resourceKeyOf(r));
  const pairs = (list: readonly number[]) => [list.map((i) => keys[i].type), list.map((i) => keys[i].id)];
  const all = keys.map((_, i) => i);
  const found = await q<ResourceRow<'native'> & { type: string; id: string }>(
    'SELECT r.type, r.id, r.version, r.deleted, r.json FROM resources r JOIN unnest($1::text[], $2::text[]) AS k(type, id) ON r.type = k.type AND r.id = k.id',
    pairs(all),
  );
  const currentOf = new Map(found.rows.map((r) => [`${r.type}/${r.id}`, r]));
  const results: { resource: T; created: boolean; changed: boolean }[] = new Array(resources.length);
  const alone: number[] = [];
  const unchanged: number[] = [];
  const fresh: { i: number; version: number; lastUpdated: string; json: string }[] = [];
  for (const i of all) {
    const { type, id } = keys[i];
    const current = currentOf.get(`${type}/${id}`);
    const plan = planWrite(type, id, resources[i], current, nativeColumns, undefined, now);
    results[i] = plan.result;
    if (!current && plan.write) fresh.push({ i, ...plan.write });
    else if (current && !plan.write) unchanged.push(i);
    else alone.push(i);
  }
  if (unchanged.length > 0) {
    const held = await q<{ type: string; id: string; version: number }>(
      'SELECT r.type, r.id, r.version FROM resources r JOIN unnest($1::text[], $2::text[]) AS k(type, id) ON r.type = k.type AND r.id = k.id FOR KEY SHARE OF r',
      pairs(unchanged),
    );
    const version = new Map(held.rows.map((r) => [`${r.type}/${r.id}`, r.version]));
    for (const i of unchanged) {
      const key = `${keys[i].type}/${keys[i].id}`;
      if (version.get(key) !== currentOf.get(key)?.version) alone.push(i);
    }
  }
  if (fresh.length > 0) {
    const inserted = await q<{ type: string; id: string }>(
      `INSERT INTO resources (type, id, version, last_updated, deleted, json)
       SELECT t, i, v, l, false, j::json FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[]) AS u(t, i, v, l, j)
       ON CONFLICT (type, id) DO NOTHING RETURNING type, id`,
      [...pairs(fresh.map((f) => f.i)), fresh.map((f) => f.version), fresh.map((f) => f.lastUpdated), fresh.map((f) => f.json)],
    );
    const mine = new Set(inserted.rows.map((r) => `${r.type}/${r.id}`));
    const written = fresh.filter((f) => mine.has(`${keys[f.i].type}/${keys[f.i].id}`));
    // Created meanwhile by another transaction (now committed): from its row, on its own.
    for (const f of fresh) if (!mine.has(`${keys[f.i].type}/${keys[f.i].id}`)) alone.push(f.i);
    if (written.length > 0) {
      await q(
        `INSERT INTO resource_versions (type, id, version, last_updated, deleted, json)
         SELECT t, i, v, l, false, j::json FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[]) AS u(t, i, v, l, j)`,
        [...pairs(written.map((f) => f.i)), written.map((f) => f.version), written.map((f) => f.lastUpdated), written.map((f) => f.json)],
      );
      const rows = written.flatMap((f) => indexRowsOf(results[f.i].resource).map((r) => ({ ...r, type: keys[f.i].type, id: keys[f.i].id })));
      if (rows.length > 0) {
        await q(
          `INSERT INTO search_index (type, id, param, system, value, date_start, date_end)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])`,
          [rows.map((r) => r.type), rows.map((r) => r.id), rows.map((r) => r.param), rows.map((r) => r.system), rows.map((r) => r.value), rows.map((r) => r.start), rows.map((r) => r.end)],
        );
      }
    }
  }
  for (const i of alone.sort((a, b) => a - b)) results[i] = await putResource(q, resources[i], undefined, now);
  return results;
}

/**
 * Records a version of a resource in `resource_versions` and, with `current`, makes it the current row of `resources`
 * (the caller inserted a new resource's row itself, to detect a concurrent creation).
 */
async function writeVersion(
  q: PgQuery,
  v: { type: string; id: string; version: number; lastUpdated: string; json: unknown },
  deleted: boolean,
  current: boolean,
): Promise<void> {
  const params = [v.type, v.id, v.version, v.lastUpdated, deleted, v.json];
  if (current) await q('UPDATE resources SET version = $3, last_updated = $4, deleted = $5, json = $6 WHERE type = $1 AND id = $2', params);
  await q('INSERT INTO resource_versions (type, id, version, last_updated, deleted, json) VALUES ($1, $2, $3, $4, $5, $6)', params);
}

async function deleteResource(q: PgQuery, type: string, id: string, now: () => Date): Promise<boolean> {
  const marker = planDelete(type, id, await readRow(q, type, id, true), nativeColumns, now);
  if (!marker) return false;
  const { version, lastUpdated, json } = marker;
  await writeVersion(q, { type, id, version, lastUpdated, json }, true, true);
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

/** The types whose index rows are stale (resource-rows.ts), and among them those with live resources. */
async function staleTypesWithResources(q: PgQuery): Promise<string[]> {
  const { rows } = await q<{ type: string; fingerprint: string }>('SELECT type, fingerprint FROM search_index_state');
  const stale = staleIndexTypes(rows);
  if (stale.length === 0) return [];
  const used = await q<{ t: string }>(
    'SELECT t FROM unnest($1::text[]) AS t WHERE EXISTS (SELECT 1 FROM resources r WHERE r.type = t AND NOT r.deleted)',
    [stale],
  );
  return used.rows.map((r) => r.t);
}

/**
 * Rebuilds the index rows of the types whose fingerprint changed since they were written, one transaction per batch
 * (its resource rows locked, as a write would), on the migration's client under its lock: processes starting together
 * rebuild once. A crash midway leaves the type stale, so the next open starts it again.
 */
async function rebuildStaleIndex(q: PgQuery, now: () => Date): Promise<void> {
  const { rows } = await q<{ type: string; fingerprint: string }>('SELECT type, fingerprint FROM search_index_state');
  const stale = staleIndexTypes(rows);
  if (stale.length === 0) return;
  for (const type of await staleTypesWithResources(q)) {
    let after = '';
    for (;;) {
      await q('BEGIN');
      let batch: { id: string; json: Resource }[];
      try {
        batch = (await q<{ id: string; json: Resource }>(`${numbered(reindexBatch('NOT deleted'))} FOR UPDATE`, [type, after])).rows;
        const ids = batch.map((r) => r.id);
        await q('DELETE FROM search_index WHERE type = $1 AND id = ANY($2::text[])', [type, ids]);
        await insertIndexRows(q, type, batch.flatMap((r) => indexRowsOf(r.json).map((row) => ({ id: r.id, ...row }))));
        await q('COMMIT');
      } catch (e) {
        await q('ROLLBACK').catch(() => undefined);
        throw e;
      }
      if (batch.length < REINDEX_BATCH) break;
      after = batch[batch.length - 1].id;
    }
  }
  const fingerprints = indexFingerprints();
  await q(
    `INSERT INTO search_index_state (type, fingerprint, indexed_at) SELECT t, f, $3 FROM unnest($1::text[], $2::text[]) AS x(t, f)
     ON CONFLICT (type) DO UPDATE SET fingerprint = excluded.fingerprint, indexed_at = excluded.indexed_at`,
    [stale, stale.map((t) => fingerprints.get(t)), now().toISOString()],
  );
}

/** The index rows of a resource as PostgreSQL holds them (see `indexText`). */
function indexRowsOf(resource: Resource): IndexRow[] {
  return extractIndexValues(resource).map((r) => ({
    ...r,
    system: indexText(r.system, SYSTEM_MAX),
    value: r.value === null ? null : indexText(r.value, VALUE_MAX),
  }));
}

/** Inserts index rows of resources of one type in one statement. */
async function insertIndexRows(q: PgQuery, type: string, rows: readonly (IndexRow & { id: string })[]): Promise<void> {
  if (rows.length === 0) return;
  await q(
    `INSERT INTO search_index (type, id, param, system, value, date_start, date_end)
     SELECT $1::text, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])`,
    [
      type,
      rows.map((r) => r.id),
      rows.map((r) => r.param),
      rows.map((r) => r.system),
      rows.map((r) => r.value),
      rows.map((r) => r.start),
      rows.map((r) => r.end),
    ],
  );
}

/**
 * Makes the resource's index rows those of `resource`. A resource that had no live version has none to
 * remove; otherwise only the rows that differ are deleted and inserted (an update usually keeps most). The
 * resource row is locked by the caller, so the rows' physical ids (ctid) are stable meanwhile.
 */
async function replaceIndex(q: PgQuery, resource: Resource, hadRows: boolean): Promise<void> {
  const type = resource.resourceType;
  const id = resource.id as string;
  const wanted = indexRowsOf(resource);
  let missing = wanted;
  if (hadRows) {
    const { rows: existing } = await q<StoredIndexRow<string>>(
      'SELECT ctid::text AS rid, param, system, value, date_start, date_end FROM search_index WHERE type = $1 AND id = $2',
      [type, id],
    );
    const changes = indexChanges(existing, wanted);
    missing = changes.missing;
    if (changes.stale.length > 0) {
      await q('DELETE FROM search_index WHERE type = $1 AND id = $2 AND ctid = ANY($3::tid[])', [type, id, changes.stale]);
    }
  }
  await insertIndexRows(q, type, missing.map((r) => ({ id, ...r })));
}

/**
 * The audit rows of a transaction, chained to the last row: written just before the commit, under a transaction-level
 * advisory lock so that processes append to one chain in id order (the lock is held only from here to the commit).
 */
async function insertAudits(q: PgQuery, rows: readonly AuditContent[], schemaKey: number): Promise<void> {
  if (rows.length === 0) return;
  await q('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_AUDIT, schemaKey]);
  let last = (await q<{ hash: string | null }>(LAST_AUDIT_HASH)).rows[0];
  for (const content of rows) {
    const hash = nextHash(last, content);
    await q(
      `WITH a AS (
         INSERT INTO audit (${INSERT_AUDIT_COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7::text[], $8, $9, $10, $11) RETURNING id)
       INSERT INTO audit_entities (entity, audit_id) SELECT DISTINCT e, a.id FROM a, unnest($7::text[]) AS e
       ON CONFLICT DO NOTHING`,
      insertValues(content, hash, content.entities),
    );
    last = { hash };
  }
}

// --- search ----------------------------------------------------------------------------------------------
//
// The SQL of search-sql.ts, without the plan pinning: PostgreSQL's planner has statistics and chooses between
// driving from the index and walking the type newest first. Query values are cut as index values are.

const dialect: SearchDialect = {
  live: (alias) => `NOT ${alias}.deleted`,
  indexedBy: () => '',
  numberedPlaceholders: true,
  indexSystem: (system) => indexText(system, SYSTEM_MAX),
  indexValue: (value) => indexText(value, VALUE_MAX),
  leadingValueIn: false,
  sortCollation: ' COLLATE "C"',
  contains: (column) => `strpos(${column}, ?) > 0`,
};

async function search(q: PgQuery, query: SearchQuery): Promise<SearchResult> {
  const { page, count } = searchStatements(compileSearch(query, dialect), query, dialect);
  const result: SearchResult = { resources: [] };
  if (page) result.resources = (await q<{ json: Resource }>(page.sql, page.params)).rows.map((r) => r.json);
  if (count) result.total = (await q<{ n: number }>(count.sql, count.params)).rows[0].n;
  return result;
}

/** The live resources referring to `targetType/targetId` (search-sql.ts `referrersStatement`). */
async function referrers(q: PgQuery, targetType: string, targetId: string, limit: number): Promise<ResourceKey[]> {
  const { sql, params } = referrersStatement(targetType, targetId, limit, dialect);
  return (await q<ResourceKey>(sql, params)).rows;
}

/** A `SqlRunner` (shared `?` statements) over a PostgreSQL query function. */
function pgRunner(q: PgQuery): SqlRunner {
  return {
    all: async <R>(sql: string, params: readonly unknown[]) => (await q(numbered(sql), params)).rows as R[],
    run: async (sql: string, params: readonly unknown[]) => (await q(numbered(sql), params)).rowCount ?? 0,
  };
}
