// Property (issue 16): a random mix of clients of several tenants and requests — reads by id, searches with random
// parameters, sorts, pages, _include / _revinclude, $everything, history — never returns a resource outside the
// client's tenant. Each returned resource is checked against the grants (access_patient) by an oracle written here,
// independently of src/services/access/; an unfiltered search's `total` is the oracle's count of visible resources.
import type { Bundle, Patient, Resource } from '@medplum/fhirtypes';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REGIONAL_ID_SYSTEM } from '../../src/fhir/federated-patient.js';
import { CLIENTS, seed, startTenancy, type Seed, type Tenancy } from './tenancy-support.js';

let t: Tenancy;
let s: Seed;
/** Every stored resource, by type (read once after seeding; the property only reads). */
const all = new Map<string, Resource[]>();
const TYPES = ['Patient', 'CarePlan', 'Task', 'MedicationStatement', 'MedicationRequest', 'DetectedIssue', 'Consent', 'Composition', 'Provenance', 'List', 'CareTeam', 'Organization', 'PractitionerRole', 'Observation'];
const BOUND = ['dpi-a', 'dpi-b', 'dpi-c', 'lgo-p', 'lgo-g', 'integrator-b'];
const SHARED = new Set(['Organization', 'Practitioner', 'PractitionerRole', 'Medication', 'Location', 'Endpoint']);

beforeAll(async () => {
  t = await startTenancy(CLIENTS);
  s = await seed(t);
  // B also records an Observation of its patient through FHIR.
  await t.as('integrator-b', '/fhir/Observation', { body: { resourceType: 'Observation', status: 'final', code: { text: 'poids' }, subject: { reference: `Patient/${s.patientB}` } } });
  for (const type of TYPES) all.set(type, (await t.srv.store.search({ resourceType: type, predicates: [], count: 1000, offset: 0 })).resources);
}, 60_000);
afterAll(async () => t?.close());

const finessOf = (client: string): string => (CLIENTS.find((c) => c.id === client)?.tenant as string).split(':')[1];

/** The oracle: may `client` see `r`? From the grants table and the resource's own references. */
async function visible(client: string, r: Resource): Promise<boolean> {
  if (SHARED.has(r.resourceType)) return true;
  const key = `finess:${finessOf(client)}`;
  if (r.resourceType === 'Patient') {
    if ((r as Patient).identifier?.some((i) => i.system === REGIONAL_ID_SYSTEM)) return false;
    return t.srv.store.security.mayAccess(key, r.id as string);
  }
  const refs = [...JSON.stringify(r).matchAll(/"reference":"(?:[^"]*\/)?Patient\/([A-Za-z0-9\-.]{1,64})"/g)].map((m) => m[1]);
  for (const id of refs) if (await t.srv.store.security.mayAccess(key, id)) return true;
  return false;
}

const patientIds = (): string[] => [s.patientA, s.federatedA, s.patientC, s.patientG, s.patientB];

type Req =
  | { kind: 'read'; type: string; index: number }
  | { kind: 'search'; type: string; count: number; offset: number; sort?: string; patient?: number; include?: string; revinclude?: string }
  | { kind: 'everything'; patient: number }
  | { kind: 'history'; type: string; index: number };

const arbReq: fc.Arbitrary<Req> = fc.oneof(
  fc.record({ kind: fc.constant('read' as const), type: fc.constantFrom(...TYPES), index: fc.nat(200) }),
  fc.record({ kind: fc.constant('history' as const), type: fc.constantFrom(...TYPES), index: fc.nat(200) }),
  fc.record(
    {
      kind: fc.constant('search' as const),
      type: fc.constantFrom(...TYPES),
      count: fc.integer({ min: 0, max: 50 }),
      offset: fc.integer({ min: 0, max: 30 }),
      sort: fc.constantFrom('_lastUpdated', '-_lastUpdated', '_id'),
      patient: fc.nat(4),
      include: fc.constantFrom('*', 'CarePlan:subject', 'Task:patient', 'Patient:link', 'PractitionerRole:organization'),
      revinclude: fc.constantFrom('Task:patient', 'CarePlan:subject', 'Provenance:target', 'DetectedIssue:patient'),
    },
    { requiredKeys: ['kind', 'type', 'count', 'offset'] },
  ),
  fc.record({ kind: fc.constant('everything' as const), patient: fc.nat(4) }),
);

