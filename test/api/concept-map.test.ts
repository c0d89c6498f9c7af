// ConceptMaps compiled from the shipped code maps (mappings/codemaps): read, search, $translate (GET and POST), 405 on writes.
import type { Bundle, ConceptMap, Parameters } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCodeMaps } from '../../src/mappings/codemaps.js';
import type { MappingSet } from '../../src/mappings/model.js';
import { call, startTestServer, type Outcome, type TestServer } from './server.js';

let srv: TestServer;
const ROUTES = 'https://fhir.passerelle.fr/ConceptMap/lgo-routes';
const ROUTE_SYSTEM = 'https://fhir.passerelle.fr/CodeSystem/lgo-routes';

beforeAll(async () => {
  const { codeMaps, problems } = await loadCodeMaps('mappings');
  expect(problems).toEqual([]);
  const set: MappingSet = { mappings: new Map(), codeMaps, problems, loadedAt: new Date().toISOString() };
  srv = await startTestServer({}, [], { deps: { mappings: { current: () => set } } });
});
afterAll(async () => srv?.close());

const param = (p: Parameters, name: string) => p.parameter?.find((x) => x.name === name);

describe('ConceptMap read and search', () => {
  it('reads a ConceptMap by the code map name', async () => {
    const r = await call<ConceptMap>(`${srv.fhir}/ConceptMap/lgo-routes`);
    expect(r.status).toBe(200);
    expect(r.body.url).toBe(ROUTES);
    expect(r.body.status).toBe('active');
    expect(r.body.group?.[0].source).toBe(ROUTE_SYSTEM);
    expect(r.body.group?.[0].target).toBe('http://standardterms.edqm.eu');
    expect(r.body.group?.[0].element?.find((e) => e.code === 'IV')?.target?.[0]).toEqual({ code: '20045000', display: 'Voie intraveineuse', equivalence: 'equivalent' });
    expect((await call(`${srv.fhir}/ConceptMap/nothing`)).status).toBe(404);
  });

  it('searches by url, name and _id; unknown parameters are 400', async () => {
    const all = await call<Bundle>(`${srv.fhir}/ConceptMap`);
    expect(all.body.type).toBe('searchset');
    expect(all.body.total).toBe(3);
    expect((await call<Bundle>(`${srv.fhir}/ConceptMap?url=${encodeURIComponent(ROUTES)}`)).body.total).toBe(1);
    expect((await call<Bundle>(`${srv.fhir}/ConceptMap?name=lgo-u`)).body.entry?.[0].resource?.id).toBe('lgo-units');
    expect((await call<Bundle>(`${srv.fhir}/ConceptMap?_id=lgo-routes`)).body.total).toBe(1);
    expect((await call<Bundle>(`${srv.fhir}/ConceptMap?_id=none`)).body.total).toBe(0);
    const posted = await call<Bundle>(`${srv.fhir}/ConceptMap/_search`, { body: 'name=lgo-r', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(posted.body.entry?.map((e) => e.resource?.id)).toEqual(['lgo-routes']);
    const bad = await call<Outcome>(`${srv.fhir}/ConceptMap?colour=blue`);
    expect(bad.status).toBe(400);
    expect(bad.body.issue[0].expression).toEqual(['colour']);
  });

  it('is read-only: writes answer 405 with an OperationOutcome', async () => {
    const cm = { resourceType: 'ConceptMap', status: 'active' };
    for (const [method, path] of [['POST', 'ConceptMap'], ['PUT', 'ConceptMap/lgo-routes'], ['DELETE', 'ConceptMap/lgo-routes']]) {
      const r = await call<Outcome>(`${srv.fhir}/${path}`, { method, ...(method === 'DELETE' ? {} : { body: { ...cm, id: 'lgo-routes' } }) });
      expect(r.status, `${method} ${path}`).toBe(405);
      expect(r.body.resourceType).toBe('OperationOutcome');
    }
  });
});

describe('$translate', () => {
  it('GET by url, system and code: a hit', async () => {
    const r = await call<Parameters>(`${srv.fhir}/ConceptMap/$translate?url=${encodeURIComponent(ROUTES)}&system=${encodeURIComponent(ROUTE_SYSTEM)}&code=IV`);
    expect(r.status).toBe(200);
    expect(param(r.body, 'result')?.valueBoolean).toBe(true);
    const match = param(r.body, 'match');
    expect(match?.part?.find((p) => p.name === 'equivalence')?.valueCode).toBe('equivalent');
    expect(match?.part?.find((p) => p.name === 'concept')?.valueCoding).toEqual({ system: 'http://standardterms.edqm.eu', code: '20045000', display: 'Voie intraveineuse' });
  });

  it('GET at instance level, and by system alone', async () => {
    const r = await call<Parameters>(`${srv.fhir}/ConceptMap/lgo-units/$translate?code=CPR`);
    expect(param(r.body, 'result')?.valueBoolean).toBe(true);
    expect(param(r.body, 'match')?.part?.find((p) => p.name === 'concept')?.valueCoding?.code).toBe('{tablet}');
    const bySystem = await call<Parameters>(`${srv.fhir}/ConceptMap/$translate?system=${encodeURIComponent(ROUTE_SYSTEM)}&code=SC`);
    expect(param(bySystem.body, 'match')?.part?.find((p) => p.name === 'concept')?.valueCoding?.code).toBe('20066000');
    // The document-metadata example: FINESS (IdNat_Struct OID) → TRE_R02 activity sector.
    const sector = await call<Parameters>(`${srv.fhir}/ConceptMap/$translate?system=${encodeURIComponent('urn:oid:1.2.250.1.71.4.2.2')}&code=800009994`);
    expect(param(sector.body, 'match')?.part?.find((p) => p.name === 'concept')?.valueCoding).toEqual({ system: 'urn:oid:1.2.250.1.71.4.2.4', code: 'SA04', display: 'Etablissement privé non PSPH' });
  });

  it('a miss is result false with a message, not an error', async () => {
    const r = await call<Parameters>(`${srv.fhir}/ConceptMap/lgo-routes/$translate?code=XYZ`);
    expect(r.status).toBe(200);
    expect(param(r.body, 'result')?.valueBoolean).toBe(false);
    expect(param(r.body, 'message')?.valueString).toContain('XYZ');
    expect(param(r.body, 'match')).toBeUndefined();
    const otherSystem = await call<Parameters>(`${srv.fhir}/ConceptMap/lgo-routes/$translate?code=IV&system=http://other.example`);
    expect(param(otherSystem.body, 'result')?.valueBoolean).toBe(false);
    const control = await call<Parameters>(`${srv.fhir}/ConceptMap/lgo-routes/$translate?code=${encodeURIComponent('I\u202eV')}`);
    expect(param(control.body, 'result')?.valueBoolean).toBe(false);
  });

  it('POST with Parameters (code + system, or coding)', async () => {
    const withCode = await call<Parameters>(`${srv.fhir}/ConceptMap/$translate`, {
      body: { resourceType: 'Parameters', parameter: [{ name: 'url', valueUri: ROUTES }, { name: 'code', valueCode: 'VO' }, { name: 'system', valueUri: ROUTE_SYSTEM }] },
    });
    expect(withCode.status).toBe(200);
    expect(param(withCode.body, 'match')?.part?.find((p) => p.name === 'concept')?.valueCoding?.code).toBe('20053000');
    const withCoding = await call<Parameters>(`${srv.fhir}/ConceptMap/lgo-routes/$translate`, {
      body: { resourceType: 'Parameters', parameter: [{ name: 'coding', valueCoding: { system: ROUTE_SYSTEM, code: 'TD' } }] },
    });
    expect(param(withCoding.body, 'match')?.part?.find((p) => p.name === 'concept')?.valueCoding?.code).toBe('20070000');
  });

  it('an unknown map is 404', async () => {
    expect((await call(`${srv.fhir}/ConceptMap/nope/$translate?code=IV`)).status).toBe(404);
    expect((await call(`${srv.fhir}/ConceptMap/$translate?url=${encodeURIComponent('https://x.example/ConceptMap/nope')}&code=IV`)).status).toBe(404);
  });

  it('bad parameters are 400 naming the parameter', async () => {
    const cases: [string, string][] = [
      ['ConceptMap/$translate?code=IV', 'url'],
      ['ConceptMap/lgo-routes/$translate', 'code'],
      ['ConceptMap/lgo-routes/$translate?code=', 'code'],
      ['ConceptMap/lgo-routes/$translate?code=IV&code=VO', 'code'],
      ['ConceptMap/lgo-routes/$translate?code=IV&colour=red', 'colour'],
      ['ConceptMap/lgo-routes/$translate?code=IV&reverse=true', 'reverse'],
      [`ConceptMap/lgo-routes/$translate?code=${'A'.repeat(2000)}`, 'code'],
      [`ConceptMap/lgo-routes/$translate?code=IV&url=${encodeURIComponent('https://fhir.passerelle.fr/ConceptMap/lgo-units')}`, 'url'],
    ];
    for (const [path, name] of cases) {
      const r = await call<Outcome>(`${srv.fhir}/${path}`);
      expect(r.status, path.slice(0, 80)).toBe(400);
      expect(r.body.issue[0].expression?.[0], path.slice(0, 80)).toContain(name);
    }
    const posts: [unknown, string][] = [
      [{ resourceType: 'Patient' }, 'resourceType'],
      [{ resourceType: 'Parameters', parameter: 'x' }, 'Parameters.parameter'],
      [{ resourceType: 'Parameters', parameter: [{ name: 'code', valueInteger: 3 }] }, 'code'],
      [{ resourceType: 'Parameters', parameter: [{ name: 'coding', valueCoding: { code: 7 } }] }, 'code'],
      [{ resourceType: 'Parameters', parameter: [{ name: 'what', valueString: 'x' }] }, 'what'],
      [{ resourceType: 'Parameters', parameter: [{ name: 'code', valueCode: 'IV' }, { name: 'coding', valueCoding: { code: 'IV' } }] }, 'coding'],
    ];
    for (const [body, name] of posts) {
      const r = await call<Outcome>(`${srv.fhir}/ConceptMap/lgo-routes/$translate`, { body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.issue[0].expression?.[0], JSON.stringify(body)).toContain(name);
    }
    const notJson = await call<Outcome>(`${srv.fhir}/ConceptMap/lgo-routes/$translate`, { body: '{not json' });
    expect(notJson.status).toBe(400);
  });

  it('hostile input never answers 5xx', async () => {
    const bodies: unknown[] = [
      [],
      { resourceType: 'Parameters', parameter: [null] },
      { resourceType: 'Parameters', parameter: [{ name: 'coding', valueCoding: null }] },
      { resourceType: 'Parameters', parameter: [{ name: 'coding', valueCoding: 'IV' }] },
      { resourceType: 'Parameters', parameter: [{ name: 'code', valueCode: ['IV'] }] },
      { resourceType: 'Parameters', parameter: [{ name: 'code', valueCode: 'IV' }, { name: 'reverse', valueBoolean: 'yes' }] },
      { resourceType: 'Parameters', parameter: [{ name: { toString: 'x' } }] },
      { resourceType: 'Parameters', parameter: [{ name: 'code', valueCode: '\u0000\u202e' }] },
    ];
    for (const body of bodies) {
      for (const path of ['ConceptMap/$translate', 'ConceptMap/lgo-routes/$translate']) {
        const r = await call(`${srv.fhir}/${path}`, { body });
        expect(r.status, `${path} ${JSON.stringify(body)}`).toBeLessThan(500);
        expect(r.status).not.toBe(404);
      }
    }
    for (const q of ['code=%00', 'code=%E2%80%AE', 'code=IV&system=', 'code=IV&targetsystem=http://standardterms.edqm.eu', 'code=IV&conceptMapVersion=x', 'code[]=1', '_format=json&code=IV']) {
      const r = await call(`${srv.fhir}/ConceptMap/lgo-routes/$translate?${q}`);
      expect(r.status, q).toBeLessThan(500);
    }
    expect((await call(`${srv.fhir}/ConceptMap/${encodeURIComponent('a b\u202e')}/$translate?code=IV`)).status).toBe(400);
  });

  it('is listed in the CapabilityStatement with its OperationDefinition', async () => {
    const cs = await call<{ rest: { resource: { type: string; operation?: { name: string; definition: string }[]; interaction: { code: string }[] }[] }[] }>(`${srv.fhir}/metadata`);
    const cm = cs.body.rest[0].resource.find((r) => r.type === 'ConceptMap');
    expect(cm?.interaction.map((i) => i.code).sort()).toEqual(['read', 'search-type']);
    const op = cm?.operation?.find((o) => o.name === 'translate');
    expect(op).toBeDefined();
    const od = await call<{ base?: string }>(`${srv.fhir}/OperationDefinition/translate`);
    expect(od.body.base).toBe('http://hl7.org/fhir/OperationDefinition/ConceptMap-translate');
  });
});

describe('without mappings', () => {
  it('serves no ConceptMap', async () => {
    const bare = await startTestServer();
    try {
      expect((await call<Bundle>(`${bare.fhir}/ConceptMap`)).body.total).toBe(0);
      expect((await call(`${bare.fhir}/ConceptMap/lgo-routes`)).status).toBe(404);
    } finally {
      await bare.close();
    }
  });
});
