// Every FHIR write keeps the business rules (issue 15, item 1): Patients are source identities registered with the
// SRI, federated Patients are the SRI's, what a document produced is written by its endpoint, deletes keep the
// references whole, and the decision on a recommendation goes through its service. Over real HTTP, on SQLite (the
// property test, test/api/fhir-write-property.test.ts, runs the same rules on PostgreSQL too).
import type { Bundle, CarePlan, Patient, Resource, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountDomainRoutes } from '../../src/api/domain-routes.js';
import { CS, PROFILE } from '../../src/fhir/canonical.js';
import { REGIONAL_ID_SYSTEM, sourcePatientId } from '../../src/fhir/federated-patient.js';
import { idFor } from '../../src/fhir/ids.js';
import { call, fixture, patient, startTestServer, type Outcome, type TestServer } from './server.js';

const SYSTEM = 'urn:oid:1.2.250.1.999.1';
const json = { 'content-type': 'application/json' };

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer({}, [mountDomainRoutes]);
});
afterAll(async () => srv.close());

const texts = (o: Outcome): string => o.issue.map((i) => i.details?.text ?? '').join(' | ');
const expressions = (o: Outcome): string[] => o.issue.flatMap((i) => i.expression ?? []);
const txBundle = (entry: NonNullable<Bundle['entry']>): Bundle => ({ resourceType: 'Bundle', type: 'transaction', entry });
async function countPatients(value: string): Promise<number> {
  const r = await call<Bundle>(`${srv.fhir}/Patient?identifier=${encodeURIComponent(`${SYSTEM}|${value}`)}&_total=accurate`);
  return r.body.total as number;
}
const referOf = (p: Patient): string | undefined => p.link?.find((l) => l.type === 'refer')?.other.reference;

