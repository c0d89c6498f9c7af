// The search a DPI expects (issue 15), on SQLite and PostgreSQL alike: string parameters (accent- and
// case-insensitive prefix, :exact, :contains), birthdate prefixes, identifier:of-type, :missing, chains, _has and
// _sort; examples per parameter and modifier, then a model-based test comparing each store with a plain in-memory
// filter of the same resources, and the rebuild of index rows written before the upgrade.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { OperationOutcomeError } from '@medplum/core';
import type { CarePlan, HumanName, Identifier, Patient, Resource, Task } from '@medplum/fhirtypes';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dateRangeOf, normaliseString, parseSearchParams } from '../../src/fhir/search-params.js';
import { openPgStore } from '../../src/store/pg-store.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { successor } from '../../src/store/search-sql.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { PG_TEST_URL, pgUnreachable } from '../support/pg.js';
import { TestClock } from './contract.js';

const INS_NIR = 'urn:oid:1.2.250.1.213.1.4.8';
const INS_NIA = 'urn:oid:1.2.250.1.213.1.4.9';
const LOCAL = 'urn:oid:1.2.250.1.999.1';
const TYPE_SYSTEM = 'https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203';

const ins = (code: 'INS-NIR' | 'INS-NIA', value: string): Identifier => ({
  use: 'official',
  type: { coding: [{ system: TYPE_SYSTEM, code }] },
  system: code === 'INS-NIR' ? INS_NIR : INS_NIA,
  value,
});

// --- the dialects --------------------------------------------------------------------------------------

interface Dialect {
  name: string;
  open(now?: () => Date): Promise<ResourceStore>;
}

const RUN = `passerelle_search_${process.pid}_${randomBytes(3).toString('hex')}`;
const schemas: string[] = [];
const pgDown = await pgUnreachable();
const dialects: Dialect[] = [{ name: 'sqlite', open: (now) => openSqliteStore({ file: ':memory:', ...(now ? { now } : {}) }) }];
if (!pgDown) {
  dialects.push({
    name: 'postgresql',
    open: (now) => {
      const schema = `${RUN}_${schemas.length}`;
      schemas.push(schema);
      return openPgStore({ url: PG_TEST_URL, schema, poolSize: 4, ...(now ? { now } : {}) });
    },
  });
  afterAll(async () => {
    const client = new pg.Client({ connectionString: PG_TEST_URL });
    await client.connect();
    try {
      for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    } finally {
      await client.end();
    }
  });
} else if (process.env.CI === 'true') {
  describe('search on PostgreSQL', () => {
    it('needs a reachable PostgreSQL server in CI', () => {
      throw new Error(`PostgreSQL at ${PG_TEST_URL} is unreachable (${pgDown}); the search tests must run on both dialects in CI`);
    });
  });
} else {
  console.warn(`search tests on PostgreSQL skipped: ${PG_TEST_URL} is unreachable (${pgDown})`);
}

const ids = (rs: Resource[]): string[] => rs.map((r) => r.id as string);
const sorted = (xs: string[]): string[] => [...xs].sort();

function outcomeOf(e: unknown): { code?: string; text?: string; expression?: string[] } {
  if (!(e instanceof OperationOutcomeError)) throw e;
  const i = e.outcome.issue?.[0];
  return { code: i?.code, text: i?.details?.text, expression: i?.expression };
}

// --- examples per parameter and modifier -----------------------------------------------------------------

const patients: Patient[] = [
  {
    resourceType: 'Patient',
    id: 'pa',
    identifier: [ins('INS-NIR', '248039912345678'), { system: LOCAL, value: 'L-a' }],
    name: [{ family: "D'Aubigné-Épée", given: ['Lœtitia', 'Marie'], prefix: ['Mme'] }],
    birthDate: '1950-06-15',
    address: [{ city: 'Saint-Étienne', postalCode: '42000' }],
  },
  {
    resourceType: 'Patient',
    id: 'pb',
    identifier: [{ system: LOCAL, value: 'L-b' }],
    name: [{ family: 'Martin', given: ['Jean-Pierre'] }, { use: 'maiden', family: 'MARTÍN' }],
    birthDate: '1938',
  },
  { resourceType: 'Patient', id: 'pc', identifier: [ins('INS-NIA', '1234')], name: [{ text: 'Zoé Ébrard' }] },
  { resourceType: 'Patient', id: 'pd', birthDate: '1990-01-01' },
];
const task = (id: string, status: Task['status'], patient?: string): Task => ({
  resourceType: 'Task',
  id,
  status,
  intent: 'order',
  ...(patient ? { for: { reference: patient } } : {}),
});
const carePlan = (id: string, status: CarePlan['status'], subject: string): CarePlan => ({
  resourceType: 'CarePlan',
  id,
  status,
  intent: 'plan',
  subject: { reference: subject },
});
const others: Resource[] = [
  task('t1', 'requested', 'Patient/pa'),
  task('t2', 'completed', 'Patient/pb'),
  task('t3', 'requested', 'Patient/pc'),
  task('t4', 'requested'),
  task('t5', 'completed', 'Patient/pd'),
  task('t6', 'requested', 'Patient/gone'),
  carePlan('cp1', 'active', 'Patient/pa'),
  carePlan('cp2', 'completed', 'Patient/pb'),
  carePlan('cp3', 'active', 'Group/g1'),
];

