// Walks the CapabilityStatement and calls everything it names: each interaction of each resource type, each search
// parameter, each operation (its OperationDefinition first), the conditional flags and the system interactions.
// Fails when the statement names something that does not answer (404 for a route, 405, 5xx) — so the statement
// cannot claim more than the route table serves.
import type {
  Binary,
  Bundle,
  CapabilityStatement,
  CapabilityStatementRestResource,
  CapabilityStatementRestResourceSearchParam,
  DocumentReference,
  OperationDefinition,
  Resource,
} from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODIFIERS_SAID } from '../../src/api/fhir-capability.js';
import { validateResource } from '../../src/fhir/validate.js';
import { loadCodeMaps } from '../../src/mappings/codemaps.js';
import { call, patient, startTestServer, type Outcome, type Reply, type TestServer } from './server.js';

let srv: TestServer;
let cs: CapabilityStatement;
const seed: { patient: string; practitioner: string; organization: string } = { patient: '', practitioner: '', organization: '' };
let serial = 0;

/** A valid instance of each type the statement lets a client create (no Passerelle profile: those are the domain's). */
const FIXTURES: Record<string, () => Record<string, unknown>> = {
  Patient: () => ({ ...patient(`walk-${++serial}`, { birthDate: `19${10 + (serial % 80)}-01-0${1 + (serial % 9)}` }) }),
  Practitioner: () => ({ name: [{ family: 'Walk', given: ['Pat'] }] }),
  PractitionerRole: () => ({ practitioner: { reference: `Practitioner/${seed.practitioner}` }, organization: { reference: `Organization/${seed.organization}` } }),
  Organization: () => ({ name: `Walk org ${++serial}` }),
  CareTeam: () => ({ status: 'active', subject: { reference: `Patient/${seed.patient}` } }),
  CarePlan: () => ({ status: 'active', intent: 'plan', subject: { reference: `Patient/${seed.patient}` } }),
  DetectedIssue: () => ({ status: 'final', patient: { reference: `Patient/${seed.patient}` } }),
  MedicationRequest: () => ({ status: 'active', intent: 'order', medicationCodeableConcept: { text: 'paracétamol' }, subject: { reference: `Patient/${seed.patient}` } }),
  ServiceRequest: () => ({ status: 'active', intent: 'order', subject: { reference: `Patient/${seed.patient}` } }),
  MedicationStatement: () => ({ status: 'active', medicationCodeableConcept: { text: 'paracétamol' }, subject: { reference: `Patient/${seed.patient}` } }),
  List: () => ({ status: 'current', mode: 'working', subject: { reference: `Patient/${seed.patient}` } }),
  Composition: () => ({
    status: 'final',
    type: { text: 'note' },
    date: '2024-03-01',
    title: 'Walk',
    subject: { reference: `Patient/${seed.patient}` },
    author: [{ reference: `Practitioner/${seed.practitioner}` }],
  }),
  Provenance: () => ({
    target: [{ reference: `Patient/${seed.patient}` }],
    recorded: '2024-03-01T10:00:00Z',
    agent: [{ who: { reference: `Practitioner/${seed.practitioner}` } }],
  }),
  Communication: () => ({ status: 'completed', subject: { reference: `Patient/${seed.patient}` } }),
  Task: () => ({ status: 'requested', intent: 'order', for: { reference: `Patient/${seed.patient}` } }),
  Consent: () => ({
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'treatment' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: `Patient/${seed.patient}` },
    policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
  }),
  // The rest-hook endpoint must be allowed (outbox.subscriptions.endpoints, set in beforeAll); nothing listens there.
  Subscription: () => ({
    status: 'requested',
    reason: 'Walk',
    criteria: 'Task?status=completed',
    channel: { type: 'rest-hook', endpoint: 'http://127.0.0.1:9/walk-hook/', payload: 'application/fhir+json' },
  }),
  Encounter: () => ({
    status: 'finished',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
    subject: { reference: `Patient/${seed.patient}` },
  }),
};

