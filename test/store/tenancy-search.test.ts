// The tenant filter of searches (`SearchQuery.tenant`, src/store/search-sql.ts `accessFilter`) on both dialects: only
// the Patients granted to the tenant (access_patient) and the resources referring to them, filtered in the query so
// that totals and pages count only those; without a tenant, searches are unchanged. PostgreSQL runs against
// PASSERELLE_TEST_PG_URL (skipped when unreachable, a failure under CI=true).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SearchQuery } from '../../src/fhir/search-params.js';
import { openPgStore } from '../../src/store/pg-store.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { PG_TEST_URL, pgUnreachable } from '../support/pg.js';

const T1 = 'finess:760000018';
const T2 = 'finess:990000010';

const patient = (id: string): Resource => ({ resourceType: 'Patient', id, gender: 'female' }) as Resource;
const carePlan = (id: string, p: string): Resource => ({ resourceType: 'CarePlan', id, status: 'active', intent: 'plan', subject: { reference: `Patient/${p}` } }) as Resource;

async function fill(store: ResourceStore): Promise<void> {
  await store.transaction(async (tx) => {
    for (const p of ['p1', 'p2', 'p3', 'p4']) await tx.put(patient(p));
    for (let i = 0; i < 7; i++) await tx.put(carePlan(`c1-${i}`, 'p1'));
    for (let i = 0; i < 5; i++) await tx.put(carePlan(`c2-${i}`, 'p2'));
    await tx.put(carePlan('c4', 'p4'));
    // One resource about two patients of two tenants: both see it.
    await tx.put({ resourceType: 'Communication', id: 'm13', status: 'completed', subject: { reference: 'Patient/p1' }, recipient: [{ reference: 'Patient/p3' }] } as Resource);
    // Patient data without a patient reference: seen by no tenant.
    await tx.put({ resourceType: 'Communication', id: 'm0', status: 'completed' } as Resource);
    await tx.put({ resourceType: 'Organization', id: 'o1', name: 'CH' } as Resource);
    await tx.access.grant(T1, ['p1'], 'document');
    await tx.access.grant(T2, ['p2', 'p3'], 'care-team');
  });
}

const q = (resourceType: string, extra: Partial<SearchQuery> = {}): SearchQuery => ({ resourceType, predicates: [], count: 100, offset: 0, total: true, ...extra });
const ids = (r: { resources: Resource[] }): string[] => r.resources.map((x) => x.id as string).sort();

function tenancyContract(name: string, open: () => Promise<ResourceStore>, close: (s: ResourceStore) => Promise<void>): void {
  describe(`tenant-filtered search: ${name}`, () => {
    let store: ResourceStore;
    beforeAll(async () => {
      store = await open();
      await fill(store);
    });
    afterAll(async () => close(store));

    it('Patients by their own grant; other types by their Patient references', async () => {
      expect(ids(await store.search(q('Patient', { tenant: T1 })))).toEqual(['p1']);
      expect(ids(await store.search(q('Patient', { tenant: T2 })))).toEqual(['p2', 'p3']);
      const t2 = await store.search(q('CarePlan', { tenant: T2 }));
      expect(t2.total).toBe(5);
      expect(ids(t2).every((id) => id.startsWith('c2-'))).toBe(true);
      expect(ids(await store.search(q('Communication', { tenant: T1 })))).toEqual(['m13']);
      expect(ids(await store.search(q('Communication', { tenant: T2 })))).toEqual(['m13']);
    });

    it('totals and pages count only what the tenant sees', async () => {
      const page1 = await store.search(q('CarePlan', { tenant: T1, count: 3, offset: 0, sort: [{ param: '_id', descending: false }] }));
      const page3 = await store.search(q('CarePlan', { tenant: T1, count: 3, offset: 6, sort: [{ param: '_id', descending: false }] }));
      expect(page1.total).toBe(7);
      expect(page1.resources.map((r) => r.id)).toEqual(['c1-0', 'c1-1', 'c1-2']);
      expect(page3.resources.map((r) => r.id)).toEqual(['c1-6']);
      expect((await store.search(q('CarePlan', { tenant: T1, count: 0 }))).total).toBe(7);
    });

    it('with other predicates (driven by an index, by _id): still filtered', async () => {
      const other = await store.search(q('CarePlan', { tenant: T1, predicates: [{ param: 'subject', prefix: 'eq', values: ['Patient/p2'] }] }));
      expect(other.total).toBe(0);
      expect(other.resources).toEqual([]);
      const own = await store.search(q('CarePlan', { tenant: T1, predicates: [{ param: 'subject', prefix: 'eq', values: ['Patient/p1'] }] }));
      expect(own.total).toBe(7);
      expect(ids(await store.search(q('Patient', { tenant: T1, predicates: [{ param: '_id', prefix: 'eq', values: ['p1', 'p2'] }] })))).toEqual(['p1']);
    });

    it('an unknown tenant sees nothing; without a tenant every resource, as before', async () => {
      expect((await store.search(q('Patient', { tenant: 'none:' }))).total).toBe(0);
      expect((await store.search(q('CarePlan', { tenant: 'none:' }))).total).toBe(0);
      expect((await store.search(q('Patient'))).total).toBe(4);
      expect((await store.search(q('CarePlan'))).total).toBe(13);
      expect((await store.search(q('Communication'))).total).toBe(2);
    });
  });
}

const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-tenancy-'));
tenancyContract(
  'SQLite',
  () => openSqliteStore({ file: path.join(dir, 'db.sqlite') }),
  async (s) => {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  },
);

const unreachable = await pgUnreachable();
if (unreachable && process.env.CI === 'true') {
  describe('tenant-filtered search: PostgreSQL', () => {
    it('needs a reachable PostgreSQL server in CI', () => {
      throw new Error(`PostgreSQL is unreachable (${unreachable}); set PASSERELLE_TEST_PG_URL`);
    });
  });
} else if (unreachable) {
  describe.skip(`tenant-filtered search: PostgreSQL (unreachable: ${unreachable})`, () => it('runs against PostgreSQL', () => undefined));
} else {
  const schema = `passerelle_tenancy_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  tenancyContract(
    'PostgreSQL',
    () => openPgStore({ url: PG_TEST_URL, schema, poolSize: 4 }),
    async (s) => {
      await s.close();
      const c = new pg.Client({ connectionString: PG_TEST_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    },
  );
}
