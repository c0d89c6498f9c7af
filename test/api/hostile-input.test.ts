// Hostile or malformed bodies and queries (issue 13, points 5 and 6): each is a 4xx OperationOutcome naming the
// field, never a 500, and nothing is written.
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountDomainRoutes } from '../../src/api/domain-routes.js';
import { MAX_JSON_DEPTH } from '../../src/api/json-body.js';
import { MAX_OR_VALUES } from '../../src/store/search-sql.js';
import { call, patient, startTestServer, type Outcome, type TestServer } from './server.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer({}, [mountDomainRoutes]);
});
afterAll(async () => srv.close());

async function count(type: string): Promise<number> {
  return (await call<Bundle>(`${srv.fhir}/${type}?_summary=count`)).body.total as number;
}

const expressions = (o: Outcome): string[] => o.issue.flatMap((i) => i.expression ?? []);

/** `levels` extensions nested in each other, the innermost with a value. */
function nestedExtension(levels: number): Record<string, unknown> {
  let ext: Record<string, unknown> = { url: 'urn:x:leaf', valueString: 'x' };
  for (let i = 1; i < levels; i++) ext = { url: `urn:x:${i}`, extension: [ext] };
  return ext;
}

describe('a transaction Bundle of the wrong shape', () => {
  const cases: [string, unknown, string][] = [
    ['entry is an object', { resourceType: 'Bundle', type: 'transaction', entry: { request: { method: 'POST', url: 'Patient' } } }, 'Bundle.entry'],
    ['entry is a string', { resourceType: 'Bundle', type: 'batch', entry: 'Patient' }, 'Bundle.entry'],
    ['an entry is null', { resourceType: 'Bundle', type: 'transaction', entry: [null] }, 'Bundle.entry[0]'],
    ['an entry is a number', { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: patient('shape-0'), request: { method: 'POST', url: 'Patient' } }, 3] }, 'Bundle.entry[1]'],
    ['request is a string', { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: patient('shape-1'), request: 'POST Patient' }] }, 'Bundle.entry[0].request'],
    ['request.url is a number', { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: patient('shape-2'), request: { method: 'POST', url: 42 } }] }, 'Bundle.entry[0].request.url'],
    ['request.method is an array', { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: patient('shape-3'), request: { method: ['POST'], url: 'Patient' } }] }, 'Bundle.entry[0].request.method'],
    ['fullUrl is an object', { resourceType: 'Bundle', type: 'transaction', entry: [{ fullUrl: {}, resource: patient('shape-4'), request: { method: 'POST', url: 'Patient' } }] }, 'Bundle.entry[0].fullUrl'],
    ['ifMatch is a number', { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { ...patient('shape-5'), id: 'p-shape-5' }, request: { method: 'PUT', url: 'Patient/p-shape-5', ifMatch: 1 } }] }, 'Bundle.entry[0].request.ifMatch'],
    ['ifNoneExist is an object', { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: patient('shape-6'), request: { method: 'POST', url: 'Patient', ifNoneExist: { identifier: 'x' } } }] }, 'Bundle.entry[0].request.ifNoneExist'],
  ];
  for (const [what, body, expression] of cases) {
    it(`${what}: 400 naming ${expression}, nothing written`, async () => {
      const before = await count('Patient');
      const r = await call<Outcome>(srv.fhir, { body });
      expect(r.status).toBe(400);
      expect(r.body.resourceType).toBe('OperationOutcome');
      expect(expressions(r.body)).toContain(expression);
      expect(await count('Patient')).toBe(before);
    });
  }

  it('a batch reports a malformed entry in its own response, and runs the others', async () => {
    const r = await call<Bundle>(srv.fhir, {
      body: { resourceType: 'Bundle', type: 'batch', entry: [7, { resource: patient('shape-batch'), request: { method: 'POST', url: 'Patient' } }] },
    });
    expect(r.status).toBe(200);
    expect(r.body.entry?.map((e) => e.response?.status)).toEqual(['400 Bad Request', '201 Created']);
    expect((r.body.entry?.[0].response?.outcome as Outcome).issue[0].expression).toEqual(['Bundle.entry[0]']);
  });
});