/** Instances of the types the FHIR API does not write: put in the store as the gateway's document services would. */
const STORED: Record<string, () => Resource> = {
  Binary: () => ({ resourceType: 'Binary', id: `walk-bin-${++serial}`, contentType: 'application/pdf', data: Buffer.from('%PDF-1.4\n%%EOF\n').toString('base64') }) as Binary,
  DocumentReference: () =>
    ({
      resourceType: 'DocumentReference',
      id: `walk-doc-${++serial}`,
      status: 'current',
      subject: { reference: `Patient/${seed.patient}` },
      content: [{ attachment: { contentType: 'application/pdf', url: 'Binary/walk' } }],
    }) as DocumentReference,
};

/** Answers: the route exists and the request reached its handler (a refusal by a rule or bad input is an answer). */
function expectAnswers(what: string, r: Reply<unknown>, allowed: number[] = []): void {
  const body = r.body as Outcome | undefined;
  const text = body?.resourceType === 'OperationOutcome' ? body.issue.map((i) => i.details?.text).join('; ') : '';
  const noRoute = r.status === 404 && /^No route/.test(text);
  const fine = allowed.length ? allowed.includes(r.status) : r.status < 500 && r.status !== 405 && r.status !== 501 && !noRoute;
  expect(fine, `${what} → ${r.status} ${text}`).toBe(true);
}

function sampleValue(type: string | undefined): string {
  switch (type) {
    case 'date':
      return 'ge2020-01-01';
    case 'uri':
      return 'http://example.org/walk';
    case 'string':
      return 'walk';
    case 'number':
    case 'quantity':
      return '1';
    default:
      return 'walk-id'; // a token, or a reference given as a bare id
  }
}

/** One search per modifier the parameter's documentation lists (R4 has no element for them: `Modifiers: :missing, …`). */
function modifiedSearches(p: CapabilityStatementRestResourceSearchParam): [string, string][] {
  const said = new RegExp(`${MODIFIERS_SAID} ([^.]*)\\.`).exec(p.documentation ?? '');
  const target = /resolve\(\) is (\w+)/.exec(p.documentation ?? '')?.[1] ?? 'Patient';
  return (said?.[1].split(', ') ?? []).map((m): [string, string] => {
    switch (m) {
      case ':missing':
        return [`${p.name}:missing`, 'true'];
      case ':of-type':
        return [`${p.name}:of-type`, 'http://terminology.hl7.org/CodeSystem/v2-0203|MR|walk'];
      case ':[type]':
        return [`${p.name}:${target}`, 'walk-id'];
      default:
        return [`${p.name}${m}`, sampleValue(p.type)];
    }
  });
}

/** One instance of `type` to work on: created through the API when the statement says so, else stored or listed. */
async function instanceOf(res: CapabilityStatementRestResource, codes: Set<string>): Promise<Resource | undefined> {
  const type = res.type;
  if (codes.has('create')) {
    const fixture = FIXTURES[type];
    expect(fixture, `the CapabilityStatement lets clients create ${type}: add a fixture to FIXTURES`).toBeDefined();
    const r = await call<Resource>(`${srv.fhir}/${type}`, { body: { resourceType: type, ...fixture() } });
    expectAnswers(`POST ${type}`, r, [201]);
    return r.body;
  }
  if (STORED[type]) {
    const resource = STORED[type]();
    await srv.store.transaction(async (tx) => {
      await tx.put(resource);
    });
    return (await srv.store.read(type, resource.id as string)) as Resource;
  }
  const found = await call<Bundle>(`${srv.fhir}/${type}?_count=1`);
  return found.body.entry?.[0]?.resource;
}

