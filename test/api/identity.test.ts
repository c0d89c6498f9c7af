// The identity service over real HTTP on a real SQLite file: Patient/$match (grades, ordering, options, missing
// traits), the review queue and its decisions (merge, reject, unmerge) with their audit, the link export, the
// bulk import, and the BPM that waits for an uncertain identity until a human settles it.
import type { ImportSummary } from '../../src/services/identity-import.js';
import type { Bundle, BundleEntry, CarePlan, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { mountDomainRoutes } from '../../src/api/domain-routes.js';
import { mountIdentityRoutes } from '../../src/api/identity-routes.js';
import { PatientIdentity } from '../../src/domain/identity.js';
import { mapPatient } from '../../src/fhir/map-common.js';
import { sourcePatientId } from '../../src/fhir/federated-patient.js';
import { AWAITING_IDENTITY } from '../../src/services/bpm-attachment.js';
import { call, fixture, startTestServer, type Outcome, type TestServer } from './server.js';

const HOSPITAL = 'urn:oid:1.2.250.1.999.1.760000018.1';
const PHARMACY = 'urn:oid:1.2.250.1.999.2.590002234';
const json = { 'content-type': 'application/json' };
const ndjson = { 'content-type': 'application/x-ndjson' };

type IdentityInput = z.input<typeof PatientIdentity>;
const identity = (value: string, over: Partial<IdentityInput> = {}, system = HOSPITAL): IdentityInput => ({
  sourceId: { system, value },
  status: 'PROV',
  birthName: 'DUPONT',
  firstBirthGivenName: 'MARIE',
  birthDate: '1969-05-12',
  sex: 'F',
  birthPlaceInsee: '49328',
  ...over,
});
const fhirPatient = (i: IdentityInput): Patient => mapPatient(PatientIdentity.parse(i));

interface ReviewItem {
  id: string;
  state: string;
  grade: string;
  source: { system: string; value: string; patient: string };
  newIdentity: string;
  candidate: string;
  decision?: string;
  decidedBy?: string;
  awaiting: string[];
}
interface IdentityView {
  id: string;
  status: string;
  flags: string[];
  active: boolean;
  traits: { birthName: string };
  sources: { system: string; value: string; link: string }[];
}
interface ReviewDetail extends Omit<ReviewItem, 'newIdentity' | 'candidate'> {
  newIdentity: IdentityView;
  candidate: IdentityView;
  comparison: { grade: string; weight: number; fields: { field: string; level: string; weight: number }[]; reasons: string[] };
}

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer({}, [mountDomainRoutes, mountIdentityRoutes]);
});
afterAll(async () => srv.close());

const importPatients = async (...patients: Patient[]): Promise<ImportSummary> => {
  const r = await call<ImportSummary>(`${srv.url}/identity/import`, { body: patients.map((p) => JSON.stringify(p)).join('\n'), headers: ndjson });
  expect(r.status).toBe(200);
  return r.body;
};
const reviewsOf = async (value: string, state = 'open'): Promise<ReviewItem[]> => {
  const r = await call<{ items: ReviewItem[] }>(`${srv.url}/identity/reviews?state=${state}&_count=1000`);
  return r.body.items.filter((i) => i.source.value === value);
};
const read = async <T,>(ref: string): Promise<T> => (await call<T>(`${srv.fhir}/${ref}`)).body;
const refers = (p: Patient): string[] => (p.link ?? []).filter((l) => l.type === 'refer').map((l) => l.other.reference as string);
const match = (patient: Patient, extra: Record<string, unknown>[] = []) =>
  call<Bundle & Outcome>(`${srv.fhir}/Patient/$match`, { body: { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: patient }, ...extra] } });
const grades = (b: Bundle): string[] => (b.entry ?? []).map((e: BundleEntry) => e.search?.extension?.[0]?.valueCode as string);

