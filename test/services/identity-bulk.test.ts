// The bulk registration path (IdentityService.openBulk, used by `passerelle identity import`) against the one-by-one
// path (registerIn): on the same generated stream of French identities, with the same ids, both must leave the same
// registry — every federated identity, source, review item, audit row and its entity keys, pending projection and
// change number — and return the same decisions. Also: sources seen before, another writer changing the registry
// during the import, and a worker thread writing a real database file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { SourceIdentity } from '../../src/identity/types.js';
import { IdentityService, type RegistrationResult } from '../../src/services/identity-registry.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { iterateIdentities } from '../support/identity-generator.js';

const dir = mkdtempSync(join(tmpdir(), 'passerelle-bulk-'));
let fileNo = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ctx = { actor: 'bulk-test', requestId: 'req-bulk' };

function stream(count: number, seed: number): SourceIdentity[] {
  const out: SourceIdentity[] = [];
  // Few persons for the count: many duplicates, twins and homonyms, so every decision and review flag path is taken.
  for (const g of iterateIdentities({ seed, persons: Math.round(count / 1.6), duplicateRate: 0.6 })) {
    out.push(g.identity);
    if (out.length >= count) break;
  }
  return out;
}

/** Ids in creation order, the same in both registries. */
const counter = (prefix: string): (() => string) => {
  let n = 0;
  return () => `${prefix}-${String(++n).padStart(6, '0')}`;
};

async function open(): Promise<{ file: string; store: ResourceStore; service: IdentityService }> {
  const file = join(dir, `r${++fileNo}.sqlite`);
  const store = await openSqliteStore({ file });
  return { file, store, service: new IdentityService(store, { newId: counter('id') }) };
}

/** The registry's rows, timestamps left out (each path stamps its own). */
function registryRows(file: string): Record<string, unknown[]> {
  const db = new Database(file, { readonly: true });
  try {
    const all = (sql: string): unknown[] => db.prepare(sql).all();
    return {
      federated: all('SELECT id, status, flags, active, replaced_by, traits, blocking_keys, seq FROM identity_federated ORDER BY id'),
      sources: all('SELECT system, local_id, federated_id, traits, status, decision, score FROM identity_sources ORDER BY system, local_id'),
      reviews: all('SELECT id, source_system, source_id, new_federated_id, candidate_federated_id, grade, score, comparison, flag, state FROM identity_reviews ORDER BY id'),
      audit: all('SELECT id, action, actor, entities, outcome, detail, request_id FROM audit ORDER BY id'),
      auditEntities: all('SELECT entity, audit_id FROM audit_entities ORDER BY entity, audit_id'),
      pending: all('SELECT federated_id FROM identity_projection_pending ORDER BY federated_id'),
      seq: all('SELECT value FROM identity_seq'),
    };
  } finally {
    db.close();
  }
}

/** Every table of the registry holds the same rows in both files; returns those of `actual`. */
function expectSameRegistry(expected: string, actual: string): Record<string, unknown[]> {
  const a = registryRows(expected);
  const b = registryRows(actual);
  for (const table of Object.keys(a)) expect({ table, rows: b[table] }).toEqual({ table, rows: a[table] });
  return b;
}

async function bulkImport(service: IdentityService, identities: readonly SourceIdentity[], batchSize: number, pipeline = true): Promise<{ results: RegistrationResult[]; failures: number }> {
  const results: RegistrationResult[] = [];
  let failures = 0;
  const bulk = await service.openBulk<number>({
    ctx,
    pipeline,
    onCommitted: (items, rs) => {
      // In order: each batch's first item follows the last one delivered.
      expect(items[0].tag).toBe(results.length);
      results.push(...rs);
    },
    onFailure: () => failures++,
  });
  try {
    for (let i = 0; i < identities.length; i += batchSize) {
      await bulk.add(identities.slice(i, i + batchSize).map((identity, k) => ({ identity, tag: i + k })));
    }
  } finally {
    await bulk.finish();
  }
  return { results, failures };
}

/** The reference: each identity in its own transaction through registerIn, FHIR Patients deferred as an import does. */
async function oneByOne(identities: readonly SourceIdentity[]): Promise<{ file: string; results: RegistrationResult[] }> {
  const { file, store, service } = await open();
  const results: RegistrationResult[] = [];
  for (const s of identities) results.push((await service.registerBatch([s], ctx, { deferProjection: true }))[0]);
  await store.close();
  return { file, results };
}

/** Imports `identities` in batches on a fresh registry; it must end as registering them one by one does. */
async function expectSameAsOneByOne(identities: readonly SourceIdentity[], batchSize: number, pipeline: boolean): Promise<RegistrationResult[]> {
  const one = await oneByOne(identities);
  const bulk = await open();
  const { results, failures } = await bulkImport(bulk.service, identities, batchSize, pipeline);
  await bulk.store.close();
  expect(failures).toBe(0);
  expect(results).toEqual(one.results);
  expectSameRegistry(one.file, bulk.file);
  return results;
}