for (const dialect of dialects) {
  describe(`search (issue 15) on ${dialect.name}`, () => {
    let store: ResourceStore;
    const find = async (type: string, qs: string, count = 100): Promise<string[]> =>
      ids((await store.search({ ...parseSearchParams(type, new URLSearchParams(qs)), count })).resources);
    const set = async (type: string, qs: string): Promise<string[]> => sorted(await find(type, qs));
    const refusal = async (type: string, qs: string) => {
      try {
        await find(type, qs);
      } catch (e) {
        return outcomeOf(e);
      }
      throw new Error(`${type}?${qs} was not refused`);
    };

    beforeAll(async () => {
      store = await dialect.open();
      await store.transaction(async (tx) => {
        for (const r of [...patients, ...others]) await tx.put(r);
      });
    });
    afterAll(async () => {
      await store.close();
    });

    it('name, family and given: prefix by default, whatever the accents, case, hyphens and apostrophes', async () => {
      expect(await set('Patient', 'name=mart')).toEqual(['pb']);
      expect(await set('Patient', 'name=MARTI')).toEqual(['pb']);
      expect(await set('Patient', 'name=jean')).toEqual(['pb']);
      expect(await set('Patient', 'name=jean pierre')).toEqual(['pb']);
      expect(await set('Patient', 'name=Jean-P')).toEqual(['pb']);
      expect(await set('Patient', 'name=lœt')).toEqual(['pa']);
      expect(await set('Patient', 'name=LOETITIA')).toEqual(['pa']);
      expect(await set('Patient', "name=d'aubigne")).toEqual(['pa']);
      expect(await set('Patient', 'name=D’AUBIGNÉ épée')).toEqual(['pa']);
      expect(await set('Patient', 'name=mme')).toEqual(['pa']); // prefix part of the name
      expect(await set('Patient', 'name=zoe')).toEqual(['pc']); // text
      expect(await set('Patient', 'name=aubigne')).toEqual([]); // a prefix of a part, not a word inside it
      expect(await set('Patient', 'family=martin')).toEqual(['pb']);
      expect(await set('Patient', 'family=zoe')).toEqual([]);
      expect(await set('Patient', 'given=marie')).toEqual(['pa']);
      expect(await set('Patient', 'given=martin')).toEqual([]);
      expect(await set('Patient', 'name=mart,zoe')).toEqual(['pb', 'pc']);
      expect(await set('Patient', 'name=mart&name=jean')).toEqual(['pb']);
      expect(await set('Patient', 'name=mart&name=zoe')).toEqual([]);
    });

    it(':exact compares the name as written; :contains looks inside the normalised name', async () => {
      expect(await set('Patient', 'family:exact=Martin')).toEqual(['pb']);
      expect(await set('Patient', 'family:exact=MARTÍN')).toEqual(['pb']);
      expect(await set('Patient', 'family:exact=martin')).toEqual([]);
      expect(await set('Patient', 'family:exact=Mart')).toEqual([]);
      expect(await set('Patient', 'name:exact=Jean-Pierre')).toEqual(['pb']);
      expect(await set('Patient', 'name:exact=Jean Pierre')).toEqual([]);
      expect(await set('Patient', 'name:contains=pierre')).toEqual(['pb']);
      expect(await set('Patient', 'name:contains=BRAR')).toEqual(['pc']);
      expect(await set('Patient', 'family:contains=ubigne-ep')).toEqual(['pa']);
      expect(await set('Patient', 'family:contains=50%')).toEqual([]); // LIKE wildcards are literal
      expect(await set('Patient', 'family:contains=_')).toEqual([]);
    });

    it('address-city and address-postalcode', async () => {
      expect(await set('Patient', 'address-city=saint etienne')).toEqual(['pa']);
      expect(await set('Patient', 'address-city=ST')).toEqual([]);
      expect(await set('Patient', 'address-city=Saint-Ét')).toEqual(['pa']);
      expect(await set('Patient', 'address-postalcode=42')).toEqual(['pa']);
    });

    it('birthdate with prefixes and precisions', async () => {
      expect(await set('Patient', 'birthdate=1950')).toEqual(['pa']);
      expect(await set('Patient', 'birthdate=eq1950-06')).toEqual(['pa']);
      expect(await set('Patient', 'birthdate=ge1950')).toEqual(['pa', 'pd']);
      expect(await set('Patient', 'birthdate=lt1950')).toEqual(['pb']);
      expect(await set('Patient', 'birthdate=le1938-06-01')).toEqual(['pb']); // 1938 overlaps
      expect(await set('Patient', 'birthdate=gt1950-06-15')).toEqual(['pd']);
      expect(await set('Patient', 'birthdate=ne1950-06-15')).toEqual(['pb', 'pc', 'pd']);
    });

    it('identifier:of-type finds the INS by its type, and only it', async () => {
      expect(await set('Patient', `identifier:of-type=${TYPE_SYSTEM}|INS-NIR|248039912345678`)).toEqual(['pa']);
      expect(await set('Patient', `identifier:of-type=${TYPE_SYSTEM}|INS-NIA|248039912345678`)).toEqual([]);
      expect(await set('Patient', `identifier:of-type=${TYPE_SYSTEM}|INS-NIR|1234`)).toEqual([]);
      expect(await set('Patient', `identifier:of-type=${TYPE_SYSTEM}|INS-NIA|1234,${TYPE_SYSTEM}|INS-NIR|248039912345678`)).toEqual(['pa', 'pc']);
      expect(await set('Patient', `identifier:of-type=urn:other|INS-NIR|248039912345678`)).toEqual([]);
      expect(await refusal('Patient', 'identifier:of-type=INS-NIR|248039912345678')).toMatchObject({ code: 'invalid', expression: ['identifier'] });
    });

    it(':missing on every kind of parameter', async () => {
      expect(await set('Patient', 'name:missing=true')).toEqual(['pd']);
      expect(await set('Patient', 'name:missing=false')).toEqual(['pa', 'pb', 'pc']);
      expect(await set('Patient', 'given:missing=false')).toEqual(['pa', 'pb']);
      expect(await set('Patient', 'birthdate:missing=true')).toEqual(['pc']);
      expect(await set('Patient', 'identifier:missing=true')).toEqual(['pd']);
      expect(await set('Task', 'patient:missing=true')).toEqual(['t4']);
      expect(await set('CarePlan', 'patient:missing=true')).toEqual(['cp3']);
      expect(await set('CarePlan', 'subject:missing=true')).toEqual([]);
      expect(await set('Patient', '_id:missing=true')).toEqual([]);
      expect(await set('Patient', '_id:missing=false')).toEqual(['pa', 'pb', 'pc', 'pd']);
      expect(await set('Patient', '_lastUpdated:missing=true')).toEqual([]);
      expect(await refusal('Patient', 'name:missing=maybe')).toMatchObject({ code: 'invalid', expression: ['name'] });
    });

    it('chains one level deep: Task?patient.identifier, CarePlan?subject:Patient.name', async () => {
      expect(await set('Task', `patient.identifier=${INS_NIR}|248039912345678`)).toEqual(['t1']);
      expect(await set('Task', `patient.identifier:of-type=${TYPE_SYSTEM}|INS-NIR|248039912345678`)).toEqual(['t1']);
      expect(await set('Task', 'patient.name=martin')).toEqual(['t2']);
      expect(await set('Task', 'patient.name=martin,zoe')).toEqual(['t2', 't3']);
      expect(await set('Task', 'patient.birthdate=lt1951')).toEqual(['t1', 't2']);
      expect(await set('Task', 'patient._id=pa,pd')).toEqual(['t1', 't5']);
      expect(await set('Task', 'patient.name:missing=true')).toEqual(['t5']); // not t6: its patient does not exist
      expect(await set('Task', 'subject:Patient.name=mart')).toEqual(['t2']);
      expect(await set('CarePlan', 'subject:Patient.name=mart')).toEqual(['cp2']);
      expect(await set('CarePlan', 'subject:Patient.family:exact=Martin&status=completed')).toEqual(['cp2']);
      expect(await set('CarePlan', 'subject:Patient.name=zoe')).toEqual([]);
      expect(await set('CarePlan', 'subject:Group._id=g1')).toEqual([]); // no such Group stored
    });

    it('_has one level: Patient?_has:CarePlan:patient:status=active', async () => {
      expect(await set('Patient', '_has:CarePlan:patient:status=active')).toEqual(['pa']);
      expect(await set('Patient', '_has:CarePlan:subject:status=completed')).toEqual(['pb']);
      expect(await set('Patient', '_has:CarePlan:patient:status:not=active')).toEqual(['pb']);
      expect(await set('Patient', '_has:Task:patient:status=requested')).toEqual(['pa', 'pc']);
      expect(await set('Patient', '_has:Task:patient:status=requested&name=zoe')).toEqual(['pc']);
      expect(await set('Patient', '_has:CarePlan:patient:_id=cp1')).toEqual(['pa']);
      expect(await set('Patient', '_has:Task:patient:status=cancelled')).toEqual([]);
    });

    it('_sort on parameters, several keys, both directions; smallest or largest value; missing last; ties by id', async () => {
      expect(await find('Patient', '_sort=family')).toEqual(['pa', 'pb', 'pc', 'pd']);
      expect(await find('Patient', '_sort=-family')).toEqual(['pb', 'pa', 'pc', 'pd']);
      expect(await find('Patient', '_sort=name')).toEqual(['pa', 'pb', 'pc', 'pd']); // d aubigne… < jean pierre < zoe ebrard
      expect(await find('Patient', '_sort=-name')).toEqual(['pc', 'pa', 'pb', 'pd']); // zoe… > mme > martin
      expect(await find('Patient', '_sort=birthdate')).toEqual(['pb', 'pa', 'pd', 'pc']);
      expect(await find('Patient', '_sort=-birthdate')).toEqual(['pd', 'pa', 'pb', 'pc']);
      expect(await find('Patient', '_sort=-_id')).toEqual(['pd', 'pc', 'pb', 'pa']);
      expect(await find('Task', '_sort=status,-_id')).toEqual(['t5', 't2', 't6', 't4', 't3', 't1']);
      expect(await find('Task', '_sort=-status,patient')).toEqual(['t6', 't1', 't3', 't4', 't2', 't5']); // references sort as Type/id
      expect(await find('Patient', '_sort=birthdate&name:missing=false', 2)).toEqual(['pb', 'pa']);
      const page = await store.search({ ...parseSearchParams('Patient', new URLSearchParams('_sort=-birthdate&_count=2&_offset=2')), total: true });
      expect(ids(page.resources)).toEqual(['pb', 'pc']);
      expect(page.total).toBe(4);
    });

    it('refuses, naming the parameter: a chain on an unknown parameter, _sort on an undeclared one, a chain without its type', async () => {
      expect(await refusal('Task', 'patient.shoe-size=42')).toMatchObject({ code: 'invalid', expression: ['patient.shoe-size'] });
      expect((await refusal('Task', 'patient.shoe-size=42')).text).toContain('shoe-size');
      expect(await refusal('Task', 'nope.name=x')).toMatchObject({ expression: ['nope.name'] });
      expect(await refusal('Task', 'status.name=x')).toMatchObject({ expression: ['status.name'] });
      expect((await refusal('CarePlan', 'subject.name=x')).text).toMatch(/subject:Patient\.name/);
      expect(await refusal('CarePlan', 'patient:Group.name=x')).toMatchObject({ expression: ['patient:Group.name'] });
      expect(await refusal('Task', 'patient.organization.name=x')).toMatchObject({ expression: ['patient.organization.name'] });
      expect(await refusal('Patient', '_has:CarePlan:nope:status=active')).toMatchObject({ expression: ['_has:CarePlan:nope:status'] });
      expect(await refusal('Patient', '_has:CarePlan:patient:nope=active')).toMatchObject({ expression: ['_has:CarePlan:patient:nope'] });
      expect(await refusal('Patient', '_has:CarePlan:status:status=active')).toMatchObject({ code: 'invalid' });
      expect(await refusal('Patient', '_has:Nope:patient:status=active')).toMatchObject({ code: 'invalid' });
      expect(await refusal('Patient', '_has:CarePlan:patient:_has:Task:patient:status=x')).toMatchObject({ code: 'invalid' });
      expect(await refusal('Patient', '_sort=shoe-size')).toMatchObject({ code: 'invalid', expression: ['_sort'] });
      expect((await refusal('Patient', '_sort=shoe-size')).text).toContain('shoe-size');
      expect(await refusal('Patient', '_sort=_ref')).toMatchObject({ expression: ['_sort'] }); // internal, not a parameter
      expect(await refusal('Patient', 'name:sounds=x')).toMatchObject({ expression: ['name'] });
      expect(await refusal('Patient', 'birthdate:exact=1950')).toMatchObject({ expression: ['birthdate'] });
    });

    it('hostile values: control and bidi characters, a 100 KB name, LIKE wildcards: 400 or a correct answer', async () => {
      expect(await refusal('Patient', 'name=\u202e\u200f')).toMatchObject({ code: 'invalid', expression: ['name'] });
      expect(await refusal('Patient', 'name=\u0000\u0001')).toMatchObject({ code: 'invalid', expression: ['name'] });
      expect(await refusal('Patient', 'name=- \' -')).toMatchObject({ code: 'invalid', expression: ['name'] });
      expect(await set('Patient', 'name=ma\u200ert\u202ein')).toEqual(['pb']); // bidi and zero-width marks are dropped
      expect(await refusal('Patient', 'family:exact=Mar\u0000tin')).toMatchObject({ code: 'invalid', expression: ['family'] });
      expect(await set('Patient', 'name:contains=\u0000x')).toEqual([]);
      const huge = 'é'.repeat(50_000) + 'x'.repeat(50_000);
      expect(await set('Patient', `name=${huge}`)).toEqual([]);
      expect(await set('Patient', `name:contains=${huge}`)).toEqual([]);
      expect(await set('Patient', `family:exact=${huge}`)).toEqual([]);
      expect(await set('Patient', `name=${'\u{10FFFF}'.repeat(3)}`)).toEqual([]);
      expect((await refusal('Patient', `name:bogus=${huge}`)).text!.length).toBeLessThan(300);
      // A name of 100 KB stored, then found by its prefix and by :exact.
      await store.transaction((tx) => tx.put<Patient>({ resourceType: 'Patient', id: 'huge', name: [{ family: huge }] }));
      try {
        expect(await set('Patient', 'family=eeee')).toEqual(['huge']);
        expect(await set('Patient', `family:exact=${huge}`)).toEqual(['huge']);
      } finally {
        await store.transaction((tx) => tx.delete('Patient', 'huge'));
      }
    });

    it('sees new names after an update and forgets deleted resources', async () => {
      await store.transaction((tx) => tx.put<Patient>({ resourceType: 'Patient', id: 'pe', name: [{ family: 'Éponine' }] }));
      expect(await set('Patient', 'family=epo')).toEqual(['pe']);
      await store.transaction((tx) => tx.put<Patient>({ resourceType: 'Patient', id: 'pe', name: [{ family: 'Cosette' }] }));
      expect(await set('Patient', 'family=epo')).toEqual([]);
      expect(await set('Patient', 'family=cos')).toEqual(['pe']);
      await store.transaction((tx) => tx.delete('Patient', 'pe'));
      expect(await set('Patient', 'family=cos')).toEqual([]);
    });
  });
}