describe('POST /fhir/Patient/$match', () => {
  let ids: Record<string, string>;
  beforeAll(async () => {
    // A validated Marie DUPONT, and three people who look like her to different degrees (registered, never merged).
    const sources = {
      certain: identity('M-A', { status: 'VALI' }),
      probable: identity('M-B', { birthName: 'DUPOND' }),
      possibleDate: identity('M-C', { birthDate: '1969' }),
      possibleGiven: identity('M-D', { firstBirthGivenName: 'MARIA', birthPlaceInsee: '49007' }),
    };
    const summary = await importPatients(...Object.values(sources).map(fhirPatient));
    expect(summary.registered).toBe(4);
    ids = {};
    for (const [k, s] of Object.entries(sources)) {
      const p = await read<Patient>(`Patient/${sourcePatientId(s.sourceId.system, s.sourceId.value)}`);
      ids[k] = (refers(p)[0] ?? '').replace('Patient/', '');
    }
  });

  it('answers a searchset of federated Patients, best first: certain, probable, then possible, with score and match-grade', async () => {
    const r = await match(fhirPatient(identity('Q-1', { status: 'VALI' })));
    expect(r.status).toBe(200);
    expect(r.body.type).toBe('searchset');
    expect(grades(r.body)).toEqual(['certain', 'probable', 'possible', 'possible']);
    const entries = r.body.entry ?? [];
    expect(entries[0].resource?.id).toBe(ids.certain);
    expect(entries[1].resource?.id).toBe(ids.probable);
    expect(entries.every((e) => e.search?.mode === 'match' && typeof e.search.score === 'number' && e.search.score > 0 && e.search.score <= 1)).toBe(true);
    expect(entries.every((e) => e.search?.extension?.[0]?.url === 'http://hl7.org/fhir/StructureDefinition/match-grade')).toBe(true);
    const scores = entries.slice(2).map((e) => e.search?.score as number);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    expect(entries[0].fullUrl).toBe(`${srv.fhir}/Patient/${ids.certain}`);
    expect((entries[0].resource as Patient).link?.some((l) => l.type === 'seealso')).toBe(true);
  });

  it('count caps the entries; onlyCertainMatches keeps the single certain match, or nothing', async () => {
    const one = await match(fhirPatient(identity('Q-2', { status: 'VALI' })), [{ name: 'count', valueInteger: 1 }]);
    expect(grades(one.body)).toEqual(['certain']);
    const only = await match(fhirPatient(identity('Q-3', { status: 'VALI' })), [{ name: 'onlyCertainMatches', valueBoolean: true }]);
    expect(only.body.entry?.map((e) => e.resource?.id)).toEqual([ids.certain]);
    // A provisional DUPOND: probable matches only, none certain.
    const none = await match(fhirPatient(identity('Q-4', { birthName: 'DUPOND' })), [{ name: 'onlyCertainMatches', valueBoolean: true }]);
    expect(none.status).toBe(200);
    expect(none.body.entry ?? []).toEqual([]);
  });

  it('no match → an empty searchset, not an error; matching writes nothing but its audit row', async () => {
    const before = (await srv.store.auditLog({ limit: 1000 })).length;
    const stranger = identity('Q-5', { birthName: 'ZYGMUNTOWICZ', firstBirthGivenName: 'OSCAR', sex: 'M', birthDate: '1931-01-30', birthPlaceInsee: '99134' });
    const r = await match(fhirPatient(stranger));
    expect(r.status).toBe(200);
    expect(r.body.total).toBe(0);
    const after = await srv.store.auditLog({ limit: 1000 });
    expect(after.length).toBe(before + 1);
    expect(after[0].action).toBe('fhir.operation');
  });

  it('insufficient traits → 400 OperationOutcome naming each missing field', async () => {
    const r = await match({ resourceType: 'Patient', name: [{ use: 'usual', family: 'DUPONT' }] });
    expect(r.status).toBe(400);
    expect(r.body.resourceType).toBe('OperationOutcome');
    const exprs = r.body.issue.map((i) => i.expression?.[0]);
    expect(exprs).toEqual(
      expect.arrayContaining(["Patient.name.where(use='official').family", "Patient.name.where(use='official').given[0]", 'Patient.birthDate', 'Patient.gender']),
    );
    expect(r.body.issue.every((i) => i.code === 'required')).toBe(true);
    const noSex = await match({ ...fhirPatient(identity('Q-6')), gender: undefined });
    expect(noSex.body.issue.map((i) => i.expression?.[0])).toEqual(['Patient.gender']);
  });

  it('bad Parameters → 400; the CapabilityStatement lists match on Patient', async () => {
    const r = await call<Outcome>(`${srv.fhir}/Patient/$match`, { body: { resourceType: 'Parameters', parameter: [{ name: 'count', valueInteger: 3 }] } });
    expect(r.status).toBe(400);
    const c = await match(fhirPatient(identity('Q-7')), [{ name: 'count', valueInteger: 0 }]);
    expect(c.status).toBe(400);
    const cs = await call<{ rest: { resource: { type: string; operation?: { name: string; definition: string }[] }[] }[] }>(`${srv.fhir}/metadata`);
    const ops = (t: string) => cs.body.rest[0].resource.find((x) => x.type === t)?.operation ?? [];
    expect(ops('Patient').find((o) => o.name === 'match')?.definition).toBe('https://fhir.passerelle.fr/OperationDefinition/match');
    expect(ops('CarePlan').map((o) => o.name)).not.toContain('match');
  });
});

