// The security matrix of issue 16: every client role × every endpoint × own / other tenant, as ONE table that drives
// the assertions. Credentials and transport are tenancy-support.ts's (`authHeaders`, `as`): OAuth2 access tokens over
// HTTPS by default.
//
// Outcomes: ok = 2xx; shown = 2xx and the target is in the answer; filtered = 2xx and it is not (a search or $match
// filtered in the query); reached = the request passed authorisation (not 401/403: a business answer such as 409
// or 404 of an unknown review); denied = 403 (401 for a client that holds no scope, hence no access token); hidden = 404 (another tenant's resource answers as a missing one).
import type { Bundle, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, type Reply } from './server.js';
import { CLIENTS, FINESS, startTenancy, TRANSPORT_NOTE, type ClientSpec, type Init, type Tenancy } from './tenancy-support.js';

type Outcome = 'ok' | 'shown' | 'filtered' | 'reached' | 'denied' | 'hidden';
type Side = 'own' | 'other' | '-';

/** The matrix. Columns are the clients of MATRIX_CLIENTS, in order. */
const MATRIX = `
endpoint              side   dpi       lgo       integrator identitovigilance regional auditor admin    no-role
read                  own    shown     shown     shown      shown             denied   denied  shown    denied
read                  other  hidden    hidden    hidden     shown             denied   denied  shown    denied
vread                 own    shown     shown     shown      shown             denied   denied  shown    denied
vread                 other  hidden    hidden    hidden     shown             denied   denied  shown    denied
history               own    ok        ok        ok         ok                denied   denied  ok       denied
history               other  hidden    hidden    hidden     ok                denied   denied  ok       denied
search-patient        own    shown     shown     shown      shown             denied   denied  shown    denied
search-patient        other  filtered  filtered  filtered   shown             denied   denied  shown    denied
search-careplan       own    shown     shown     shown      shown             denied   denied  shown    denied
search-careplan       other  filtered  filtered  filtered   shown             denied   denied  shown    denied
everything            own    shown     shown     shown      shown             denied   denied  shown    denied
everything            other  hidden    hidden    hidden     shown             denied   denied  shown    denied
create                own    ok        denied    ok         denied            denied   denied  ok       denied
create                other  denied    denied    denied     denied            denied   denied  ok       denied
update                own    ok        denied    ok         denied            denied   denied  ok       denied
update                other  denied    denied    denied     denied            denied   denied  ok       denied
patch                 own    ok        denied    ok         denied            denied   denied  ok       denied
patch                 other  hidden    denied    hidden     denied            denied   denied  ok       denied
delete                own    reached   denied    reached    denied            denied   denied  reached  denied
delete                other  denied    denied    denied     denied            denied   denied  reached  denied
transaction           own    ok        denied    ok         denied            denied   denied  ok       denied
transaction           other  denied    denied    denied     denied            denied   denied  ok       denied
match                 own    shown     shown     shown      shown             denied   denied  shown    denied
match                 other  filtered  filtered  filtered   shown             denied   denied  shown    denied
validate              -      ok        ok        ok         ok                denied   denied  ok       denied
metadata              -      ok        ok        ok         ok                ok       ok      ok       ok
health                -      ok        ok        ok         ok                ok       ok      ok       ok
metrics               -      ok        ok        ok         ok                ok       ok      ok       ok
audit-event           -      denied    denied    denied     denied            denied   ok      ok       denied
admin-outbox          -      denied    denied    denied     denied            denied   denied  ok       denied
identity-reviews      -      denied    denied    denied     ok                denied   denied  ok       denied
identity-links        -      denied    denied    denied     ok                denied   denied  ok       denied
identity-decision     -      denied    denied    denied     reached           denied   denied  reached  denied
identity-separate     -      denied    denied    denied     reached           denied   denied  reached  denied
identity-assign       -      denied    denied    denied     reached           denied   denied  reached  denied
identity-import       -      denied    denied    denied     reached           denied   denied  reached  denied
identity-conflicts    own    ok        ok        ok         ok                denied   denied  ok       denied
identity-conflicts    other  denied    denied    denied     ok                denied   denied  ok       denied
medication-review     own    ok        ok        ok         ok                denied   denied  ok       denied
medication-review     other  hidden    hidden    hidden     ok                denied   denied  ok       denied
unlink-ctm            own    reached   denied    reached    denied            denied   denied  reached  denied
unlink-ctm            other  hidden    hidden    hidden     denied            denied   denied  reached  denied
send                  own    reached   denied    reached    denied            denied   denied  reached  denied
send                  other  hidden    hidden    hidden     denied            denied   denied  reached  denied
send-fhir             own    reached   denied    reached    denied            denied   denied  reached  denied
send-fhir             other  hidden    hidden    hidden     denied            denied   denied  reached  denied
outcomes              own    reached   denied    reached    denied            denied   denied  reached  denied
outcomes              other  hidden    hidden    hidden     denied            denied   denied  reached  denied
worklist              -      ok        denied    ok         ok                denied   denied  ok       denied
run-due               -      denied    denied    denied     denied            denied   denied  ok       denied
admin-mappings        -      denied    denied    denied     denied            denied   denied  ok       denied
reports-billing       -      denied    denied    denied     denied            ok       denied  ok       denied
reports-activity      -      denied    denied    denied     denied            ok       denied  ok       denied
reports-professionals -      denied    denied    denied     denied            ok       denied  ok       denied
post-ppp              own    ok        ok        ok         denied            denied   denied  ok       denied
post-ppp              other  denied    denied    denied     denied            denied   denied  ok       denied
post-ctm              own    ok        ok        ok         denied            denied   denied  ok       denied
post-ctm              other  denied    denied    denied     denied            denied   denied  ok       denied
post-bpm              own    ok        ok        ok         denied            denied   denied  ok       denied
post-bpm              other  denied    denied    denied     denied            denied   denied  ok       denied
`;

