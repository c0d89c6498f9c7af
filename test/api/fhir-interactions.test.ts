// PATCH (JSON Patch), conditional update and delete, Prefer: return=, JSON-only negotiation (406), gzip,
// Patient/$everything and the raw read of a Binary — each with the bad input it must refuse, writing nothing.
import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import type { Binary, Bundle, CapabilityStatement, Organization, Patient } from '@medplum/fhirtypes';
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

const SYS = 'urn:oid:1.2.250.1.999.7';
const organization = (value: string, extra: Record<string, unknown> = {}): Organization =>
  ({ resourceType: 'Organization', identifier: [{ system: SYS, value }], name: `Org ${value}`, active: true, ...extra }) as Organization;

async function createOrg(value: string, extra: Record<string, unknown> = {}): Promise<Organization> {
  const r = await call<Organization>(`${srv.fhir}/Organization`, { body: organization(value, extra) });
  expect(r.status).toBe(201);
  return r.body;
}

const patch = (url: string, ops: unknown, headers: Record<string, string> = {}) =>
  call<Organization & Outcome>(url, {
    method: 'PATCH',
    body: typeof ops === 'string' ? ops : JSON.stringify(ops),
    headers: { 'content-type': 'application/json-patch+json', ...headers },
  });

async function countOf(query: string): Promise<number> {
  const r = await call<Bundle>(`${srv.fhir}/${query}${query.includes('?') ? '&' : '?'}_summary=count`);
  expect(r.status).toBe(200);
  return r.body.total as number;
}

describe('PATCH with JSON Patch', () => {
  it('applies test, replace and add, as a new version validated like an update', async () => {
    const org = await createOrg('patch-1');
    const r = await patch(`${srv.fhir}/Organization/${org.id}`, [
      { op: 'test', path: '/name', value: 'Org patch-1' },
      { op: 'replace', path: '/name', value: 'Pharmacie du Port' },
      { op: 'add', path: '/alias', value: ['PdP'] },
    ]);
    expect(r.status).toBe(200);
    expect(r.body.name).toBe('Pharmacie du Port');
    expect(r.body.alias).toEqual(['PdP']);
    expect(r.body.id).toBe(org.id);
    expect(r.headers.get('etag')).toBe('W/"2"');
    const read = await call<Organization>(`${srv.fhir}/Organization/${org.id}`);
    expect(read.body.name).toBe('Pharmacie du Port');

    const stale = await patch(`${srv.fhir}/Organization/${org.id}`, [{ op: 'replace', path: '/name', value: 'X' }], { 'if-match': 'W/"1"' });
    expect(stale.status).toBe(412);
    const fresh = await patch(`${srv.fhir}/Organization/${org.id}`, [{ op: 'replace', path: '/name', value: 'Y' }], { 'if-match': 'W/"2"' });
    expect(fresh.status).toBe(200);
    expect(fresh.body.meta?.versionId).toBe('3');
  });

  it('refuses a bad patch with 400/422 naming the operation, and writes nothing', async () => {
    const org = await createOrg('patch-2');
    const url = `${srv.fhir}/Organization/${org.id}`;
    const cases: [unknown, number, string][] = [
      [{ op: 'replace', path: '/name', value: 'x' }, 400, '(body)'], // not an array
      [[], 400, '(body)'],
      [[{ op: 'test', path: '/name', value: 'Org patch-2' }, { op: 'replace', value: 'x' }], 400, '[1].path'], // path missing
      [[{ op: 'replace', path: 'name', value: 'x' }], 400, '[0].path'], // not a JSON Pointer
      [[{ op: 'frobnicate', path: '/name' }], 400, '[0].op'],
      [[{ op: 'replace', path: '/name' }], 400, '[0].value'],
      [[{ op: 'copy', path: '/alias' }], 400, '[0].from'],
      [[{ op: 'replace', path: '/id', value: 'other' }], 400, '[0].path'],
      [[{ op: 'remove', path: '/resourceType' }], 400, '[0].path'],
      [[{ op: 'replace', path: '', value: organization('patch-2') }], 400, '[0].path'],
      [[{ op: 'move', from: '/id', path: '/alias' }], 400, '[0].from'],
      [[{ op: 'add', path: '/__proto__/polluted', value: true }], 400, '[0].path'],
      [[{ op: 'replace', path: '/name', value: 'x' }, { op: 'replace', path: '/telecom/0/value', value: 'x' }], 422, '[1].path'], // target missing
      [[{ op: 'remove', path: '/alias' }], 422, '[0].path'],
      [[{ op: 'replace', path: '/name', value: 'x' }, { op: 'test', path: '/active', value: false }], 422, '[1].value'], // test failed
    ];
    for (const [ops, status, expression] of cases) {
      const r = await patch(url, ops);
      expect({ ops, status: r.status }).toEqual({ ops, status });
      expect(r.body.resourceType).toBe('OperationOutcome');
      expect({ ops, expression: r.body.issue[0].expression }).toEqual({ ops, expression: [expression] });
    }
    // The patched resource must pass validation like any update.
    const invalidResult = await patch(url, [{ op: 'replace', path: '/active', value: 'yes' }]);
    expect(invalidResult.status).toBe(400);
    expect(invalidResult.body.issue.some((i) => i.expression?.some((e) => e.includes('active')))).toBe(true);
    // A reference in the result must resolve.
    const dangling = await patch(url, [{ op: 'add', path: '/partOf', value: { reference: 'Organization/nowhere' } }]);
    expect(dangling.status).toBe(400);
    expect(dangling.body.issue[0].expression).toEqual(['Organization.partOf.reference']);
    // Malformed JSON, another content type (FHIRPath Patch is not supported), an unknown or missing resource.
    expect((await patch(url, '[{"op": "replace",')).status).toBe(400);
    const fhirpath = await call<Outcome>(url, { method: 'PATCH', body: { resourceType: 'Parameters' } });
    expect(fhirpath.status).toBe(415);
    expect((await patch(`${srv.fhir}/Organization/nobody`, [{ op: 'remove', path: '/alias' }])).status).toBe(404);

    const history = await call<Bundle>(`${url}/_history`);
    expect(history.body.total).toBe(1);
    const read = await call<Organization>(url);
    expect(read.body.name).toBe('Org patch-2');
  });
});