describe('review queue and decisions', () => {
  it('lists open items and reads one with both identities, their traits and the comparison detail', async () => {
    const s = await importPatients(
      fhirPatient(identity('R-1', { birthDate: '1971-02-03', birthName: 'LEMAIRE', status: 'VALI' })),
      fhirPatient(identity('R-2', { birthDate: '1971-02-03', birthName: 'LEMERE' })),
    );
    expect(s.review).toBe(1);
    const [item] = await reviewsOf('R-2');
    expect(item.state).toBe('open');
    expect(item.awaiting).toEqual([]);
    const d = await call<ReviewDetail>(`${srv.url}/identity/reviews/${item.id}`);
    expect(d.status).toBe(200);
    expect(d.body.newIdentity.traits.birthName).toBe('LEMERE');
    expect(d.body.candidate.traits.birthName).toBe('LEMAIRE');
    expect(d.body.newIdentity.sources.map((x) => x.value)).toEqual(['R-2']);
    expect(d.body.comparison.fields.map((f) => f.field)).toEqual(expect.arrayContaining(['birthName', 'givenName', 'birthDate', 'sex']));
    expect(d.body.comparison.reasons.length).toBeGreaterThan(0);
    expect((await call<Outcome>(`${srv.url}/identity/reviews/nope`)).status).toBe(404);
    const paged = await call<{ total: number; count: number; items: unknown[] }>(`${srv.url}/identity/reviews?_count=1&_offset=0`);
    expect(paged.body.count).toBe(1);
    expect(paged.body.total).toBeGreaterThanOrEqual(1);
    expect((await call<Outcome>(`${srv.url}/identity/reviews?state=closed`)).status).toBe(400);
  });

  it('same: merges (the newer Patient is replaced-by the older, inactive), the source now refers to the survivor; audited', async () => {
    await importPatients(
      fhirPatient(identity('S-1', { birthDate: '1972-04-05', birthName: 'BERTIN', status: 'VALI' })),
      fhirPatient(identity('S-2', { birthDate: '1972-04-05', birthName: 'BERTAIN' })),
    );
    const [item] = await reviewsOf('S-2');
    const bad = await call<Outcome>(`${srv.url}/identity/reviews/${item.id}/decision`, { body: { decision: 'maybe' }, headers: json });
    expect(bad.status).toBe(400);
    expect(bad.body.issue.map((i) => i.expression?.[0])).toEqual(expect.arrayContaining(['decision', 'reason']));

    const r = await call<{ review: ReviewItem; patient: string; replaced: string }>(`${srv.url}/identity/reviews/${item.id}/decision`, {
      body: { decision: 'same', reason: 'même personne : pièce d’identité vérifiée' },
      headers: json,
    });
    expect(r.status).toBe(200);
    expect(r.body.review.state).toBe('decided');
    expect(r.body.review.decidedBy).toBe('anonymous');
    expect(r.body.patient).toBe(item.candidate);
    expect(r.body.replaced).toBe(item.newIdentity);
    const loser = await read<Patient>(item.newIdentity);
    expect(loser.active).toBe(false);
    expect(loser.link).toContainEqual({ other: { reference: item.candidate }, type: 'replaced-by' });
    const winner = await read<Patient>(item.candidate);
    expect(winner.link).toContainEqual({ other: { reference: item.newIdentity }, type: 'replaces' });
    expect(refers(await read<Patient>(item.source.patient))).toEqual([item.candidate]);

    const audit = await srv.store.auditLog({ entity: item.candidate });
    const merge = audit.find((a) => a.action === 'identity.merge');
    expect(merge?.actor).toBe('anonymous');
    expect(merge?.detail).toContain(item.id);
    const again = await call<Outcome>(`${srv.url}/identity/reviews/${item.id}/decision`, { body: { decision: 'different', reason: 'x' }, headers: json });
    expect(again.status).toBe(409);
  });

  it('different: both identities stay, and the pair is never proposed again', async () => {
    await importPatients(
      fhirPatient(identity('D-1', { birthDate: '1973-06-07', birthName: 'CARON', status: 'VALI' })),
      fhirPatient(identity('D-2', { birthDate: '1973-06-07', birthName: 'CARRON' })),
    );
    const [item] = await reviewsOf('D-2');
    const body = { decision: 'different', reason: 'homonymes : dates de naissance vérifiées' };
    const r = await call(`${srv.url}/identity/reviews/${item.id}/decision`, { body, headers: json });
    expect(r.status).toBe(200);
    expect((await read<Patient>(item.newIdentity)).active).toBe(true);
    expect((await read<Patient>(item.candidate)).active).toBe(true);
    expect((await srv.store.auditLog({ entity: item.newIdentity })).some((a) => a.action === 'identity.reject')).toBe(true);
    // The source comes back with changed traits: it is re-matched, but never against the rejected candidate.
    const s = await importPatients(fhirPatient(identity('D-2', { birthDate: '1973-06-07', birthName: 'CARRON', birthGivenNames: ['MARIE', 'ANNE'] })));
    expect(s.known).toBe(1);
    const open = await reviewsOf('D-2');
    expect(open.filter((i) => i.candidate === item.candidate)).toEqual([]);
  });

  it('separate: a source leaves its federated identity (COLV on the old one) and refers to a new one; audited', async () => {
    const s = await importPatients(
      fhirPatient(identity('X-1', { birthDate: '1974-08-09', birthName: 'FOURNIER', status: 'VALI' })),
      fhirPatient(identity('X-2', { birthDate: '1974-08-09', birthName: 'FOURNIER', status: 'VALI' }, PHARMACY)),
    );
    expect(s.autoLinked).toBe(1);
    const x2 = sourcePatientId(PHARMACY, 'X-2');
    const before = refers(await read<Patient>(`Patient/${x2}`))[0];
    expect(refers(await read<Patient>(`Patient/${sourcePatientId(HOSPITAL, 'X-1')}`))).toEqual([before]);

    const missing = await call<Outcome>(`${srv.url}/identity/separate`, { body: { system: PHARMACY, value: 'X-2' }, headers: json });
    expect(missing.status).toBe(400);
    expect(missing.body.issue[0].expression).toEqual(['reason']);
    const r = await call<{ patient: string; previous: string }>(`${srv.url}/identity/separate`, {
      body: { system: PHARMACY, value: 'X-2', reason: 'deux personnes sous un même dossier' },
      headers: json,
    });
    expect(r.status).toBe(200);
    expect(r.body.previous).toBe(before);
    expect(r.body.patient).not.toBe(before);
    expect(refers(await read<Patient>(`Patient/${x2}`))).toEqual([r.body.patient]);
    const old = await read<Patient>(before);
    expect(old.extension?.flatMap((e) => e.extension ?? []).map((e) => e.valueCoding?.code)).toContain('COLV');
    expect((await srv.store.auditLog({ entity: before })).some((a) => a.action === 'identity.separate')).toBe(true);
    expect((await call(`${srv.url}/identity/separate`, { body: { system: PHARMACY, value: 'nobody', reason: 'x' }, headers: json })).status).toBe(404);
    const only = await call(`${srv.url}/identity/separate`, { body: { system: PHARMACY, value: 'X-2', reason: 'encore' }, headers: json });
    expect(only.status).toBe(422);
  });
});

