// The SQLite store's write path under concurrency (issue 22): concurrent transactions are committed in groups, each
// still all-or-nothing and answered only once committed; the WAL is checkpointed by a worker thread; the value index
// leaves the `_ref` rows out and the searches that use it still find what they should.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { MedicationStatement, Patient } from '@medplum/fhirtypes';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSearchParams } from '../../src/fhir/search-params.js';
import { verifyAuditChain } from '../../src/services/audit/verify.js';
import { startCheckpointer, type CheckpointReport } from '../../src/store/sqlite-checkpointer.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';

const dir = mkdtempSync(join(tmpdir(), 'passerelle-group-'));
let n = 0;
const nextFile = () => join(dir, `store-${n++}.db`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const patient = (id: string): Patient => ({ resourceType: 'Patient', id, gender: 'female' });

describe('group commit', () => {
  it('answers each of many concurrent transactions once committed; a failing one leaves nothing, the others stay whole', async () => {
    const file = nextFile();
    const store = await openSqliteStore({ file });
    // A second connection, as another process would read the file: whatever was answered must be on disk for it.
    const outside = new Database(file, { readonly: true });
    const committed = (id: string) => outside.prepare("SELECT count(*) AS n FROM resources WHERE type = 'Patient' AND id = ?").get(id) as { n: number };
    const seenAtAnswer: number[] = [];
    const afterCommit: string[] = [];
    try {
      const results = await Promise.allSettled(
        Array.from({ length: 40 }, (_, i) =>
          store
            .transaction(async (tx) => {
              await tx.put(patient(`g${i}`));
              await tx.put(patient(`g${i}-b`));
              tx.afterCommit(() => afterCommit.push(`g${i}`));
              // Yield between writes, as a submission does (identity reads, validation): others queue meanwhile.
              await new Promise((r) => setImmediate(r));
              if (i % 7 === 3) throw new Error(`refused ${i}`);
              await tx.audit({ actor: 'test', action: 'fhir.create', outcome: 'success', entities: [`Patient/g${i}`] });
              return i;
            })
            .then((v) => {
              seenAtAnswer.push(committed(`g${i}`).n + committed(`g${i}-b`).n);
              return v;
            }),
        ),
      );
      const refused = results.flatMap((r, i) => (r.status === 'rejected' ? [i] : []));
      expect(refused).toEqual([3, 10, 17, 24, 31, 38]);
      expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.message)).toEqual(refused.map((i) => `refused ${i}`));
      // Every answered transaction was readable from another connection when its promise resolved: both resources.
      expect(seenAtAnswer).toEqual(new Array(34).fill(2));
      expect(afterCommit.sort()).toEqual(results.flatMap((r, i) => (r.status === 'fulfilled' ? [`g${i}`] : [])).sort());
      for (const i of refused) {
        expect(await store.read('Patient', `g${i}`)).toBeUndefined();
        expect(await store.read('Patient', `g${i}-b`)).toBeUndefined();
        expect(await store.auditLog({ entity: `Patient/g${i}` })).toEqual([]);
      }
      for (const i of [0, 1, 2, 4, 39]) {
        expect((await store.read<Patient>('Patient', `g${i}`))?.meta?.versionId).toBe('1');
        expect(await store.auditLog({ entity: `Patient/g${i}` })).toHaveLength(1);
      }
      // The audit chain stays one unbroken chain across the groups and the rolled-back savepoints.
      const chain = await verifyAuditChain(store);
      expect(chain.broken).toBeUndefined();
      expect(chain.rows).toBe(34);
    } finally {
      outside.close();
      await store.close();
    }
  });

  it('lets a later transaction of the same group read what an earlier one wrote, as if it had committed first', async () => {
    const store = await openSqliteStore({ file: nextFile() });
    try {
      const [first, second] = await Promise.all([
        store.transaction(async (tx) => (await tx.put(patient('shared'))).resource.meta?.versionId),
        store.transaction(async (tx) => (await tx.put({ ...patient('shared'), gender: 'male' })).resource.meta?.versionId),
      ]);
      expect([first, second]).toEqual(['1', '2']);
      expect((await store.read<Patient>('Patient', 'shared'))?.gender).toBe('male');
    } finally {
      await store.close();
    }
  });

  it('refuses a transaction on a closed store and a nested one, as rejected promises', async () => {
    const store = await openSqliteStore({ file: nextFile() });
    let nested: Promise<unknown> | undefined;
    await store.transaction(async () => {
      nested = store.transaction(async () => 1);
      await nested.catch(() => undefined);
    });
    await expect(nested).rejects.toThrow(/Nested store.transaction/);
    await store.close();
    await expect(store.transaction(async () => 1)).rejects.toThrow(/closed/);
  });
});