describe('a Patient written through FHIR is a source identity', () => {
  it('POST four times with the same identifier: ONE Patient, registered with the SRI and linked to its federated Patient', async () => {
    const ids: string[] = [];
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await call<Patient>(`${srv.fhir}/Patient`, { body: patient('four-1') });
      statuses.push(r.status);
      ids.push(r.body.id as string);
    }
    expect(statuses[0]).toBe(201);
    expect(statuses.slice(1).every((s) => s === 200)).toBe(true);
    expect(new Set(ids).size).toBe(1);
    expect(ids[0]).toBe(sourcePatientId(SYSTEM, 'four-1'));
    expect(await countPatients('four-1')).toBe(1);

    const registered = await srv.store.identities.getSource(SYSTEM, 'four-1');
    expect(registered?.federatedId).toBeDefined();
    const stored = (await call<Patient>(`${srv.fhir}/Patient/${ids[0]}`)).body;
    expect(referOf(stored)).toBe(`Patient/${registered?.federatedId}`);
    const federated = await call<Patient>(`${srv.fhir}/Patient/${registered?.federatedId}`);
    expect(federated.status).toBe(200);
    expect(federated.body.identifier?.some((i) => i.system === REGIONAL_ID_SYSTEM)).toBe(true);
    expect(federated.body.link?.map((l) => l.other.reference)).toContain(`Patient/${ids[0]}`);
    // One registration, then the same source known: one registration audited for it.
    const audit = await srv.store.auditLog({ entity: `Patient/${registered?.federatedId}`, limit: 100 });
    expect(audit.length).toBeGreaterThan(0);
  });

  it('PUT at another id than the one derived from the identifier → 422 naming Patient.id and the expected id; at that id it is stored and linked', async () => {
    const wrong = await call<Outcome>(`${srv.fhir}/Patient/my-own-id`, { method: 'PUT', body: { ...patient('put-1'), id: 'my-own-id' } });
    expect(wrong.status).toBe(422);
    expect(expressions(wrong.body)).toEqual(['Patient.id']);
    const expected = sourcePatientId(SYSTEM, 'put-1');
    expect(texts(wrong.body)).toContain(`Patient/${expected}`);
    expect(await srv.store.identities.getSource(SYSTEM, 'put-1')).toBeUndefined();

    const put = await call<Patient>(`${srv.fhir}/Patient/${expected}`, { method: 'PUT', body: { ...patient('put-1'), id: expected } });
    expect(put.status).toBe(201);
    const source = await srv.store.identities.getSource(SYSTEM, 'put-1');
    expect(referOf(put.body)).toBe(`Patient/${source?.federatedId}`);
    // An update without the link keeps it: the link is the SRI's.
    const update = await call<Patient>(`${srv.fhir}/Patient/${expected}`, { method: 'PUT', body: { ...patient('put-1'), id: expected, birthDate: '1948-03-03' } });
    expect(update.status).toBe(200);
    expect(referOf(update.body)).toBe(`Patient/${source?.federatedId}`);
    // A link the SRI did not decide is refused.
    const relink = await call<Outcome>(`${srv.fhir}/Patient/${expected}`, {
      method: 'PUT',
      body: { ...patient('put-1'), id: expected, link: [{ type: 'refer', other: { reference: `Patient/${sourcePatientId(SYSTEM, 'four-1')}` } }] },
    });
    expect(relink.status).toBe(422);
    expect(expressions(relink.body)).toEqual(['Patient.link[0]']);
  });

  it('missing traits → 400 naming each element, nothing stored or registered', async () => {
    const { birthDate: _b, gender: _g, ...rest } = patient('traits-1') as Patient;
    const r = await call<Outcome>(`${srv.fhir}/Patient`, { body: rest });
    expect(r.status).toBe(400);
    expect(expressions(r.body)).toEqual(expect.arrayContaining(['Patient.birthDate', 'Patient.gender']));
    const noId = await call<Outcome>(`${srv.fhir}/Patient`, { body: { ...patient('x'), identifier: [] } });
    expect(noId.status).toBe(400);
    expect(expressions(noId.body)).toContain('Patient.identifier');
    expect(await countPatients('traits-1')).toBe(0);
    expect(await srv.store.identities.getSource(SYSTEM, 'traits-1')).toBeUndefined();
  });

  it('in a transaction: the Patient gets its derived id, references follow it, a second POST is 200; missing traits name the entry', async () => {
    const P = 'urn:uuid:0b6c1e8e-0000-4000-8000-000000000001';
    const bundle = (): Bundle =>
      txBundle([
        { fullUrl: P, resource: patient('tx-id-1'), request: { method: 'POST', url: 'Patient' } },
        { resource: { resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: { reference: P } } as CarePlan, request: { method: 'POST', url: 'CarePlan' } },
      ]);
    const first = await call<Bundle>(srv.fhir, { body: bundle() });
    expect(first.status).toBe(200);
    const id = sourcePatientId(SYSTEM, 'tx-id-1');
    expect(first.body.entry?.[0].response?.status).toBe('201 Created');
    expect((first.body.entry?.[1].resource as CarePlan).subject?.reference).toBe(`Patient/${id}`);
    expect(referOf(first.body.entry?.[0].resource as Patient)).toMatch(/^Patient\//);
    const second = await call<Bundle>(srv.fhir, { body: bundle() });
    expect(second.body.entry?.[0].response?.status).toBe('200 OK');
    expect(await countPatients('tx-id-1')).toBe(1);

    const bad = bundle();
    delete (bad.entry?.[0].resource as Patient).birthDate;
    const r = await call<Outcome>(srv.fhir, { body: bad });
    expect(r.status).toBe(400);
    expect(expressions(r.body)).toContain('Bundle.entry[0].resource.birthDate');
  });

  it('a federated Patient is not written or deleted through FHIR: 403 saying where decisions are made', async () => {
    await call(`${srv.fhir}/Patient`, { body: patient('fed-1') });
    const fed = (await srv.store.identities.getSource(SYSTEM, 'fed-1'))?.federatedId as string;
    const read = await call<Patient>(`${srv.fhir}/Patient/${fed}`);
    const put = await call<Outcome>(`${srv.fhir}/Patient/${fed}`, { method: 'PUT', body: { ...read.body, gender: 'male' } });
    expect(put.status).toBe(403);
    expect(texts(put.body)).toMatch(/\/identity\/reviews.*\/identity\/separate/);
    const del = await call<Outcome>(`${srv.fhir}/Patient/${fed}`, { method: 'DELETE' });
    expect(del.status).toBe(403);
    const { id: _id, meta: _meta, ...copy } = read.body;
    const post = await call<Outcome>(`${srv.fhir}/Patient`, { body: copy });
    expect(post.status).toBe(403);
    expect((await call<Patient>(`${srv.fhir}/Patient/${fed}`)).body.meta?.versionId).toBe(read.body.meta?.versionId);
  });

  it('a registered source Patient is not deleted: 409 naming the registry, still readable', async () => {
    const r = await call<Patient>(`${srv.fhir}/Patient`, { body: patient('keep-1') });
    const del = await call<Outcome>(`${srv.fhir}/Patient/${r.body.id}`, { method: 'DELETE' });
    expect(del.status).toBe(409);
    expect(texts(del.body)).toMatch(/identity service keeps every source identity/);
    expect((await call(`${srv.fhir}/Patient/${r.body.id}`)).status).toBe(200);
  });
});

