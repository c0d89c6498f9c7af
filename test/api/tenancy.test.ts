// Tenants over real HTTP (issue 16, point 3): the three breaches of the issue, each failing on the code before
// tenants, and the rules around them (docs/security.md, "Tenants and roles"). Transport and credentials: tenancy-support.ts.
import type { Bundle, CarePlan, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, type Outcome } from './server.js';
import { FINESS, seed, startTenancy, type Seed, type Tenancy } from './tenancy-support.js';

const json = { 'content-type': 'application/json' };
let t: Tenancy;
let s: Seed;
beforeAll(async () => {
  t = await startTenancy();
  s = await seed(t);
}, 60_000);
afterAll(async () => t?.close());

const ids = (b: Bundle): string[] => (b.entry ?? []).filter((e) => e.search?.mode !== 'outcome').map((e) => `${e.resource?.resourceType}/${e.resource?.id}`);

describe('breach 1: a client re-submits another establishment’s document', () => {
  it('client B sends A’s PPP (A’s FINESS): 403 OperationOutcome, A’s CarePlan unchanged', async () => {
    const before = (await t.srv.store.read<CarePlan>('CarePlan', s.pppA.id as string)) as CarePlan;
    const doc = { ...fixture('ppp/ppp-12-medicines.json'), note: 'rewritten by B' };
    const r = await t.as<Outcome>('dpi-b', '/ppp', { body: doc, headers: json });
    expect(r.status).toBe(403);
    expect(r.body.resourceType).toBe('OperationOutcome');
    expect(r.body.issue[0].details?.text).toContain(FINESS.A);
    const after = (await t.srv.store.read<CarePlan>('CarePlan', s.pppA.id as string)) as CarePlan;
    expect(after.meta?.versionId).toBe(before.meta?.versionId);
    expect(after).toEqual(before);
  });

  it('a pharmacy sends a BPM of another pharmacy: 403; a CTM of A by C: 403', async () => {
    expect((await t.as('lgo-p', '/bpm', { body: fixture('bpm/self-medication-remote.json'), headers: json })).status).toBe(403);
    expect((await t.as('dpi-c', '/ctm', { body: fixture('ctm/admission-divergences.json'), headers: json })).status).toBe(403);
  });

  it('B sends a PPP of its own FINESS naming A’s patient by A’s identifier: 403, B gains no access to that patient', async () => {
    const doc = JSON.parse(JSON.stringify(fixture('ppp/ppp-12-medicines.json')).replace(`"finess":"${FINESS.A}"`, `"finess":"${FINESS.B}"`)) as { establishment: { finess: string } };
    expect(doc.establishment.finess).toBe(FINESS.B);
    const r = await t.as<Outcome>('dpi-b', '/ppp', { body: doc, headers: json });
    expect(r.status).toBe(403);
    expect(await t.srv.store.security.tenantsOf(s.patientA)).not.toContain(`finess:${FINESS.B}`);
  });

  it('A re-sends its own PPP: 200', async () => {
    expect((await t.as('dpi-a', '/ppp', { body: fixture('ppp/ppp-12-medicines.json'), headers: json })).status).toBe(200);
  });

  it('link-ctm on another tenant’s PPP: 404 (it does not exist for B); by a care-team pharmacy that sees it: 403', async () => {
    const body = { ctm: { finess: FINESS.A, id: 'CTM-ADM-2025-0113' } };
    const b = await t.as<Outcome>('dpi-b', `/ppp/${s.pppA.id}/link-ctm`, { body, headers: json });
    expect(b.status).toBe(404);
    expect((await t.as('dpi-b', `/ppp/00000000-0000-0000-0000-000000000000/link-ctm`, { body, headers: json })).status).toBe(404);
    expect((await t.as('lgo-p', `/ppp/${s.pppA.id}/unlink-ctm`, { body, headers: json })).status).toBe(403);
    expect((await t.as('dpi-b', `/fhir/CarePlan/${s.pppA.id}/$unlink-ctm`, { body: { resourceType: 'Parameters', parameter: [{ name: 'finess', valueString: FINESS.A }, { name: 'ctm-id', valueString: 'x' }] } })).status).toBe(404);
  });
});

