// POST /ppp over real HTTP: the answer's CarePlan carries the inclusion result and the DAH billing; bad inclusion
// input is a 400 OperationOutcome naming the field, with nothing written.
import type { Bundle, CarePlan, Extension } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountDomainRoutes } from '../../src/api/domain-routes.js';
import { EXT } from '../../src/fhir/canonical.js';
import { call, fixture, startTestServer, type Outcome, type TestServer } from './server.js';

const json = { 'content-type': 'application/json' };

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer({}, [mountDomainRoutes]);
});
afterAll(async () => srv.close());

const carePlanOf = (b: Bundle): CarePlan => b.entry?.map((e) => e.resource).find((r) => r?.resourceType === 'CarePlan') as CarePlan;
const parts = (e: Extension | undefined): Record<string, unknown> =>
  Object.fromEntries((e?.extension ?? []).map((p) => [p.url, p.valueCoding?.code ?? p.valueBoolean ?? p.valueString ?? p.valueUnsignedInt]));

describe('POST /ppp: inclusion', () => {
  it('answers the CarePlan with the inclusion result; the stored CarePlan is the same', async () => {
    const body = { ...fixture('ppp/hospital-sync-rcp.json'), id: 'INCL-1', inclusion: { placeOfLiving: 'home', iatrogenicEventDuringStay: true } };
    const r = await call<Bundle>(`${srv.url}/ppp`, { body, headers: json });
    expect(r.status).toBe(200);
    const cp = carePlanOf(r.body);
    expect(parts(cp.extension?.find((e) => e.url === EXT.inclusion))).toMatchObject({ placeOfLiving: 'home', eligible: true, included: true, billableDah: true });
    const criteria = cp.extension!.filter((e) => e.url === EXT.inclusionCriterion).map(parts);
    expect(criteria.filter((c) => c.met).map((c) => c.code)).toEqual(['age-65', 'iatrogenic-event']);
    const read = await call<CarePlan>(`${srv.fhir}/CarePlan/${cp.id}`);
    expect(read.body.extension).toEqual(cp.extension);
    // The search the bad-input cases use to show nothing was written does find a stored PPP.
    expect((await call<Bundle>(`${srv.fhir}/CarePlan?identifier=INCL-1`)).body.entry).toHaveLength(1);
  });

  it('a PPP that does not meet the criteria is accepted and flagged (eligible and included false); an override includes it', async () => {
    const plain = await call<Bundle>(`${srv.url}/ppp`, { body: { ...fixture('ppp/hospital-sync-rcp.json'), id: 'INCL-2' }, headers: json });
    expect(plain.status).toBe(200);
    expect(parts(carePlanOf(plain.body).extension?.find((e) => e.url === EXT.inclusion))).toMatchObject({ eligible: false, included: false });
    const body = { ...fixture('ppp/hospital-sync-rcp.json'), id: 'INCL-3', inclusion: { override: { reason: 'Chutes répétées.\nAvis du gériatre.' } } };
    const r = await call<Bundle>(`${srv.url}/ppp`, { body, headers: json });
    expect(r.status).toBe(200);
    expect(parts(carePlanOf(r.body).extension?.find((e) => e.url === EXT.inclusion))).toMatchObject({
      eligible: false,
      included: true,
      overrideReason: 'Chutes répétées.\nAvis du gériatre.',
    });
  });

  it('without an RCP, with a reason: stored, not billable for the DAH, the reason carried', async () => {
    const body: Record<string, unknown> = { ...fixture('ppp/hospital-sync-rcp.json'), id: 'INCL-4', noRcpReason: 'Sortie anticipée.' };
    delete body.rcp;
    const r = await call<Bundle>(`${srv.url}/ppp`, { body, headers: json });
    expect(r.status).toBe(200);
    expect(parts(carePlanOf(r.body).extension?.find((e) => e.url === EXT.inclusion))).toMatchObject({ billableDah: false, noRcpReason: 'Sortie anticipée.' });
  });

  const BAD: [string, Record<string, unknown>, string, RegExp][] = [
    ['a negative count', { inclusion: { therapeuticModifications: -1 } }, 'ppp.inclusion.therapeuticModifications', /0 or more/],
    ['a fractional count', { inclusion: { therapeuticModifications: 2.5 } }, 'ppp.inclusion.therapeuticModifications', /whole number/],
    ['a count as a string', { inclusion: { therapeuticModifications: '3' } }, 'ppp.inclusion.therapeuticModifications', /number/i],
    ['a boolean as a string', { inclusion: { drugRelatedHospitalisation: 'yes' } }, 'ppp.inclusion.drugRelatedHospitalisation', /boolean/i],
    ['an unknown place of living', { inclusion: { placeOfLiving: 'ehpad' } }, 'ppp.inclusion.placeOfLiving', /home|ehpad-sans-pui/],
    ['an unknown inclusion field', { inclusion: { age: 70 } }, 'ppp.inclusion', /unrecognized key/i],
    ['an override without reason', { inclusion: { override: {} } }, 'ppp.inclusion.override.reason', /.+/],
    ['an empty override reason', { inclusion: { override: { reason: '   ' } } }, 'ppp.inclusion.override.reason', /reason is required/],
    ['an override reason over 2,000 characters', { inclusion: { override: { reason: 'x'.repeat(2001) } } }, 'ppp.inclusion.override.reason', /at most 2000 characters/],
    ['a control character in the reason', { inclusion: { override: { reason: 'motif\u0007' } } }, 'ppp.inclusion.override.reason', /U\+0007 \(control character\)/],
    ['a bidi override in the reason', { inclusion: { override: { reason: 'motif \u202Eelbaxe' } } }, 'ppp.inclusion.override.reason', /U\+202E \(bidirectional formatting character\)/],
    ['a zero-width character in the no-RCP reason', { noRcpReason: 'sans\u200BRCP' }, 'ppp.noRcpReason', /zero-width/],
    ['a birth date after the creation', { patient: { ...(fixture('ppp/hospital-sync-rcp.json').patient as object), birthDate: '2026-01-01' } }, 'ppp.patient.birthDate', /after the PPP's creation/],
  ];

  it.each(BAD)('%s → 400 naming the field, nothing written', async (_name, patch, path, message) => {
    const before = (await srv.store.auditLog({ limit: 1000 })).length;
    const body: Record<string, unknown> = { ...fixture('ppp/hospital-sync-rcp.json'), id: 'INCL-BAD', ...patch };
    if ('noRcpReason' in patch) delete body.rcp;
    const r = await call<Outcome>(`${srv.url}/ppp`, { body, headers: json });
    expect(r.status).toBe(400);
    expect(r.body.resourceType).toBe('OperationOutcome');
    const found = r.body.issue.find((i) => i.expression?.[0] === path);
    expect(found, JSON.stringify(r.body.issue)).toBeDefined();
    expect(found?.details?.text).toMatch(message);
    expect((await srv.store.auditLog({ limit: 1000 })).length).toBe(before);
    expect((await call<Bundle>(`${srv.fhir}/CarePlan?identifier=INCL-BAD`)).body.entry ?? []).toHaveLength(0);
  });
});
