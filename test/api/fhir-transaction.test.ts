import type { Bundle, CarePlan, Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, patient, startTestServer, type Outcome, type TestServer } from './server.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(async () => {
  await srv.close();
});

const P = 'urn:uuid:7f1c2a1e-0000-4000-8000-000000000001';
const SR = 'urn:uuid:7f1c2a1e-0000-4000-8000-000000000002';
const CP = 'urn:uuid:7f1c2a1e-0000-4000-8000-000000000003';

function txBundle(identifier: string, type: 'transaction' | 'batch' = 'transaction'): Bundle {
  return {
    resourceType: 'Bundle',
    type,
    entry: [
      { fullUrl: CP, resource: { resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: { reference: P }, activity: [{ reference: { reference: SR } }] } as CarePlan, request: { method: 'POST', url: 'CarePlan' } },
      { fullUrl: P, resource: patient(identifier), request: { method: 'POST', url: 'Patient' } },
      { fullUrl: SR, resource: { resourceType: 'ServiceRequest', status: 'active', intent: 'proposal', subject: { reference: P } } as Resource, request: { method: 'POST', url: 'ServiceRequest' } },
    ],
  };
}

async function countPatients(identifier: string): Promise<number> {
  const r = await call<Bundle>(`${srv.fhir}/Patient?identifier=${encodeURIComponent(`urn:oid:1.2.250.1.999.1|${identifier}`)}`);
  return r.body.total as number;
}

async function countAll(type: string): Promise<number> {
  return (await call<Bundle>(`${srv.fhir}/${type}?_summary=count`)).body.total as number;
}