describe('links and import over HTTP', () => {
  it('GET /identity/links as CSV and NDJSON: one row per source identity', async () => {
    const csv = await fetch(`${srv.url}/identity/links?format=csv`);
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = (await csv.text()).trim().split('\n');
    expect(lines[0]).toBe('source_system,source_id,federated_id,decision,score');
    const nd = await fetch(`${srv.url}/identity/links?format=ndjson`);
    const rows = (await nd.text()).trim().split('\n').map((l) => JSON.parse(l) as { source_id: string; decision: string });
    expect(rows.length).toBe(lines.length - 1);
    expect(rows.find((r) => r.source_id === 'S-2')?.decision).toBe('manual');
    expect((await call<Outcome>(`${srv.url}/identity/links?format=xml`)).status).toBe(400);
  });

  it('POST /identity/import: bad lines are reported by number and the rest is registered; wrong type → 415', async () => {
    const body = [
      JSON.stringify(fhirPatient(identity('I-1', { birthDate: '1975-10-11', birthName: 'GAUTIER' }))),
      '{"resourceType":"Patient"', // line 2: cut short
      '',
      JSON.stringify({ resourceType: 'Patient', name: [{ family: 'X', given: ['Y'] }], gender: 'male', birthDate: '1950' }), // line 4: no identifier
      JSON.stringify(fhirPatient(identity('I-2', { birthDate: '1975-10-11', birthName: 'MOREL' }))),
    ].join('\r\n');
    const r = await call<ImportSummary>(`${srv.url}/identity/import`, { body, headers: ndjson });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ lines: 4, registered: 2, failed: 2 });
    expect(r.body.failures.map((f) => f.line)).toEqual([2, 4]);
    expect(r.body.failures[1].message).toContain('Patient.identifier');
    expect((await call<Outcome>(`${srv.url}/identity/import`, { body, headers: json })).status).toBe(415);
    expect((await call<Outcome>(`${srv.url}/identity/import`, { body: '\n\n', headers: ndjson })).status).toBe(400);
  });
});