describe('successor: the upper bound of a prefix range', () => {
  it('is the smallest string above every string starting with the prefix', () => {
    expect(successor('abc')).toBe('abd');
    expect(successor('a\u{10FFFF}')).toBe('b');
    expect(successor('\u{10FFFF}')).toBeUndefined();
    expect(successor('a\ud7ff')).toBe('a\ue000');
    const cmp = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1 }), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (prefix, tail, other) => {
        const upper = successor(prefix);
        const inside = prefix + tail;
        expect(cmp(inside, prefix)).toBeGreaterThanOrEqual(0);
        if (upper !== undefined) expect(cmp(inside, upper)).toBeLessThan(0);
        if (!other.startsWith(prefix) && cmp(other, prefix) >= 0 && upper !== undefined) expect(cmp(other, upper)).toBeGreaterThanOrEqual(0);
      }),
      { seed: 15, numRuns: 500 },
    );
  });
});

// --- model-based test ------------------------------------------------------------------------------------

const FAMILIES = ['Martin', 'MARTIN', 'Martín', "D'Aubigné", 'Dupont-Léger', 'Œuvray', 'Lefèvre', 'LEFEVRE', 'Zoë', 'Ngô', 'du Pont'];
const GIVENS = ['Jean-Pierre', 'Jean', 'Zoé', 'Marie Ange', 'Lœtitia', 'Élise', 'elise', 'Éric'];
const DATES = ['1938', '1950', '1950-06', '1950-06-15', '1950-06-16', '1990-01-01', '2001-12-31', '1950-12'];
const STATUSES: Task['status'][] = ['requested', 'completed', 'cancelled'];

