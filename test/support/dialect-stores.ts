// A fresh store per dialect for suites that run the same tests on SQLite and PostgreSQL: a SQLite file in its own
// temp directory, or a PostgreSQL schema of its own; `cleanup` closes it and removes the file or drops the schema.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openPgStore } from '../../src/store/pg-store.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { PG_TEST_URL, dropPgSchema } from './pg.js';

export interface TestStore {
  store: ResourceStore;
  cleanup(): Promise<void>;
}

/** A SQLite file store in a temp directory named after `prefix`. */
export async function sqliteTestStore(prefix: string): Promise<TestStore> {
  const dir = mkdtempSync(path.join(tmpdir(), `passerelle-${prefix}-db-`));
  const store = await openSqliteStore({ file: path.join(dir, 'db.sqlite') });
  return {
    store,
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A PostgreSQL store in a fresh schema `<prefix>_<pid>_<time>` at PG_TEST_URL. */
export async function pgTestStore(prefix: string): Promise<TestStore> {
  const schema = `${prefix}_${process.pid}_${Date.now()}`;
  const store = await openPgStore({ url: PG_TEST_URL, schema, poolSize: 4 });
  return {
    store,
    async cleanup() {
      await store.close();
      await dropPgSchema(schema);
    },
  };
}