describe('breach 2: a fhir.read client reads every patient of the region', () => {
  it('B reads A’s Patient, CarePlan, history, $everything: 404 as for a missing resource', async () => {
    for (const path of [`/fhir/Patient/${s.patientA}`, `/fhir/CarePlan/${s.pppA.id}`, `/fhir/CarePlan/${s.pppA.id}/_history`, `/fhir/CarePlan/${s.pppA.id}/_history/1`, `/fhir/Patient/${s.patientA}/$everything`]) {
      const r = await t.as<Outcome>('dpi-b', path);
      expect(r.status, path).toBe(404);
      const missing = await t.as<Outcome>('dpi-b', path.replace(/[0-9a-f-]{36}/, '00000000-0000-4000-8000-000000000000'));
      expect(missing.status, path).toBe(404);
    }
    expect((await t.as('dpi-a', `/fhir/Patient/${s.patientA}`)).status).toBe(200);
    expect((await t.as('dpi-a', `/fhir/CarePlan/${s.pppA.id}`)).status).toBe(200);
    expect((await t.as('dpi-a', `/fhir/Patient/${s.patientA}/$everything`)).status).toBe(200);
  });

  it('B’s searches do not list A’s patients, and totals count only what B sees', async () => {
    const patients = await t.as<Bundle>('dpi-b', '/fhir/Patient?_count=100');
    expect(patients.status).toBe(200);
    expect(ids(patients.body)).toEqual([`Patient/${s.patientB}`]);
    expect(patients.body.total).toBe(1);
    const byIns = await t.as<Bundle>('dpi-b', '/fhir/Patient?identifier=urn:oid:1.2.250.1.213.1.4.10|240037654012380');
    expect(byIns.body.total).toBe(0);
    const plans = await t.as<Bundle>('dpi-b', '/fhir/CarePlan?_include=CarePlan:subject&_revinclude=Task:based-on');
    expect(plans.body.total).toBe(0);
    expect(plans.body.entry ?? []).toEqual([]);
    const tasks = await t.as<Bundle>('dpi-b', `/fhir/Task?patient=Patient/${s.patientA}&_count=0`);
    expect(tasks.body.total).toBe(0);
  });

  it('A sees its patient’s data, not the federated Patient nor C’s; the care-team pharmacy sees A’s and C’s', async () => {
    const a = await t.as<Bundle>('dpi-a', '/fhir/Patient?_count=100');
    expect(ids(a.body)).toEqual([`Patient/${s.patientA}`]);
    const tasks = await t.as<Bundle>('dpi-a', `/fhir/Task?patient=Patient/${s.patientA}&_count=0`);
    expect(tasks.body.total).toBeGreaterThan(6);
    const p = await t.as<Bundle>('lgo-p', '/fhir/Patient?_count=100');
    expect(ids(p.body).sort()).toEqual([`Patient/${s.patientA}`, `Patient/${s.patientC}`].sort());
    expect((await t.as('lgo-p', `/ppp/${s.pppA.id}/medication-review`)).status).toBe(200);
    expect((await t.as('dpi-b', `/ppp/${s.pppA.id}/medication-review`)).status).toBe(404);
    // Shared data stays readable.
    const orgs = await t.as<Bundle>('dpi-b', '/fhir/Organization');
    expect(orgs.body.total).toBeGreaterThan(0);
  });

  it('the identity endpoints answer 403 to a fhir.read client, 200 to identitovigilance', async () => {
    for (const path of ['/identity/links', '/identity/reviews', '/identity/reviews/1']) {
      expect((await t.as('dpi-b', path)).status, path).toBe(403);
      expect((await t.as('dpi-a', path)).status, path).toBe(403);
    }
    expect((await t.as('identitovigilance', '/identity/links')).status).toBe(200);
    expect((await t.as('identitovigilance', '/identity/reviews')).status).toBe(200);
  });

  it('the federated Patient: 404 by id and absent from searches except for identitovigilance', async () => {
    expect((await t.as('dpi-a', `/fhir/Patient/${s.federatedA}`)).status).toBe(404);
    const iv = await t.as<Patient>('identitovigilance', `/fhir/Patient/${s.federatedA}`);
    expect(iv.status).toBe(200);
    const all = await t.as<Bundle>('identitovigilance', '/fhir/Patient?_count=100');
    expect(ids(all.body)).toContain(`Patient/${s.federatedA}`);
    expect(ids(all.body)).toContain(`Patient/${s.patientB}`);
  });
});