describe(`JSON bodies nested deeper than ${MAX_JSON_DEPTH} levels`, () => {
  const deep = (): Resource => ({ ...patient('deep'), extension: [nestedExtension(2000)] }) as unknown as Resource;

  it('create, update, $validate and transaction: 400 before validation, nothing written', async () => {
    const before = await count('Patient');
    const attempts = [
      call<Outcome>(`${srv.fhir}/Patient`, { body: deep() }),
      call<Outcome>(`${srv.fhir}/Patient/deep-1`, { method: 'PUT', body: { ...deep(), id: 'deep-1' } }),
      call<Outcome>(`${srv.fhir}/Patient/$validate`, { body: deep() }),
      call<Outcome>(srv.fhir, { body: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: deep(), request: { method: 'POST', url: 'Patient' } }] } }),
    ];
    const roots = ['Patient', 'Patient', 'Patient', 'Bundle.entry[0].resource'];
    for (const [i, r] of (await Promise.all(attempts)).entries()) {
      expect(r.status).toBe(400);
      expect(r.body.issue[0]).toMatchObject({ severity: 'error', code: 'too-costly' });
      expect(r.body.issue[0].details?.text).toContain(`${MAX_JSON_DEPTH} levels`);
      expect(r.body.issue[0].expression?.[0].startsWith(`${roots[i]}.extension[0].extension[0].extension[0]`)).toBe(true);
    }
    expect(await count('Patient')).toBe(before);
  });

  it('the domain endpoints refuse it too', async () => {
    // Written out: JSON.stringify itself overflows on such a value.
    const body = `{"patient":${'{"a":['.repeat(5000)}"x"${']}'.repeat(5000)}}`;
    for (const path of ['/ppp', '/ctm', '/bpm', '/ppp/x/link-ctm']) {
      const r = await call<Outcome>(`${srv.url}${path}`, { body, headers: { 'content-type': 'application/json' } });
      expect(r.status, path).toBe(400);
      expect(r.body.issue[0]).toMatchObject({ code: 'too-costly' });
      expect(r.body.issue[0].expression?.[0]).toMatch(/^patient\.a\[0\]\.a\[0\]/);
    }
  });

  it(`${MAX_JSON_DEPTH} levels are still accepted as JSON (then validated as usual)`, async () => {
    // Patient (1) > extension array (2) > extension (3) > … : each nested extension adds two levels.
    const r = await call<Outcome>(`${srv.fhir}/Patient/$validate`, { body: { ...patient('deep-ok'), extension: [nestedExtension((MAX_JSON_DEPTH - 2) / 2)] } });
    expect(r.status).toBe(200);
    expect(r.body.issue.every((i) => i.code !== 'too-costly')).toBe(true);
  });
});