describe('conditional update and delete', () => {
  it('PUT Type?search creates on no match, updates the one match, and answers 412 on several, writing nothing', async () => {
    const created = await call<Organization>(`${srv.fhir}/Organization?identifier=${SYS}|cond-1`, { method: 'PUT', body: organization('cond-1') });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect(created.headers.get('location')).toBe(`${srv.fhir}/Organization/${id}/_history/1`);

    const updated = await call<Organization>(`${srv.fhir}/Organization?identifier=${SYS}|cond-1`, {
      method: 'PUT',
      body: organization('cond-1', { name: 'Renamed' }),
    });
    expect(updated.status).toBe(200);
    expect(updated.body.id).toBe(id);
    expect(updated.body.meta?.versionId).toBe('2');

    const wrongId = await call<Outcome>(`${srv.fhir}/Organization?identifier=${SYS}|cond-1`, {
      method: 'PUT',
      body: { ...organization('cond-1'), id: 'another-id' },
    });
    expect(wrongId.status).toBe(400);
    expect(wrongId.body.issue[0].expression).toEqual(['id']);

    await createOrg('cond-dup');
    await createOrg('cond-dup');
    const several = await call<Outcome>(`${srv.fhir}/Organization?identifier=${SYS}|cond-dup`, {
      method: 'PUT',
      body: organization('cond-dup', { name: 'Should not be written' }),
    });
    expect(several.status).toBe(412);
    expect(several.body.issue[0].details?.text).toContain('several');
    expect(await countOf(`Organization?identifier=${SYS}|cond-dup`)).toBe(2);
    const names = await call<Bundle<Organization>>(`${srv.fhir}/Organization?identifier=${SYS}|cond-dup`);
    expect(names.body.entry?.map((e) => e.resource?.name)).toEqual(['Org cond-dup', 'Org cond-dup']);
    expect(await countOf(`Organization?identifier=${SYS}|cond-dup&_lastUpdated=gt2000-01-01`)).toBe(2);
  });

  it('PUT Type?search refuses a search without criterion or with an unknown parameter', async () => {
    const none = await call<Outcome>(`${srv.fhir}/Organization`, { method: 'PUT', body: organization('cond-2') });
    expect(none.status).toBe(400);
    const unknown = await call<Outcome>(`${srv.fhir}/Organization?colour=blue`, { method: 'PUT', body: organization('cond-2') });
    expect(unknown.status).toBe(400);
    expect(unknown.body.issue[0].expression).toEqual(['colour']);
    expect(await countOf(`Organization?identifier=${SYS}|cond-2`)).toBe(0);
  });

  it('DELETE Type?search deletes the one match, nothing on no match, and answers 412 on several', async () => {
    const one = await createOrg('del-1');
    const deleted = await call<Outcome>(`${srv.fhir}/Organization?identifier=${SYS}|del-1`, { method: 'DELETE' });
    expect(deleted.status).toBe(200);
    expect(deleted.body.issue[0].details?.text).toContain(`Organization/${one.id}`);
    expect((await call(`${srv.fhir}/Organization/${one.id}`)).status).toBe(410);

    const nothing = await call<Outcome>(`${srv.fhir}/Organization?identifier=${SYS}|del-none`, { method: 'DELETE' });
    expect(nothing.status).toBe(200);
    expect(nothing.body.issue[0].details?.text).toContain('nothing deleted');

    await createOrg('del-dup');
    await createOrg('del-dup');
    const several = await call<Outcome>(`${srv.fhir}/Organization?identifier=${SYS}|del-dup`, { method: 'DELETE' });
    expect(several.status).toBe(412);
    expect(await countOf(`Organization?identifier=${SYS}|del-dup`)).toBe(2);

    const all = await call<Outcome>(`${srv.fhir}/Organization`, { method: 'DELETE' });
    expect(all.status).toBe(400); // no criterion: never "delete everything"
  });
});