beforeAll(async () => {
  // The shipped code maps, so that ConceptMap has instances to walk (issue 19).
  const { codeMaps } = await loadCodeMaps('mappings');
  const mappings = { current: () => ({ mappings: new Map(), codeMaps, problems: [], loadedAt: new Date().toISOString() }) };
  srv = await startTestServer({ outbox: { subscriptions: { endpoints: ['http://127.0.0.1:9/walk-hook/'] } } }, [], { deps: { mappings } });
  const p = await call<{ id: string }>(`${srv.fhir}/Patient`, { body: patient('walk-seed') });
  const pr = await call<{ id: string }>(`${srv.fhir}/Practitioner`, { body: { resourceType: 'Practitioner', name: [{ family: 'Seed' }] } });
  const o = await call<{ id: string }>(`${srv.fhir}/Organization`, { body: { resourceType: 'Organization', name: 'Seed' } });
  expect([p.status, pr.status, o.status]).toEqual([201, 201, 201]);
  Object.assign(seed, { patient: p.body.id, practitioner: pr.body.id, organization: o.body.id });
  cs = (await call<CapabilityStatement>(`${srv.fhir}/metadata`)).body;
});
afterAll(async () => {
  await srv.close();
});

describe('the CapabilityStatement tells the truth', () => {
  it('says JSON only, JSON Patch, and authentication off', () => {
    expect(cs.format).toEqual(['json']);
    expect(cs.patchFormat).toEqual(['application/json-patch+json']);
    expect(cs.rest?.[0].security?.description).toMatch(/Authentication is off/);
  });

  it('every resource type answers every interaction, search parameter and conditional flag it lists', async () => {
    const resources = cs.rest?.[0].resource ?? [];
    expect(resources.length).toBeGreaterThan(10);
    for (const res of resources) {
      const type = res.type;
      const codes = new Set((res.interaction ?? []).map((i) => i.code as string));
      const instance = await instanceOf(res, codes);
      expect(instance?.id, `no instance of ${type} to walk`).toBeDefined();
      const id = instance?.id as string;
      const url = `${srv.fhir}/${type}/${id}`;

      if (codes.has('read')) expectAnswers(`GET ${type}/${id}`, await call(url), [200]);
      if (codes.has('vread')) expectAnswers(`vread ${type}/${id}`, await call(`${url}/_history/${instance?.meta?.versionId ?? '1'}`), [200]);
      if (codes.has('history-instance')) expectAnswers(`history ${type}/${id}`, await call(`${url}/_history`), [200]);
      if (codes.has('update')) expectAnswers(`PUT ${type}/${id}`, await call(url, { method: 'PUT', body: instance }), [200]);
      if (codes.has('patch')) {
        const r = await call(url, {
          method: 'PATCH',
          body: JSON.stringify([{ op: 'test', path: '/id', value: id }]),
          headers: { 'content-type': 'application/json-patch+json' },
        });
        expectAnswers(`PATCH ${type}/${id}`, r, [200]);
      }
      if (codes.has('search-type')) {
        const r = await call<Bundle>(`${srv.fhir}/${type}?_id=${id}`);
        expectAnswers(`GET ${type}?_id`, r, [200]);
        expect(r.body.total, `${type}?_id=${id}`).toBe(1);
      }
      for (const p of res.searchParam ?? []) {
        const q = `${type}?${encodeURIComponent(p.name)}=${encodeURIComponent(p.name === '_id' ? id : sampleValue(p.type))}`;
        expectAnswers(`GET ${q}`, await call(`${srv.fhir}/${q}`), [200]);
        for (const [name, value] of modifiedSearches(p)) {
          const mq = `${type}?${encodeURIComponent(name)}=${encodeURIComponent(value)}`;
          expectAnswers(`GET ${mq}`, await call(`${srv.fhir}/${mq}`), [200]);
        }
      }
      if (res.versioning !== 'no-version') {
        // The result parameters rest.documentation promises, and _sort on every declared parameter.
        for (const q of ['_count=1&_offset=1', '_summary=count', '_summary=true', '_summary=data', '_elements=id', '_total=accurate', '_sort=-_lastUpdated,_id']) {
          expectAnswers(`GET ${type}?${q}`, await call(`${srv.fhir}/${type}?${q}`), [200]);
        }
        for (const p of res.searchParam ?? []) {
          expectAnswers(`GET ${type}?_sort=-${p.name}`, await call(`${srv.fhir}/${type}?_sort=-${encodeURIComponent(p.name)}`), [200]);
        }
      }
      for (const inc of res.searchInclude ?? []) expectAnswers(`_include=${inc}`, await call(`${srv.fhir}/${type}?_include=${inc}`), [200]);
      for (const rev of res.searchRevInclude ?? []) expectAnswers(`_revinclude=${rev}`, await call(`${srv.fhir}/${type}?_revinclude=${rev}`), [200]);
      if (res.conditionalCreate) {
        const r = await call(`${srv.fhir}/${type}`, { body: instance, headers: { 'if-none-exist': `_id=${id}` } });
        expectAnswers(`conditional create ${type}`, r, [200]);
      }
      if (res.conditionalUpdate) {
        expectAnswers(`PUT ${type}?_id`, await call(`${srv.fhir}/${type}?_id=${id}`, { method: 'PUT', body: instance }), [200]);
      }
      if (codes.has('delete')) {
        const victim = await instanceOf(res, codes);
        // A registered Patient is not deleted (409 saying why): the route answers, the identity rules apply.
        expectAnswers(`DELETE ${type}`, await call(`${srv.fhir}/${type}/${victim?.id}`, { method: 'DELETE' }), type === 'Patient' ? [200, 409] : [200]);
      }
      if (res.conditionalDelete === 'single' || res.conditionalDelete === 'multiple') {
        const victim = await instanceOf(res, codes);
        const r = await call(`${srv.fhir}/${type}?_id=${victim?.id}`, { method: 'DELETE' });
        expectAnswers(`DELETE ${type}?_id`, r, type === 'Patient' ? [200, 409] : [200]);
      }
      for (const op of res.operation ?? []) await walkOperation(res, op.name, op.definition, instance as Resource);
    }
  }, 180_000); // hundreds of requests: generous under a loaded CI machine

  it('each type it does not list as writable answers 405 to a write', async () => {
    for (const res of cs.rest?.[0].resource ?? []) {
      const codes = new Set((res.interaction ?? []).map((i) => i.code as string));
      if (codes.has('create')) continue;
      const r = await call(`${srv.fhir}/${res.type}`, { body: { resourceType: res.type } });
      expect(r.status, `POST ${res.type}`).toBe(405);
    }
  });

  it('the system interactions answer', async () => {
    for (const { code } of cs.rest?.[0].interaction ?? []) {
      const r = await call<Bundle>(srv.fhir, { body: { resourceType: 'Bundle', type: code, entry: [] } });
      expectAnswers(`POST / (${code})`, r, [200]);
      expect(r.body.type).toBe(`${code}-response`);
    }
  });

  it('our StructureDefinitions, CodeSystems and ValueSets are readable and searchable by url', async () => {
    const profiles = new Set(cs.rest?.[0].resource?.flatMap((r) => r.supportedProfile ?? []));
    expect(profiles.size).toBeGreaterThan(10);
    for (const url of profiles) {
      const r = await call<Bundle>(`${srv.fhir}/StructureDefinition?url=${encodeURIComponent(url)}`);
      expect(r.body.total, url).toBe(1);
      const sd = r.body.entry?.[0].resource as Resource & { url: string };
      expect(sd.url).toBe(url);
      expect((await call(`${srv.fhir}/StructureDefinition/${sd.id}`)).status).toBe(200);
    }
    const valueSets = await call<Bundle>(`${srv.fhir}/ValueSet?_count=1000`);
    expect(valueSets.body.total).toBeGreaterThan(10);
    for (const e of valueSets.body.entry ?? []) {
      for (const include of (e.resource as { compose?: { include?: { system?: string }[] } }).compose?.include ?? []) {
        if (!include.system?.startsWith('https://fhir.passerelle.fr/')) continue;
        const codeSystem = await call<Bundle>(`${srv.fhir}/CodeSystem?url=${encodeURIComponent(include.system)}`);
        expect(codeSystem.body.total, include.system).toBe(1);
      }
    }
    // Read-only, and unknown ids or parameters are said so.
    expect((await call(`${srv.fhir}/StructureDefinition/passerelle-patient`, { method: 'DELETE' })).status).toBe(405);
    expect((await call(`${srv.fhir}/CodeSystem/nothing-here`)).status).toBe(404);
    const bad = await call<Outcome>(`${srv.fhir}/ValueSet?colour=blue`);
    expect(bad.status).toBe(400);
    expect(bad.body.issue[0].expression).toEqual(['colour']);
  });
});