describe('POST /fhir transaction', () => {
  it('stores every entry and rewrites urn:uuid references to the assigned ids', async () => {
    const r = await call<Bundle>(srv.fhir, { body: txBundle('tx-1') });
    expect(r.status).toBe(200);
    expect(r.body.type).toBe('transaction-response');
    const entries = r.body.entry ?? [];
    expect(entries.map((e) => e.response?.status)).toEqual(['201 Created', '201 Created', '201 Created']);
    for (const e of entries) {
      expect(e.response?.location).toMatch(/^(CarePlan|Patient|ServiceRequest)\/[0-9a-f-]{36}\/_history\/1$/);
      expect(e.response?.etag).toBe('W/"1"');
    }
    const [cpLoc, pLoc, srLoc] = entries.map((e) => (e.response?.location as string).split('/_history')[0]);
    const plan = await call<CarePlan>(`${srv.fhir}/${cpLoc}`);
    expect(plan.status).toBe(200);
    expect(plan.body.subject?.reference).toBe(pLoc);
    expect(plan.body.activity?.[0].reference?.reference).toBe(srLoc);
    const sr = await call<{ subject: { reference: string } }>(`${srv.fhir}/${srLoc}`);
    expect(sr.body.subject.reference).toBe(pLoc);
  });

  it('ifNoneExist reuses the existing resource and references point at it', async () => {
    const first = await call<Bundle>(srv.fhir, { body: txBundle('tx-2') });
    const pLoc = (first.body.entry?.[1].response?.location as string).split('/_history')[0];
    const again = txBundle('tx-2');
    (again.entry as NonNullable<Bundle['entry']>)[1].request = { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=urn:oid:1.2.250.1.999.1|tx-2' };
    const r = await call<Bundle>(srv.fhir, { body: again });
    expect(r.status).toBe(200);
    expect(r.body.entry?.[1].response?.status).toBe('200 OK');
    const cp = r.body.entry?.[0].resource as CarePlan;
    expect(cp.subject?.reference).toBe(pLoc);
    expect(await countPatients('tx-2')).toBe(1);
  });

  it('one entry with a dangling reference fails the whole transaction and stores nothing', async () => {
    const bundle = txBundle('tx-3');
    const sr = (bundle.entry as NonNullable<Bundle['entry']>)[2].resource as { subject: { reference: string } };
    sr.subject.reference = 'Patient/does-not-exist';
    const plansBefore = await countAll('CarePlan');
    const r = await call<Outcome>(srv.fhir, { body: bundle });
    expect(r.status).toBe(400);
    expect(r.body.resourceType).toBe('OperationOutcome');
    expect(r.body.issue[0].expression).toEqual(['Bundle.entry[2].resource.subject.reference']);
    expect(r.body.issue[0].details?.text).toContain('Patient/does-not-exist');
    expect(await countPatients('tx-3')).toBe(0);
    expect(await countAll('CarePlan')).toBe(plansBefore);
  });

  it('one invalid entry (bogus gender) fails the transaction, naming the entry', async () => {
    const bundle = txBundle('tx-4');
    ((bundle.entry as NonNullable<Bundle['entry']>)[1].resource as { gender: string }).gender = 'bogus';
    const r = await call<Outcome>(srv.fhir, { body: bundle });
    expect(r.status).toBe(400);
    expect(r.body.issue.some((i) => i.expression?.some((e) => e.startsWith('Bundle.entry[1].resource') && e.includes('gender')))).toBe(true);
    expect(await countPatients('tx-4')).toBe(0);
  });

  it('an unresolved urn:uuid reference is refused', async () => {
    const bundle = txBundle('tx-5');
    (bundle.entry as NonNullable<Bundle['entry']>).splice(2, 1);
    const r = await call<Outcome>(srv.fhir, { body: bundle });
    expect(r.status).toBe(400);
    expect(r.body.issue[0].expression).toEqual(['Bundle.entry[0].resource.activity[0].reference.reference']);
    expect(await countPatients('tx-5')).toBe(0);
  });

  it('resolves a conditional reference (Type?search) to the one match', async () => {
    const existing = await call<Bundle>(`${srv.fhir}/Patient?identifier=${encodeURIComponent('urn:oid:1.2.250.1.999.1|tx-1')}`);
    const id = existing.body.entry?.[0].resource?.id;
    const r = await call<Bundle>(srv.fhir, {
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            resource: { resourceType: 'CarePlan', status: 'draft', intent: 'plan', subject: { reference: 'Patient?identifier=urn:oid:1.2.250.1.999.1|tx-1' } },
            request: { method: 'POST', url: 'CarePlan' },
          },
        ],
      },
    });
    expect(r.status).toBe(200);
    expect((r.body.entry?.[0].resource as CarePlan).subject?.reference).toBe(`Patient/${id}`);
  });

  it('supports PUT, GET and DELETE entries', async () => {
    const r = await call<Bundle>(srv.fhir, {
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          // Not a Patient: a Patient's id derives from its identifier, and a registered one is not deleted.
          { resource: { resourceType: 'Practitioner', id: 'tx6', name: [{ family: 'Tx' }] }, request: { method: 'PUT', url: 'Practitioner/tx6' } },
          { request: { method: 'GET', url: 'Patient?identifier=urn:oid:1.2.250.1.999.1|tx-1' } },
        ],
      },
    });
    expect(r.status).toBe(200);
    expect(r.body.entry?.[0].response?.status).toBe('201 Created');
    expect((r.body.entry?.[1].resource as Bundle).total).toBe(1);
    const del = await call<Bundle>(srv.fhir, {
      body: { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'DELETE', url: 'Practitioner/tx6' } }] },
    });
    expect(del.body.entry?.[0].response?.status).toBe('204 No Content');
    expect((await call(`${srv.fhir}/Practitioner/tx6`)).status).toBe(410);
  });
});

describe('POST /fhir batch', () => {
  it('runs entries independently, each with its own outcome', async () => {
    const r = await call<Bundle>(srv.fhir, {
      body: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { resource: patient('batch-1'), request: { method: 'POST', url: 'Patient' } },
          { resource: patient('batch-2', { gender: 'bogus' }), request: { method: 'POST', url: 'Patient' } },
          { request: { method: 'GET', url: 'Patient/nobody' } },
        ],
      },
    });
    expect(r.status).toBe(200);
    expect(r.body.type).toBe('batch-response');
    expect(r.body.entry?.map((e) => e.response?.status)).toEqual(['201 Created', '400 Bad Request', '404 Not Found']);
    const bad = r.body.entry?.[1].response?.outcome as unknown as Outcome;
    expect(bad.issue[0].expression?.[0]).toMatch(/^Bundle\.entry\[1\]\.resource.*gender/);
    expect(await countPatients('batch-1')).toBe(1);
    expect(await countPatients('batch-2')).toBe(0);
  });
});