function pathOf(r: Req): string {
  switch (r.kind) {
    case 'read':
    case 'history': {
      const list = all.get(r.type) ?? [];
      const id = list.length ? list[r.index % list.length].id : 'none';
      return `/fhir/${r.type}/${id}${r.kind === 'history' ? '/_history' : ''}`;
    }
    case 'everything':
      return `/fhir/Patient/${patientIds()[r.patient]}/$everything?_count=1000`;
    case 'search': {
      const q = new URLSearchParams({ _count: String(r.count), _offset: String(r.offset) });
      if (r.sort) q.set('_sort', r.sort);
      const patientParam = r.type === 'Patient' ? '_id' : ['CarePlan', 'Task', 'MedicationStatement', 'MedicationRequest', 'DetectedIssue', 'Consent', 'Composition', 'List', 'CareTeam'].includes(r.type) ? 'patient' : undefined;
      if (r.patient !== undefined && patientParam) q.set(patientParam, patientParam === '_id' ? patientIds()[r.patient] : `Patient/${patientIds()[r.patient]}`);
      if (r.include && r.include.split(':')[0] === r.type) q.set('_include', r.include);
      // Reverse includes that can point at the searched type (Provenance.target at any; the others at a Patient).
      if (r.revinclude && (r.type === 'Patient' || r.revinclude === 'Provenance:target') && r.revinclude.split(':')[0] !== r.type) q.set('_revinclude', r.revinclude);
      return `/fhir/${r.type}?${q.toString()}`;
    }
  }
}

/** The resources an answer carries (a resource, or a Bundle's entries). */
const returned = (body: unknown): Resource[] => {
  const r = body as Resource | undefined;
  if (!r || r.resourceType === 'OperationOutcome') return [];
  if (r.resourceType === 'Bundle') return ((r as Bundle).entry ?? []).map((e) => e.resource).filter((x): x is Resource => x !== undefined && x.resourceType !== 'OperationOutcome');
  return [r];
};

describe('tenancy property', () => {
  it('no client ever receives a resource outside its tenant, and unfiltered totals count exactly what it may see', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom(...BOUND), arbReq), { minLength: 1, maxLength: 6 }), async (requests) => {
        for (const [client, req] of requests) {
          const path = pathOf(req);
          const reply = await t.as(client, path);
          expect([200, 404, 410], `${client} ${path}: ${reply.status} ${JSON.stringify(reply.body).slice(0, 200)}`).toContain(reply.status);
          for (const r of returned(reply.body)) {
            expect(await visible(client, r), `${client} ${path} returned ${r.resourceType}/${r.id}`).toBe(true);
          }
          if (req.kind === 'search' && req.patient === undefined && reply.status === 200) {
            const expected = (await Promise.all((all.get(req.type) ?? []).map((r) => visible(client, r)))).filter(Boolean).length;
            expect((reply.body as unknown as Bundle).total, `${client} ${path} total`).toBe(expected);
          }
        }
      }),
      { numRuns: 60 },
    );
  }, 120_000);

  it('a read by id answers 404 exactly when the oracle says the resource is not visible', async () => {
    for (const client of BOUND) {
      for (const type of ['Patient', 'CarePlan', 'Task', 'Organization']) {
        for (const r of (all.get(type) ?? []).slice(0, 12)) {
          const reply = await t.as(client, `/fhir/${type}/${r.id}`);
          expect(reply.status, `${client} ${type}/${r.id}`).toBe((await visible(client, r)) ? 200 : 404);
        }
      }
    }
  }, 120_000);
});