interface Model {
  patients: Patient[];
  tasks: Task[];
  carePlans: CarePlan[];
}

const nameArb: fc.Arbitrary<HumanName> = fc.record(
  { family: fc.constantFrom(...FAMILIES), given: fc.array(fc.constantFrom(...GIVENS), { maxLength: 2 }), text: fc.constantFrom('Zoé Ébrard', 'M. Martin') },
  { requiredKeys: [] },
);

const modelArb: fc.Arbitrary<Model> = fc
  .record({
    patients: fc.array(
      fc.record({
        names: fc.array(nameArb, { maxLength: 2 }),
        birthDate: fc.option(fc.constantFrom(...DATES), { nil: undefined }),
        ins: fc.option(fc.tuple(fc.constantFrom<'INS-NIR' | 'INS-NIA'>('INS-NIR', 'INS-NIA'), fc.constantFrom('111', '222', '333')), { nil: undefined }),
      }),
      { minLength: 3, maxLength: 8 },
    ),
    tasks: fc.array(fc.record({ status: fc.constantFrom(...STATUSES), patient: fc.option(fc.nat(9), { nil: undefined }) }), { maxLength: 8 }),
    carePlans: fc.array(fc.record({ status: fc.constantFrom<CarePlan['status']>('active', 'completed'), patient: fc.nat(9) }), { maxLength: 5 }),
  })
  .map(({ patients: ps, tasks: ts, carePlans: cs }) => ({
    patients: ps.map(
      (p, i): Patient => ({
        resourceType: 'Patient',
        id: `p${i}`,
        identifier: [{ system: LOCAL, value: `L${i}` }, ...(p.ins ? [ins(p.ins[0], p.ins[1])] : [])],
        ...(p.names.length ? { name: p.names } : {}),
        ...(p.birthDate ? { birthDate: p.birthDate } : {}),
      }),
    ),
    // References to p8, p9… may point nowhere.
    tasks: ts.map((t, i) => task(`t${i}`, t.status, t.patient === undefined ? undefined : `Patient/p${t.patient}`)),
    carePlans: cs.map((c, i) => carePlan(`c${i}`, c.status, `Patient/p${c.patient}`)),
  }));