describe('background WAL checkpoints', () => {
  it('copies the WAL back while the writer keeps committing, then the WAL starts again from the beginning', async () => {
    const file = nextFile();
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('wal_autocheckpoint = 0');
    db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)');
    const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
    const write = (rows: number) => db.transaction(() => { for (let i = 0; i < rows; i++) insert.run('x'.repeat(2000)); })();
    write(2000);
    const walBefore = statSync(`${file}-wal`).size;
    const reports: CheckpointReport[] = [];
    const checkpointer = startCheckpointer(file, { intervalMs: 20, onReport: (r) => reports.push(r) });
    const full = (r: CheckpointReport) => 'log' in r && r.log > 0 && r.checkpointed === r.log;
    try {
      // The writer commits while the worker checkpoints: PASSIVE never makes it wait (busy_timeout 0 would throw).
      for (let round = 0; round < 10; round++) {
        write(5);
        await new Promise((r) => setTimeout(r, 10));
      }
      // Writes stop: the next checkpoint copies the whole WAL.
      const since = reports.length;
      for (let i = 0; i < 200 && !reports.slice(since).some(full); i++) await new Promise((r) => setTimeout(r, 10));
      expect(reports.find((r) => 'error' in r)).toBeUndefined();
      expect(reports.slice(since).some(full)).toBe(true);
      // Everything was copied back: the next transaction writes from the WAL's start, so the file does not grow.
      const walFull = statSync(`${file}-wal`).size;
      expect(walFull).toBeGreaterThanOrEqual(walBefore);
      write(5);
      expect(statSync(`${file}-wal`).size).toBe(walFull);
      expect((db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n).toBeGreaterThan(2000);
    } finally {
      await checkpointer.close();
      db.close();
    }
  });
});

describe('value index without the _ref rows', () => {
  it('is partial, and searches through it (token, reference, chained, _has) still answer', async () => {
    const file = nextFile();
    const store = await openSqliteStore({ file });
    try {
      await store.transaction(async (tx) => {
        await tx.put<Patient>({ resourceType: 'Patient', id: 'p1', gender: 'female', identifier: [{ system: 'urn:x', value: 'ipp-1' }], name: [{ family: 'Rouault' }] });
        await tx.put<Patient>({ resourceType: 'Patient', id: 'p2', gender: 'male', name: [{ family: 'Martin' }] });
        await tx.put<MedicationStatement>({ resourceType: 'MedicationStatement', id: 'o1', status: 'active', medicationCodeableConcept: { coding: [{ system: 'http://loinc.org', code: '1234-5' }] }, subject: { reference: 'Patient/p1' } });
      });
      const db = new Database(file, { readonly: true });
      const sql = (db.prepare("SELECT sql FROM sqlite_master WHERE name = 'search_index_value'").get() as { sql: string }).sql;
      db.close();
      expect(sql).toMatch(/WHERE param <> '_ref'/);
      const ids = async (type: string, params: [string, string][]) => (await store.search(parseSearchParams(type, params))).resources.map((r) => r.id).sort();
      expect(await ids('Patient', [['identifier', 'urn:x|ipp-1']])).toEqual(['p1']);
      expect(await ids('MedicationStatement', [['subject', 'Patient/p1']])).toEqual(['o1']);
      expect(await ids('MedicationStatement', [['subject:Patient.name', 'rouault']])).toEqual(['o1']);
      expect(await ids('Patient', [['_has:MedicationStatement:subject:code', '1234-5']])).toEqual(['p1']);
      expect(await store.referrers('Patient', 'p1', 10)).toEqual([{ type: 'MedicationStatement', id: 'o1' }]);
    } finally {
      await store.close();
    }
  });
});
