// Domain endpoints over real HTTP: canonical submissions, idempotent re-sends, precise errors with nothing
// written, and the explicit CTM ↔ PPP link (refused until a pharmacist validated the BMO).
import { readFileSync } from 'node:fs';
import type { Bundle, CarePlan } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountDomainRoutes } from '../../src/api/domain-routes.js';
import { call, fixture, startTestServer, type Outcome, type TestServer } from './server.js';

const json = { 'content-type': 'application/json' };

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer({}, [mountDomainRoutes]);
});
afterAll(async () => srv.close());

const carePlanOf = (b: Bundle): CarePlan => b.entry?.map((e) => e.resource).find((r) => r?.resourceType === 'CarePlan') as CarePlan;

describe('POST /ppp, /ctm, /bpm', () => {
  it('stores a PPP and answers the transaction-response Bundle; CarePlan, DetectedIssue, Task and Patient read back', async () => {
    const r = await call<Bundle>(`${srv.url}/ppp`, { body: fixture('ppp/ppp-12-medicines.json'), headers: json });
    expect(r.status).toBe(200);
    expect(r.body.type).toBe('transaction-response');
    expect(r.body.entry?.every((e) => e.response?.status === '201 Created')).toBe(true);
    const cp = carePlanOf(r.body);
    const read = await call<CarePlan>(`${srv.fhir}/CarePlan/${cp.id}`);
    expect(read.status).toBe(200);
    const issues = await call<Bundle>(`${srv.fhir}/DetectedIssue?patient=${cp.subject?.reference}`);
    expect(issues.body.total ?? issues.body.entry?.length).toBe(6);
    const tasks = await call<Bundle>(`${srv.fhir}/Task?patient=${cp.subject?.reference}&_count=100`);
    expect(tasks.body.entry?.length).toBeGreaterThan(6);
    const pat = await call(`${srv.fhir}/${cp.subject?.reference}`);
    expect(pat.status).toBe(200);
  });

  it('re-sending the same PPP updates in place: same ids, no new version', async () => {
    const a = await call<Bundle>(`${srv.url}/ppp`, { body: fixture('ppp/town-async-rcp.json'), headers: json });
    const b = await call<Bundle>(`${srv.url}/ppp`, { body: fixture('ppp/town-async-rcp.json'), headers: json });
    expect(b.status).toBe(200);
    expect(b.body.entry?.map((e) => e.response?.location)).toEqual(a.body.entry?.map((e) => e.response?.location));
    expect(b.body.entry?.every((e) => e.response?.status === '200 OK')).toBe(true);
  });

  it.each([
    ['ppp', 'invalid/unknown-sfpc-code.json'],
    ['ppp', 'invalid/ins-wrong-key.json'],
  ])('bad %s input (%s) → 400 OperationOutcome naming the field, nothing stored', async (kind, file) => {
    const before = (await srv.store.auditLog({ limit: 1000 })).length;
    const expected = readFileSync(`test/fixtures/${file.replace('.json', '.error.txt')}`, 'utf8').trim();
    const r = await call<Outcome>(`${srv.url}/${kind}`, { body: fixture(file), headers: json });
    expect(r.status).toBe(400);
    expect(r.body.resourceType).toBe('OperationOutcome');
    expect(r.body.issue.map((i) => i.expression?.[0])).toContain(expected);
    expect((await srv.store.auditLog({ limit: 1000 })).length).toBe(before);
  });

  it('malformed JSON → 400; wrong content type → 400 naming Content-Type', async () => {
    const bad = await call<Outcome>(`${srv.url}/ctm`, { body: '{"id":', headers: json });
    expect(bad.status).toBe(400);
    expect(bad.body.resourceType).toBe('OperationOutcome');
    const text = await call<Outcome>(`${srv.url}/ctm`, { body: 'hello', headers: { 'content-type': 'text/plain' } });
    expect(text.status).toBe(400);
    expect(text.body.issue[0].expression).toEqual(['Content-Type']);
  });

  it('stores a BPM', async () => {
    const r = await call<Bundle>(`${srv.url}/bpm`, { body: fixture('bpm/self-medication-remote.json'), headers: json });
    expect(r.status).toBe(200);
    expect(carePlanOf(r.body).category?.some((c) => c.coding?.some((k) => k.code === 'bpm'))).toBe(true);
  });
});