/** Query values derived from a name part: a prefix of it in another case or without accents, or the part itself. */
const partArb = fc.constantFrom(...FAMILIES, ...GIVENS, 'Zoé Ébrard');
const variantArb = fc.tuple(partArb, fc.integer({ min: 1, max: 8 }), fc.constantFrom('as is', 'upper', 'lower', 'normalised')).map(([part, len, how]) => {
  const v = how === 'upper' ? part.toUpperCase() : how === 'lower' ? part.toLowerCase() : how === 'normalised' ? normaliseString(part) : part;
  return [...v].slice(0, len).join('');
});

type Query = { type: 'Patient' | 'Task' | 'CarePlan'; qs: string; sorted: boolean };
const enc = encodeURIComponent;
const stringParam = fc.constantFrom('name', 'family', 'given');
const innerPatientQuery: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(stringParam, variantArb).map(([p, v]) => `${p}=${enc(v)}`),
  fc.tuple(stringParam, partArb).map(([p, v]) => `${p}:exact=${enc(v)}`),
  fc.tuple(stringParam, variantArb).map(([p, v]) => `${p}:contains=${enc([...v].slice(1).join('') || v)}`),
  fc.tuple(fc.constantFrom('', 'eq', 'ne', 'lt', 'le', 'gt', 'ge'), fc.constantFrom(...DATES)).map(([p, d]) => `birthdate=${p}${d}`),
  fc.tuple(fc.constantFrom('name', 'given', 'birthdate', 'identifier'), fc.boolean()).map(([p, b]) => `${p}:missing=${b}`),
  fc.tuple(fc.constantFrom('INS-NIR', 'INS-NIA'), fc.constantFrom('111', '222', '333')).map(([c, v]) => `identifier:of-type=${enc(`${TYPE_SYSTEM}|${c}|${v}`)}`),
);
const sortArb = fc
  .uniqueArray(fc.constantFrom('family', 'given', 'name', 'birthdate', '_id'), { minLength: 1, maxLength: 3 })
  .chain((keys) => fc.tuple(...keys.map((k) => fc.boolean().map((d) => (d ? `-${k}` : k)))))
  .map((keys) => `_sort=${keys.join(',')}`);
