// Issue 16, the audit trail over HTTP: every read and search leaves a row (the breach "25 searches and reads added no
// audit row" fails on the code before the adapter's hook), the trail reads back as FHIR AuditEvents at /fhir/AuditEvent
// for auditors only (search by date, agent, entity, patient, subtype, outcome, with paging), reading it is audited too,
// and AuditEvents cannot be written.
import type { AuditEvent, Bundle } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditAccess } from '../../src/api/audit-access.js';
import { validateResource } from '../../src/fhir/validate.js';
import { call, patient, startTestServer, type TestServer } from './server.js';

const TOKENS = { dpi: 'dpi-secret-0123456789abcdef', auditor: 'auditor-secret-0123456789abcdef', admin: 'admin-secret-0123456789abcdef' };
const bearer = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` });

describe('reads and searches leave a trace (auth off)', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer();
  });
  afterAll(() => srv.close());

  it('25 reads and searches add 25 audit rows, naming what was returned', async () => {
    const created = await call<{ id: string }>(`${srv.fhir}/Patient`, { body: patient('audit-1') });
    expect(created.status).toBe(201);
    const id = created.body.id;
    const before = (await srv.store.auditTrail.search({ filter: {}, count: 0, offset: 0, order: 'desc' })).total ?? 0;
    for (let i = 0; i < 10; i++) expect((await call(`${srv.fhir}/Patient/${id}`)).status).toBe(200);
    for (let i = 0; i < 10; i++) expect((await call(`${srv.fhir}/Patient?_id=${id}&family=Martin`)).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await call(`${srv.fhir}/Patient/${id}/_history`)).status).toBe(200);
    expect((await call(`${srv.fhir}/Patient/missing-one`)).status).toBe(404);
    expect((await call(`${srv.fhir}/Patient/${id}/$everything`)).status).toBe(200);
    const after = (await srv.store.auditTrail.search({ filter: {}, count: 0, offset: 0, order: 'desc' })).total ?? 0;
    expect(after - before).toBe(25);

    const reads = await srv.store.auditTrail.search({ filter: { actions: ['fhir.read'], entity: `Patient/${id}` }, count: 100, offset: 0, order: 'desc' });
    expect(reads.total).toBe(10);
    expect(reads.records[0]).toMatchObject({ actor: 'anonymous', outcome: 'success', entities: [`Patient/${id}`], detail: 'status 200' });
    expect(reads.records[0].source).toBeDefined();
    expect(reads.records[0].requestId).toBeDefined();
    const [search] = (await srv.store.auditTrail.search({ filter: { actions: ['fhir.search'] }, count: 1, offset: 0, order: 'desc' })).records;
    expect(search.entities).toEqual([`Patient/${id}`]);
    // The family name is not in the trail: values of identifying parameters are masked.
    expect(search.detail).toBe(`status 200; 1 returned of 1; query Patient?_id=${id}&family=*`);
    const [missing] = (await srv.store.auditTrail.search({ filter: { outcome: 'failure' }, count: 1, offset: 0, order: 'desc' })).records;
    expect(missing).toMatchObject({ action: 'fhir.read', entities: ['Patient/missing-one'], detail: 'status 404' });
  });
});

describe('/fhir/AuditEvent', () => {
  let srv: TestServer;
  let pid: string;
  beforeAll(async () => {
    srv = await startTestServer({
      auth: {
        enabled: true,
        devTokens: true,
        clients: [
          { id: 'dpi-a', roles: ['dpi'], tenant: 'establishment:990000010', token: TOKENS.dpi },
          { id: 'auditor', roles: ['auditor'], token: TOKENS.auditor },
          { id: 'admin', roles: ['admin'], token: TOKENS.admin },
        ],
      },
    });
    const created = await call<{ id: string }>(`${srv.fhir}/Patient`, { body: patient('audit-2'), headers: bearer(TOKENS.admin) });
    expect(created.status).toBe(201);
    pid = created.body.id;
    for (let i = 0; i < 7; i++) expect((await call(`${srv.fhir}/Patient/${pid}`, { headers: bearer(TOKENS.admin) })).status).toBe(200);
  });
  afterAll(() => srv.close());

  const search = (query: string, token = TOKENS.auditor) => call<Bundle<AuditEvent>>(`${srv.fhir}/AuditEvent${query}`, { headers: bearer(token) });

  it('a client without audit.read is 403, and its attempt is itself audited', async () => {
    const r = await search('', TOKENS.dpi);
    expect(r.status).toBe(403);
    const denied = await search('?agent=dpi-a&outcome=4');
    expect(denied.status).toBe(200);
    expect(denied.body.entry?.[0].resource).toMatchObject({ outcome: '4', subtype: [{ code: 'search-type' }] });
  });

  it('search by entity and agent, with paging links that walk every row once', async () => {
    const first = await search(`?entity=Patient/${pid}&agent=admin&subtype=read&_count=3`);
    expect(first.status).toBe(200);
    expect(first.body.total).toBe(7);
    const ids = new Set<string>();
    let page: Bundle<AuditEvent> | undefined = first.body;
    while (page) {
      for (const e of page.entry ?? []) ids.add(e.resource?.id as string);
      const next: string | undefined = page.link?.find((l) => l.relation === 'next')?.url;
      page = next ? (await call<Bundle<AuditEvent>>(next, { headers: bearer(TOKENS.auditor) })).body : undefined;
    }
    expect(ids.size).toBe(7);
    const event = first.body.entry?.[0].resource as AuditEvent;
    expect(event).toMatchObject({
      resourceType: 'AuditEvent',
      type: { code: 'rest' },
      subtype: [{ code: 'read' }],
      action: 'R',
      outcome: '0',
      agent: [{ who: { identifier: { value: 'admin' } }, requestor: true }],
      entity: expect.arrayContaining([expect.objectContaining({ what: { reference: `Patient/${pid}` } })]),
    });
    expect(event.agent?.[0].network?.address).toBeDefined();
    expect(validateResource(event).filter((i) => i.severity === 'error')).toEqual([]);
    // patient= is entity=Patient/…
    expect((await search(`?patient=${pid}&agent=admin&subtype=read&_count=0`)).body.total).toBe(7);
  });

  it('search by date; read one; reading the trail is audited; writes are 405', async () => {
    const today = new Date().toISOString().slice(0, 10);
    const inDay = await search(`?date=ge${today}&date=le${today}&_count=1`);
    expect(inDay.body.total).toBeGreaterThan(7);
    expect((await search(`?date=lt${today}`)).body.total).toBe(0);
    expect((await search('?date=yesterday')).status).toBe(400);
    const id = inDay.body.entry?.[0].resource?.id as string;
    const one = await call<AuditEvent>(`${srv.fhir}/AuditEvent/${id}`, { headers: bearer(TOKENS.auditor) });
    expect(one.status).toBe(200);
    expect(one.body.id).toBe(id);
    expect((await call(`${srv.fhir}/AuditEvent/999999`, { headers: bearer(TOKENS.auditor) })).status).toBe(404);
    const audited = await search('?agent=auditor&type=rest&_count=100');
    expect(audited.body.entry?.some((e) => e.resource?.subtype?.[0].code === 'read' && e.resource.entity?.some((x) => x.what?.reference === `AuditEvent/${id}`))).toBe(true);
    const post = await call(`${srv.fhir}/AuditEvent`, { body: { resourceType: 'AuditEvent' }, headers: bearer(TOKENS.admin) });
    expect(post.status).toBe(405);
    expect((await call(`${srv.fhir}/AuditEvent/${id}`, { method: 'DELETE', headers: bearer(TOKENS.admin) })).status).toBe(405);
  });

  it('the CapabilityStatement lists AuditEvent with read and search-type', async () => {
    const cs = await call<{ rest: { resource: { type: string; interaction: { code: string }[]; searchParam: { name: string }[] }[] }[] }>(`${srv.fhir}/metadata`);
    const audit = cs.body.rest[0].resource.find((r) => r.type === 'AuditEvent');
    expect(audit?.interaction.map((i) => i.code).sort()).toEqual(['read', 'search-type']);
    expect(audit?.searchParam.map((p) => p.name)).toEqual(expect.arrayContaining(['date', 'agent', 'entity', 'patient']));
  });
});

describe('auditAccess (express routes outside the FHIR adapter)', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({}, [
      (app, deps) => {
        app.get('/audited/:id', auditAccess(deps.store, 'identity.reviews.read', { prefix: 'identity-review' }), (_req, res) => {
          res.json({ ok: true });
        });
      },
    ]);
  });
  afterAll(() => srv.close());

  it('records the access once answered, with the route id and the masked query', async () => {
    expect((await call(`${srv.url}/audited/r-1?state=open&name=Dupont`)).status).toBe(200);
    let rows: Awaited<ReturnType<typeof srv.store.auditLog>> = [];
    for (let i = 0; i < 100 && rows.length === 0; i++) {
      rows = await srv.store.auditLog({ entity: 'identity-review/r-1' });
      if (rows.length === 0) await new Promise((r) => setTimeout(r, 20));
    }
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ action: 'identity.reviews.read', actor: 'anonymous', outcome: 'success', detail: 'status 200; query /audited/r-1?state=open&name=*' });
    expect(rows[0].source).toBeDefined();
  });
});