describe('a BPM waits for its patient’s identity', () => {
  const grandet = (system: string, value: string, over: Partial<IdentityInput> = {}): IdentityInput => ({
    sourceId: { system, value },
    status: 'PROV',
    birthName: 'GRANDET',
    firstBirthGivenName: 'Félix',
    birthDate: '1944-02-17',
    sex: 'M',
    birthPlaceInsee: '59350',
    ...over,
  });
  const carePlanOf = (b: Bundle): CarePlan => b.entry?.map((e) => e.resource).find((r) => r?.resourceType === 'CarePlan') as CarePlan;
  const bpmLinks = (cp: CarePlan): string[] => (cp.supportingInfo ?? []).map((r) => r.reference as string).filter((r) => r.startsWith('CarePlan/'));
  const awaiting = (cp: CarePlan): boolean => cp.meta?.tag?.some((t) => t.system === AWAITING_IDENTITY.system && t.code === AWAITING_IDENTITY.code) ?? false;

  it('end to end: an uncertain patient’s BPM is on hold, in the review queue, attached to no PPP; a human says “same”: it is attached', async () => {
    // The hospital's PPP for Félix GRANDET, a provisional identity.
    const ppp = { ...fixture('ppp/ppp-12-medicines.json'), id: 'PPP-E2E-GRANDET', patient: grandet(HOSPITAL, 'IPP-GRANDET') };
    const p = await call<Bundle>(`${srv.url}/ppp`, { body: ppp, headers: json });
    expect(p.status).toBe(200);
    const pppId = carePlanOf(p.body).id as string;

    // The pharmacy's BPM: same traits, provisional on both sides → probable, not certain.
    const bpm = { ...fixture('bpm/self-medication-remote.json'), id: 'BPM-E2E-GRANDET', patient: grandet(PHARMACY, 'CLI-GRANDET') };
    const b = await call<Bundle>(`${srv.url}/bpm`, { body: bpm, headers: json });
    expect(b.status).toBe(200);
    const bpmId = carePlanOf(b.body).id as string;

    const held = await read<CarePlan>(`CarePlan/${bpmId}`);
    expect(held.status).toBe('on-hold');
    expect(awaiting(held)).toBe(true);
    const tagged = await call<Bundle>(`${srv.fhir}/CarePlan?_tag=${encodeURIComponent(`${AWAITING_IDENTITY.system}|awaiting-identity`)}`);
    expect(tagged.body.entry?.map((e) => e.resource?.id)).toContain(bpmId);
    expect(bpmLinks(await read<CarePlan>(`CarePlan/${pppId}`))).toEqual([]);

    const [item] = await reviewsOf('CLI-GRANDET');
    expect(item.awaiting).toEqual([`CarePlan/${bpmId}`]);
    const detail = await call<ReviewDetail>(`${srv.url}/identity/reviews/${item.id}`);
    expect(detail.body.awaiting).toEqual([`CarePlan/${bpmId}`]);
    expect(detail.body.candidate.sources.map((s) => s.value)).toEqual(['IPP-GRANDET']);

    const decision = { decision: 'same', reason: 'carte Vitale et CNI vérifiées à l’officine' };
    const d = await call(`${srv.url}/identity/reviews/${item.id}/decision`, { body: decision, headers: json });
    expect(d.status).toBe(200);

    const released = await read<CarePlan>(`CarePlan/${bpmId}`);
    expect(released.status).toBe('active');
    expect(awaiting(released)).toBe(false);
    expect(bpmLinks(await read<CarePlan>(`CarePlan/${pppId}`))).toEqual([`CarePlan/${bpmId}`]);
    expect(refers(await read<Patient>(`Patient/${sourcePatientId(PHARMACY, 'CLI-GRANDET')}`))).toEqual([item.candidate]);
    expect((await reviewsOf('CLI-GRANDET', 'decided'))[0].awaiting).toEqual([]);
    const actions = (await srv.store.auditLog({ entity: `CarePlan/${pppId}` })).map((a) => a.action);
    expect(actions).toContain('ppp.attach-bpm');
    expect((await srv.store.auditLog({ entity: `CarePlan/${bpmId}` })).map((a) => a.action)).toContain('bpm.identity-settled');

    // Re-sending the PPP keeps the BPM it now lists.
    const again = await call<Bundle>(`${srv.url}/ppp`, { body: ppp, headers: json });
    expect(bpmLinks(carePlanOf(again.body))).toEqual([`CarePlan/${bpmId}`]);
  });

  it('a BPM whose patient is certain is attached at once, and a PPP that comes later lists it', async () => {
    const laroque = (system: string, value: string): IdentityInput => ({
      ...(fixture('ppp/town-async-rcp.json').patient as IdentityInput),
      sourceId: { system, value },
    });
    const bpm = { ...fixture('bpm/self-medication-remote.json'), id: 'BPM-CERTAIN-LAROQUE', patient: laroque(PHARMACY, 'CLI-LAROQUE') };
    const b = await call<Bundle>(`${srv.url}/bpm`, { body: bpm, headers: json });
    const bpmPlan = carePlanOf(b.body);
    expect(bpmPlan.status).toBe('active');
    expect(awaiting(bpmPlan)).toBe(false);
    const ppp = { ...fixture('ppp/town-async-rcp.json'), patient: laroque(HOSPITAL, 'IPP-LAROQUE') };
    const p = await call<Bundle>(`${srv.url}/ppp`, { body: ppp, headers: json });
    expect(p.status).toBe(200);
    expect(bpmLinks(carePlanOf(p.body))).toEqual([`CarePlan/${bpmPlan.id}`]);
    const pat = p.body.entry?.map((e) => e.resource).find((r) => r?.resourceType === 'Patient') as Patient;
    expect(refers(pat)).toEqual(refers(await read<Patient>(`Patient/${sourcePatientId(PHARMACY, 'CLI-LAROQUE')}`)));
  });
});

