// The FHIR Patients of `passerelle identity import` (importPatients, then drainProjections): written a batch at a time
// (sourcesAndMergedOf, readMany, putMany), they must be the Patients the one-by-one drain wrote — same ids, content,
// versions and search index rows — on the same registry (a copy of one SQLite file, drained both ways). On PostgreSQL,
// each Patient equals the one built from its registry rows and is found by search. Also: the progress callback
// covers the Patient phase.
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Patient, Resource } from '@medplum/fhirtypes';
import { afterAll, describe, expect, it } from 'vitest';
import { federatedPatient, linkToFederated, refersTo, sourcePatientId } from '../../src/fhir/federated-patient.js';
import { mapPatient } from '../../src/fhir/map-common.js';
import { importPatients, type NdjsonLine, type ProjectionProgress } from '../../src/services/identity-import.js';
import { identityServiceFor } from '../../src/services/patient-identity.js';
import { openPgStore } from '../../src/store/pg-store.js';
import type { ResourceStore, StoreTransaction } from '../../src/store/repository.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { dropPgSchema, PG_TEST_URL, pgUnreachable } from '../support/pg.js';
import { available } from '../support/shared.js';
import { iterateIdentities, toFhirPatient } from '../support/identity-generator.js';

const dir = mkdtempSync(join(tmpdir(), 'passerelle-import-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ctx = { actor: 'import-test' };

/** Generated Patients as NDJSON lines (many duplicates: auto-links, reviews, federated Patients with several sources). */
function patients(count: number, seed: number): (Patient & { id: string })[] {
  const out: (Patient & { id: string })[] = [];
  for (const g of iterateIdentities({ seed, persons: Math.round(count / 1.5), duplicateRate: 0.5 })) {
    out.push(toFhirPatient(g.identity));
    if (out.length >= count) break;
  }
  return out;
}

async function* lines(ps: readonly Patient[]): AsyncGenerator<NdjsonLine> {
  let bytes = 0;
  for (const [i, p] of ps.entries()) {
    const text = JSON.stringify(p);
    bytes += text.length + 1;
    yield { line: i + 1, text, bytes };
  }
}

/** The drain as it was before the bulk write: each pending identity's Patients read and put one at a time. */
async function drainOneByOne(store: ResourceStore): Promise<number> {
  const project = async (tx: StoreTransaction, federatedId: string): Promise<void> => {
    const f = await tx.identities.getFederated(federatedId);
    if (!f) return;
    const [sources, replaces] = await Promise.all([tx.identities.sourcesOf(f.id), tx.identities.mergedInto(f.id)]);
    await tx.put(federatedPatient({ identity: f, sources, replaces }));
    for (const s of sources) {
      const current = await tx.read<Patient>('Patient', sourcePatientId(s.system, s.localId));
      if (current && refersTo(current, f.id)) continue;
      await tx.put(linkToFederated(current ?? mapPatient(s.traits), f.id));
    }
  };
  let done = 0;
  for (;;) {
    const n = await store.transaction(async (tx) => {
      const ids = await tx.identities.takeProjectionPending(250);
      for (const id of ids) await project(tx, id);
      return ids.length;
    });
    done += n;
    if (n < 250) return done;
  }
}

/** Resources, versions and index rows of a database file; `meta.lastUpdated` left out (each drain stamps its own). */
function resourceRows(file: string): Record<string, unknown[]> {
  const db = new Database(file, { readonly: true });
  const withoutStamp = (json: string): unknown => {
    const r = JSON.parse(json) as Resource;
    return { ...r, meta: { ...r.meta, lastUpdated: undefined } };
  };
  try {
    return {
      resources: (db.prepare('SELECT type, id, version, deleted, json FROM resources ORDER BY type, id').all() as { json: string }[]).map((r) => ({ ...r, json: withoutStamp(r.json) })),
      versions: (db.prepare('SELECT type, id, version, deleted, json FROM resource_versions ORDER BY type, id, version').all() as { json: string }[]).map((r) => ({ ...r, json: withoutStamp(r.json) })),
      index: db.prepare('SELECT type, id, param, system, value, date_start, date_end FROM search_index ORDER BY type, id, param, system, value, date_start, date_end').all(),
      pending: db.prepare('SELECT federated_id FROM identity_projection_pending').all(),
    };
  } finally {
    db.close();
  }
}

/** Searches a person would run for the Patient: by birth name, birth date, identifier (each must find it). */
async function findsBySearch(store: ResourceStore, p: Patient): Promise<void> {
  const family = p.name?.find((n) => n.use === 'official')?.family as string;
  const identifier = p.identifier?.[p.identifier.length - 1];
  const searches = [
    { param: 'family', value: family },
    { param: 'birthdate', value: p.birthDate as string },
    { param: 'identifier', value: `${identifier?.system ?? ''}|${identifier?.value ?? ''}` },
  ];
  for (const s of searches) {
    const { resources } = await store.search({ resourceType: 'Patient', predicates: [{ param: s.param, prefix: 'eq', values: [s.value] }], count: 1000, offset: 0 });
    expect(resources.map((r) => r.id), `${s.param}=${s.value}`).toContain(p.id);
  }
}

describe('identity import: the FHIR Patients written a batch at a time', () => {
  it('SQLite: the same Patients, versions and index rows as the one-by-one drain; the progress covers the Patient phase', async () => {
    const all = patients(900, 20260601);
    const base = join(dir, 'base.sqlite');
    const store = await openSqliteStore({ file: base });
    // A first import, drained: the second one re-projects some of its federated identities (version 2, index rows replaced).
    await importPatients(store, lines(all.slice(0, 500)), { ctx, batchSize: 128 });
    // A source Patient stored before the import, with content of its own: kept, and linked to its federated Patient.
    const early = { ...all[600], telecom: [{ system: 'phone' as const, value: '0102030405' }] };
    await store.transaction((tx) => tx.put(early));
    // Lines 400–900: 100 sources seen before, the rest new or linked to the first import's identities.
    const summary = await importPatients(store, lines(all.slice(400)), { ctx, batchSize: 128, project: false });
    expect(summary.projected).toBe(0);
    const pending = await store.identities.countProjectionPending();
    expect(pending).toBeGreaterThan(100);
    await store.close();

    const bulkFile = join(dir, 'bulk.sqlite');
    const oldFile = join(dir, 'one-by-one.sqlite');
    copyFileSync(base, bulkFile);
    copyFileSync(base, oldFile);

    const bulk = await openSqliteStore({ file: bulkFile });
    const progress: ProjectionProgress[] = [];
    // Batches of 150: several transactions, and `putMany` statements of full chunks and of single rows.
    const projected = await identityServiceFor(bulk).drainProjections({ batchSize: 150, onProgress: (p) => progress.push(p) });
    expect(projected).toBe(pending);
    expect(progress[0]).toEqual({ done: 0, total: pending });
    expect(progress[progress.length - 1]).toEqual({ done: pending, total: pending });
    expect(progress.length).toBe(2 + Math.floor(pending / 150));

    const old = await openSqliteStore({ file: oldFile });
    expect(await drainOneByOne(old)).toBe(pending);
    await old.close();

    const expected = resourceRows(oldFile);
    const actual = resourceRows(bulkFile);
    expect(actual.pending).toEqual([]);
    expect(actual.resources.length).toBeGreaterThan(900);
    expect(actual.versions.length).toBeGreaterThan(actual.resources.length);
    expect(actual.resources).toEqual(expected.resources);
    expect(actual.versions).toEqual(expected.versions);
    expect(actual.index).toEqual(expected.index);

    // The early source Patient kept its telecom and points at its federated Patient, which links back.
    const stored = await bulk.read<Patient>('Patient', early.id);
    expect(stored?.telecom).toEqual(early.telecom);
    const refer = stored?.link?.find((l) => l.type === 'refer')?.other.reference as string;
    const federated = await bulk.read<Patient>('Patient', refer.slice('Patient/'.length));
    expect(federated?.link?.map((l) => l.other.reference)).toContain(`Patient/${early.id}`);
    await findsBySearch(bulk, stored as Patient);
    await findsBySearch(bulk, federated as Patient);
    await bulk.close();
  });

  it('importPatients reports the Patient phase after the registry, up to every federated identity', async () => {
    const store = await openSqliteStore({ file: join(dir, 'progress.sqlite') });
    const events: string[] = [];
    const summary = await importPatients(store, lines(patients(300, 20260602)), {
      ctx,
      batchSize: 100,
      onProgress: (p) => events.push(`registry ${p.registered}`),
      onProjection: (p) => events.push(`patients ${p.done}/${p.total}`),
    });
    await store.close();
    expect(summary.projected).toBeGreaterThan(0);
    const firstPatients = events.findIndex((e) => e.startsWith('patients'));
    expect(events.slice(0, firstPatients).every((e) => e.startsWith('registry'))).toBe(true);
    expect(events[firstPatients - 1]).toBe('registry 300');
    expect(events[firstPatients]).toBe(`patients 0/${summary.projected}`);
    expect(events[events.length - 1]).toBe(`patients ${summary.projected}/${summary.projected}`);
  });
});

const unreachable = await pgUnreachable();
if (available(`PostgreSQL at ${PG_TEST_URL} (${unreachable ?? ''})`, !unreachable, 'identity import Patients on PostgreSQL')) {
  describe('identity import on PostgreSQL: the FHIR Patients', () => {
    const schema = `import_${process.pid}`;
    afterAll(() => dropPgSchema(schema));

    it('each federated and source Patient as built from its registry rows, found by name, birth date and identifier', async () => {
      const store = await openPgStore({ url: PG_TEST_URL, schema, poolSize: 4 });
      try {
        const all = patients(300, 20260603);
        await importPatients(store, lines(all.slice(0, 200)), { ctx, batchSize: 64 });
        const progress: ProjectionProgress[] = [];
        const summary = await importPatients(store, lines(all.slice(150)), { ctx, batchSize: 64, onProjection: (p) => progress.push(p) });
        expect(progress[progress.length - 1]).toEqual({ done: summary.projected, total: summary.projected });
        expect(await store.identities.countProjectionPending()).toBe(0);

        const federatedIds = new Set<string>();
        for await (const link of store.identities.links()) federatedIds.add(link.federated_id);
        const records = await store.identities.getFederatedMany([...federatedIds]);
        const related = await store.transaction((tx) => tx.identities.sourcesAndMergedOf([...federatedIds]));
        const strip = (p: Patient | undefined): unknown => p && { ...p, meta: { ...p.meta, versionId: undefined, lastUpdated: undefined } };
        for (const f of records) {
          const { sources, replaces } = related.get(f.id) ?? { sources: [], replaces: [] };
          expect(sources).toEqual(await store.identities.sourcesOf(f.id));
          expect(strip(await store.read<Patient>('Patient', f.id))).toEqual(strip(federatedPatient({ identity: f, sources, replaces })));
          for (const s of sources) {
            const stored = await store.read<Patient>('Patient', sourcePatientId(s.system, s.localId));
            expect(strip(stored)).toEqual(strip(linkToFederated(mapPatient(s.traits), f.id)));
          }
        }
        const some = records[records.length - 1];
        await findsBySearch(store, (await store.read<Patient>('Patient', some.id)) as Patient);
      } finally {
        await store.close();
      }
    });
  });
}