describe('referential integrity of deletes', () => {
  let patientId: string;
  beforeAll(async () => {
    patientId = (await call<Patient>(`${srv.fhir}/Patient`, { body: patient('ref-1') })).body.id as string;
  });

  it('DELETE of a Patient a CarePlan refers to → 409 listing the CarePlan, nothing deleted', async () => {
    const plan = await call<CarePlan>(`${srv.fhir}/CarePlan`, { body: { resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: { reference: `Patient/${patientId}` } } });
    const del = await call<Outcome>(`${srv.fhir}/Patient/${patientId}`, { method: 'DELETE' });
    expect(del.status).toBe(409);
    const about = del.body.issue.find((i) => (i as { diagnostics?: string }).diagnostics === `CarePlan/${plan.body.id}`);
    expect(about?.expression).toEqual(['CarePlan.subject.reference']);
    expect((await call(`${srv.fhir}/Patient/${patientId}`)).status).toBe(200);
    expect((await call(`${srv.fhir}/CarePlan/${plan.body.id}`)).status).toBe(200);
    // Not even by cascade: a Patient is an identity.
    expect((await call(`${srv.fhir}/Patient/${patientId}?_cascade=delete`, { method: 'DELETE' })).status).toBe(409);
    expect((await call(`${srv.fhir}/CarePlan/${plan.body.id}`)).status).toBe(200);
  });

  it('a client resource: 409 while referred to; _cascade=delete removes the referrers too, audited; the same Bundle deleting both is fine', async () => {
    const practitioner = async (): Promise<string> =>
      (await call<Resource>(`${srv.fhir}/Practitioner`, { body: { resourceType: 'Practitioner', name: [{ family: 'Ref' }] } })).body.id as string;
    const plan = async (author: string): Promise<string> =>
      (
        await call<CarePlan>(`${srv.fhir}/CarePlan`, {
          body: { resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: { reference: `Patient/${patientId}` }, author: { reference: `Practitioner/${author}` } },
        })
      ).body.id as string;
    const pr = await practitioner();
    const cp = await plan(pr);
    const refused = await call<Outcome>(`${srv.fhir}/Practitioner/${pr}`, { method: 'DELETE' });
    expect(refused.status).toBe(409);
    expect(refused.body.issue[0].expression).toEqual(['CarePlan.author.reference']);
    const inTx = await call<Outcome>(srv.fhir, { body: txBundle([{ request: { method: 'DELETE', url: `Practitioner/${pr}` } }]) });
    expect(inTx.status).toBe(409);
    expect(inTx.body.issue[0].expression).toEqual(['Bundle.entry[0].CarePlan.author.reference']);

    const cascade = await call<Outcome>(`${srv.fhir}/Practitioner/${pr}?_cascade=delete`, { method: 'DELETE' });
    expect(cascade.status).toBe(200);
    expect((await call(`${srv.fhir}/CarePlan/${cp}`)).status).toBe(410);
    expect((await call(`${srv.fhir}/Practitioner/${pr}`)).status).toBe(410);
    const audit = await srv.store.auditLog({ entity: `CarePlan/${cp}`, limit: 10 });
    expect(audit.find((a) => a.action === 'fhir.delete')?.detail).toBe(`_cascade=delete from Practitioner/${pr}`);

    const pr2 = await practitioner();
    const cp2 = await plan(pr2);
    const both = await call<Bundle>(srv.fhir, {
      body: txBundle([
        { request: { method: 'DELETE', url: `Practitioner/${pr2}` } },
        { request: { method: 'DELETE', url: `CarePlan/${cp2}` } },
      ]),
    });
    expect(both.status).toBe(200);
    expect((await call(`${srv.fhir}/Practitioner/${pr2}`)).status).toBe(410);
  });
});

describe('the reverse index _ref is internal', () => {
  it('is not a search parameter from URLs, nor in the CapabilityStatement', async () => {
    for (const url of ['CarePlan?_ref=Patient/x', 'CarePlan?_include=CarePlan:_ref', 'Patient?_has:CarePlan:_ref:status=active']) {
      expect((await call(`${srv.fhir}/${url}`)).status, url).toBe(400);
    }
    expect(JSON.stringify((await call(`${srv.fhir}/metadata`)).body)).not.toContain('"_ref"');
  });
});

