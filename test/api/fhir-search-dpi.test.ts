// The search a DPI expects, over HTTP (issue 15): Patient?name, _summary and _elements with the SUBSETTED tag,
// _count capped and said in an `outcome` entry, unknown parameters refused unless `Prefer: handling=lenient`, and
// hostile input that must answer 4xx or a correct result, never 500. The stores' side is test/store/search-model.test.ts.
import type { Bundle, BundleEntry, CarePlan, OperationOutcome, Patient, Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUBSETTED } from '../../src/fhir/resource-subset.js';
import { call, patient, startTestServer, type Outcome, type TestServer } from './server.js';

let srv: TestServer;
let jeanne: Patient;
let loetitia: Patient;
let plan: CarePlan;

async function create<T extends Resource>(body: Resource): Promise<T> {
  const r = await call<T>(`${srv.fhir}/${body.resourceType}`, { body });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}

beforeAll(async () => {
  srv = await startTestServer();
  jeanne = await create<Patient>(
    patient('dpi-1', {
      name: [{ family: 'Lefèvre', given: ['Jeanne'] }],
      text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Jeanne Lefèvre</div>' },
      communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'fr' }] } }],
    }),
  );
  loetitia = await create<Patient>(patient('dpi-2', { name: [{ family: "D'Aubigné", given: ['Lœtitia'] }], birthDate: '1950-06-15' }));
  plan = await create<CarePlan>({ resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: { reference: `Patient/${jeanne.id}` } } as CarePlan);
});
afterAll(async () => {
  await srv.close();
});

const matches = (b: Bundle): Resource[] => (b.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource as Resource);
const outcomeEntry = (b: Bundle): BundleEntry | undefined => (b.entry ?? []).find((e) => e.search?.mode === 'outcome');
const isSubsetted = (r: Resource): boolean => (r.meta?.tag ?? []).some((t) => t.system === SUBSETTED.system && t.code === SUBSETTED.code);
// The source Patients of our test DPI: each has a federated twin (the identity service's, same name) left out.
const SOURCES = `identifier=${encodeURIComponent('urn:oid:1.2.250.1.999.1|')}`;
const search = (qs: string, headers: Record<string, string> = {}) => call<Bundle>(`${srv.fhir}/Patient?${SOURCES}&${qs}`, { headers });

describe('Patient?name over HTTP', () => {
  it('finds patients by a prefix of any name part, without accents or case', async () => {
    const r = await search(`name=${encodeURIComponent('LEFEV')}`);
    expect(r.status).toBe(200);
    expect(matches(r.body).map((p) => p.id)).toEqual([jeanne.id]);
    expect(matches((await search('given=loet')).body).map((p) => p.id)).toEqual([loetitia.id]);
    expect(matches((await search(`family:exact=${encodeURIComponent("D'Aubigné")}`)).body).map((p) => p.id)).toEqual([loetitia.id]);
    expect(matches((await search('name:contains=ubign&birthdate=ge1950')).body).map((p) => p.id)).toEqual([loetitia.id]);
  });

  it('sorts and pages, the links keeping the sort', async () => {
    const r = await search('name:missing=false&_sort=-family&_count=1');
    expect(matches(r.body).map((p) => p.id)).toEqual([jeanne.id]); // lefevre > d aubigne
    const next = r.body.link?.find((l) => l.relation === 'next')?.url as string;
    expect(next).toContain('_sort=-family');
    expect(matches((await call<Bundle>(next)).body).map((p) => p.id)).toEqual([loetitia.id]);
  });

  it('chains and _has', async () => {
    const chained = await call<Bundle>(`${srv.fhir}/CarePlan?subject:Patient.name=jeanne`);
    expect(matches(chained.body).map((c) => c.id)).toEqual([plan.id]);
    const has = await search('_has:CarePlan:patient:status=active');
    expect(matches(has.body).map((p) => p.id)).toEqual([jeanne.id]);
  });
});

describe('_summary and _elements', () => {
  it('_summary=true keeps the summary and mandatory elements and tags the resource SUBSETTED', async () => {
    const r = await search(`_id=${jeanne.id}&_summary=true`);
    expect(r.status).toBe(200);
    const p = matches(r.body)[0] as Patient;
    expect(isSubsetted(p)).toBe(true);
    expect(p.name).toEqual(jeanne.name);
    expect(p.birthDate).toBe(jeanne.birthDate);
    expect(p.text).toBeUndefined();
    expect(p.communication).toBeUndefined(); // not a summary element
    expect(p.meta?.versionId).toBe(jeanne.meta?.versionId);
  });

  it('_summary=text keeps text, id and meta; _summary=data everything but text; _summary=false everything', async () => {
    const text = matches((await search(`_id=${jeanne.id}&_summary=text`)).body)[0] as Patient;
    expect(Object.keys(text).sort()).toEqual(['id', 'meta', 'resourceType', 'text']);
    expect(isSubsetted(text)).toBe(true);
    const data = matches((await search(`_id=${jeanne.id}&_summary=data`)).body)[0] as Patient;
    expect(data.text).toBeUndefined();
    expect(data.communication).toEqual(jeanne.communication);
    expect(isSubsetted(data)).toBe(true);
    const whole = matches((await search(`_id=${jeanne.id}&_summary=false`)).body)[0];
    expect(whole).toEqual(jeanne);
  });

  it('_summary=count answers the total only', async () => {
    const r = await search('_summary=count');
    expect(r.body.total).toBe(2);
    expect(r.body.entry ?? []).toEqual([]);
  });

  it('_elements keeps the named elements with id, meta and the mandatory ones, on the matches only', async () => {
    const r = await search(`_id=${loetitia.id}&_elements=birthDate,gender`);
    const p = matches(r.body)[0] as Patient;
    expect(Object.keys(p).sort()).toEqual(['birthDate', 'gender', 'id', 'meta', 'resourceType']);
    expect(isSubsetted(p)).toBe(true);
    const plans = await call<Bundle>(`${srv.fhir}/CarePlan?_id=${plan.id}&_elements=status&_include=CarePlan:subject`);
    const cp = matches(plans.body)[0] as CarePlan;
    expect(Object.keys(cp).sort()).toEqual(['id', 'intent', 'meta', 'resourceType', 'status', 'subject']); // intent and subject are mandatory
    const included = (plans.body.entry ?? []).find((e) => e.search?.mode === 'include')?.resource as Patient;
    expect(included).toEqual(jeanne);
  });

  it('refuses a bad _summary or _elements, naming it', async () => {
    for (const [qs, expression] of [
      ['_summary=bogus', '_summary'],
      ['_elements=name.family', '_elements'],
      ['_elements=name&_summary=true', '_elements'],
    ]) {
      const r = await call<Outcome>(`${srv.fhir}/Patient?${qs}`);
      expect(r.status, qs).toBe(400);
      expect(r.body.issue[0].expression, qs).toEqual([expression]);
    }
  });
});