const queryArb: fc.Arbitrary<Query> = fc.oneof(
  innerPatientQuery.map((qs): Query => ({ type: 'Patient', qs, sorted: false })),
  fc.tuple(innerPatientQuery, innerPatientQuery).map(([a, b]): Query => ({ type: 'Patient', qs: `${a}&${b}`, sorted: false })),
  fc.tuple(fc.option(innerPatientQuery, { nil: undefined }), sortArb).map(([q, s]): Query => ({ type: 'Patient', qs: q ? `${q}&${s}` : s, sorted: true })),
  innerPatientQuery.map((qs): Query => ({ type: 'Task', qs: `patient.${qs}`, sorted: false })),
  innerPatientQuery.map((qs): Query => ({ type: 'CarePlan', qs: `subject:Patient.${qs}`, sorted: false })),
  fc.boolean().map((b): Query => ({ type: 'Task', qs: `patient:missing=${b}`, sorted: false })),
  fc.constantFrom(...STATUSES).map((s): Query => ({ type: 'Patient', qs: `_has:Task:patient:status=${s}`, sorted: false })),
  fc.constantFrom('active', 'completed').map((s): Query => ({ type: 'Patient', qs: `_has:CarePlan:subject:status:not=${s}`, sorted: false })),
);

// The model: a plain reading of FHIR search over the resources, written without the store's SQL.
const cmp = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

function stringValues(p: Patient, param: string): { raw: string; norm: string }[] {
  const parts = (p.name ?? []).flatMap((n) =>
    param === 'family' ? [n.family] : param === 'given' ? (n.given ?? []) : [n.text, n.family, ...(n.given ?? []), ...(n.prefix ?? []), ...(n.suffix ?? [])],
  );
  return parts.filter((x): x is string => typeof x === 'string').map((raw) => ({ raw, norm: normaliseString(raw) })).filter((v) => v.norm !== '');
}