describe('link an existing CTM to a PPP', () => {
  let pppId: string;
  beforeAll(async () => {
    const r = await call<Bundle>(`${srv.url}/ppp`, { body: fixture('ppp/ppp-12-medicines.json'), headers: json });
    pppId = carePlanOf(r.body).id as string;
  });

  it('refuses a CTM whose BMO is not validated by a pharmacist (422, says why), and audits the refusal', async () => {
    const ctm = fixture('ctm/admission-unvalidated-bmo.json');
    expect((await call(`${srv.url}/ctm`, { body: ctm, headers: json })).status).toBe(200);
    const finess = (ctm.establishment as { finess: string }).finess;
    const r = await call<Outcome>(`${srv.url}/ppp/${pppId}/link-ctm`, { body: { ctm: { finess, id: ctm.id } }, headers: json });
    expect(r.status).toBe(422);
    expect(r.body.issue[0].details?.text).toMatch(/not validated by a pharmacist/);
    const audit = await srv.store.auditLog({ entity: `CarePlan/${pppId}` });
    expect(audit.some((a) => a.action === 'ppp.link-ctm' && a.outcome === 'failure')).toBe(true);
  });

  it('is allowed later, once the same CTM comes back with its BMO validated', async () => {
    const ppp = fixture('ppp/ppp-12-medicines.json');
    const ctm: Record<string, unknown> = { ...fixture('ctm/admission-unvalidated-bmo.json'), id: 'CTM-LATER-1', patient: ppp.patient };
    const finess = (ctm.establishment as { finess: string }).finess;
    const ref = { ctm: { finess, id: 'CTM-LATER-1' } };
    await call(`${srv.url}/ctm`, { body: ctm, headers: json });
    expect((await call(`${srv.url}/ppp/${pppId}/link-ctm`, { body: ref, headers: json })).status).toBe(422);
    const validated = { ...ctm, bmo: { ...(ctm.bmo as object), validation: { pharmacist: { rpps: '10101010118', family: 'Valide' }, date: '2025-03-12T15:00:00+01:00' } } };
    expect((await call(`${srv.url}/ctm`, { body: validated, headers: json })).status).toBe(200);
    const ok = await call<CarePlan>(`${srv.url}/ppp/${pppId}/link-ctm`, { body: ref, headers: json });
    expect(ok.status).toBe(200);
    await call(`${srv.url}/ppp/${pppId}/unlink-ctm`, { body: ref, headers: json });
  });

  it('404 for an unknown CTM; 404 for an unknown PPP', async () => {
    const r = await call<Outcome>(`${srv.url}/ppp/${pppId}/link-ctm`, { body: { ctm: { finess: '760000018', id: 'NOPE' } }, headers: json });
    expect(r.status).toBe(404);
    const p = await call<Outcome>(`${srv.url}/ppp/nope/link-ctm`, { body: { ctm: { finess: '760000018', id: 'NOPE' } }, headers: json });
    expect(p.status).toBe(404);
  });

  it('links a validated CTM: supportingInfo references FCT and BMO; the review shows BMO lines with sources; re-sent PPP keeps it; unlink is audited', async () => {
    const ctm = fixture('ctm/admission-divergences.json');
    expect((await call(`${srv.url}/ctm`, { body: ctm, headers: json })).status).toBe(200);
    const ref = { ctm: { finess: (ctm.establishment as { finess: string }).finess, id: ctm.id } };
    const linked = await call<CarePlan>(`${srv.url}/ppp/${pppId}/link-ctm`, { body: ref, headers: json });
    expect(linked.status).toBe(200);
    const comps = linked.body.supportingInfo?.filter((r) => r.reference?.startsWith('Composition/')) ?? [];
    expect(comps).toHaveLength(2);

    const review = await call<{ bmo?: { lines: { sources?: unknown[] }[]; validatedBy?: string } }>(`${srv.url}/ppp/${pppId}/medication-review`);
    expect(review.status).toBe(200);
    expect(review.body.bmo?.validatedBy).toMatch(/^PractitionerRole\//);
    expect(review.body.bmo?.lines.length).toBe((ctm.bmo as { lines: unknown[] }).lines.length);
    expect(review.body.bmo?.lines.every((l) => (l.sources?.length ?? 0) > 0)).toBe(true);

    // Re-sending the PPP does not drop the link.
    await call(`${srv.url}/ppp`, { body: fixture('ppp/ppp-12-medicines.json'), headers: json });
    const again = await call<CarePlan>(`${srv.fhir}/CarePlan/${pppId}`);
    expect(again.body.supportingInfo?.filter((r) => r.reference?.startsWith('Composition/'))).toHaveLength(2);

    // FHIR operation form: unlink through $unlink-ctm, then link again through $link-ctm.
    const params = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'finess', valueString: ref.ctm.finess },
        { name: 'ctm-id', valueString: ref.ctm.id },
      ],
    };
    const un = await call<CarePlan>(`${srv.fhir}/CarePlan/${pppId}/$unlink-ctm`, { body: params });
    expect(un.status).toBe(200);
    expect(un.body.supportingInfo?.some((r) => r.reference?.startsWith('Composition/'))).toBe(false);
    const audit = await srv.store.auditLog({ entity: `CarePlan/${pppId}` });
    expect(audit.some((a) => a.action === 'ppp.unlink-ctm' && a.outcome === 'success')).toBe(true);
    const re = await call<CarePlan>(`${srv.fhir}/CarePlan/${pppId}/$link-ctm`, { body: params });
    expect(re.status).toBe(200);
    expect(re.body.supportingInfo?.filter((r) => r.reference?.startsWith('Composition/'))).toHaveLength(2);
  });

  it('the CapabilityStatement lists $link-ctm on CarePlan only', async () => {
    const cs = await call<{ rest: { resource: { type: string; operation?: { name: string }[] }[] }[] }>(`${srv.fhir}/metadata`);
    const ops = (t: string) => cs.body.rest[0].resource.find((r) => r.type === t)?.operation?.map((o) => o.name) ?? [];
    expect(ops('CarePlan')).toContain('link-ctm');
    expect(ops('Patient')).not.toContain('link-ctm');
  });
});
