// The behaviour every ResourceStore dialect must show, as one reusable suite: the SQLite test calls it now,
// the PostgreSQL dialect will call it with its own `open`.
import { OperationOutcomeError } from '@medplum/core';
import type { Basic, CarePlan, Patient, Resource, Task } from '@medplum/fhirtypes';
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseSearchParams } from '../../src/fhir/search-params.js';
import type { LinkIssue } from '../../src/store/pathway-link-repository.js';
import type { PathwayCase } from '../../src/store/pathway-repository.js';
import { parseDocument } from '../../src/domain/parse.js';
import type { Ppp } from '../../src/domain/ppp.js';
import type { ResourceStore } from '../../src/store/repository.js';

/** A clock the suite controls: every call returns the set time and then advances it by one millisecond. */
export class TestClock {
  private t = Date.parse('2024-03-01T08:00:00.000Z');

  set(iso: string): void {
    this.t = Date.parse(iso);
  }

  readonly now = (): Date => new Date(this.t++);
}

export type OpenStore = (options: { now: () => Date }) => Promise<ResourceStore>;

const INS = 'urn:oid:1.2.250.1.213.1.4.8';
const LOCAL = 'urn:oid:1.2.250.1.999.1';

const patient = (id: string, extra: Partial<Patient> = {}): Patient => ({
  resourceType: 'Patient',
  id,
  identifier: [{ system: INS, value: `INS-${id}` }],
  ...extra,
});

const carePlan = (id: string, patientId: string, status: CarePlan['status'], extra: Partial<CarePlan> = {}): CarePlan => ({
  resourceType: 'CarePlan',
  id,
  status,
  intent: 'plan',
  subject: { reference: `Patient/${patientId}` },
  identifier: [{ system: LOCAL, value: `ppp-${id}` }],
  ...extra,
});