/** The client of each column (tenancy-support.ts CLIENTS): lgo-p is on the care team of A's PPP. */
const MATRIX_CLIENTS = ['dpi-a', 'lgo-p', 'integrator-b', 'identitovigilance', 'regional', 'auditor', 'admin', 'no-role'];

interface Row {
  endpoint: string;
  side: Side;
  expected: Record<string, Outcome>;
}

function parseMatrix(text: string): Row[] {
  const lines = text.trim().split('\n').map((l) => l.trim().split(/\s+/));
  const [header, ...rows] = lines;
  const columns = header.slice(2);
  if (columns.length !== MATRIX_CLIENTS.length) throw new Error('matrix: one column per client');
  return rows.map(([endpoint, side, ...cells]) => {
    if (cells.length !== columns.length) throw new Error(`matrix: row ${endpoint} ${side} has ${cells.length} cells`);
    return { endpoint, side: side as Side, expected: Object.fromEntries(cells.map((c, i) => [MATRIX_CLIENTS[i], c as Outcome])) };
  });
}

/** What a client's own and another tenant's data are. */
interface Data {
  patient: string;
  federated: string;
  carePlan: string;
  /** The FINESS of its documents (a tenant-less client: A's). */
  finess: string;
  /** The CTM of that FINESS (fixture admission-divergences, sent for A and B). */
  ctmId: string;
}

let t: Tenancy;
const data: Record<'A' | 'B', Data> = {} as never;
const json = { 'content-type': 'application/json' };

/** A fixture rewritten for another FINESS (the establishment or pharmacy, the patient's identifier namespace…). */
function docFor(file: string, from: string, to: string, extra: Record<string, string> = {}): unknown {
  let text = JSON.stringify(fixture(file)).split(from).join(to);
  for (const [a, b] of Object.entries(extra)) text = text.split(a).join(b);
  return JSON.parse(text);
}

async function seedSide(side: 'A' | 'B', client: string, finess: string): Promise<void> {
  const ppp = await t.as<Bundle>(client, '/ppp', { body: docFor('ppp/ppp-12-medicines.json', FINESS.A, finess, side === 'B' ? { [FINESS.P]: finess } : {}), headers: json });
  if (ppp.status !== 200) throw new Error(`seed ${side}: ${ppp.status} ${JSON.stringify(ppp.body)}`);
  const ctm = await t.as<Bundle>(client, '/ctm', { body: docFor('ctm/admission-divergences.json', FINESS.A, finess), headers: json });
  if (ctm.status !== 200) throw new Error(`seed ${side} ctm: ${ctm.status} ${JSON.stringify(ctm.body)}`);
  const carePlan = ppp.body.entry?.map((e) => e.resource).find((r) => r?.resourceType === 'CarePlan');
  const patient = (carePlan as { subject: { reference: string } }).subject.reference.slice('Patient/'.length);
  const source = (await t.srv.store.read<Patient>('Patient', patient)) as Patient;
  const federated = (source.link?.find((l) => l.type === 'refer')?.other.reference as string).slice('Patient/'.length);
  data[side] = { patient, federated, carePlan: carePlan?.id as string, finess, ctmId: (fixture('ctm/admission-divergences.json') as { id: string }).id };
}