describe('bulk registration (IdentityService.openBulk)', () => {
  it('leaves the same registry as registering one by one, on a worker thread writing the file (batches of 1,200 sent in parts)', async () => {
    const identities = stream(3000, 20261122);
    const one = await oneByOne(identities);
    const bulk = await open();
    const { results, failures } = await bulkImport(bulk.service, identities, 1200);
    expect(failures).toBe(0);
    expect(results).toEqual(one.results);
    // The generated stream takes every path.
    const decisions = new Set(results.map((r) => r.decision));
    expect(decisions).toEqual(new Set(['auto-linked', 'review', 'new']));
    expect(results.some((r) => (r.reviewIds?.length ?? 0) > 1)).toBe(true);

    // Still usable afterwards: the index matches what was written (a match finds the registered identity).
    const probe = identities[identities.length - 1];
    const found = await bulk.service.match(probe);
    expect(found.map((m) => m.federatedId)).toContain(results[results.length - 1].federatedId);
    await bulk.store.close();

    const rows = expectSameRegistry(one.file, bulk.file);
    expect(rows.federated.length).toBeGreaterThan(1000);
    expect(rows.reviews.length).toBeGreaterThan(100);
  }, 120_000);

  it('a source seen before goes through registerIn once the batches before it committed; results stay in order', async () => {
    const fresh = stream(1200, 7);
    // Re-registrations inside the stream: the same source again (known), and again with another status.
    const identities = [...fresh.slice(0, 600), fresh[10], { ...fresh[20], status: 'VALI' as const }, ...fresh.slice(600)];
    const results = await expectSameAsOneByOne(identities, 100, true);
    expect(results.filter((r) => r.decision === 'known').length).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('without the pipeline (PostgreSQL, the HTTP import) each batch goes through registerIn: same registry', async () => {
    await expectSameAsOneByOne(stream(800, 3), 64, false);
  }, 120_000);

  it('another writer commits while a batch is on its way: that batch is refused, the rest goes through registerIn; same decisions, nothing lost', async () => {
    const identities = stream(1500, 99);
    // Another person: a new federated identity (the registry's change number moves).
    const { ins: _ins, ...noIns } = identities[3];
    const elsewhere: SourceIdentity = { ...noIns, birthName: 'QUERNEVAL', sourceId: { system: 'urn:oid:1.2.250.1.71.4.2.2.999', value: 'elsewhere' } };
    // What registering one by one in that order decides.
    const one = await oneByOne([...identities.slice(0, 300), elsewhere, ...identities.slice(300)]);

    const bulk = await open();
    const results: RegistrationResult[] = [];
    const fallbacks: string[] = [];
    const registrar = await bulk.service.openBulk<number>({ ctx, onCommitted: (_i, rs) => results.push(...rs), onFallback: (why) => fallbacks.push(why) });
    // Another process: its own store and service on the same file, holding its transaction open until released.
    const other = await openSqliteStore({ file: bulk.file });
    const otherService = new IdentityService(other, { newId: counter('other') });
    const add = (from: number, to: number): Promise<void> => registrar.add(identities.slice(from, to).map((identity, k) => ({ identity, tag: from + k })));
    let otherResult: RegistrationResult | undefined;
    try {
      await add(0, 100);
      await add(100, 200);
      await add(200, 300);
      // Everything so far committed: the other writer then takes the lock at once (in this test it runs on the
      // importer's thread, so it must not wait for the importer's writer thread).
      await registrar.settle();
      let release!: () => void;
      let written!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const wrote = new Promise<void>((r) => (written = r));
      const held = other.transaction(async (tx) => {
        otherResult = await otherService.registerIn(tx, elsewhere, { actor: 'other' });
        written();
        await gate;
      });
      await wrote;
      // Planned on the registry as committed (the other write is not), sent to the writer, which waits for the lock.
      await add(300, 400);
      release();
      await held;
      for (let i = 400; i < identities.length; i += 100) await add(i, i + 100);
    } finally {
      await registrar.finish();
      await other.close();
    }
    expect(otherResult?.decision).not.toBe('auto-linked');
    expect(fallbacks).toHaveLength(1);
    expect(fallbacks[0]).toMatch(/changed by another writer/);
    const decisions = (rs: readonly RegistrationResult[]): unknown[] => rs.map((r) => [r.decision, r.grade, r.score, r.reviewIds?.length]);
    expect(decisions([...results.slice(0, 300), otherResult as RegistrationResult, ...results.slice(300)])).toEqual(decisions(one.results));
    expect(await bulk.store.identities.countSources()).toBe(identities.length + 1);
    // Every source is linked where its result says, and the index (reloaded) finds them.
    const last = identities[identities.length - 1];
    const link = await bulk.service.linkOf(last.sourceId.system, last.sourceId.value);
    expect(link?.federatedId).toBe(results[results.length - 1].federatedId);
    expect((await bulk.service.match(last)).map((m) => m.federatedId)).toContain(link?.federatedId);
    await bulk.store.close();
  }, 120_000);
});
