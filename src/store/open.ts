// Opens the configured store: PostgreSQL when a `postgres://` / `postgresql://` URL is configured (DATABASE_URL),
// else the embedded SQLite file. Commands use this, never a dialect directly.
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { sqliteMigrations } from './migrations/sqlite/index.js';
import { openPgStore, pgSchemaStatus, redactUrl } from './pg-store.js';
import type { ResourceStore } from './repository.js';
import { openSqliteStore } from './sqlite-store.js';

export interface OpenStoreOptions {
  /** PostgreSQL URL; anything else (or nothing) means SQLite on `file`. */
  databaseUrl?: string;
  /** SQLite file (its directory is created). */
  file: string;
  now?: () => Date;
  /** Apply pending migrations (default). When false, opening fails while migrations are pending. */
  migrate?: boolean;
  /** PostgreSQL only: the schema holding the tables (tests use a fresh one). */
  schema?: string;
}

export type Dialect = 'sqlite' | 'postgresql';

export function isPostgresUrl(url: string | undefined): url is string {
  return url !== undefined && /^postgres(ql)?:\/\//i.test(url);
}

/** Which dialect the options select, and where the data is, fit for logs (a URL's password is masked). */
export function storeTarget(options: Pick<OpenStoreOptions, 'databaseUrl' | 'file'>): { dialect: Dialect; location: string } {
  return isPostgresUrl(options.databaseUrl)
    ? { dialect: 'postgresql', location: redactUrl(options.databaseUrl) }
    : { dialect: 'sqlite', location: options.file };
}

const pendingError = (current: number, latest: number): Error =>
  new Error(`Database schema is at version ${current}, this Passerelle needs ${latest}: run \`passerelle db migrate\` (or start without --no-migrate)`);

export async function openStore(options: OpenStoreOptions): Promise<ResourceStore> {
  if (isPostgresUrl(options.databaseUrl)) {
    return openPgStore({
      url: options.databaseUrl,
      ...(options.schema !== undefined ? { schema: options.schema } : {}),
      ...(options.now ? { now: options.now } : {}),
      ...(options.migrate !== undefined ? { migrate: options.migrate } : {}),
    });
  }
  if (options.migrate === false) {
    // The SQLite store always migrates at open: check first, without creating or changing the file.
    const { current, latest } = await schemaStatus(options);
    if (current < latest) throw pendingError(current, latest);
  }
  return openSqliteStore({ file: options.file, ...(options.now ? { now: options.now } : {}) });
}

/**
 * The schema version of the configured database without changing it: `current` migrations applied (0 for a missing
 * file, schema or table), `latest` known to this Passerelle. Throws for a database migrated by a newer Passerelle.
 */
export async function schemaStatus(options: Pick<OpenStoreOptions, 'databaseUrl' | 'file' | 'schema'>): Promise<{ current: number; latest: number }> {
  if (isPostgresUrl(options.databaseUrl)) {
    return pgSchemaStatus({ url: options.databaseUrl, ...(options.schema !== undefined ? { schema: options.schema } : {}) });
  }
  const latest = sqliteMigrations.length;
  if (options.file === ':memory:' || !existsSync(options.file)) return { current: 0, latest };
  const db = new Database(options.file, { readonly: true, fileMustExist: true });
  try {
    const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
    if (!table) return { current: 0, latest };
    const { n, top } = db.prepare('SELECT count(*) AS n, max(version) AS top FROM schema_migrations').get() as { n: number; top: number | null };
    if (top !== null && top > latest) {
      throw new Error(`Database schema version ${top} is unknown to this Passerelle (it knows 1–${latest}); upgrade Passerelle`);
    }
    return { current: n, latest };
  } finally {
    db.close();
  }
}