async function walkOperation(res: CapabilityStatementRestResource, name: string, definition: string | undefined, instance: Resource): Promise<void> {
  expect(definition, `${res.type} $${name}: no definition`).toBeDefined();
  const byUrl = await call<Bundle>(`${srv.fhir}/OperationDefinition?url=${encodeURIComponent(definition as string)}`);
  expect(byUrl.body.total, `OperationDefinition?url=${definition}`).toBe(1);
  const od = byUrl.body.entry?.[0].resource as OperationDefinition;
  const read = await call<OperationDefinition>(`${srv.fhir}/OperationDefinition/${od.id}`);
  expectAnswers(`GET OperationDefinition/${od.id}`, read, [200]);
  expect(read.body.code).toBe(name);
  expect(validateResource(read.body).filter((i) => i.severity === 'error')).toEqual([]);
  const servesType = (od.resource ?? []).some((t) => t === res.type || (t as string) === 'Resource');
  expect(servesType, `OperationDefinition/${od.id}.resource names ${res.type}`).toBe(true);

  // FHIR: POST always; GET too when the operation changes nothing and takes only primitive parameters.
  const inputs = (od.parameter ?? []).filter((p) => p.use === 'in');
  const getAllowed = od.affectsState === false && inputs.every((p) => p.type && /^[a-z]/.test(p.type));
  const paths = [...(od.type ? [`${res.type}/$${name}`] : []), ...(od.instance ? [`${res.type}/${instance.id}/$${name}`] : [])];
  expect(paths.length, `OperationDefinition/${od.id} is neither type- nor instance-level`).toBeGreaterThan(0);
  for (const path of paths) {
    const posted = await call(`${srv.fhir}/${path}`, { body: { resourceType: 'Parameters', parameter: [] } });
    expectAnswers(`POST ${path}`, posted);
    if (getAllowed) expectAnswers(`GET ${path}`, await call(`${srv.fhir}/${path}`), [200]);
  }
}

describe('with authentication on', () => {
  it('rest.security says bearer tokens and the scopes', async () => {
    const secured = await startTestServer({
      auth: { enabled: true, devTokens: true, clients: [{ id: 'dpi', tenant: 'establishment:990000010', token: 'a'.repeat(32), scopes: ['fhir.read'] }] },
    });
    try {
      const r = await call<CapabilityStatement>(`${secured.fhir}/metadata`);
      expect(r.status).toBe(200);
      const description = r.body.rest?.[0].security?.description ?? '';
      expect(description).toContain('Authorization: Bearer');
      expect(description).toContain('fhir.read');
      expect(description).toContain(`${secured.url}/oauth/token`);
      expect(r.body.rest?.[0].security?.service?.[0].coding?.[0].code).toBe('SMART-on-FHIR');
      expect((await call(`${secured.fhir}/StructureDefinition/passerelle-patient`)).status).toBe(401);
      const withToken = await call(`${secured.fhir}/StructureDefinition/passerelle-patient`, { headers: { authorization: `Bearer ${'a'.repeat(32)}` } });
      expect(withToken.status).toBe(200);
    } finally {
      await secured.close();
    }
  });
});
