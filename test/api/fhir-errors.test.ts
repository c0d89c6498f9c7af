import type { CapabilityStatement, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, patient, startTestServer, type Outcome, type TestServer } from './server.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer({ bodyLimit: '2kb' });
});
afterAll(async () => {
  await srv.close();
});

function expectOutcome(r: { status: number; headers: Headers; body: Outcome }, status: number): Outcome['issue'][number] {
  expect(r.status).toBe(status);
  expect(r.headers.get('content-type')).toBe('application/fhir+json; charset=utf-8');
  expect(r.body.resourceType).toBe('OperationOutcome');
  expect(r.body.issue[0].severity).toBe('error');
  return r.body.issue[0];
}

describe('FHIR errors are precise OperationOutcomes', () => {
  it('malformed JSON → 400 with the parser message', async () => {
    const i = expectOutcome(await call<Outcome>(`${srv.fhir}/Patient`, { body: '{"resourceType": "Patient",' }), 400);
    expect(i.code).toBe('invalid');
    expect(i.details?.text).toMatch(/^Malformed JSON body: .*JSON/);
  });

  it('resourceType different from the URL type → 400 on resourceType', async () => {
    const i = expectOutcome(await call<Outcome>(`${srv.fhir}/Patient`, { body: { resourceType: 'Observation', status: 'final' } }), 400);
    expect(i.expression).toEqual(['resourceType']);
    expect(i.details?.text).toContain('"Observation"');
  });

  it('unknown resource type → 400', async () => {
    const i = expectOutcome(await call<Outcome>(`${srv.fhir}/Pateint`, { body: { resourceType: 'Pateint' } }), 400);
    expect(i.details?.text).toBe('Unknown resource type "Pateint"');
    expectOutcome(await call<Outcome>(`${srv.fhir}/Pateint/1`), 400);
  });

  it('a bogus required code (Patient.gender) → 400 with its expression', async () => {
    const r = await call<Outcome>(`${srv.fhir}/Patient`, { body: patient('err-1', { gender: 'bogus' }) });
    expectOutcome(r, 400);
    expect(r.body.issue.some((i) => i.expression?.some((e) => e.includes('gender')))).toBe(true);
  });

  it('a body over the size limit → 413', async () => {
    const big = patient('err-2', { text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${'x'.repeat(4000)}</div>` } });
    const i = expectOutcome(await call<Outcome>(`${srv.fhir}/Patient`, { body: big }), 413);
    expect(i.details?.text).toContain('2kb');
  });

  it('a reference to a resource that is not stored → 400 with the path', async () => {
    const i = expectOutcome(
      await call<Outcome>(`${srv.fhir}/CarePlan`, {
        body: { resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: { reference: 'Patient/xyz' } },
      }),
      400,
    );
    expect(i.expression).toEqual(['CarePlan.subject.reference']);
    expect(i.details?.text).toContain('Patient/xyz');
  });

  it('an unsupported content type → 415', async () => {
    const i = expectOutcome(
      await call<Outcome>(`${srv.fhir}/Patient`, { body: JSON.stringify(patient('err-3')), headers: { 'content-type': 'text/plain' } }),
      415,
    );
    expect(i.details?.text).toContain('text/plain');
  });

  it('an unknown route → 404, a wrong method → 405', async () => {
    expectOutcome(await call<Outcome>(`${srv.url}/nowhere`), 404);
    const r = await call<Outcome>(`${srv.fhir}/Patient/1/_history`, { method: 'DELETE' });
    expectOutcome(r, 405);
    expect(r.headers.get('allow')).toBe('GET');
  });

  it('nothing was stored by the failed requests', async () => {
    const r = await call<{ total: number }>(`${srv.fhir}/Patient?_summary=count`);
    expect(r.body.total).toBe(0);
    expect((await call<Patient>(`${srv.fhir}/Patient`, { body: patient('err-ok') })).status).toBe(201);
  });
});

describe('GET /fhir/metadata', () => {
  it('describes what is routed, the search parameters and our profiles', async () => {
    const r = await call<CapabilityStatement>(`${srv.fhir}/metadata`);
    expect(r.status).toBe(200);
    const cs = r.body;
    expect(cs.fhirVersion).toBe('4.0.1');
    expect(cs.format).toContain('json');
    const rest = cs.rest?.[0];
    expect(rest?.interaction?.map((i) => i.code).sort()).toEqual(['batch', 'transaction']);
    const carePlan = rest?.resource?.find((x) => x.type === 'CarePlan');
    expect(carePlan?.interaction?.map((i) => i.code).sort()).toEqual(
      ['create', 'delete', 'history-instance', 'patch', 'read', 'search-type', 'update', 'vread'].sort(),
    );
    expect(carePlan?.searchParam?.map((p) => p.name)).toEqual(expect.arrayContaining(['_id', '_lastUpdated', 'identifier', 'patient', 'subject', 'status']));
    expect(carePlan?.searchInclude).toEqual(expect.arrayContaining(['CarePlan:supporting-info', 'CarePlan:activity-reference']));
    expect(carePlan?.supportedProfile).toContain('https://fhir.passerelle.fr/StructureDefinition/passerelle-ppp-careplan');
    expect(carePlan?.operation?.map((o) => o.name)).toEqual(['validate', 'link-ctm', 'unlink-ctm', 'send']);
  });
});