describe('what a domain document produced', () => {
  const ppp = fixture('ppp/ppp-12-medicines.json');
  const finess = (ppp.establishment as { finess: string }).finess;
  let carePlan: CarePlan;
  let pppBundle: Bundle;
  const taskId = (reco: string, actor: string): string => idFor('Task', finess, 'ppp', ppp.id as string, 'reco-validation', reco, actor);
  const linkedCompositions = (cp: CarePlan): number => (cp.supportingInfo ?? []).filter((r) => r.reference?.startsWith('Composition/')).length;

  beforeAll(async () => {
    pppBundle = (await call<Bundle>(`${srv.url}/ppp`, { body: ppp, headers: json })).body;
    carePlan = pppBundle.entry?.map((e) => e.resource).find((r) => r?.resourceType === 'CarePlan') as CarePlan;
  });

  it("a transaction re-posting the PPP's CarePlan after link-ctm is refused (422 naming POST /ppp): the CTM link stays", async () => {
    const ctm = fixture('ctm/admission-divergences.json');
    expect((await call(`${srv.url}/ctm`, { body: ctm, headers: json })).status).toBe(200);
    const linked = await call<CarePlan>(`${srv.url}/ppp/${carePlan.id}/link-ctm`, {
      body: { ctm: { finess: (ctm.establishment as { finess: string }).finess, id: ctm.id } },
      headers: json,
    });
    expect(linked.status).toBe(200);
    expect(linkedCompositions(linked.body)).toBe(2);

    // The DPI sends the PPP's resources again as it first got them: the CarePlan without the link.
    const r = await call<Outcome>(srv.fhir, { body: txBundle([{ resource: carePlan, request: { method: 'PUT', url: `CarePlan/${carePlan.id}` } }]) });
    expect(r.status).toBe(422);
    expect(texts(r.body)).toContain('POST /ppp');
    expect(expressions(r.body)).toEqual(['Bundle.entry[0].resource.meta.profile[0]']);
    const after = await call<CarePlan>(`${srv.fhir}/CarePlan/${carePlan.id}`);
    expect(linkedCompositions(after.body)).toBe(2);
    expect(after.body.meta?.versionId).toBe(linked.body.meta?.versionId);
  });

  it('update, create or delete of document resources → 422 naming the endpoint; DocumentReference and Binary are read-only (405)', async () => {
    const request = pppBundle.entry?.map((e) => e.resource).find((r) => r?.resourceType === 'MedicationRequest') as Resource;
    const put = await call<Outcome>(`${srv.fhir}/MedicationRequest/${request.id}`, { method: 'PUT', body: { ...request, status: 'cancelled' } });
    expect(put.status).toBe(422);
    expect(texts(put.body)).toContain('POST /ppp');
    const del = await call<Outcome>(`${srv.fhir}/CarePlan/${carePlan.id}`, { method: 'DELETE' });
    expect(del.status).toBe(422);
    expect(texts(del.body)).toContain('POST /ppp');
    const { id: _id, meta: _meta, ...copy } = carePlan;
    const post = await call<Outcome>(`${srv.fhir}/CarePlan`, { body: { ...copy, meta: { profile: [PROFILE.pppCarePlan] }, identifier: undefined } });
    expect(post.status).toBe(422);
    const bpmLike = await call<Outcome>(`${srv.fhir}/CarePlan`, {
      body: { resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: carePlan.subject, category: [{ coding: [{ system: CS.careplanCategory, code: 'bpm' }] }] },
    });
    expect(bpmLike.status).toBe(422);
    expect(texts(bpmLike.body)).toContain('POST /bpm');
    const doc = await call<Outcome>(`${srv.fhir}/DocumentReference`, {
      body: { resourceType: 'DocumentReference', status: 'current', content: [{ attachment: { contentType: 'application/pdf', url: 'Binary/x' } }] },
    });
    expect(doc.status).toBe(405);
    expect((await call(`${srv.fhir}/CarePlan/${carePlan.id}`)).status).toBe(200);
  });

  describe('the decision on a recommendation (reco-validation Task)', () => {
    const decision = (code: string, display: string): NonNullable<Task['output']>[number] => ({
      type: { text: 'decision' },
      valueCodeableConcept: { coding: [{ system: CS.pppDecision, code, display }] },
    });
    const read = async (id: string): Promise<Task> => (await call<Task>(`${srv.fhir}/Task/${id}`)).body;
    const put = (task: Task): Promise<{ status: number; body: Task & Outcome }> => call<Task & Outcome>(`${srv.fhir}/Task/${task.id}`, { method: 'PUT', body: task });

    it('requested → completed with its decision: stored, businessStatus set, audited (ppp.decision); sent again it changes nothing', async () => {
      const task = await read(taskId('r6', 'MT'));
      expect(task.status).toBe('requested');
      const decided = { ...task, status: 'completed', output: [decision('retenu', 'Retenu'), { type: { text: 'motif' }, valueString: 'Accord' }] } as Task;
      const r = await put(decided);
      expect(r.status).toBe(200);
      expect(r.body.status).toBe('completed');
      expect(r.body.businessStatus?.coding?.[0]).toMatchObject({ system: CS.pppDecision, code: 'retenu' });
      expect(r.body.lastModified).toBeDefined();
      const audit = await srv.store.auditLog({ entity: `Task/${task.id}`, limit: 10 });
      expect(audit.find((a) => a.action === 'ppp.decision')).toMatchObject({ outcome: 'success', detail: 'decision retenu' });
      expect(audit.find((a) => a.action === 'ppp.decision')?.entities).toContain(`CarePlan/${carePlan.id}`);
      const again = await put(r.body);
      expect(again.status).toBe(200);
      expect(again.body.meta?.versionId).toBe(r.body.meta?.versionId);
      // Changed while the PPP is open (issue 18): a new version, audited; refused once it is closed (test/pages/decision-page.test.ts).
      const change = await put({ ...r.body, output: [decision('non-retenu', 'Non retenu')], businessStatus: undefined } as Task);
      expect(change.status).toBe(200);
      expect(change.body.businessStatus?.coding?.[0]).toMatchObject({ code: 'non-retenu' });
      expect(change.body.meta?.versionId).not.toBe(r.body.meta?.versionId);
      const rows = (await srv.store.auditLog({ entity: `Task/${task.id}`, limit: 10 })).filter((a) => a.action === 'ppp.decision');
      expect(rows.map((a) => a.detail).sort()).toEqual(['decision non-retenu', 'decision retenu']);
    });

    it('the PPP sent again (its document knows no decision) does not reopen a decision made', async () => {
      const before = await read(taskId('r6', 'MT'));
      expect(before.status).toBe('completed');
      expect((await call(`${srv.url}/ppp`, { body: ppp, headers: json })).status).toBe(200);
      const after = await read(taskId('r6', 'MT'));
      expect(after.status).toBe('completed');
      expect(after.output).toEqual(before.output);
      expect(after.meta?.versionId).toBe(before.meta?.versionId);
    });

    it('requested → rejected (the owner declines) is a decision too', async () => {
      const task = await read(taskId('r6', 'PHO'));
      const r = await put({ ...task, status: 'rejected', output: [{ type: { text: 'motif' }, valueString: 'Pas le pharmacien du patient' }] } as Task);
      expect(r.status).toBe(200);
      const audit = await srv.store.auditLog({ entity: `Task/${task.id}`, limit: 10 });
      expect(audit.some((a) => a.action === 'ppp.decision' && a.detail === 'declined (rejected)')).toBe(true);
    });

    it.each([
      { what: 'completed without its decision', status: 422, expression: 'Task.output', change: (t: Task) => ({ ...t, status: 'completed' }) },
      { what: 'two decisions', status: 422, expression: 'Task.output[1]', change: (t: Task) => ({ ...t, status: 'completed', output: [decision('retenu', 'Retenu'), decision('non-retenu', 'Non retenu')] }) },
      { what: 'another status than completed or rejected', status: 422, expression: 'Task.status', change: (t: Task) => ({ ...t, status: 'on-hold' }) },
      { what: 'another owner with the decision', status: 422, expression: 'Task.owner', change: (t: Task) => ({ ...t, status: 'completed', output: [decision('retenu', 'Retenu')], owner: t.requester }) },
      {
        what: 'businessStatus saying otherwise',
        status: 422,
        expression: 'Task.businessStatus',
        change: (t: Task) => ({ ...t, status: 'completed', output: [decision('retenu', 'Retenu')], businessStatus: { coding: [{ system: CS.pppDecision, code: 'non-retenu' }] } }),
      },
      // The profile already binds the decision to its value set.
      { what: 'a code outside ppp-decision', status: 400, expression: undefined, change: (t: Task) => ({ ...t, status: 'completed', output: [decision('peut-etre', 'Peut-être')] }) },
    ])('$what → $status, nothing written', async ({ status, expression, change }) => {
      const task = await read(taskId('r5', 'MT'));
      const r = await put(change(task) as Task);
      expect(r.status).toBe(status);
      if (expression) expect(expressions(r.body)).toEqual([expression]);
      expect((await read(task.id as string)).meta?.versionId).toBe(task.meta?.versionId);
    });

    it('other Tasks of a document (a D45 follow-up) are not written through FHIR', async () => {
      const followup = await read(idFor('Task', finess, 'ppp', ppp.id as string, 'followup-d45'));
      const r = await put({ ...followup, status: 'completed' } as Task);
      expect(r.status).toBe(422);
      expect(texts(r.body)).toContain('POST /ppp');
    });
  });
});