describe('identity scopes', () => {
  const READER = 'reader-secret-0123456789abcdef';
  const REFERENT = 'referent-secret-0123456789abcdef';
  let auth: TestServer;
  beforeAll(async () => {
    auth = await startTestServer(
      {
        auth: {
          enabled: true,
          devTokens: true,
          clients: [
            { id: 'dpi-reader', token: READER, tenant: 'establishment:760000018', scopes: ['fhir.read', 'domain.write'] },
            { id: 'iv-referent', token: REFERENT, roles: ['identitovigilance'] },
          ],
        },
      },
      [mountIdentityRoutes],
    );
  });
  afterAll(async () => auth.close());

  it('the review queue and decisions need identity.review (docs/security.md); the decision names the authenticated client', async () => {
    const h = (t: string, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${t}`, ...extra });
    const body = [
      fhirPatient(identity('A-1', { birthDate: '1976-12-13', birthName: 'PERRIN', status: 'VALI' })),
      fhirPatient(identity('A-2', { birthDate: '1976-12-13', birthName: 'PERIN' })),
    ]
      .map((p) => JSON.stringify(p))
      .join('\n');
    expect((await call(`${auth.url}/identity/import`, { body, headers: h(READER, ndjson) })).status).toBe(403);
    expect((await call(`${auth.url}/identity/import`, { body, headers: h(REFERENT, ndjson) })).status).toBe(200);
    expect((await call(`${auth.url}/identity/reviews`, { headers: h(READER) })).status).toBe(403);
    const list = await call<{ items: ReviewItem[] }>(`${auth.url}/identity/reviews`, { headers: h(REFERENT) });
    expect(list.status).toBe(200);
    const id = list.body.items[0].id;
    const decision = { decision: 'same', reason: 'vérifié' };
    const refused = await call<Outcome>(`${auth.url}/identity/reviews/${id}/decision`, { body: decision, headers: h(READER, json) });
    expect(refused.status).toBe(403);
    expect(refused.body.issue[0].details?.text).toContain('identity.review');
    const ok = await call<{ review: ReviewItem }>(`${auth.url}/identity/reviews/${id}/decision`, { body: decision, headers: h(REFERENT, json) });
    expect(ok.status).toBe(200);
    expect(ok.body.review.decidedBy).toBe('iv-referent');
    expect((await call(`${auth.url}/identity/reviews`)).status).toBe(401);
  });
});

describe('POST /identity/import?finess=: the establishment of the feed, for its conflict board', () => {
  const REFERENT = 'referent-secret-0123456789abcdef';
  const LOCAL = 'local-iv-secret-0123456789abcdef';
  const OWN = '760000018';
  const OTHER = '690000880';
  /** A sender system without a FINESS arc: only the parameter puts its anomalies on a board. */
  const FEED = 'urn:oid:1.2.250.1.999.3.9';
  let auth: TestServer;
  beforeAll(async () => {
    auth = await startTestServer(
      {
        auth: {
          enabled: true,
          devTokens: true,
          clients: [
            { id: 'iv-referent', token: REFERENT, roles: ['identitovigilance'] },
            // An establishment's own identitovigilance client: bound to its tenant.
            { id: 'iv-local', token: LOCAL, tenant: `establishment:${OWN}`, scopes: ['fhir.read', 'identity.review'] },
          ],
        },
      },
      [mountIdentityRoutes],
    );
  });
  afterAll(async () => auth.close());

  const h = (t: string, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${t}`, ...extra });
  /** Declared QUAL on the wire without an INS: one QUAL_WITHOUT_INS anomaly. */
  const qualWithoutIns = (value: string): Patient => {
    const p = fhirPatient(identity(value, { status: 'VALI', birthName: 'FOURNIER', birthDate: '1961-02-03' }, FEED));
    const status = p.extension?.find((e) => e.url.endsWith('fr-core-identity-reliability'))?.extension?.find((e) => e.url === 'identityStatus');
    status!.valueCoding = { ...status!.valueCoding, code: 'QUAL' };
    return p;
  };
  const body = JSON.stringify(qualWithoutIns('F-1'));
  const boardAnomalies = async (finess: string) =>
    (await call<{ anomalies: { total: number; byCode: Record<string, number> } }>(`${auth.url}/identity/conflicts?establishment=${finess}&_format=json`, { headers: h(REFERENT) })).body
      .anomalies;
  const feedLinks = async (): Promise<number> => {
    const r = await fetch(`${auth.url}/identity/links?format=csv`, { headers: h(REFERENT) });
    expect(r.status).toBe(200);
    return (await r.text()).split('\n').filter((l) => l.startsWith(`${FEED},`)).length;
  };

  it('a bad or repeated finess → 400 naming it; another establishment’s → 403; nothing written', async () => {
    for (const q of ['finess=12345', 'finess=76000001X', `finess=${OWN}&finess=${OWN}`]) {
      const r = await call<Outcome>(`${auth.url}/identity/import?${q}`, { body, headers: h(REFERENT, ndjson) });
      expect(r.status).toBe(400);
      expect(r.body.issue[0].expression).toEqual(['finess']);
    }
    const refused = await call<Outcome>(`${auth.url}/identity/import?finess=${OTHER}`, { body, headers: h(LOCAL, ndjson) });
    expect(refused.status).toBe(403);
    expect(refused.body.issue[0].details?.text).toContain(`FINESS ${OWN}`);
    expect(await feedLinks()).toBe(0);
    expect((await boardAnomalies(OWN)).total).toBe(0);
  });

  it('its own FINESS: the anomaly is on its board and not on another’s; the regional cell may name any', async () => {
    const r = await call<ImportSummary>(`${auth.url}/identity/import?finess=${OWN}`, { body, headers: h(LOCAL, ndjson) });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ registered: 1, anomalies: { QUAL_WITHOUT_INS: 1 }, finess: OWN });
    expect(await boardAnomalies(OWN)).toEqual({ total: 1, byCode: { QUAL_WITHOUT_INS: 1 }, recent: expect.any(Array) });
    expect((await boardAnomalies(OTHER)).total).toBe(0);
    const regional = await call<ImportSummary>(`${auth.url}/identity/import?finess=${OTHER}`, { body: JSON.stringify(qualWithoutIns('F-2')), headers: h(REFERENT, ndjson) });
    expect(regional.status).toBe(200);
    expect((await boardAnomalies(OTHER)).byCode).toEqual({ QUAL_WITHOUT_INS: 1 });
    expect((await boardAnomalies(OWN)).total).toBe(1);
  });
});