beforeAll(async () => {
  t = await startTenancy(CLIENTS);
  await seedSide('A', 'dpi-a', FINESS.A);
  await seedSide('B', 'dpi-b', FINESS.B);
}, 60_000);
afterAll(async () => t?.close());

const spec = (id: string): ClientSpec => CLIENTS.find((c) => c.id === id) as ClientSpec;
const finessOf = (c: ClientSpec): string | undefined => (c.tenant && !c.tenant.startsWith('region:') ? c.tenant.split(':')[1] : undefined);
/** Own data: the tenant's (B for B's clients, A for A's and for the care-team pharmacy and tenant-less roles). */
const sides = (c: ClientSpec): { own: Data; other: Data } => (finessOf(c) === FINESS.B ? { own: data.B, other: data.A } : { own: data.A, other: data.B });

interface Probe {
  path: string;
  init?: Init;
  /** The id that `shown` / `filtered` look for in the answer. */
  target?: string;
}

/** The request of an endpoint, for a client and a side. */
async function probe(endpoint: string, c: ClientSpec, side: Side): Promise<Probe> {
  const d = side === 'other' ? sides(c).other : sides(c).own;
  const ownFiness = finessOf(c) ?? FINESS.A;
  // Documents of "another" FINESS: C's (no client of the matrix is of C).
  const docFiness = side === 'other' ? FINESS.C : ownFiness;
  const obs = { resourceType: 'Observation', status: 'final', code: { text: 'poids' }, subject: { reference: `Patient/${d.patient}` } };
  const stored = async (): Promise<Patient> => (await t.srv.store.read<Patient>('Patient', d.patient)) as Patient;
  const federated = async (): Promise<Patient> => (await t.srv.store.read<Patient>('Patient', d.federated)) as Patient;
  switch (endpoint) {
    case 'read':
      return { path: `/fhir/Patient/${d.patient}`, target: d.patient };
    case 'vread':
      return { path: `/fhir/Patient/${d.patient}/_history/1`, target: d.patient };
    case 'history':
      return { path: `/fhir/Patient/${d.patient}/_history` };
    case 'search-patient':
      return { path: `/fhir/Patient?_id=${d.patient}`, target: d.patient };
    case 'search-careplan':
      return { path: `/fhir/CarePlan?subject=Patient/${d.patient}&_include=CarePlan:subject`, target: d.carePlan };
    case 'everything':
      return { path: `/fhir/Patient/${d.patient}/$everything?_count=1000`, target: d.carePlan };
    case 'create':
      return { path: '/fhir/Observation', init: { body: obs } };
    case 'update':
      return { path: `/fhir/Patient/${d.patient}`, init: { method: 'PUT', body: await stored() } };
    case 'patch':
      return {
        path: `/fhir/Patient/${d.patient}`,
        init: { method: 'PATCH', body: JSON.stringify([{ op: 'test', path: '/id', value: d.patient }]), headers: { 'content-type': 'application/json-patch+json' } },
      };
    case 'delete':
      return { path: `/fhir/Patient/${d.patient}`, init: { method: 'DELETE' } };
    case 'transaction':
      return { path: '/fhir', init: { body: { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'POST', url: 'Observation' }, resource: obs }] } } };
    case 'match': {
      const f = await federated();
      const resource = { resourceType: 'Patient', identifier: f.identifier?.slice(0, 1), name: f.name, gender: f.gender, birthDate: f.birthDate, extension: f.extension };
      // A and B sent the same person (one federated identity): each tenant gets its own source Patient back, never the
      // other's; identitovigilance gets the federated Patient.
      const target = c.roles.some((r) => r === 'identitovigilance' || r === 'admin') ? d.federated : d.patient;
      return { path: '/fhir/Patient/$match', init: { body: { resourceType: 'Parameters', parameter: [{ name: 'resource', resource }] } }, target };
    }
    case 'validate':
      return { path: '/fhir/Patient/$validate', init: { body: { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: { resourceType: 'Patient' } }] } } };
    case 'metadata':
      return { path: '/fhir/metadata' };
    case 'health':
      return { path: '/health' };
    case 'metrics':
      return { path: '/metrics' };
    case 'audit-event':
      return { path: '/fhir/AuditEvent?_count=1' };
    case 'admin-outbox':
      return { path: '/admin/outbox' };
    case 'identity-reviews':
      return { path: '/identity/reviews' };
    case 'identity-links':
      return { path: '/identity/links?format=ndjson' };
    case 'identity-decision':
      return { path: '/identity/reviews/999999/decision', init: { body: { decision: 'same', reason: 'matrix' }, headers: json } };
    case 'identity-assign':
      return { path: '/identity/reviews/999999/assign', init: { body: { assignee: 'matrix' }, headers: json } };
    case 'identity-separate':
      return { path: '/identity/separate', init: { body: {}, headers: json } };
    case 'identity-import':
      return { path: '/identity/import', init: { body: '\n', headers: { 'content-type': 'application/x-ndjson' } } };
    case 'identity-conflicts':
      // The conflict board: the regional cell reads every establishment's, a tenant-bound client its own only.
      return { path: `/identity/conflicts?establishment=${side === 'other' ? FINESS.C : ownFiness}` };
    case 'medication-review':
      return { path: `/ppp/${d.carePlan}/medication-review` };
    case 'unlink-ctm':
      return { path: `/ppp/${d.carePlan}/unlink-ctm`, init: { body: { ctm: { finess: d.finess, id: d.ctmId } }, headers: json } };
    case 'send':
      return { path: `/ppp/${d.carePlan}/send`, init: { body: {}, headers: json } };
    case 'send-fhir':
      return { path: `/fhir/CarePlan/${d.carePlan}/$send`, init: { body: { resourceType: 'Parameters' } } };
    case 'outcomes':
      return { path: `/pathway/${d.carePlan}/outcomes`, init: { body: { window: 'd45', outcomes: [] }, headers: json } };
    case 'worklist':
      return { path: '/pathway/worklist' };
    case 'admin-mappings':
      return { path: '/admin/mappings' };
    case 'reports-billing':
      return { path: '/reports/billing?from=2021-01-01&to=2025-12-31&format=json' };
    case 'reports-activity':
      return { path: '/reports/activity?from=2021-01-01&to=2025-12-31' };
    case 'reports-professionals':
      return { path: '/reports/professionals?from=2021-01-01&to=2025-12-31' };
    case 'run-due':
      return { path: '/admin/pathway/run-due', init: { body: {}, headers: json } };
    case 'post-ppp':
      return { path: '/ppp', init: { body: docFor('ppp/ppp-12-medicines.json', FINESS.A, docFiness), headers: json } };
    case 'post-ctm':
      return { path: '/ctm', init: { body: docFor('ctm/admission-divergences.json', FINESS.A, docFiness), headers: json } };
    case 'post-bpm':
      return { path: '/bpm', init: { body: docFor('bpm/self-medication-remote.json', FINESS.G, docFiness), headers: json } };
  }
  throw new Error(`matrix: unknown endpoint ${endpoint}`);
}

