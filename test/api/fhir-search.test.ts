import type { Bundle, CarePlan, Patient, Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, patient, startTestServer, type Outcome, type TestServer } from './server.js';

let srv: TestServer;
let patients: Patient[];
let plans: CarePlan[];
let before: string;
let issueId: string;
let requestId: string;

async function create<T extends Resource>(body: Resource): Promise<T> {
  const r = await call<T>(`${srv.fhir}/${body.resourceType}`, { body });
  expect(r.status).toBe(201);
  return r.body;
}

beforeAll(async () => {
  srv = await startTestServer();
  patients = [];
  for (let i = 0; i < 3; i++) patients.push(await create<Patient>(patient(`search-${i}`)));
  const issue = await create<Resource>({ resourceType: 'DetectedIssue', status: 'final', patient: { reference: `Patient/${patients[0].id}` } } as Resource);
  issueId = issue.id as string;
  const request = await create<Resource>({
    resourceType: 'ServiceRequest',
    status: 'active',
    intent: 'proposal',
    subject: { reference: `Patient/${patients[0].id}` },
  } as Resource);
  requestId = request.id as string;
  await new Promise((r) => setTimeout(r, 20));
  before = new Date().toISOString();
  await new Promise((r) => setTimeout(r, 20));
  plans = [];
  for (let i = 0; i < 5; i++) {
    plans.push(
      await create<CarePlan>({
        resourceType: 'CarePlan',
        status: i < 4 ? 'active' : 'completed',
        intent: 'plan',
        subject: { reference: `Patient/${patients[0].id}` },
        ...(i === 0
          ? { supportingInfo: [{ reference: `DetectedIssue/${issueId}` }], activity: [{ reference: { reference: `ServiceRequest/${requestId}` } }] }
          : {}),
      } as CarePlan),
    );
  }
});
afterAll(async () => {
  await srv.close();
});

const ids = (b: Bundle, mode = 'match'): string[] =>
  (b.entry ?? []).filter((e) => e.search?.mode === mode).map((e) => e.resource?.id as string);

describe('FHIR search', () => {
  it('by _id and by identifier', async () => {
    const byId = await call<Bundle>(`${srv.fhir}/Patient?_id=${patients[1].id}`);
    expect(byId.status).toBe(200);
    expect(byId.body.type).toBe('searchset');
    expect(byId.body.total).toBe(1);
    expect(ids(byId.body)).toEqual([patients[1].id]);
    const byIdentifier = await call<Bundle>(`${srv.fhir}/Patient?identifier=${encodeURIComponent('urn:oid:1.2.250.1.999.1|search-2')}`);
    expect(ids(byIdentifier.body)).toEqual([patients[2].id]);
  });

  it('by patient, status and _lastUpdated', async () => {
    const byPatient = await call<Bundle>(`${srv.fhir}/CarePlan?patient=Patient/${patients[0].id}`);
    expect(byPatient.body.total).toBe(5);
    const completed = await call<Bundle>(`${srv.fhir}/CarePlan?patient=${patients[0].id}&status=completed`);
    expect(ids(completed.body)).toEqual([plans[4].id]);
    const recent = await call<Bundle>(`${srv.fhir}/Patient?_lastUpdated=ge${encodeURIComponent(before)}`);
    expect(recent.body.total).toBe(0);
    const recentPlans = await call<Bundle>(`${srv.fhir}/CarePlan?_lastUpdated=ge${encodeURIComponent(before)}`);
    expect(recentPlans.body.total).toBe(5);
  });

  it('pages with next/previous links that work when followed', async () => {
    const seen: string[] = [];
    let url: string | undefined = `${srv.fhir}/CarePlan?status=active&_count=2`;
    let pages = 0;
    let second: Bundle | undefined;
    while (url) {
      const page: Bundle = (await call<Bundle>(url)).body;
      expect(page.total).toBe(4);
      seen.push(...ids(page));
      if (++pages === 2) second = page;
      url = page.link?.find((l) => l.relation === 'next')?.url;
    }
    expect(pages).toBe(2);
    expect(new Set(seen).size).toBe(4);
    const prev = second?.link?.find((l) => l.relation === 'previous')?.url as string;
    expect(prev).toContain('_offset=0');
    expect(ids((await call<Bundle>(prev)).body)).toEqual(seen.slice(0, 2));
  });

  it('POST _search with a form body answers like GET', async () => {
    const res = await fetch(`${srv.fhir}/CarePlan/_search`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `status=completed&patient=${patients[0].id}`,
    });
    expect(res.status).toBe(200);
    expect(ids((await res.json()) as Bundle)).toEqual([plans[4].id]);
  });

  it('_include follows CarePlan:supporting-info and CarePlan:activity-reference', async () => {
    const r = await call<Bundle>(
      `${srv.fhir}/CarePlan?_id=${plans[0].id}&_include=CarePlan:supporting-info&_include=CarePlan:activity-reference`,
    );
    expect(r.status).toBe(200);
    expect(ids(r.body)).toEqual([plans[0].id]);
    expect(ids(r.body, 'include').sort()).toEqual([issueId, requestId].sort());
    expect(r.body.total).toBe(1);
  });

  it('refuses an unknown search parameter with 400', async () => {
    const r = await call<Outcome>(`${srv.fhir}/Patient?shoe-size=42`);
    expect(r.status).toBe(400);
    expect(r.body.issue[0].details?.text).toContain('shoe-size');
  });
});