describe('what the server changed or ignored is said in the Bundle', () => {
  it('_count over the maximum is capped, and an outcome entry says so', async () => {
    const r = await search('_count=5000');
    expect(r.status).toBe(200);
    const o = outcomeEntry(r.body)?.resource as OperationOutcome;
    expect(o.resourceType).toBe('OperationOutcome');
    expect(o.issue[0]).toMatchObject({ severity: 'warning', expression: ['_count'] });
    expect(o.issue[0].details?.text).toMatch(/_count=5000 is over the maximum of 1000/);
    expect(r.body.link?.find((l) => l.relation === 'self')?.url).toContain('_count=1000');
    expect(outcomeEntry((await search('_count=10')).body)).toBeUndefined();
  });

  it('refuses an unknown parameter by default; with Prefer: handling=lenient ignores it and says so', async () => {
    const strict = await call<Outcome>(`${srv.fhir}/Patient?${SOURCES}&shoe-size=42&name=lefev`);
    expect(strict.status).toBe(400);
    expect(strict.body.issue[0].expression).toEqual(['shoe-size']);
    for (const prefer of ['handling=lenient', 'return=representation, handling=lenient', 'HANDLING = "lenient"']) {
      const r = await search('shoe-size=42&name=lefev&name:sounds=x&patient.name=x', { prefer });
      expect(r.status, prefer).toBe(200);
      expect(matches(r.body).map((p) => p.id)).toEqual([jeanne.id]);
      const issues = (outcomeEntry(r.body)?.resource as OperationOutcome).issue;
      expect(issues.map((i) => i.expression?.[0])).toEqual(['shoe-size', 'name', 'patient.name']);
      expect(issues.every((i) => i.severity === 'warning' && /ignored/.test(i.details?.text ?? ''))).toBe(true);
      const self = r.body.link?.find((l) => l.relation === 'self')?.url as string;
      expect(self).toContain('name=lefev');
      expect(self).not.toContain('shoe-size');
    }
    // A bad value stays an error, lenient or not.
    expect((await call(`${srv.fhir}/Patient?birthdate=notadate`, { headers: { prefer: 'handling=lenient' } })).status).toBe(400);
  });
});

describe('hostile search input: 4xx or a correct answer, never 500', () => {
  const post = (type: string, body: string) =>
    fetch(`${srv.fhir}/${type}/_search`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });

  it('_elements with 10,000 names', async () => {
    const names = Array.from({ length: 10_000 }, (_, i) => `e${i}`).join(',');
    const r = await post('Patient', `_id=${jeanne.id}&_elements=gender,${names}`);
    expect(r.status).toBe(200);
    const p = matches((await r.json()) as Bundle)[0] as Patient;
    expect(Object.keys(p).sort()).toEqual(['gender', 'id', 'meta', 'resourceType']);
    const viaUrl = await fetch(`${srv.fhir}/Patient?_elements=${names}`);
    expect(viaUrl.status).toBeGreaterThanOrEqual(400);
    expect(viaUrl.status).toBeLessThan(500);
  });

  it('a name of 100 KB, control and bidi characters, a chain or a sort on nothing', async () => {
    const huge = encodeURIComponent('é'.repeat(50_000) + 'x'.repeat(50_000));
    for (const body of [`name=${huge}`, `family:exact=${huge}`, `name:contains=${huge}`]) {
      const r = await post('Patient', body);
      expect(r.status, body.slice(0, 20)).toBe(200);
      expect(matches((await r.json()) as Bundle)).toEqual([]);
    }
    for (const [qs, expression] of [
      [`name=${encodeURIComponent('\u202e\u200f\u0000')}`, 'name'],
      [`family:exact=${encodeURIComponent('Le\u0007fèvre')}`, 'family'],
      ['patient.shoe-size=1', 'patient.shoe-size'],
      ['_sort=shoe-size', '_sort'],
      ['_has:CarePlan:patient:shoe-size=1', '_has:CarePlan:patient:shoe-size'],
    ] as const) {
      const type = qs.startsWith('patient.') ? 'CarePlan' : 'Patient';
      const r = await call<Outcome>(`${srv.fhir}/${type}?${qs}`);
      expect(r.status, qs).toBe(400);
      expect(r.body.issue[0].expression, qs).toEqual([expression]);
    }
    const bidi = await search(`name=${encodeURIComponent('le\u200efè\u202evre')}`);
    expect(matches(bidi.body).map((p) => p.id)).toEqual([jeanne.id]);
  });
});
