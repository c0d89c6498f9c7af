// The SQLite dialect: the shared contract on a real file, plus what only SQLite has (file, WAL, migrations,
// raw table contents after a rollback).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Patient } from '@medplum/fhirtypes';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { sqliteMigrations } from '../../src/store/migrations/sqlite/index.js';
import { storeContract, TestClock } from './contract.js';
import { identityRepositoryContract } from './identity-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'passerelle-sqlite-'));
let n = 0;
const nextFile = () => join(dir, `nested-${n}`, `store-${n++}.db`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

storeContract('sqlite file', ({ now }) => openSqliteStore({ file: nextFile(), now }));
storeContract('sqlite :memory:', ({ now }) => openSqliteStore({ file: ':memory:', now }));
// Same answers when every index predicate is a filter (the plan chosen for frequent values).
storeContract('sqlite file, filter plans only', ({ now }) => openSqliteStore({ file: nextFile(), now, driverMaxRows: 0 }));
identityRepositoryContract('sqlite file', ({ now }) => openSqliteStore({ file: nextFile(), now }));
identityRepositoryContract('sqlite :memory:', ({ now }) => openSqliteStore({ file: ':memory:', now }));

const count = (db: Database.Database, table: string) =>
  (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;

describe('SQLite store specifics', () => {
  it('creates the directory and the file in WAL mode, with the schema version recorded', async () => {
    const file = nextFile();
    const store = await openSqliteStore({ file });
    await store.close();
    expect(existsSync(file)).toBe(true);
    const db = new Database(file, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.prepare('SELECT version, name FROM schema_migrations').all()).toEqual([
      { version: 1, name: 'initial' },
      { version: 2, name: 'identity' },
      { version: 3, name: 'identity_index' },
      { version: 4, name: 'outbox' },
      { version: 5, name: 'outbox_per_destination' },
      { version: 6, name: 'search_index_state' },
      { version: 7, name: 'search_index_ref' },
      { version: 8, name: 'security' },
      { version: 9, name: 'mssante_directory' },
      { version: 10, name: 'mssante_mail' },
      { version: 11, name: 'pathway_links' },
      { version: 12, name: 'pathway_cases' },
      { version: 13, name: 'report_tables' },
      { version: 14, name: 'identity_anomaly' },
      { version: 15, name: 'review_queue' },
      { version: 16, name: 'search_index_value_no_ref' },
    ]);
    db.close();
  });

  it('keeps data across reopen and does not re-apply migrations', async () => {
    const file = nextFile();
    const first = await openSqliteStore({ file });
    await first.transaction((tx) => tx.put<Patient>({ resourceType: 'Patient', id: 'p1', gender: 'female' }));
    await first.close();
    const second = await openSqliteStore({ file });
    expect((await second.read<Patient>('Patient', 'p1'))?.gender).toBe('female');
    await second.close();
    const db = new Database(file, { readonly: true });
    expect(count(db, 'schema_migrations')).toBe(sqliteMigrations.length);
    db.close();
  });

  it('refuses a database migrated by a newer Passerelle', async () => {
    const file = nextFile();
    await (await openSqliteStore({ file })).close();
    const db = new Database(file);
    db.prepare("INSERT INTO schema_migrations VALUES (99, 'future', '2030-01-01')").run();
    db.close();
    await expect(openSqliteStore({ file })).rejects.toThrow(/schema version 99 is unknown/);
  });

  it('leaves no row in any table after a rolled-back transaction', async () => {
    const file = nextFile();
    const store = await openSqliteStore({ file, now: new TestClock().now });
    await expect(
      store.transaction(async (tx) => {
        await tx.put<Patient>({ resourceType: 'Patient', id: 'p1', identifier: [{ system: 'urn:x', value: '1' }] });
        await tx.put<Patient>({ resourceType: 'Patient', id: 'p1', gender: 'male' });
        await tx.audit({ action: 'fhir.create', actor: 'a', entities: ['Patient/p1'], outcome: 'success' });
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    await store.close();
    const db = new Database(file, { readonly: true });
    for (const table of ['resources', 'resource_versions', 'search_index', 'audit', 'audit_entities']) {
      expect(count(db, table), table).toBe(0);
    }
    db.close();
  });

  it('replaces the index rows of a resource on each write and drops them on delete', async () => {
    const file = nextFile();
    const store = await openSqliteStore({ file });
    const ident = (v: string): Patient => ({ resourceType: 'Patient', id: 'p1', identifier: [{ system: 'urn:x', value: v }] });
    await store.transaction((tx) => tx.put(ident('a')));
    await store.transaction((tx) => tx.put(ident('b')));
    const db = new Database(file, { readonly: true });
    expect(db.prepare("SELECT param, system, value FROM search_index WHERE id = 'p1'").all()).toEqual([
      { param: 'identifier', system: 'urn:x', value: 'b' },
    ]);
    await store.transaction((tx) => tx.delete('Patient', 'p1'));
    expect(count(db, 'search_index')).toBe(0);
    db.close();
    await store.close();
  });

  it('refuses a nested transaction instead of deadlocking, and any use after close', async () => {
    const store = await openSqliteStore({ file: ':memory:' });
    await expect(store.transaction(() => store.transaction(async () => 1))).rejects.toThrow(/Nested/);
    // Store-level reads inside a transaction callback still work (no deadlock on the single connection).
    await store.transaction(async (tx) => {
      await tx.put<Patient>({ resourceType: 'Patient', id: 'p1' });
      expect((await store.read('Patient', 'p1'))?.id).toBe('p1');
    });
    await store.close();
    await store.close();
    await expect(store.read('Patient', 'p1')).rejects.toThrow(/closed/);
  });
});