function patientMatches(p: Patient, qs: string): boolean {
  const [name, value] = [qs.slice(0, qs.indexOf('=')), decodeURIComponent(qs.slice(qs.indexOf('=') + 1))];
  const [param, modifier] = name.split(':');
  if (modifier === 'missing') {
    const has =
      param === 'birthdate' ? p.birthDate !== undefined : param === 'identifier' ? (p.identifier ?? []).length > 0 : stringValues(p, param).length > 0;
    return value === 'true' ? !has : has;
  }
  if (param === 'identifier') {
    const [system, code, v] = value.split('|');
    return (p.identifier ?? []).some((i) => i.value === v && (i.type?.coding ?? []).some((c) => c.system === system && c.code === code));
  }
  if (param === 'birthdate') {
    const prefix = /^[a-z]{2}/.test(value) ? value.slice(0, 2) : 'eq';
    const q = dateRangeOf(prefix === 'eq' && !/^[a-z]{2}/.test(value) ? value : value.slice(2))!;
    const s = p.birthDate === undefined ? undefined : dateRangeOf(p.birthDate)!;
    const eq = s !== undefined && s.start >= q.start && s.end <= q.end;
    if (prefix === 'ne') return !eq;
    if (s === undefined) return false;
    if (prefix === 'eq') return eq;
    if (prefix === 'lt') return s.start < q.start;
    if (prefix === 'le') return s.start < q.end;
    if (prefix === 'gt') return s.end > q.end;
    return s.end > q.start; // ge
  }
  const values = stringValues(p, param);
  if (modifier === 'exact') return values.some((v) => v.raw === value);
  const q = normaliseString(value);
  if (modifier === 'contains') return values.some((v) => v.norm.includes(q));
  return values.some((v) => v.norm.startsWith(q));
}

function sortKeyOf(p: Patient, param: string, descending: boolean): string | undefined {
  if (param === '_id') return p.id;
  if (param === 'birthdate') {
    if (!p.birthDate) return undefined;
    const r = dateRangeOf(p.birthDate)!;
    return descending ? r.end : r.start;
  }
  const values = stringValues(p, param).map((v) => v.norm).sort(cmp);
  return values.length === 0 ? undefined : descending ? values[values.length - 1] : values[0];
}

function expected(model: Model, q: Query): string[] {
  const live = new Map(model.patients.map((p) => [`Patient/${p.id}`, p]));
  const parts = q.qs.split('&');
  if (q.type === 'Patient') {
    const filters = parts.filter((s) => !s.startsWith('_sort=') && !s.startsWith('_has:'));
    const has = parts.find((s) => s.startsWith('_has:'));
    let found = model.patients.filter((p) => filters.every((f) => patientMatches(p, f)));
    if (has) {
      const [, source, , , modifier] = has.slice(0, has.indexOf('=')).split(':');
      const value = has.slice(has.indexOf('=') + 1);
      const referrers: (Task | CarePlan)[] = source === 'Task' ? model.tasks : model.carePlans;
      const ref = (r: Task | CarePlan): string | undefined => (r.resourceType === 'Task' ? r.for?.reference : r.subject.reference);
      found = found.filter((p) => referrers.some((r) => ref(r) === `Patient/${p.id}` && (modifier === 'not' ? r.status !== value : r.status === value)));
    }
    const sort = parts.find((s) => s.startsWith('_sort='));
    if (!sort) return sorted(found.map((p) => p.id as string));
    const keys = sort.slice('_sort='.length).split(',').map((k) => ({ param: k.replace(/^-/, ''), descending: k.startsWith('-') }));
    return [...found]
      .sort((a, b) => {
        for (const k of keys) {
          const x = sortKeyOf(a, k.param, k.descending);
          const y = sortKeyOf(b, k.param, k.descending);
          if (x === y) continue;
          if (x === undefined) return 1;
          if (y === undefined) return -1;
          return k.descending ? cmp(y, x) : cmp(x, y);
        }
        return cmp(a.id as string, b.id as string);
      })
      .map((p) => p.id as string);
  }
  if (q.type === 'Task' && q.qs.startsWith('patient:missing=')) {
    const missing = q.qs.endsWith('true');
    return sorted(model.tasks.filter((t) => (t.for === undefined) === missing).map((t) => t.id as string));
  }
  const inner = q.qs.slice(q.qs.indexOf('.') + 1);
  const referrers: (Task | CarePlan)[] = q.type === 'Task' ? model.tasks : model.carePlans;
  return sorted(
    referrers
      .filter((r) => {
        const target = live.get((r.resourceType === 'Task' ? r.for?.reference : r.subject.reference) ?? '');
        return target !== undefined && patientMatches(target, inner);
      })
      .map((r) => r.id as string),
  );
}