function outcomeCode(e: unknown): string | undefined {
  return e instanceof OperationOutcomeError ? e.outcome.issue?.[0]?.code : undefined;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

export function storeContract(name: string, open: OpenStore): void {
  describe(`ResourceStore contract: ${name}`, () => {
    let store: ResourceStore;
    let clock: TestClock;

    beforeEach(async () => {
      clock = new TestClock();
      store = await open({ now: clock.now });
    });
    afterEach(async () => {
      await store.close();
    });

    const put = <T extends Resource>(r: T) => store.transaction((tx) => tx.put(r));
    const ids = (rs: Resource[]) => rs.map((r) => r.id);
    const find = async (type: string, qs: string) =>
      (await store.search(parseSearchParams(type, new URLSearchParams(qs)))).resources;

    describe('writes and versions', () => {
      it('creates version 1 with meta from the clock, without touching the input', async () => {
        clock.set('2024-05-02T10:00:00.000Z');
        const input = patient('p1', { meta: { profile: ['https://example.org/p'] } });
        const res = await put(input);
        expect(res.created).toBe(true);
        expect(res.changed).toBe(true);
        expect(res.resource.meta).toEqual({
          profile: ['https://example.org/p'],
          versionId: '1',
          lastUpdated: '2024-05-02T10:00:00.000Z',
        });
        expect(input.meta).toEqual({ profile: ['https://example.org/p'] });
        expect(await store.read('Patient', 'p1')).toEqual(res.resource);
        expect(await store.read('Patient', 'nope')).toBeUndefined();
      });

      it('writes no version when the content is unchanged, whatever meta.versionId/lastUpdated say', async () => {
        const first = await put(patient('p1', { gender: 'female' }));
        // Same content, different key order and stale meta: still the same resource.
        const again = await put({
          gender: 'female',
          identifier: [{ value: 'INS-p1', system: INS }],
          id: 'p1',
          resourceType: 'Patient',
          meta: { versionId: '7', lastUpdated: '2020-01-01T00:00:00Z' },
        } as Patient);
        expect(again).toEqual({ resource: first.resource, created: false, changed: false });
        expect(await store.history('Patient', 'p1')).toHaveLength(1);

        const changed = await put(patient('p1', { gender: 'male' }));
        expect(changed.changed).toBe(true);
        expect(changed.created).toBe(false);
        expect(changed.resource.meta?.versionId).toBe('2');
      });

      it('keeps every version: vread and history newest first', async () => {
        clock.set('2024-01-01T00:00:00.000Z');
        await put(patient('p1', { gender: 'female' }));
        clock.set('2024-02-01T00:00:00.000Z');
        await put(patient('p1', { gender: 'male' }));
        const v1 = await store.vread('Patient', 'p1', '1');
        expect(v1?.deleted).toBe(false);
        expect((v1?.resource as Patient).gender).toBe('female');
        expect(v1?.resource.meta?.lastUpdated).toBe('2024-01-01T00:00:00.000Z');
        expect(((await store.vread('Patient', 'p1', '2'))?.resource as Patient).gender).toBe('male');
        expect(await store.vread('Patient', 'p1', '3')).toBeUndefined();
        expect(await store.vread('Patient', 'p1', 'x')).toBeUndefined();
        const history = await store.history('Patient', 'p1');
        expect(history.map((v) => v.resource.meta?.versionId)).toEqual(['2', '1']);
        expect(await store.history('Patient', 'unknown')).toEqual([]);
      });

      it('refuses a stale If-Match version with a conflict', async () => {
        await put(patient('p1'));
        await put(patient('p1', { gender: 'male' }));
        const e = await rejection(store.transaction((tx) => tx.put(patient('p1', { gender: 'other' }), { ifMatchVersion: '1' })));
        expect(outcomeCode(e)).toBe('conflict');
        const ok = await store.transaction((tx) => tx.put(patient('p1', { gender: 'other' }), { ifMatchVersion: '2' }));
        expect(ok.resource.meta?.versionId).toBe('3');
        const missing = await rejection(store.transaction((tx) => tx.put(patient('p9'), { ifMatchVersion: '1' })));
        expect(outcomeCode(missing)).toBe('conflict');
        expect(await store.read('Patient', 'p9')).toBeUndefined();
      });

      it('refuses a resource without a valid id', async () => {
        const e = await rejection(store.transaction((tx) => tx.put({ resourceType: 'Patient' } as Patient)));
        expect(outcomeCode(e)).toBe('invalid');
        const bad = await rejection(store.transaction((tx) => tx.put({ resourceType: 'Patient', id: 'a b' })));
        expect(outcomeCode(bad)).toBe('invalid');
      });

      it('deletes with a deletion version; a later put recreates', async () => {
        await put(carePlan('cp1', 'p1', 'active'));
        expect(await store.transaction((tx) => tx.delete('CarePlan', 'cp1'))).toBe(true);
        expect(await store.read('CarePlan', 'cp1')).toBeUndefined();
        expect(await find('CarePlan', 'patient=p1')).toEqual([]);
        expect(await find('CarePlan', '_id=cp1')).toEqual([]);
        const history = await store.history('CarePlan', 'cp1');
        expect(history.map((v) => [v.resource.meta?.versionId, v.deleted])).toEqual([
          ['2', true],
          ['1', false],
        ]);
        expect(await store.transaction((tx) => tx.delete('CarePlan', 'cp1'))).toBe(false);
        expect(await store.transaction((tx) => tx.delete('CarePlan', 'never'))).toBe(false);
        const again = await put(carePlan('cp1', 'p1', 'active'));
        expect(again).toMatchObject({ created: true, changed: true });
        expect(again.resource.meta?.versionId).toBe('3');
        expect(ids(await find('CarePlan', 'patient=p1'))).toEqual(['cp1']);
      });

      it('readJson: the current versions of several ids as the JSON text read() parses, in one call; deleted, missing and other types left out', async () => {
        const p1 = (await put(patient('p1', { gender: 'female', name: [{ family: 'DUPONT', given: ['Élise'] }] }))).resource;
        await put(patient('p1', { gender: 'male' }));
        await put(patient('p2'));
        await put(patient('p3'));
        await store.transaction((tx) => tx.delete('Patient', 'p3'));
        await put(carePlan('p4', 'p1', 'active'));
        const texts = await store.readJson('Patient', ['p2', 'p1', 'p3', 'p4', 'nope', 'p1']);
        expect([...texts.keys()].sort()).toEqual(['p1', 'p2']);
        // The current version, as read() gives it; and the very text JSON.stringify writes (spliced whole into answers).
        const current = await store.read('Patient', 'p1');
        expect(JSON.parse(texts.get('p1') as string)).toEqual(current);
        expect(texts.get('p1')).toBe(JSON.stringify(current));
        expect(current).not.toEqual(p1);
        expect(await store.readJson('Patient', [])).toEqual(new Map());
      });
    });

    describe('transactions', () => {
      it('commits everything the callback wrote and returns its result', async () => {
        const result = await store.transaction(async (tx) => {
          await tx.put(patient('p1'));
          await tx.put(carePlan('cp1', 'p1', 'active'));
          expect((await tx.read('CarePlan', 'cp1'))?.id).toBe('cp1');
          expect(ids((await tx.search(parseSearchParams('CarePlan', new URLSearchParams('patient=p1')))).resources)).toEqual(['cp1']);
          await tx.audit({ action: 'ppp.submit', actor: 'dpi-1', entities: ['CarePlan/cp1'], outcome: 'success' });
          return 42;
        });
        expect(result).toBe(42);
        expect(ids(await find('CarePlan', 'patient=p1'))).toEqual(['cp1']);
        expect(await store.auditLog({ entity: 'CarePlan/cp1' })).toHaveLength(1);
      });

      it('rolls back everything on throw: resources, versions, index and audit', async () => {
        await put(carePlan('cp0', 'p1', 'active'));
        const boom = new Error('boom');
        const e = await rejection(
          store.transaction(async (tx) => {
            await tx.put(carePlan('cp1', 'p1', 'active'));
            await tx.put(carePlan('cp0', 'p2', 'completed')); // update of an existing one
            await tx.delete('Patient', 'nobody');
            await tx.audit({ action: 'ppp.submit', actor: 'dpi-1', entities: ['CarePlan/cp1'], outcome: 'success' });
            await new Promise((r) => setTimeout(r, 5));
            throw boom;
          }),
        );
        expect(e).toBe(boom);
        expect(await store.read('CarePlan', 'cp1')).toBeUndefined();
        expect(await store.history('CarePlan', 'cp1')).toEqual([]);
        expect((await store.history('CarePlan', 'cp0')).length).toBe(1);
        expect((await store.read<CarePlan>('CarePlan', 'cp0'))?.status).toBe('active');
        expect(ids(await find('CarePlan', 'patient=p1'))).toEqual(['cp0']);
        expect(await find('CarePlan', 'patient=p2')).toEqual([]);
        expect(await find('CarePlan', 'status=completed')).toEqual([]);
        expect(await find('CarePlan', `identifier=${LOCAL}|ppp-cp1`)).toEqual([]);
        expect(await store.auditLog()).toEqual([]);
      });

      it('never lets a read outside the transaction see its uncommitted writes', async () => {
        // Another request: started from outside the transaction's async context, while the transaction runs.
        let startOutside!: () => void;
        const outside = new Promise<void>((r) => (startOutside = r)).then(() => store.read('Patient', 'p1'));
        await rejection(
          store.transaction(async (tx) => {
            await tx.put(patient('p1'));
            startOutside();
            await new Promise((r) => setTimeout(r, 10));
            throw new Error('abort');
          }),
        );
        expect(await outside).toBeUndefined();
      });

      it('serialises concurrent transactions: no lost update', async () => {
        await put({ resourceType: 'Basic', id: 'counter', code: { text: '0' } } as Basic);
        await Promise.all(
          Array.from({ length: 10 }, () =>
            store.transaction(async (tx) => {
              const current = await tx.read<Basic>('Basic', 'counter');
              await new Promise((r) => setTimeout(r, 1));
              await tx.put({ ...(current as Basic), code: { text: String(Number(current?.code.text) + 1) } });
            }),
          ),
        );
        expect((await store.read<Basic>('Basic', 'counter'))?.code.text).toBe('10');
        expect(await store.history('Basic', 'counter')).toHaveLength(11);
      });

      it('refuses a transaction object used after its transaction ended', async () => {
        let leaked: Parameters<Parameters<ResourceStore['transaction']>[0]>[0] | undefined;
        await store.transaction(async (tx) => {
          leaked = tx;
        });
        await expect(leaked!.put(patient('late'))).rejects.toThrow(/after its transaction ended/);
        expect(await store.read('Patient', 'late')).toBeUndefined();
      });
    });

    describe('search', () => {
      // Seeded one second apart from 2024-03-01T08:00:00Z, so the order is the reverse of this list.
      beforeEach(async () => {
        const at = (i: number) => clock.set(new Date(Date.parse('2024-03-01T08:00:00.000Z') + i * 1000).toISOString());
        const resources: Resource[] = [
          patient('p1', { birthDate: '1950-06-15', gender: 'female' }),
          patient('p2', { birthDate: '1938', gender: 'male' }),
          carePlan('cp1', 'p1', 'active', {
            supportingInfo: [{ reference: 'DetectedIssue/di1' }],
            meta: { tag: [{ system: 'urn:tag', code: 'ppp' }], profile: ['https://fhir.passerelle.fr/StructureDefinition/passerelle-ppp-careplan'] },
          }),
          carePlan('cp2', 'p1', 'completed'),
          carePlan('cp3', 'p2', 'active', { identifier: [{ system: LOCAL, value: 'shared' }, { value: 'no-system' }] }),
          carePlan('cp4', 'p2', 'draft', { identifier: [{ system: 'urn:other', value: 'shared' }] }),
          carePlan('cp5', 'g1', 'active', { subject: { reference: 'Group/g1' } }),
          { resourceType: 'Task', id: 't1', status: 'requested', intent: 'order', for: { reference: 'Patient/p1' } } as Task,
        ];
        for (const [i, r] of resources.entries()) {
          at(i);
          await put(r);
        }
      });

      it('orders by _lastUpdated descending and matches nothing for an empty type', async () => {
        expect(ids(await find('CarePlan', ''))).toEqual(['cp5', 'cp4', 'cp3', 'cp2', 'cp1']);
        expect(await find('Observation', '')).toEqual([]);
      });

      it('by _id, one or several, and :not', async () => {
        expect(ids(await find('CarePlan', '_id=cp2'))).toEqual(['cp2']);
        expect(ids(await find('CarePlan', '_id=cp1,cp3,nope'))).toEqual(['cp3', 'cp1']);
        expect(ids(await find('CarePlan', '_id:not=cp1,cp2'))).toEqual(['cp5', 'cp4', 'cp3']);
      });

      it('by identifier: system|value, value, system| and |value', async () => {
        expect(ids(await find('CarePlan', `identifier=${LOCAL}|ppp-cp2`))).toEqual(['cp2']);
        expect(ids(await find('CarePlan', 'identifier=ppp-cp2'))).toEqual(['cp2']);
        expect(ids(await find('CarePlan', 'identifier=shared'))).toEqual(['cp4', 'cp3']);
        expect(ids(await find('CarePlan', `identifier=${LOCAL}|shared`))).toEqual(['cp3']);
        expect(ids(await find('CarePlan', 'identifier=urn:other|'))).toEqual(['cp4']);
        expect(ids(await find('CarePlan', 'identifier=|no-system'))).toEqual(['cp3']);
        expect(ids(await find('CarePlan', `identifier=${LOCAL}|ppp-cp1,urn:other|shared`))).toEqual(['cp4', 'cp1']);
        expect(ids(await find('Patient', `identifier=${INS}|INS-p2`))).toEqual(['p2']);
        expect(await find('CarePlan', `identifier=urn:other|ppp-cp1`)).toEqual([]);
      });

      it('by patient and subject, in every reference form', async () => {
        expect(ids(await find('CarePlan', 'patient=p1'))).toEqual(['cp2', 'cp1']);
        expect(ids(await find('CarePlan', 'patient=Patient/p1'))).toEqual(['cp2', 'cp1']);
        expect(ids(await find('CarePlan', 'patient=https://dpi.example/fhir/Patient/p1'))).toEqual(['cp2', 'cp1']);
        expect(ids(await find('CarePlan', 'subject=Patient/p2'))).toEqual(['cp4', 'cp3']);
        expect(ids(await find('CarePlan', 'subject:Patient=p2'))).toEqual(['cp4', 'cp3']);
        expect(ids(await find('CarePlan', 'subject=g1'))).toEqual(['cp5']);
        expect(ids(await find('CarePlan', 'subject=Group/g1'))).toEqual(['cp5']);
        expect(await find('CarePlan', 'patient=g1')).toEqual([]); // a Group is not a patient
        expect(ids(await find('CarePlan', 'patient=p1,p2'))).toEqual(['cp4', 'cp3', 'cp2', 'cp1']);
        expect(ids(await find('Task', 'patient=p1'))).toEqual(['t1']);
        expect(ids(await find('Task', 'subject=Patient/p1'))).toEqual(['t1']);
        expect(ids(await find('CarePlan', 'supporting-info=DetectedIssue/di1'))).toEqual(['cp1']);
      });

      it('by status, with alternatives, :not and combined with other parameters', async () => {
        expect(ids(await find('CarePlan', 'status=active'))).toEqual(['cp5', 'cp3', 'cp1']);
        expect(ids(await find('CarePlan', 'status=completed,draft'))).toEqual(['cp4', 'cp2']);
        expect(ids(await find('CarePlan', 'status:not=active'))).toEqual(['cp4', 'cp2']);
        expect(ids(await find('CarePlan', 'patient=p1&status=active'))).toEqual(['cp1']);
        expect(ids(await find('CarePlan', 'status=active&status=completed'))).toEqual([]);
      });

      it('by _tag, _profile and a date parameter with precision', async () => {
        expect(ids(await find('CarePlan', '_tag=urn:tag|ppp'))).toEqual(['cp1']);
        expect(ids(await find('CarePlan', '_profile=https://fhir.passerelle.fr/StructureDefinition/passerelle-ppp-careplan'))).toEqual(['cp1']);
        expect(ids(await find('Patient', 'birthdate=1950'))).toEqual(['p1']);
        expect(ids(await find('Patient', 'birthdate=1950-06-15'))).toEqual(['p1']);
        expect(await find('Patient', 'birthdate=1950-06-16')).toEqual([]);
        expect(ids(await find('Patient', 'birthdate=lt1940'))).toEqual(['p2']);
        expect(ids(await find('Patient', 'birthdate=ge1938-06-01'))).toEqual(['p2', 'p1']); // 1938 overlaps
        expect(ids(await find('Patient', 'birthdate=gt1938'))).toEqual(['p1']);
        expect(ids(await find('Patient', 'birthdate=ne1950'))).toEqual(['p2']);
      });

      it('by _lastUpdated with prefixes and precisions', async () => {
        // cp1 08:00:02, cp2 08:00:03, cp3 08:00:04, cp4 08:00:05, cp5 08:00:06
        expect(ids(await find('CarePlan', '_lastUpdated=2024-03-01'))).toHaveLength(5);
        expect(await find('CarePlan', '_lastUpdated=2024-03-02')).toEqual([]);
        expect(ids(await find('CarePlan', '_lastUpdated=2024-03-01T08:00:03Z'))).toEqual(['cp2']);
        expect(ids(await find('CarePlan', '_lastUpdated=ge2024-03-01T08:00:05Z'))).toEqual(['cp5', 'cp4']);
        expect(ids(await find('CarePlan', '_lastUpdated=gt2024-03-01T08:00:05Z'))).toEqual(['cp5']);
        expect(ids(await find('CarePlan', '_lastUpdated=lt2024-03-01T08:00:03Z'))).toEqual(['cp1']);
        expect(ids(await find('CarePlan', '_lastUpdated=le2024-03-01T08:00:03Z'))).toEqual(['cp2', 'cp1']);
        expect(ids(await find('CarePlan', '_lastUpdated=ne2024-03-01T08:00:03Z'))).toEqual(['cp5', 'cp4', 'cp3', 'cp1']);
        // Zone offsets: 09:00:04+01:00 is 08:00:04Z.
        expect(ids(await find('CarePlan', '_lastUpdated=2024-03-01T09:00:04%2B01:00'))).toEqual(['cp3']);
        expect(ids(await find('CarePlan', '_lastUpdated=ge2024-03-01T08:00:03Z&_lastUpdated=lt2024-03-01T08:00:05Z'))).toEqual([
          'cp3',
          'cp2',
        ]);
      });

      it('pages with _count and _offset, with an accurate total', async () => {
        const page = async (qs: string) => store.search(parseSearchParams('CarePlan', new URLSearchParams(qs)));
        const p1 = await page('_count=2&_total=accurate');
        expect(ids(p1.resources)).toEqual(['cp5', 'cp4']);
        expect(p1.total).toBe(5);
        expect(ids((await page('_count=2&_offset=2')).resources)).toEqual(['cp3', 'cp2']);
        const last = await page('_count=2&_offset=4&_total=accurate');
        expect(ids(last.resources)).toEqual(['cp1']);
        expect(last.total).toBe(5);
        expect((await page('_count=2&_offset=10')).resources).toEqual([]);
        const countOnly = await page('status=active&_summary=count');
        expect(countOnly).toEqual({ resources: [], total: 3 });
        expect((await page('_count=2')).total).toBeUndefined();
      });

      it('sees the new values after an update, and not the old ones', async () => {
        await put(carePlan('cp1', 'p2', 'revoked'));
        expect(ids(await find('CarePlan', 'patient=p1'))).toEqual(['cp2']);
        expect(ids(await find('CarePlan', 'status=revoked&patient=p2'))).toEqual(['cp1']);
        expect(await find('CarePlan', 'supporting-info=DetectedIssue/di1')).toEqual([]);
      });

      it('refuses a predicate on a parameter the type does not have', async () => {
        const e = await rejection(
          store.search({ resourceType: 'CarePlan', predicates: [{ param: 'nope', prefix: 'eq', values: ['x'] }], count: 10, offset: 0 }),
        );
        expect(outcomeCode(e)).toBe('invalid');
      });
    });

    describe('referrers', () => {
      const task = (id: string, target: string): Task => ({ resourceType: 'Task', id, status: 'requested', intent: 'order', for: { reference: target } });

      it('lists the live resources referring to a resource, whatever their type: once each, by type then id, at most limit', async () => {
        await put(patient('p1'));
        // Two references to the target in one resource; an absolute URL; a reference in an extension; a Patient link.
        await put(carePlan('cp1', 'p1', 'active', { author: { reference: 'Patient/p1' } }));
        await put({
          resourceType: 'Basic',
          id: 'b1',
          code: { text: 'x' },
          subject: { reference: 'https://fhir.example.org/fhir/Patient/p1' },
          extension: [{ url: 'https://example.org/ref', valueReference: { reference: 'Patient/p1/_history/1' } }],
        } as Basic);
        await put(patient('p2', { link: [{ other: { reference: 'Patient/p1' }, type: 'seealso' }] }));
        await put(task('t1', 'Patient/p1'));
        // Not referrers: another target, the same id under another type, a referrer deleted, a referrer updated away.
        await put(carePlan('cp2', 'p2', 'active'));
        await put(task('t2', 'Group/p1'));
        await put(task('t3', 'Patient/p1'));
        await store.transaction((tx) => tx.delete('Task', 't3'));
        await put(carePlan('cp3', 'p1', 'active'));
        await put(carePlan('cp3', 'p2', 'active'));

        const all = [
          { type: 'Basic', id: 'b1' },
          { type: 'CarePlan', id: 'cp1' },
          { type: 'Patient', id: 'p2' },
          { type: 'Task', id: 't1' },
        ];
        expect(await store.referrers('Patient', 'p1', 100)).toEqual(all);
        expect(await store.referrers('Patient', 'p1', 2)).toEqual(all.slice(0, 2));
        expect(await store.referrers('Patient', 'p1', 0)).toEqual([]);
        expect(await store.referrers('Patient', 'p2', 100)).toEqual([{ type: 'CarePlan', id: 'cp2' }, { type: 'CarePlan', id: 'cp3' }]);
        expect(await store.referrers('Group', 'p1', 100)).toEqual([{ type: 'Task', id: 't2' }]);
        expect(await store.referrers('Patient', 'nobody', 100)).toEqual([]);
        // Recreated, the deleted referrer is listed again.
        await put(task('t3', 'Patient/p1'));
        expect(await store.referrers('Patient', 'p1', 100)).toEqual([...all, { type: 'Task', id: 't3' }]);
      });

      it('sees the writes of its own transaction, and the store sees them once committed', async () => {
        await put(task('t1', 'Patient/p1'));
        const inside = await store.transaction(async (tx) => {
          await tx.put(task('t0', 'Patient/p1'));
          await tx.delete('Task', 't1');
          return tx.referrers('Patient', 'p1', 10);
        });
        expect(inside).toEqual([{ type: 'Task', id: 't0' }]);
        expect(await store.referrers('Patient', 'p1', 10)).toEqual([{ type: 'Task', id: 't0' }]);
      });
    });

    describe('audit', () => {
      it('records entries and lists them newest first, by entity and with a limit', async () => {
        clock.set('2024-06-01T12:00:00.000Z');
        await store.transaction(async (tx) => {
          await tx.audit({ action: 'ppp.submit', actor: 'dpi-1', entities: ['CarePlan/a', 'Patient/p'], outcome: 'success', requestId: 'r1' });
          await tx.audit({ action: 'ppp.link-ctm', actor: 'dpi-1', entities: ['CarePlan/a'], outcome: 'failure', detail: 'BMO not validated' });
          await tx.audit({ action: 'fhir.create', actor: 'anonymous', entities: ['Patient/q'], outcome: 'success' });
        });
        const all = await store.auditLog();
        expect(all.map((a) => a.action)).toEqual(['fhir.create', 'ppp.link-ctm', 'ppp.submit']);
        const forA = await store.auditLog({ entity: 'CarePlan/a' });
        expect(forA.map((a) => a.action)).toEqual(['ppp.link-ctm', 'ppp.submit']);
        expect(forA[0]).toMatchObject({ actor: 'dpi-1', outcome: 'failure', detail: 'BMO not validated', entities: ['CarePlan/a'] });
        expect(forA[1]).toMatchObject({ requestId: 'r1', entities: ['CarePlan/a', 'Patient/p'], recorded: '2024-06-01T12:00:00.000Z' });
        expect(typeof forA[0].id).toBe('number');
        expect(await store.auditLog({ limit: 1 })).toHaveLength(1);
        expect(await store.auditLog({ entity: 'Patient/none' })).toEqual([]);
      });
    });

    describe('outbox (issue 13)', () => {
      it('orders per key and destination: one destination held up does not hold up another', async () => {
        await store.transaction(async (tx) => {
          await tx.outbox.enqueue({ destination: 'hook', orderingKey: 'Patient/1', idempotencyKey: 'h1', payload: 1 });
          await tx.outbox.enqueue({ destination: 'hook', orderingKey: 'Patient/1', idempotencyKey: 'h2', payload: 2 });
          await tx.outbox.enqueue({ destination: 'dmp', orderingKey: 'Patient/1', idempotencyKey: 'd1', payload: 3 });
          await tx.outbox.enqueue({ destination: 'dmp', orderingKey: 'Patient/1', idempotencyKey: 'd2', payload: 4 });
        });
        // The webhook is down: h1 waits for its retry, and h2 behind it. The DMP's messages of the same patient go on.
        const [h1] = await store.outbox.claim({ owner: 'w', limit: 1, leaseMs: 1000, destinations: ['hook'] });
        expect(h1.idempotencyKey).toBe('h1');
        expect(await store.outbox.fail(h1.id, 'w', { error: 'down', retryAt: new Date('2030-01-01T00:00:00Z') })).toBe(true);
        const keys: string[] = [];
        for (let i = 0; i < 4; i++) {
          const got = await store.outbox.claim({ owner: 'w', limit: 10, leaseMs: 1000 });
          for (const m of got) {
            keys.push(m.idempotencyKey);
            await store.outbox.complete(m.id, 'w');
          }
        }
        expect(keys).toEqual(['d1', 'd2']);
        // Within one destination the order still holds: h2 waits for h1.
        expect((await store.outbox.list({ destination: 'hook', state: 'pending', limit: 10, offset: 0 })).total).toBe(2);
      });

      it('a live process renews its leases: the message is not taken over, another owner cannot renew it', async () => {
        await store.transaction((tx) => tx.outbox.enqueue({ destination: 'dmp', orderingKey: 'Patient/1', idempotencyKey: 'slow', payload: 1 }));
        const [m] = await store.outbox.claim({ owner: 'alive', limit: 1, leaseMs: 1000 });
        clock.set(new Date(Date.parse(m.leaseExpiresAt as string) - 100).toISOString());
        expect(await store.outbox.renew([m.id, 'no-such-id'], 'alive', 1000)).toEqual([m.id]);
        expect(await store.outbox.renew([m.id], 'someone-else', 1000)).toEqual([]);
        clock.set(new Date(Date.parse(m.leaseExpiresAt as string) + 500).toISOString()); // past the first lease
        expect(await store.outbox.claim({ owner: 'other', limit: 1, leaseMs: 1000 })).toEqual([]);
        expect(await store.outbox.complete(m.id, 'alive')).toBe(true);
        expect(await store.outbox.get(m.id)).toMatchObject({ state: 'delivered', attempts: 1 });
        expect(await store.outbox.renew([], 'alive', 1000)).toEqual([]);
      });

      it('a staged destination counts an unfinished attempt only once it was marked started', async () => {
        await store.transaction((tx) => tx.outbox.enqueue({ destination: 'dmp', orderingKey: 'Patient/1', idempotencyKey: 'queued', payload: 1 }));
        const claim = async (owner: string) => (await store.outbox.claim({ owner, limit: 1, leaseMs: 1000, staged: ['dmp'], maxInterrupted: 2 }))[0];
        let m = await claim('p1');
        // The process dies while the attempt still waits in the connector's queue: not counted, whatever the limit.
        for (const owner of ['p2', 'p3', 'p4']) {
          clock.set(new Date(Date.parse(m.leaseExpiresAt as string) + 1).toISOString());
          m = await claim(owner);
          expect(m.interrupted).toBeUndefined();
        }
        // Once started, an unfinished attempt counts (and with maxInterrupted 2, the second one quarantines it).
        expect(await store.outbox.markStarted(m.id, 'someone-else')).toBe(false);
        expect(await store.outbox.markStarted(m.id, 'p4')).toBe(true);
        clock.set(new Date(Date.parse(m.leaseExpiresAt as string) + 1).toISOString());
        m = await claim('p5');
        expect(m).toMatchObject({ interrupted: 1, attempts: 5 });
        await store.outbox.markStarted(m.id, 'p5');
        clock.set(new Date(Date.parse(m.leaseExpiresAt as string) + 1).toISOString());
        expect(await claim('p6')).toBeUndefined();
        expect(await store.outbox.get(m.id)).toMatchObject({ state: 'dead', interrupted: 2 });
      });

      it('counts attempts that never finished and quarantines the message at the limit, with its reason', async () => {
        await store.transaction(async (tx) => {
          await tx.outbox.enqueue({ destination: 'dmp', orderingKey: 'Patient/1', idempotencyKey: 'poison', payload: 1 });
          await tx.outbox.enqueue({ destination: 'dmp', orderingKey: 'Patient/1', idempotencyKey: 'next', payload: 2 });
          await tx.outbox.enqueue({ destination: 'dmp', orderingKey: 'Patient/2', idempotencyKey: 'other', payload: 3 });
        });
        const claimPoison = async (owner: string) => (await store.outbox.claim({ owner, limit: 10, leaseMs: 1000, maxInterrupted: 3 })).filter((m) => m.idempotencyKey === 'poison');
        let [poison] = await claimPoison('p1');
        const other = (await store.outbox.list({ state: 'inflight', limit: 10, offset: 0 })).items.find((m) => m.idempotencyKey === 'other')!;
        await store.outbox.complete(other.id, 'p1');
        // The process dies during the attempt, twice: each expired lease is counted, the message claimed again.
        for (const [i, owner] of ['p2', 'p3'].entries()) {
          clock.set(new Date(Date.parse(poison.leaseExpiresAt as string) + 1).toISOString());
          [poison] = await claimPoison(owner);
          expect(poison).toMatchObject({ attempts: i + 2, interrupted: i + 1 });
        }
        // The third attempt never finishes either: quarantined, not claimed again, and the key moves on.
        clock.set(new Date(Date.parse(poison.leaseExpiresAt as string) + 1).toISOString());
        expect(await store.outbox.claim({ owner: 'p4', limit: 10, leaseMs: 1000, maxInterrupted: 3 })).toEqual([]);
        const after = await store.outbox.claim({ owner: 'p4', limit: 10, leaseMs: 1000, maxInterrupted: 3 });
        expect(after.map((m) => m.idempotencyKey)).toEqual(['next']);
        const dead = await store.outbox.get(poison.id);
        expect(dead).toMatchObject({ state: 'dead', interrupted: 3 });
        expect(dead?.lastError).toMatch(/^attempt did not finish/);
        expect((await store.outbox.attempts(poison.id)).map((a) => [a.outcome, a.error?.slice(0, 24)])).toEqual([['dead', 'attempt did not finish: ']]);
        // A finished attempt resets the count; a redrive too.
        expect(await store.outbox.redrive(poison.id)).toBe(true);
        expect(await store.outbox.get(poison.id)).toMatchObject({ state: 'pending', attempts: 0 });
        expect((await store.outbox.get(poison.id))?.interrupted).toBeUndefined();
      });
    });

    it('answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('security: an assertion id is accepted once per client, and forgotten once expired', async () => {
      const now = clock.now();
      const exp = new Date(now.getTime() + 60_000);
      expect(await store.security.rememberJti('dpi', 'jti-1', exp, now)).toBe(true);
      expect(await store.security.rememberJti('dpi', 'jti-1', exp, now)).toBe(false);
      expect(await store.security.rememberJti('lgo', 'jti-1', exp, now)).toBe(true);
      const later = new Date(now.getTime() + 120_000);
      expect(await store.security.rememberJti('dpi', 'jti-1', new Date(later.getTime() + 60_000), later)).toBe(true);
    });

    it('security: access grants commit with their transaction, or not at all', async () => {
      await store.transaction(async (tx) => {
        await tx.access.grant('establishment:590780193', ['p1', 'p2', 'p1'], 'document');
        expect(await tx.access.tenantsOf('p1')).toEqual(['establishment:590780193']);
      });
      await expect(
        store.transaction(async (tx) => {
          await tx.access.grant('pharmacy:590000001', ['p1'], 'task');
          throw new Error('rolled back');
        }),
      ).rejects.toThrow('rolled back');
      expect(await store.security.tenantsOf('p1')).toEqual(['establishment:590780193']);
      expect(await store.security.mayAccess('establishment:590780193', 'p2')).toBe(true);
      expect(await store.security.mayAccess('pharmacy:590000001', 'p1')).toBe(false);
      await store.security.grant('pharmacy:590000001', ['p1'], 'care-team');
      expect(await store.security.tenantsOf('p1')).toEqual(['establishment:590780193', 'pharmacy:590000001']);
    });

    it('security: sessions are read back until they expire, and deleted', async () => {
      const now = clock.now();
      const expires = new Date(now.getTime() + 60_000).toISOString();
      await store.security.sessionPut('h1', { data: { sub: 'u1' }, expires });
      expect(await store.security.sessionGet('h1', now)).toEqual({ data: { sub: 'u1' }, expires });
      expect(await store.security.sessionGet('h1', new Date(now.getTime() + 61_000))).toBeUndefined();
      await store.security.sessionDelete('h1');
      expect(await store.security.sessionGet('h1', now)).toBeUndefined();
    });

    it('directory: an import becomes visible whole when finished, and replaces the previous one', async () => {
      const row = (line: number, extra: Record<string, string>) => ({ line, address: `bal${line}@test.mssante.fr`, balType: 'PER', ...extra });
      expect(await store.directory.count()).toBe(0);
      expect(await store.directory.current()).toBeUndefined();
      const g1 = await store.directory.beginImport('first.txt');
      await store.directory.addBatch(g1, [
        row(2, { ppId: '10001234567', ppIdKind: 'RPPS', family: 'Lefèvre', given: 'Hélène', structureId: '590780193', structureIdKind: 'FINESS' }),
        row(3, { ppId: '10001234567', ppIdKind: 'RPPS', family: 'LEFEVRE', given: 'HELENE' }),
      ]);
      // Not finished: lookups do not see it.
      expect(await store.directory.byRpps('10001234567')).toEqual([]);
      expect(await store.directory.finishImport(g1)).toBe(2);
      expect((await store.directory.byRpps('10001234567')).map((e) => e.address)).toEqual(['bal2@test.mssante.fr', 'bal3@test.mssante.fr']);
      expect(await store.directory.byFiness('590780193')).toEqual([
        { address: 'bal2@test.mssante.fr', balType: 'PER', ppId: '10001234567', ppIdKind: 'RPPS', family: 'Lefèvre', given: 'Hélène', structureId: '590780193', structureIdKind: 'FINESS' },
      ]);
      expect(await store.directory.byName('lefevre')).toHaveLength(2);
      expect(await store.directory.byName('LEFÈVRE', 'helene')).toHaveLength(2);
      expect(await store.directory.byName('Lefevre', 'Marie')).toEqual([]);
      expect(await store.directory.current()).toMatchObject({ generation: g1, source: 'first.txt', records: 2 });

      // A second import: the first stays visible until the second is finished; an aborted one changes nothing.
      const aborted = await store.directory.beginImport('broken.txt');
      await store.directory.addBatch(aborted, [row(2, { ppId: '10009999999', ppIdKind: 'RPPS' })]);
      await store.directory.abortImport(aborted);
      const g2 = await store.directory.beginImport('second.txt');
      expect(g2).toBeGreaterThan(aborted);
      await store.directory.addBatch(g2, Array.from({ length: 450 }, (_, i) => row(i + 2, { ppId: '10009999999', ppIdKind: 'RPPS' })));
      expect(await store.directory.count()).toBe(2);
      expect(await store.directory.finishImport(g2)).toBe(450);
      expect(await store.directory.count()).toBe(450);
      expect(await store.directory.byRpps('10001234567')).toEqual([]);
      expect(await store.directory.byRpps('10009999999')).toHaveLength(450);
      // A finished or aborted generation cannot be made current again.
      await expect(store.directory.finishImport(g1)).rejects.toThrow(/no longer loading/);
      await expect(store.directory.finishImport(aborted)).rejects.toThrow(/no longer loading/);
      expect(await store.directory.count()).toBe(450);
    });

    describe('MSSanté mail records (issue 17)', () => {
      it('takes a Message-ID in once, inside the transaction that stores the data (a rollback forgets it)', async () => {
        const intake = { messageId: '<a@x>', mailbox: 'INBOX', uid: 7, received: '2026-12-06T10:00:00.000Z', sender: 'pho@x.mssante.fr', state: 'processed' as const, resource: 'CarePlan/b1' };
        await expect(
          store.transaction(async (tx) => {
            expect(await tx.mssante.recordIntake(intake)).toBe(true);
            throw new Error('crash before commit');
          }),
        ).rejects.toThrow('crash before commit');
        expect(await store.mssante.intake('<a@x>')).toBeUndefined();
        expect(await store.transaction((tx) => tx.mssante.recordIntake(intake))).toBe(true);
        expect(await store.transaction((tx) => tx.mssante.recordIntake({ ...intake, state: 'error', code: '906' }))).toBe(false);
        expect(await store.mssante.intake('<a@x>')).toEqual(intake);
        expect(await store.mssante.recordIntake({ messageId: '<b@x>', mailbox: 'INBOX', received: '2026-12-06T11:00:00.000Z', state: 'error', code: '902', detail: 'unknown patient' })).toBe(true);
        expect((await store.mssante.intakes(10)).map((r) => r.messageId)).toEqual(['<b@x>', '<a@x>']);
      });

      it('records messages sent and moves their status with the receipts', async () => {
        const sent = { messageId: '<m1@gw>', outboxId: 'o1', destination: 'mss', recipient: 'mt@x.mssante.fr', role: 'medecin-traitant', resource: 'CarePlan/p1', status: 'sent' as const, sent: '2026-12-06T10:00:00.000Z', updated: '2026-12-06T10:00:00.000Z' };
        expect(await store.mssante.recordSent(sent)).toBe(true);
        expect(await store.mssante.recordSent(sent)).toBe(false);
        expect(await store.mssante.updateSent('<m1@gw>', { status: 'read', detail: 'displayed', at: '2026-12-06T12:00:00.000Z', communication: 'Communication/c1' })).toBe(true);
        expect(await store.mssante.updateSent('<unknown@gw>', { status: 'read', at: '2026-12-06T12:00:00.000Z' })).toBe(false);
        const got = await store.mssante.sent('<m1@gw>');
        expect(got).toMatchObject({ status: 'read', detail: 'displayed', communication: 'Communication/c1', updated: '2026-12-06T12:00:00.000Z' });
        expect((await store.mssante.sentOf('o1')).map((r) => r.messageId)).toEqual(['<m1@gw>']);
        expect((await store.mssante.sentFor('CarePlan/p1')).map((r) => r.recipient)).toEqual(['mt@x.mssante.fr']);
      });

      it('an enqueue refused before any attempt is written dead with its reason, and does not hold its key up', async () => {
        await store.transaction(async (tx) => {
          await tx.outbox.enqueue({ destination: 'mss', orderingKey: 'Patient/1', idempotencyKey: 'r1', payload: 1, refused: 'no MSSanté address for the pharmacien-officine (RPPS 10001234567)' });
          await tx.outbox.enqueue({ destination: 'mss', orderingKey: 'Patient/1', idempotencyKey: 'r2', payload: 2 });
        });
        const dead = await store.outbox.list({ destination: 'mss', state: 'dead', limit: 10, offset: 0 });
        expect(dead.items.map((m) => [m.idempotencyKey, m.lastError, m.attempts])).toEqual([['r1', 'no MSSanté address for the pharmacien-officine (RPPS 10001234567)', 0]]);
        const claimed = await store.outbox.claim({ owner: 'w', limit: 10, leaseMs: 1000 });
        expect(claimed.map((m) => m.idempotencyKey)).toEqual(['r2']);
      });
    });

    describe('pathway secure links (issue 18)', () => {
      const T0 = '2026-12-06T10:00:00.000Z';
      const LATER = '2027-01-05T10:00:00.000Z';
      const link = (hash: string, extra: Partial<LinkIssue> = {}): LinkIssue => ({
        tokenHash: hash.padEnd(64, '0'),
        carePlan: 'ppp-1',
        role: 'MT',
        rpps: '10101634078',
        purpose: 'decision',
        created: T0,
        expires: LATER,
        ...extra,
      });
      const h = (s: string): string => s.padEnd(64, '0');

      it('issues a link and finds it by its hash; a new issue to the same professional revokes the previous one', async () => {
        expect(await store.transaction((tx) => tx.links.issue(link('a1')))).toEqual({ replaced: 0 });
        expect(await store.links.find(h('a1'))).toEqual({ tokenHash: h('a1'), carePlan: 'ppp-1', role: 'MT', rpps: '10101634078', purpose: 'decision', created: T0, expires: LATER });
        // Another professional, another purpose, another PPP: nothing replaced.
        await store.transaction(async (tx) => {
          expect(await tx.links.issue(link('b1', { role: 'PHO', rpps: '10101523388' }))).toEqual({ replaced: 0 });
          expect(await tx.links.issue(link('c1', { purpose: 'prescription' }))).toEqual({ replaced: 0 });
          expect(await tx.links.issue(link('d1', { carePlan: 'ppp-2' }))).toEqual({ replaced: 0 });
        });
        expect(await store.transaction((tx) => tx.links.issue(link('a2', { created: '2026-12-07T10:00:00.000Z' })))).toEqual({ replaced: 1 });
        expect(await store.links.find(h('a1'))).toMatchObject({ revokedAt: '2026-12-07T10:00:00.000Z', revokedReason: 'replaced' });
        expect((await store.links.live('ppp-1', T0)).map((l) => [l.role, l.purpose, l.tokenHash.slice(0, 2)])).toEqual([
          ['MT', 'decision', 'a2'],
          ['MT', 'prescription', 'c1'],
          ['PHO', 'decision', 'b1'],
        ]);
        // Outside a transaction too; a link issued in a rolled back transaction never existed (and replaced nothing).
        expect(await store.links.issue(link('a3'))).toEqual({ replaced: 1 });
        await expect(
          store.transaction(async (tx) => {
            await tx.links.issue(link('a4'));
            throw new Error('rollback');
          }),
        ).rejects.toThrow('rollback');
        expect(await store.links.find(h('a4'))).toBeUndefined();
        expect(await store.links.find(h('a3'))).not.toHaveProperty('revokedAt');
      });

      it('refuses a second row under the same hash', async () => {
        await store.links.issue(link('e1'));
        await expect(store.links.issue(link('e1', { carePlan: 'ppp-9' }))).rejects.toThrow();
        // The same hash again for the same professional: refused, and the first link is not revoked by the attempt.
        await expect(store.links.issue(link('e1', { created: '2026-12-07T10:00:00.000Z' }))).rejects.toThrow();
        await expect(store.transaction((tx) => tx.links.issue(link('e1')))).rejects.toThrow();
        expect(await store.links.find(h('e1'))).toEqual({ tokenHash: h('e1'), carePlan: 'ppp-1', role: 'MT', rpps: '10101634078', purpose: 'decision', created: T0, expires: LATER });
        expect(await store.links.live('ppp-9', T0)).toEqual([]);
      });

      it('revokes one link, or all of a PPP, once; lists only links neither revoked nor expired; records uses', async () => {
        await store.transaction(async (tx) => {
          await tx.links.issue(link('f1'));
          await tx.links.issue(link('f2', { role: 'PHO', rpps: '10101523388' }));
          await tx.links.issue(link('f3', { purpose: 'prescription', expires: '2026-12-08T00:00:00.000Z' }));
          await tx.links.issue(link('g1', { carePlan: 'ppp-2' }));
        });
        expect(await store.links.revoke(h('f1'), 'withdrawn', '2026-12-06T11:00:00.000Z')).toBe(true);
        expect(await store.links.revoke(h('f1'), 'again', '2026-12-06T12:00:00.000Z')).toBe(false);
        expect(await store.links.revoke(h('zz'), 'unknown', '2026-12-06T12:00:00.000Z')).toBe(false);
        expect(await store.links.find(h('f1'))).toMatchObject({ revokedAt: '2026-12-06T11:00:00.000Z', revokedReason: 'withdrawn' });
        expect((await store.links.live('ppp-1', T0)).map((l) => l.tokenHash.slice(0, 2))).toEqual(['f3', 'f2']);
        expect((await store.links.live('ppp-1', '2026-12-08T00:00:00.000Z')).map((l) => l.tokenHash.slice(0, 2))).toEqual(['f2']);

        expect(await store.links.touch(h('f2'), '2026-12-06T13:00:00.000Z')).toBe(true);
        expect(await store.links.touch(h('zz'), '2026-12-06T13:00:00.000Z')).toBe(false);
        expect(await store.links.find(h('f2'))).toMatchObject({ lastUsed: '2026-12-06T13:00:00.000Z' });

        expect(await store.transaction((tx) => tx.links.revokeAll('ppp-1', 'closed', '2026-12-06T14:00:00.000Z'))).toBe(2);
        expect(await store.links.revokeAll('ppp-1', 'closed', '2026-12-06T15:00:00.000Z')).toBe(0);
        expect(await store.links.live('ppp-1', T0)).toEqual([]);
        expect(await store.links.find(h('f1'))).toMatchObject({ revokedReason: 'withdrawn' });
        expect(await store.links.find(h('f2'))).toMatchObject({ revokedAt: '2026-12-06T14:00:00.000Z', revokedReason: 'closed' });
        expect((await store.links.live('ppp-2', T0)).map((l) => l.tokenHash.slice(0, 2))).toEqual(['g1']);
        // A revoked link frees its (PPP, professional, purpose): a new one can be issued.
        expect(await store.links.issue(link('f4'))).toEqual({ replaced: 0 });
      });
    });

    describe('pathway cases, due work and uploads (issue 18)', () => {
      const T0 = '2026-12-06T10:00:00.000Z';
      /** The canonical PPP a case keeps (the report rows are derived from it). */
      const pppDoc = (id: string, changes: Record<string, unknown> = {}): Ppp => ({ ...parseDocument('ppp', JSON.parse(readFileSync('test/fixtures/ppp/hospital-sync-rcp.json', 'utf8'))), id, ...changes });
      const kase = (carePlan: string, extra: Partial<PathwayCase> = {}) => ({
        carePlan,
        pppId: `ppp-${carePlan}`,
        finess: '750000001',
        patient: 'fed-1',
        document: pppDoc(`ppp-${carePlan}`, { note: 'é ✓' }) as unknown,
        created: '2026-12-01T09:00:00+01:00',
        updated: T0,
        ...extra,
      });

      it('saves a case, keeps its send dates when saved again, updates its document and closes it', async () => {
        await store.transaction((tx) => tx.pathway.saveCase(kase('cp1')));
        expect(await store.pathway.getCase('cp1')).toEqual(kase('cp1'));
        expect(await store.pathway.markSent('cp1', '2026-12-06T11:00:00.000Z')).toBe(true);
        expect(await store.pathway.markSent('cp1', '2026-12-07T11:00:00.000Z')).toBe(true);
        expect(await store.pathway.markSent('nope', T0)).toBe(false);
        await store.pathway.saveCase(kase('cp1', { document: pppDoc('ppp-cp1', { note: 'v2' }), updated: '2026-12-08T00:00:00.000Z' }));
        expect(await store.pathway.getCase('cp1')).toMatchObject({ sentAt: '2026-12-06T11:00:00.000Z', lastSent: '2026-12-07T11:00:00.000Z', document: { note: 'v2' } });
        expect(await store.transaction((tx) => tx.pathway.updateDocument('cp1', pppDoc('ppp-cp1', { note: 'v3' }), '2026-12-09T00:00:00.000Z'))).toBe(true);
        expect(await store.transaction((tx) => tx.pathway.updateDocument('nope', pppDoc('ppp-nope'), '2026-12-09T00:00:00.000Z'))).toBe(false);
        await store.pathway.saveCase(kase('cp2', { finess: '750000002' }));
        expect((await store.pathway.cases({ finess: '750000001' })).map((c) => c.carePlan)).toEqual(['cp1']);
        expect(await store.pathway.close('cp1', '2026-12-10T00:00:00.000Z')).toBe(true);
        expect((await store.pathway.cases()).map((c) => c.carePlan)).toEqual(['cp2']);
        expect((await store.pathway.cases({ closed: true })).map((c) => c.carePlan).sort()).toEqual(['cp1', 'cp2']);
        expect(await store.pathway.getCase('cp1')).toMatchObject({ closedAt: '2026-12-10T00:00:00.000Z', document: { note: 'v3' } });
      });

      it('keeps the report rows of each case in its transactions (issue 20): counts, participations, decisions, follow-up, link uses', async () => {
        const period = { from: '2025-01-01', to: '2025-12-31' };
        const base = pppDoc('ppp-r1');
        await store.transaction((tx) => tx.pathway.saveCase(kase('r1', { document: base, finess: base.establishment.finess })));
        // The same PPP without RCP (and a reason), in another case: counted, not billable.
        const noRcp = pppDoc('ppp-r2', { rcp: undefined, noRcpReason: 'Sortie anticipée', entryDoor: 'ville', stayType: undefined });
        await store.transaction((tx) => tx.pathway.saveCase(kase('r2', { document: noRcp, patient: 'fed-2', finess: base.establishment.finess })));
        let a = await store.reports.activity(period, '2100-01-01T00:00:00.000Z');
        expect(a.establishments).toEqual([
          expect.objectContaining({ finess: base.establishment.finess, ppp: 2, pppWithRcp: 1, rcpSync: 1, hopital: 1, ville: 1, recommendations: 2 * base.recommendations.length, patients: 2 }),
        ]);
        expect(a.months).toEqual([{ month: base.created.slice(0, 7), finess: base.establishment.finess, ppp: 2 }]);
        // Billable participations: the RCP's DAH, MT and PHO of r1 only.
        expect((await store.reports.billing(period)).map((b) => [b.carePlan, b.role])).toEqual([['r1', 'DAH'], ['r1', 'MT'], ['r1', 'PHO']]);
        // A decision recorded on its Task counts at once, and a document re-saved without it does not undo it.
        const pending = a.decisions.find((d) => d.actor === 'PHO' && d.decision === 'pending')?.count ?? 0;
        const rec = base.recommendations.find((r) => r.kind === 'medication' && !r.decisions.some((d) => d.actor === 'PHO'));
        expect(rec).toBeDefined();
        await store.transaction((tx) => tx.pathway.recordDecision('r1', rec!.id, 'PHO', 'retenu', '2025-06-01T10:00:00.000Z'));
        await store.transaction((tx) => tx.pathway.updateDocument('r1', base, '2025-06-02T10:00:00.000Z'));
        a = await store.reports.activity(period, '2100-01-01T00:00:00.000Z');
        expect(a.decisions.find((d) => d.actor === 'PHO' && d.decision === 'pending')?.count ?? 0).toBe(pending - 1);
        // Follow-up due by the given instant; done once its outcomes are recorded.
        await store.transaction(async (tx) => {
          await tx.pathway.schedule('r1', 'd45', '2025-07-01T00:00:00.000Z');
          await tx.pathway.schedule('r1', 'd90', '2025-08-15T00:00:00.000Z');
          await tx.pathway.followupDone('r1', 'd45', '2025-07-10T00:00:00.000Z');
          await tx.pathway.linkUsed('r1', 'MT', '10101634078', '2025-06-01T09:00:00.000Z');
          await tx.pathway.linkUsed('r1', 'MT', '10101634078', '2025-06-01T18:00:00.000Z');
          await tx.pathway.linkUsed('r1', 'PHO', '10101523388', '2026-01-02T09:00:00.000Z');
        });
        a = await store.reports.activity(period, '2025-08-01T00:00:00.000Z');
        expect(a.followUp).toEqual([{ followup: 'd45', due: 1, done: 1 }]);
        expect(a.activeProfessionals).toEqual([{ role: 'MT', count: 1 }]);
        const pros = await store.reports.professionals(period);
        expect(pros.map((p) => [p.rpps, p.role, p.firstUse, p.lastUse, p.establishments])).toEqual([['10101634078', 'MT', '2025-06-01', '2025-06-01', [base.establishment.finess]]]);
        expect(await store.reports.establishmentKnown(base.establishment.finess)).toBe(true);
        expect(await store.reports.establishmentKnown('999999999')).toBe(false);
        // Rebuilt from the stored document, the rows are the same.
        const before = await store.reports.activity(period, '2100-01-01T00:00:00.000Z');
        expect(await store.transaction((tx) => tx.pathway.refreshReport('r1'))).toBe(true);
        expect(await store.reports.activity(period, '2100-01-01T00:00:00.000Z')).toEqual(before);
      });

      it('claims due work once, oldest first; a lost lease is taken over; done stays done unless reopened', async () => {
        await store.pathway.saveCase(kase('cp3'));
        await store.transaction(async (tx) => {
          await tx.pathway.schedule('cp3', 'd90', '2027-03-01T00:00:00.000Z');
          await tx.pathway.schedule('cp3', 'd45', '2027-01-15T00:00:00.000Z');
          await tx.pathway.schedule('cp3', 'document', '2026-12-06T10:00:00.000Z');
        });
        expect(await store.pathway.claimDue('w1', '2026-12-06T09:00:00.000Z', '2026-12-06T09:02:00.000Z', 10)).toEqual([]);
        const first = await store.pathway.claimDue('w1', '2027-02-01T00:00:00.000Z', '2027-02-01T00:02:00.000Z', 10);
        expect(first.map((d) => [d.kind, d.state, d.claimedBy, d.attempts])).toEqual([
          ['document', 'claimed', 'w1', 1],
          ['d45', 'claimed', 'w1', 1],
        ]);
        expect(await store.pathway.claimDue('w2', '2027-02-01T00:01:00.000Z', '2027-02-01T00:03:00.000Z', 10)).toEqual([]);
        expect(await store.pathway.completeDue('cp3', 'document', 'w1', '2027-02-01T00:00:10.000Z')).toBe(true);
        expect(await store.pathway.failDue('cp3', 'd45', 'w2', 'not mine', '2027-02-01T00:10:00.000Z')).toBe(false);
        // w1's lease on d45 runs out: w2 takes it over, and w1 can no longer complete it.
        const taken = await store.pathway.claimDue('w2', '2027-02-01T00:05:00.000Z', '2027-02-01T00:07:00.000Z', 10);
        expect(taken.map((d) => [d.kind, d.claimedBy, d.attempts])).toEqual([['d45', 'w2', 2]]);
        expect(await store.pathway.completeDue('cp3', 'd45', 'w1', '2027-02-01T00:06:00.000Z')).toBe(false);
        expect(await store.pathway.failDue('cp3', 'd45', 'w2', 'smtp down', '2027-02-01T01:00:00.000Z')).toBe(true);
        expect((await store.pathway.dueOf('cp3')).find((d) => d.kind === 'd45')).toMatchObject({ state: 'scheduled', dueAt: '2027-02-01T01:00:00.000Z', lastError: 'smtp down' });
        // Scheduling a done item again changes nothing, unless reopened.
        await store.pathway.schedule('cp3', 'document', '2027-02-02T00:00:00.000Z');
        expect((await store.pathway.dueOf('cp3')).find((d) => d.kind === 'document')).toMatchObject({ state: 'done', dueAt: '2026-12-06T10:00:00.000Z' });
        await store.pathway.schedule('cp3', 'document', '2027-02-02T00:00:00.000Z', { reopen: true });
        expect((await store.pathway.dueOf('cp3')).find((d) => d.kind === 'document')).toMatchObject({ state: 'scheduled', dueAt: '2027-02-02T00:00:00.000Z' });
        expect((await store.pathway.openDue({ finess: '750000001' })).map((d) => d.kind)).toEqual(['d45', 'document', 'd90']);
        expect(await store.pathway.openDue({ finess: '750000009' })).toEqual([]);
        expect((await store.pathway.openDue({ before: '2027-02-01T12:00:00.000Z' })).map((d) => d.kind)).toEqual(['d45']);
        expect(await store.pathway.cancelDue('cp3', ['d90'])).toBe(1);
        expect(await store.pathway.cancelDue('cp3')).toBe(2);
        expect(await store.pathway.openDue()).toEqual([]);
      });

      it('keeps uploads: the PDF bytes read back exactly, listings without them', async () => {
        const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.from([0, 255, 1, 254])]);
        await store.transaction(async (tx) => {
          await tx.pathway.addUpload({ id: 'u1', carePlan: 'cp4', followup: 'd45', rpps: '10101523388', received: T0, kind: 'pdf', mediaType: 'application/pdf', content: pdf });
          await tx.pathway.addUpload({ id: 'u2', carePlan: 'cp4', followup: 'd90', rpps: '10101523388', received: '2026-12-07T10:00:00.000Z', kind: 'lines', lines: [{ text: 'Paracétamol 1 g' }] });
        });
        expect(await store.pathway.uploads('cp4')).toEqual([
          { id: 'u1', carePlan: 'cp4', followup: 'd45', rpps: '10101523388', received: T0, kind: 'pdf', mediaType: 'application/pdf' },
          { id: 'u2', carePlan: 'cp4', followup: 'd90', rpps: '10101523388', received: '2026-12-07T10:00:00.000Z', kind: 'lines', lines: [{ text: 'Paracétamol 1 g' }] },
        ]);
        expect((await store.pathway.upload('u1'))?.content?.equals(pdf)).toBe(true);
        expect(await store.pathway.upload('zz')).toBeUndefined();
      });
    });
  });
}