describe('breach 3: a fhir.write client rewrites the federated Patient with a forged INS', () => {
  it('PUT of the federated Patient: refused, nothing written; $match does not return it to that client', async () => {
    const stored = (await t.srv.store.read<Patient>('Patient', s.federatedA)) as Patient;
    const [ins, ...rest] = stored.identifier ?? [];
    const forged = { ...stored, identifier: [{ ...ins, value: '199999999999999' }, ...rest] };
    for (const client of ['integrator-b', 'dpi-a']) {
      const r = await t.as<Outcome>(client, `/fhir/Patient/${s.federatedA}`, { method: 'PUT', body: forged });
      expect(r.status, `${client} ${JSON.stringify(r.body)}`).toBe(403);
    }
    expect(await t.srv.store.read<Patient>('Patient', s.federatedA)).toEqual(stored);
    const match = {
      resourceType: 'Parameters',
      parameter: [{ name: 'resource', resource: { resourceType: 'Patient', identifier: stored.identifier?.slice(0, 1), name: stored.name, gender: stored.gender, birthDate: stored.birthDate, extension: stored.extension } }],
    };
    const b = await t.as<Bundle>('dpi-b', '/fhir/Patient/$match', { body: match });
    expect(b.status).toBe(200);
    expect(ids(b.body)).toEqual([]);
    const a = await t.as<Bundle>('dpi-a', '/fhir/Patient/$match', { body: match });
    expect(ids(a.body)).toEqual([`Patient/${s.patientA}`]);
    const iv = await t.as<Bundle>('identitovigilance', '/fhir/Patient/$match', { body: match });
    expect(ids(iv.body)).toEqual([`Patient/${s.federatedA}`]);
  });
});

describe('FHIR writes across tenants', () => {
  it('B cannot update, patch, delete A’s resources, nor write a resource referring to A’s patient; nothing written', async () => {
    const before = await t.srv.store.history('Patient', s.patientA);
    const obs = { resourceType: 'Observation', status: 'final', code: { text: 'poids' }, subject: { reference: `Patient/${s.patientA}` } };
    expect((await t.as('integrator-b', '/fhir/Observation', { body: obs })).status).toBe(403);
    const mine = await t.as<{ id: string }>('integrator-b', '/fhir/Observation', { body: { ...obs, subject: { reference: `Patient/${s.patientB}` } } });
    expect(mine.status).toBe(201);
    const patA = (await t.srv.store.read<Patient>('Patient', s.patientA)) as Patient;
    const put = await t.as('integrator-b', `/fhir/Patient/${s.patientA}`, { method: 'PUT', body: { ...patA, telecom: [{ system: 'phone', value: '0600000000' }] } });
    expect(put.status, JSON.stringify(put.body)).toBe(403);
    expect((await t.as('integrator-b', `/fhir/Patient`, { body: { ...patA, id: undefined, meta: undefined, telecom: [{ system: 'phone', value: '0600000000' }] } })).status).toBe(403);
    expect(
      (await t.as('integrator-b', `/fhir/Patient/${s.patientA}`, { method: 'PATCH', body: JSON.stringify([{ op: 'replace', path: '/gender', value: 'male' }]), headers: { 'content-type': 'application/json-patch+json' } })).status,
    ).toBe(404);
    expect((await t.as('integrator-b', `/fhir/Patient/${s.patientA}`, { method: 'DELETE' })).status).toBe(403);
    const onPlan = { ...obs, subject: { reference: `Patient/${s.patientB}` }, basedOn: [{ reference: `CarePlan/${s.pppA.id}` }] };
    expect((await t.as('integrator-b', '/fhir/Observation', { body: onPlan })).status).toBe(403);
    const bundle = { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'POST', url: 'Observation' }, resource: obs }] };
    expect((await t.as('integrator-b', '/fhir', { body: bundle })).status).toBe(403);
    const cond = await t.as('integrator-b', `/fhir/Consent?patient=Patient/${s.patientA}`, { method: 'DELETE' });
    expect(cond.status, JSON.stringify(cond.body)).toBe(200);
    expect(await t.srv.store.history('Patient', s.patientA)).toEqual(before);
  });

  it('a Patient written through FHIR grants the writer’s tenant (B sees it), not the others', async () => {
    expect((await t.as('dpi-b', `/fhir/Patient/${s.patientB}`)).status).toBe(200);
    expect((await t.as('dpi-a', `/fhir/Patient/${s.patientB}`)).status).toBe(404);
    expect(await t.srv.store.security.tenantsOf(s.patientB)).toEqual([`finess:${FINESS.B}`]);
  });

  it('grants at submission: the sender and the organisations the document names (care-team pharmacy), source and federated ids', async () => {
    expect(await t.srv.store.security.tenantsOf(s.patientA)).toEqual([`finess:${FINESS.A}`, `finess:${FINESS.P}`]);
    expect(await t.srv.store.security.tenantsOf(s.federatedA)).toContain(`finess:${FINESS.A}`);
    expect(await t.srv.store.security.tenantsOf(s.patientG)).toContain(`finess:${FINESS.G}`);
  });
});