for (const dialect of dialects) {
  describe(`search model on ${dialect.name}`, () => {
    let store: ResourceStore;
    beforeAll(async () => {
      store = await dialect.open();
    });
    afterAll(async () => {
      await store.close();
    });

    it('answers like a plain in-memory filter of the same resources (ids, and order for _sort)', async () => {
      let previous: Resource[] = [];
      await fc.assert(
        fc.asyncProperty(modelArb, fc.array(queryArb, { minLength: 10, maxLength: 20 }), async (model, queries) => {
          const resources: Resource[] = [...model.patients, ...model.tasks, ...model.carePlans];
          await store.transaction(async (tx) => {
            for (const r of previous) await tx.delete(r.resourceType, r.id as string);
            for (const r of resources) await tx.put(r);
          });
          previous = resources;
          for (const q of queries) {
            const query = parseSearchParams(q.type, new URLSearchParams(q.qs));
            const result = await store.search({ ...query, count: 1000, total: true });
            const want = expected(model, q);
            const got = ids(result.resources);
            expect(q.sorted ? got : sorted(got), `${q.type}?${q.qs}`).toEqual(want);
            expect(result.total, `total of ${q.type}?${q.qs}`).toBe(want.length);
            // The count alone, as `_summary=count` asks it (the page and the count may be planned apart).
            expect((await store.search({ ...query, count: 0, total: true })).total, `count of ${q.type}?${q.qs}`).toBe(want.length);
          }
        }),
        { seed: 1515, numRuns: 25 },
      );
    });
  });
}

// --- index rows written before the upgrade --------------------------------------------------------------

describe('index rows written before the upgrade are rebuilt at open', () => {
  const legacyParams = ['name', 'family', 'given', 'identifier:of-type'];

  it('sqlite: rebuilds the types whose fingerprint changed, and only those', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-reindex-'));
    const file = path.join(dir, 'db.sqlite');
    try {
      const first = await openSqliteStore({ file });
      await first.transaction(async (tx) => {
        for (const r of [...patients, ...others]) await tx.put(r);
      });
      await first.close();
      // What a database of the previous version holds: no name rows, no fingerprint; a CarePlan row lost on purpose.
      const db = new Database(file);
      db.prepare(`DELETE FROM search_index WHERE param IN (${legacyParams.map(() => '?').join(', ')})`).run(...legacyParams);
      db.prepare("DELETE FROM search_index_state WHERE type = 'Patient'").run();
      db.prepare("DELETE FROM search_index WHERE type = 'CarePlan' AND param = 'status'").run();
      db.close();

      const second = await openSqliteStore({ file, now: new TestClock().now });
      const find = async (type: string, qs: string) => sorted(ids((await second.search(parseSearchParams(type, new URLSearchParams(qs)))).resources));
      expect(await find('Patient', 'name=mart')).toEqual(['pb']);
      expect(await find('Patient', `identifier:of-type=${TYPE_SYSTEM}|INS-NIR|248039912345678`)).toEqual(['pa']);
      expect(await find('CarePlan', 'status=active')).toEqual([]); // its fingerprint was current: not rebuilt
      await second.close();
      const check = new Database(file, { readonly: true });
      expect(check.prepare("SELECT indexed_at FROM search_index_state WHERE type = 'Patient'").get()).toEqual({ indexed_at: '2024-03-01T08:00:00.000Z' });
      check.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(pgDown !== undefined)('postgresql: the same, under the migration lock', async () => {
    const store = await dialects[1].open();
    await store.transaction(async (tx) => {
      for (const r of [...patients, ...others]) await tx.put(r);
    });
    await store.close();
    const schema = schemas[schemas.length - 1];
    const client = new pg.Client({ connectionString: PG_TEST_URL });
    await client.connect();
    try {
      await client.query(`SET search_path TO "${schema}"`);
      await client.query('DELETE FROM search_index WHERE param = ANY($1::text[])', [legacyParams]);
      await client.query("UPDATE search_index_state SET fingerprint = 'old' WHERE type = 'Patient'");
      await client.query("DELETE FROM search_index WHERE type = 'CarePlan' AND param = 'status'");
    } finally {
      await client.end();
    }
    const again = await openPgStore({ url: PG_TEST_URL, schema, poolSize: 2 });
    try {
      const find = async (type: string, qs: string) => sorted(ids((await again.search(parseSearchParams(type, new URLSearchParams(qs)))).resources));
      expect(await find('Patient', 'name=mart')).toEqual(['pb']);
      expect(await find('Task', `patient.identifier:of-type=${TYPE_SYSTEM}|INS-NIR|248039912345678`)).toEqual(['t1']);
      expect(await find('CarePlan', 'status=active')).toEqual([]);
    } finally {
      await again.close();
    }
  });
});
