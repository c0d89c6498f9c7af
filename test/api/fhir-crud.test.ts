import type { Bundle, CarePlan, Patient, Practitioner } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sourcePatientId } from '../../src/fhir/federated-patient.js';
import { call, patient, startTestServer, type Outcome, type TestServer } from './server.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(async () => {
  await srv.close();
});

describe('FHIR CRUD', () => {
  it('creates with a server-assigned id, then reads, updates, vreads and lists history', async () => {
    const created = await call<Patient>(`${srv.fhir}/Patient`, { body: { ...patient('crud-1'), id: 'client-id' } });
    expect(created.status).toBe(201);
    expect(created.headers.get('content-type')).toBe('application/fhir+json; charset=utf-8');
    const id = created.body.id as string;
    expect(id).not.toBe('client-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.headers.get('location')).toBe(`${srv.fhir}/Patient/${id}/_history/1`);
    expect(created.headers.get('etag')).toBe('W/"1"');

    const read = await call<Patient>(`${srv.fhir}/Patient/${id}`);
    expect(read.status).toBe(200);
    expect(read.headers.get('etag')).toBe('W/"1"');
    expect(read.headers.get('last-modified')).toBe(new Date(read.body.meta?.lastUpdated as string).toUTCString());
    expect(read.body.identifier?.[0].value).toBe('crud-1');

    const updated = await call<Patient>(`${srv.fhir}/Patient/${id}`, {
      method: 'PUT',
      body: { ...read.body, gender: 'male' },
      headers: { 'if-match': 'W/"1"' },
    });
    expect(updated.status).toBe(200);
    expect(updated.body.meta?.versionId).toBe('2');
    expect(updated.headers.get('etag')).toBe('W/"2"');

    const v1 = await call<Patient>(`${srv.fhir}/Patient/${id}/_history/1`);
    expect(v1.status).toBe(200);
    expect(v1.body.gender).toBe('female');

    const history = await call<Bundle>(`${srv.fhir}/Patient/${id}/_history`);
    expect(history.status).toBe(200);
    expect(history.body.type).toBe('history');
    expect(history.body.entry?.map((e) => e.resource?.meta?.versionId)).toEqual(['2', '1']);
    expect(history.body.entry?.map((e) => e.response?.status)).toEqual(['200 OK', '201 Created']);
  });

  it('PUT on a new id creates (201), and a stale If-Match is refused with 412', async () => {
    // A Patient is a source identity: its id is the one derived from its identifier (fhir-write-rules.test.ts).
    const id = sourcePatientId('urn:oid:1.2.250.1.999.1', 'crud-2');
    const put = await call<Patient>(`${srv.fhir}/Patient/${id}`, { method: 'PUT', body: { ...patient('crud-2'), id } });
    expect(put.status).toBe(201);
    expect(put.headers.get('location')).toBe(`${srv.fhir}/Patient/${id}/_history/1`);
    const stale = await call<Outcome>(`${srv.fhir}/Patient/${id}`, {
      method: 'PUT',
      body: { ...patient('crud-2'), id, gender: 'other' },
      headers: { 'if-match': 'W/"7"' },
    });
    expect(stale.status).toBe(412);
    expect(stale.body.issue[0].details?.text).toContain('version 1, not 7');
  });

  it('PUT with an id different from the URL is 400 naming id', async () => {
    const r = await call<Outcome>(`${srv.fhir}/Patient/abc`, { method: 'PUT', body: { ...patient('crud-3'), id: 'xyz' } });
    expect(r.status).toBe(400);
    expect(r.body.issue[0].expression).toEqual(['id']);
  });

  it('reads a missing resource as 404 and a deleted one as 410', async () => {
    expect((await call(`${srv.fhir}/Patient/nobody`)).status).toBe(404);
    // Not a Patient: a registered source identity is not deleted (fhir-write-rules.test.ts).
    const created = await call<Practitioner>(`${srv.fhir}/Practitioner`, { body: { resourceType: 'Practitioner', name: [{ family: 'Crud' }] } });
    const del = await call<Outcome>(`${srv.fhir}/Practitioner/${created.body.id}`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    const gone = await call<Outcome>(`${srv.fhir}/Practitioner/${created.body.id}`);
    expect(gone.status).toBe(410);
    expect(gone.body.resourceType).toBe('OperationOutcome');
  });

  it('conditional create with If-None-Exist returns the existing resource', async () => {
    const first = await call<Patient>(`${srv.fhir}/Patient`, { body: patient('crud-5') });
    const again = await call<Patient>(`${srv.fhir}/Patient`, {
      body: patient('crud-5'),
      headers: { 'if-none-exist': 'identifier=urn:oid:1.2.250.1.999.1|crud-5' },
    });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
  });

  it('accepts a valid local reference and records it as written', async () => {
    const p = await call<Patient>(`${srv.fhir}/Patient`, { body: patient('crud-6') });
    const plan = await call<CarePlan>(`${srv.fhir}/CarePlan`, {
      body: { resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: { reference: `Patient/${p.body.id}` } },
      headers: { 'content-type': 'application/json' },
    });
    expect(plan.status).toBe(201);
    expect(plan.body.subject?.reference).toBe(`Patient/${p.body.id}`);
  });

  it('$validate answers 200 with the issues, for a bare resource and for Parameters', async () => {
    const ok = await call<Outcome>(`${srv.fhir}/Patient/$validate`, { body: patient('v-1') });
    expect(ok.status).toBe(200);
    expect(ok.body.issue.some((i) => i.severity === 'error')).toBe(false);
    const bad = await call<Outcome>(`${srv.fhir}/Patient/$validate`, {
      body: { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: patient('v-2', { gender: 'bogus' }) }] },
    });
    expect(bad.status).toBe(200);
    const err = bad.body.issue.find((i) => i.severity === 'error');
    expect(err?.expression?.[0]).toContain('gender');
    const instance = await call<Outcome>(`${srv.fhir}/Patient/p1/$validate`, { body: { ...patient('v-3'), id: 'p2' } });
    expect(instance.status).toBe(400);
    expect(instance.body.issue[0].expression).toEqual(['id']);
    const allOk = await call<Outcome>(`${srv.fhir}/Patient/p1/$validate`, { body: { ...patient('v-3'), id: 'p1' } });
    expect(allOk.status).toBe(200);
  });
});