describe(`more than ${MAX_OR_VALUES} comma-separated values in one search parameter`, () => {
  const search = async (type: string, param: string, value: string): Promise<{ status: number; body: Outcome }> => {
    const res = await fetch(`${srv.fhir}/${type}/_search`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ [param]: value }).toString(),
    });
    return { status: res.status, body: (await res.json()) as Outcome };
  };
  const many = (n: number, make: (i: number) => string): string => Array.from({ length: n }, (_, i) => make(i)).join(',');

  for (const [param, value] of [
    ['subject', (i: number) => `Patient/p${i}`],
    ['identifier', (i: number) => `urn:oid:1.2.3|v${i}`],
    ['status', (i: number) => `s${i}`],
    ['_id', (i: number) => `id${i}`],
    ['_lastUpdated', (i: number) => `eq2024-01-${String((i % 28) + 1).padStart(2, '0')}`],
  ] as const) {
    it(`${param}: 999 values are a 400 naming the parameter`, async () => {
      const type = param === 'identifier' ? 'Patient' : 'CarePlan';
      // POST _search: 999 values do not fit in a URL.
      const r = await search(type, param, many(999, value));
      expect(r.status).toBe(400);
      expect(r.body.issue[0].expression).toEqual([param]);
      expect(r.body.issue[0].details?.text).toContain(`at most ${MAX_OR_VALUES}`);
      const ok = await search(type, param, many(MAX_OR_VALUES, value));
      expect(ok.status).toBe(200);
    });
  }

  it('a date parameter too', async () => {
    const r = await search('CarePlan', 'date', many(500, (i) => `ge2024-01-${String((i % 28) + 1).padStart(2, '0')}`));
    expect(r.status).toBe(400);
    expect(r.body.issue[0].expression).toEqual(['date']);
  });

  it('_revinclude on a page of more matches than the cap still works (looked up in chunks)', async () => {
    const n = MAX_OR_VALUES + 20;
    const people = Array.from({ length: n }, (_, i) => ({
      fullUrl: `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      resource: patient(`rev-${i}`),
      request: { method: 'POST', url: 'Patient' },
    }));
    const plans = people.map((p) => ({ resource: { resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: { reference: p.fullUrl } }, request: { method: 'POST', url: 'CarePlan' } }));
    const tx = await call<Bundle>(srv.fhir, { body: { resourceType: 'Bundle', type: 'transaction', entry: [...people, ...plans] } });
    expect(tx.status).toBe(200);
    const r = await call<Bundle>(`${srv.fhir}/Patient?_count=1000&_revinclude=CarePlan:subject`);
    expect(r.status).toBe(200);
    const included = r.body.entry?.filter((e) => e.search?.mode === 'include') ?? [];
    expect(included.filter((e) => e.resource?.resourceType === 'CarePlan')).toHaveLength(n);
  });
});

describe('narrative (txt-1, txt-2)', () => {
  const withDiv = (div: string, id = 'narr'): Resource => ({ ...patient(id), text: { status: 'generated', div } }) as Resource;
  const X = 'xmlns="http://www.w3.org/1999/xhtml"';

  it('a plain narrative is stored', async () => {
    const r = await call<Resource>(`${srv.fhir}/Patient`, { body: withDiv(`<div ${X}><p>Jeanne <b>MARTIN</b>, née le 2 mars 1948</p><a href="https://example.org/x">lien</a></div>`) });
    expect(r.status).toBe(201);
  });

  for (const [what, div] of [
    ['a script element', `<div ${X}><p>hi</p><script>alert(1)</script></div>`],
    ['an onclick attribute', `<div ${X}><p onclick="alert(1)">hi</p></div>`],
    ['a javascript: URL', `<div ${X}><a href="javascript:alert(1)">hi</a></div>`],
    ['an iframe', `<div ${X}><iframe src="https://evil.example"></iframe>hi</div>`],
    ['an object', `<div ${X}><object data="x.swf"></object>hi</div>`],
    ['a form', `<div ${X}><form action="/x"><input name="a"/></form>hi</div>`],
    ['a style element', `<div ${X}><style>p{}</style>hi</div>`],
    ['a DOCTYPE', `<!DOCTYPE div><div ${X}>hi</div>`],
    ['no XHTML namespace', `<div><p>hi</p></div>`],
    ['not a div', `<p ${X}>hi</p>`],
    ['malformed XML', `<div ${X}><p>hi</div>`],
  ] as const) {
    it(`${what}: create, update, $validate and transaction refuse it (txt-1), nothing written`, async () => {
      const before = await count('Patient');
      const create = await call<Outcome>(`${srv.fhir}/Patient`, { body: withDiv(div) });
      expect(create.status).toBe(400);
      expect(create.body.issue.find((i) => i.expression?.[0] === 'Patient.text.div')?.details?.text).toMatch(/txt-1/);
      const update = await call<Outcome>(`${srv.fhir}/Patient/narr-put`, { method: 'PUT', body: { ...withDiv(div), id: 'narr-put' } });
      expect(update.status).toBe(400);
      const tx = await call<Outcome>(srv.fhir, { body: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: withDiv(div), request: { method: 'POST', url: 'Patient' } }] } });
      expect(tx.status).toBe(400);
      expect(expressions(tx.body)).toContain('Bundle.entry[0].resource.text.div');
      const validate = await call<Outcome>(`${srv.fhir}/Patient/$validate`, { body: withDiv(div) });
      expect(validate.status).toBe(200);
      expect(validate.body.issue.find((i) => i.expression?.[0] === 'Patient.text.div')).toMatchObject({ severity: 'error', code: 'invariant' });
      expect(await count('Patient')).toBe(before);
    });
  }

  it('a narrative without content is refused (txt-2)', async () => {
    const r = await call<Outcome>(`${srv.fhir}/Patient`, { body: withDiv(`<div ${X}> <p>  </p> </div>`) });
    expect(r.status).toBe(400);
    expect(r.body.issue.find((i) => i.expression?.[0] === 'Patient.text.div')?.details?.text).toMatch(/txt-2/);
  });
});