/** The ids a Bundle (searchset, $everything, $match) holds. */
const idsIn = (body: unknown): string[] => ((body as Bundle)?.entry ?? []).map((e) => e.resource?.id as string);

function outcomeOf(reply: Reply, p: Probe, expected: Outcome): Outcome {
  const { status } = reply;
  // A client holding no scope gets no access token (OAuth2 invalid_scope): its calls are unauthenticated, so denied.
  if (status === 401) return 'denied';
  if (status === 403) return 'denied';
  if (status === 404 && expected !== 'reached') return 'hidden';
  if (expected === 'reached') return status === 404 || status >= 200 ? 'reached' : ('?' as Outcome);
  if (status < 200 || status >= 300) return `status ${status}` as Outcome;
  if (expected === 'shown' || expected === 'filtered') {
    const ids = idsIn(reply.body);
    const resource = reply.body as { resourceType?: string; id?: string };
    if (resource.resourceType !== 'Bundle') return resource.id === p.target ? 'shown' : 'filtered';
    if (p.target === undefined) return ids.length > 0 ? 'shown' : 'filtered';
    return ids.includes(p.target) ? 'shown' : 'filtered';
  }
  return 'ok';
}

const rows = parseMatrix(MATRIX);

describe(`security matrix (${rows.length} rows × ${MATRIX_CLIENTS.length} clients, ${TRANSPORT_NOTE})`, () => {
  for (const row of rows) {
    // Documents are sent last: they add grants (admin sends C's document).
    it(`${row.endpoint} ${row.side}`, async () => {
      const got: Record<string, string> = {};
      for (const id of MATRIX_CLIENTS) {
        const p = await probe(row.endpoint, spec(id), row.side);
        const reply = await t.as(id, p.path, p.init);
        const o = outcomeOf(reply, p, row.expected[id]);
        got[id] = o === row.expected[id] ? o : `${o} (${reply.status}: ${JSON.stringify(reply.body).slice(0, 160)})`;
      }
      expect(got).toEqual(row.expected);
    });
  }
});