describe('the new doors keep the write rules', () => {
  it('a conditional update and a PATCH of a Patient go through the identity service', async () => {
    const system = 'urn:oid:1.2.250.1.999.1';
    const body = patient('rules-1', { name: [{ family: 'Porte', given: ['Anne'] }], birthDate: '1955-06-07' });
    const created = await call<Patient>(`${srv.fhir}/Patient?identifier=${system}|rules-1`, { method: 'PUT', body });
    expect(created.status).toBe(201);
    expect(created.body.id).toBe(sourcePatientId(system, 'rules-1')); // the id the identity rules derive, not a random one
    const federated = created.body.link?.find((l) => l.type === 'refer')?.other.reference;
    expect(federated).toMatch(/^Patient\//);

    const patched = await patch(`${srv.fhir}/Patient/${created.body.id}`, [{ op: 'replace', path: '/gender', value: 'male' }]);
    expect(patched.status).toBe(200);
    expect((patched.body as unknown as Patient).gender).toBe('male');
    expect((patched.body as unknown as Patient).link?.find((l) => l.type === 'refer')?.other.reference).toBe(federated);

    // Removing the federated link by PATCH is refused by the identity rules, and nothing is written.
    const unlink = await patch(`${srv.fhir}/Patient/${created.body.id}`, [{ op: 'replace', path: '/link/0/other/reference', value: 'Patient/elsewhere' }]);
    expect(unlink.status).toBeGreaterThanOrEqual(400);
    expect(unlink.status).toBeLessThan(500);
    const read = await call<Patient>(`${srv.fhir}/Patient/${created.body.id}`);
    expect(read.body.meta?.versionId).toBe(patched.body.meta?.versionId);

    // A federated Patient is the identity service's: no PATCH, no conditional delete.
    const federatedId = (federated as string).split('/')[1];
    expect((await patch(`${srv.fhir}/Patient/${federatedId}`, [{ op: 'replace', path: '/gender', value: 'female' }])).status).toBe(403);
    expect((await call(`${srv.fhir}/Patient?_id=${federatedId}`, { method: 'DELETE' })).status).toBe(403);
    expect((await call(`${srv.fhir}/Patient/${federatedId}`)).status).toBe(200);
  });
});

describe('Prefer: return=', () => {
  it('minimal answers no body but Location and ETag; OperationOutcome an outcome; representation the resource', async () => {
    const minimal = await fetch(`${srv.fhir}/Organization`, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal' },
      body: JSON.stringify(organization('prefer-1')),
    });
    expect(minimal.status).toBe(201);
    expect(await minimal.text()).toBe('');
    const location = minimal.headers.get('location') as string;
    expect(location).toMatch(new RegExp(`^${srv.fhir}/Organization/[^/]+/_history/1$`));
    expect(minimal.headers.get('etag')).toBe('W/"1"');
    const id = location.split('/')[5];
    expect((await call(`${srv.fhir}/Organization/${id}`)).status).toBe(200);

    const oo = await call<Outcome>(`${srv.fhir}/Organization/${id}`, {
      method: 'PUT',
      body: { ...organization('prefer-1', { name: 'Two' }), id },
      headers: { prefer: 'return=OperationOutcome' },
    });
    expect(oo.status).toBe(200);
    expect(oo.body.resourceType).toBe('OperationOutcome');
    expect(oo.body.issue[0].severity).toBe('information');
    expect(oo.body.issue[0].details?.text).toContain(`Organization/${id} version 2`);
    expect(oo.headers.get('etag')).toBe('W/"2"');

    const rep = await call<Organization>(`${srv.fhir}/Organization`, { body: organization('prefer-2'), headers: { prefer: 'return=representation' } });
    expect(rep.body.resourceType).toBe('Organization');

    const patched = await fetch(`${srv.fhir}/Organization/${id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json-patch+json', prefer: 'handling=strict, return=minimal' },
      body: JSON.stringify([{ op: 'replace', path: '/name', value: 'Three' }]),
    });
    expect(patched.status).toBe(200);
    expect(await patched.text()).toBe('');
    expect(patched.headers.get('etag')).toBe('W/"3"');

    const conditional = await call<Outcome>(`${srv.fhir}/Organization?identifier=${SYS}|prefer-3`, {
      method: 'PUT',
      body: organization('prefer-3'),
      headers: { prefer: 'return=OperationOutcome' },
    });
    expect(conditional.status).toBe(201);
    expect(conditional.body.resourceType).toBe('OperationOutcome');
    // An error is an error whatever the preference.
    const bad = await call<Outcome>(`${srv.fhir}/Organization`, { body: organization('prefer-4', { active: 'yes' }), headers: { prefer: 'return=minimal' } });
    expect(bad.status).toBe(400);
    expect(bad.body.resourceType).toBe('OperationOutcome');
  });
});

describe('JSON only: _format and Accept', () => {
  it('answers 406 with a JSON OperationOutcome to a request for XML, and JSON to every JSON or wildcard request', async () => {
    const org = await createOrg('format-1');
    const url = `${srv.fhir}/Organization/${org.id}`;
    for (const format of ['xml', 'application/fhir+xml', 'text/xml', 'turtle']) {
      const r = await call<Outcome>(`${url}?_format=${encodeURIComponent(format)}`);
      expect({ format, status: r.status }).toEqual({ format, status: 406 });
      expect(r.headers.get('content-type')).toBe('application/fhir+json; charset=utf-8');
      expect(r.body.issue[0].expression).toEqual(['_format']);
    }
    for (const accept of ['application/fhir+xml', 'application/xml', 'text/xml, application/xml;q=0.9', 'application/json;q=0']) {
      const r = await call<Outcome>(url, { headers: { accept } });
      expect({ accept, status: r.status }).toEqual({ accept, status: 406 });
      expect(r.body.resourceType).toBe('OperationOutcome');
    }
    for (const accept of ['*/*', 'application/json', 'application/fhir+json', 'application/fhir+json; fhirVersion=4.0', 'application/xml, application/*;q=0.5', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8']) {
      const r = await call<Organization>(url, { headers: { accept } });
      expect({ accept, status: r.status }).toEqual({ accept, status: 200 });
    }
    for (const format of ['json', 'application/fhir+json', 'application/json']) {
      expect((await call(`${url}?_format=${encodeURIComponent(format)}`, { headers: { accept: 'application/fhir+xml' } })).status).toBe(200);
    }
    const cs = await call<CapabilityStatement>(`${srv.fhir}/metadata?_format=json`);
    expect(cs.body.format).toEqual(['json']);
    expect((await call(`${srv.fhir}/metadata?_format=xml`)).status).toBe(406);
  });

  it('a write asking for XML is refused before anything is written', async () => {
    const r = await call<Outcome>(`${srv.fhir}/Organization`, { body: organization('format-2'), headers: { accept: 'application/fhir+xml' } });
    expect(r.status).toBe(406);
    expect(await countOf(`Organization?identifier=${SYS}|format-2`)).toBe(0);
  });
});

/** A GET over node:http, so the raw bytes and Content-Encoding are seen as sent. */
function rawGet(url: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode as number, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('gzip', () => {
  it('compresses a large answer when the client accepts gzip, and only then', async () => {
    for (let i = 0; i < 30; i++) await createOrg(`gzip-${i}`);
    const url = `${srv.fhir}/Organization?_count=50`;
    const zipped = await rawGet(url, { 'accept-encoding': 'gzip' });
    expect(zipped.status).toBe(200);
    expect(zipped.headers['content-encoding']).toBe('gzip');
    const bundle = JSON.parse(gunzipSync(zipped.body).toString('utf8')) as Bundle;
    expect(bundle.resourceType).toBe('Bundle');
    expect(bundle.entry?.length).toBeGreaterThanOrEqual(30);

    const plain = await rawGet(url, {});
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect((JSON.parse(plain.body.toString('utf8')) as Bundle).total).toBe(bundle.total);
    expect(zipped.body.length).toBeLessThan(plain.body.length);
    expect(plain.body.length).toBeGreaterThan(4096);

    // A small answer (under 4 KiB) is not worth compressing.
    const tiny = await rawGet(`${srv.fhir}/Organization/nobody`, { 'accept-encoding': 'gzip' });
    expect(tiny.status).toBe(404);
    expect(tiny.headers['content-encoding']).toBeUndefined();
  });
});

describe('Patient/$everything', () => {
  it('pages through the patient and its compartment, including the practitioners referred to', async () => {
    const p = await call<Patient>(`${srv.fhir}/Patient`, { body: patient('everything-1') });
    expect(p.status).toBe(201);
    const pid = p.body.id as string;
    const prac = await call(`${srv.fhir}/Practitioner`, { body: { resourceType: 'Practitioner', name: [{ family: 'Durand' }] } });
    expect(prac.status).toBe(201);
    const pracId = (prac.body as { id: string }).id;
    const expected = new Set([`Patient/${pid}`]);
    for (let i = 0; i < 3; i++) {
      const cp = await call<{ id: string }>(`${srv.fhir}/CarePlan`, {
        body: {
          resourceType: 'CarePlan',
          status: 'active',
          intent: 'plan',
          title: `plan ${i}`,
          subject: { reference: `Patient/${pid}` },
          ...(i === 0 ? { author: { reference: `Practitioner/${pracId}` } } : {}),
        },
      });
      expect(cp.status).toBe(201);
      expected.add(`CarePlan/${cp.body.id}`);
    }
    const task = await call<{ id: string }>(`${srv.fhir}/Task`, {
      body: { resourceType: 'Task', status: 'requested', intent: 'order', for: { reference: `Patient/${pid}` } },
    });
    expect(task.status).toBe(201);
    expected.add(`Task/${task.body.id}`);
    // Another patient's resources stay out.
    const other = await call<Patient>(`${srv.fhir}/Patient`, { body: patient('everything-2', { name: [{ family: 'Autre', given: ['Paul'] }], birthDate: '1960-01-01' }) });
    await call(`${srv.fhir}/CarePlan`, { body: { resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: { reference: `Patient/${other.body.id}` } } });

    const seen: string[] = [];
    const included = new Set<string>();
    let next: string | undefined = `${srv.fhir}/Patient/${pid}/$everything?_count=2`;
    let pages = 0;
    while (next) {
      const page: Awaited<ReturnType<typeof call<Bundle>>> = await call<Bundle>(next);
      expect(page.status).toBe(200);
      expect(page.body.type).toBe('searchset');
      expect(page.body.total).toBe(expected.size);
      const matches = (page.body.entry ?? []).filter((e) => e.search?.mode === 'match');
      expect(matches.length).toBeLessThanOrEqual(2);
      for (const e of matches) seen.push(`${e.resource?.resourceType}/${e.resource?.id}`);
      for (const e of (page.body.entry ?? []).filter((x) => x.search?.mode === 'include')) included.add(`${e.resource?.resourceType}/${e.resource?.id}`);
      next = page.body.link?.find((l) => l.relation === 'next')?.url;
      pages++;
      expect(pages).toBeLessThan(10);
    }
    expect(pages).toBe(3);
    expect(seen[0]).toBe(`Patient/${pid}`);
    expect(new Set(seen)).toEqual(expected);
    expect(seen.length).toBe(expected.size);
    expect(included.has(`Practitioner/${pracId}`)).toBe(true);

    // _type narrows the compartment.
    const tasks = await call<Bundle>(`${srv.fhir}/Patient/${pid}/$everything?_type=Task`);
    expect(tasks.body.total).toBe(1);
    expect(tasks.body.entry?.filter((e) => e.search?.mode === 'match').map((e) => e.resource?.resourceType)).toEqual(['Task']);
  });

  it('for a federated Patient, gathers its source Patients and their compartments', async () => {
    const p = await call<Patient>(`${srv.fhir}/Patient`, { body: patient('everything-3', { name: [{ family: 'Fédéré', given: ['Léa'] }], birthDate: '1971-05-05' }) });
    const federated = p.body.link?.find((l) => l.type === 'refer')?.other.reference;
    expect(federated).toMatch(/^Patient\//);
    const cp = await call<{ id: string }>(`${srv.fhir}/CarePlan`, {
      body: { resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: { reference: `Patient/${p.body.id}` } },
    });
    const all = await call<Bundle>(`${srv.fhir}/${federated}/$everything`);
    expect(all.status).toBe(200);
    const keys = (all.body.entry ?? []).map((e) => `${e.resource?.resourceType}/${e.resource?.id}`);
    expect(keys).toEqual(expect.arrayContaining([federated, `Patient/${p.body.id}`, `CarePlan/${cp.body.id}`]));
    // And the source's own $everything includes its federated Patient.
    const own = await call<Bundle>(`${srv.fhir}/Patient/${p.body.id}/$everything`);
    const includes = (own.body.entry ?? []).filter((e) => e.search?.mode === 'include').map((e) => `${e.resource?.resourceType}/${e.resource?.id}`);
    expect(includes).toContain(federated);
  });

  it('refuses bad parameters and unknown patients', async () => {
    const p = await call<Patient>(`${srv.fhir}/Patient`, { body: patient('everything-4', { birthDate: '1980-02-02' }) });
    const base = `${srv.fhir}/Patient/${p.body.id}/$everything`;
    for (const [query, expression] of [
      ['_count=abc', '_count'],
      ['_offset=-1', '_offset'],
      ['_since=yesterday', '_since'],
      ['_type=Nope', '_type'],
      ['start=2020', 'start'],
    ]) {
      const r = await call<Outcome>(`${base}?${query}`);
      expect({ query, status: r.status }).toEqual({ query, status: 400 });
      expect(r.body.issue[0].expression).toEqual([expression]);
    }
    expect((await call(`${srv.fhir}/Patient/nobody/$everything`)).status).toBe(404);
  });
});

describe('Binary', () => {
  const pdf = Buffer.from('%PDF-1.4\n% Passerelle test\n%%EOF\n', 'latin1');

  beforeAll(async () => {
    // Binaries are the gateway's (its documents), not written through the FHIR API.
    await srv.store.transaction(async (tx) => {
      await tx.put({ resourceType: 'Binary', id: 'doc-pdf', contentType: 'application/pdf', data: pdf.toString('base64') } as Binary);
    });
  });

  it('answers the decoded bytes with its content type when asked for it, the Binary resource otherwise', async () => {
    const raw = await fetch(`${srv.fhir}/Binary/doc-pdf`, { headers: { accept: 'application/pdf' } });
    expect(raw.status).toBe(200);
    expect(raw.headers.get('content-type')).toBe('application/pdf');
    expect(raw.headers.get('x-content-type-options')).toBe('nosniff');
    expect(Buffer.from(await raw.arrayBuffer()).equals(pdf)).toBe(true);

    const preferred = await fetch(`${srv.fhir}/Binary/doc-pdf/_history/1`, { headers: { accept: 'application/pdf, */*;q=0.1' } });
    expect(preferred.headers.get('content-type')).toBe('application/pdf');

    for (const accept of [undefined, '*/*', 'application/fhir+json']) {
      const r = await call<Binary>(`${srv.fhir}/Binary/doc-pdf`, accept ? { headers: { accept } } : {});
      expect(r.status).toBe(200);
      expect(r.body.resourceType).toBe('Binary');
      expect(r.body.data).toBe(pdf.toString('base64'));
    }
    const other = await call<Outcome>(`${srv.fhir}/Binary/doc-pdf`, { headers: { accept: 'text/plain' } });
    expect(other.status).toBe(406);
    expect(other.body.resourceType).toBe('OperationOutcome');
    expect((await call(`${srv.fhir}/Binary/doc-pdf?_format=xml`, { headers: { accept: 'application/pdf' } })).status).toBe(406);
    expect((await call(`${srv.fhir}/Binary/nothing`, { headers: { accept: 'application/pdf' } })).status).toBe(404);
  });

  it('is read-only through the FHIR API (405)', async () => {
    const r = await call<Outcome>(`${srv.fhir}/Binary`, { body: { resourceType: 'Binary', contentType: 'text/plain', data: 'aGk=' } });
    expect(r.status).toBe(405);
    const put = await call<Outcome>(`${srv.fhir}/Binary/doc-pdf`, { method: 'PUT', body: { resourceType: 'Binary', id: 'doc-pdf', contentType: 'text/plain' } });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET');
  });
});
