// POST /ppp/{id}/send and POST /fhir/CarePlan/{id}/$send over real HTTP (SQLite file, authentication on): the answer
// (exactly links and deliveries; a Parameters resource over FHIR), the scope and the tenants, and hostile bodies —
// every one a 4xx OperationOutcome naming the field, with nothing written.
import type { Bundle, OperationDefinition, Parameters } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountDomainRoutes } from '../../src/api/domain-routes.js';
import { validateResource } from '../../src/fhir/validate.js';
import { resolveLink } from '../../src/services/pathway/links.js';
import { call, fixture, startTestServer, type Outcome, type TestServer } from './server.js';

const TOKENS = { dpi: 'dpi-send-0123456789abcdef0123', reader: 'reader-send-0123456789abcdef01', other: 'other-send-0123456789abcdef012', officine: 'officine-send-0123456789abcdef' };
const as = (who: keyof typeof TOKENS, json = true): Record<string, string> => ({ authorization: `Bearer ${TOKENS[who]}`, ...(json ? { 'content-type': 'application/json' } : {}) });

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer(
    {
      auth: {
        enabled: true,
        devTokens: true,
        clients: [
          { id: 'dpi', tenant: 'establishment:760000018', token: TOKENS.dpi, scopes: ['domain.write', 'fhir.read'] },
          { id: 'reader', tenant: 'establishment:760000018', token: TOKENS.reader, scopes: ['fhir.read'] },
          { id: 'other', tenant: 'establishment:990000010', token: TOKENS.other, scopes: ['domain.write', 'fhir.read'] },
          { id: 'officine', tenant: 'pharmacy:760001016', token: TOKENS.officine, scopes: ['domain.write', 'fhir.read'] },
        ],
      },
    },
    [mountDomainRoutes],
  );
});
afterAll(async () => srv.close());

async function submitPpp(id: string, change: (d: Record<string, unknown>) => void = () => undefined): Promise<string> {
  const doc: Record<string, unknown> = { ...fixture('ppp/ppp-12-medicines.json'), id };
  delete doc.sentAt;
  change(doc);
  const r = await call<Bundle>(`${srv.url}/ppp`, { body: doc, headers: as('dpi') });
  expect(r.status).toBe(200);
  return r.body.entry?.map((e) => e.resource).find((x) => x?.resourceType === 'CarePlan')?.id as string;
}

/** What a refused send must leave as it was. */
const state = async (cp: string) => ({
  case: await srv.store.pathway.getCase(cp),
  links: await srv.store.links.live(cp, new Date().toISOString()),
  due: await srv.store.pathway.dueOf(cp),
});

interface SendAnswer {
  links: { role: string; rpps: string; url: string; expires: string }[];
  deliveries: { role: string; rpps: string; channel: string; state: string; reason?: string }[];
}

describe('POST /ppp/{id}/send', () => {
  let cp: string;
  beforeAll(async () => {
    cp = await submitPpp('API-SEND-1');
  });

  it('without a body: sends to the MT and the PHO, answering exactly { links, deliveries }', async () => {
    const r = await call<SendAnswer>(`${srv.url}/ppp/${cp}/send`, { method: 'POST', headers: as('dpi', false) });
    expect(r.status).toBe(200);
    expect(Object.keys(r.body)).toEqual(['links', 'deliveries']);
    expect(r.body.links.map((l) => l.role)).toEqual(['MT', 'PHO']);
    for (const l of r.body.links) {
      expect(Object.keys(l)).toEqual(['role', 'rpps', 'url', 'expires']);
      expect(l.url.startsWith(`${srv.url}/p/`)).toBe(true);
      const token = l.url.slice(l.url.lastIndexOf('/') + 1);
      expect((await resolveLink(srv.store, token, { now: new Date(), carePlan: cp, purpose: 'decision' })).ok).toBe(true);
    }
    // No MSSanté mailbox configured here.
    expect(r.body.deliveries.map((d) => [d.role, d.channel, d.state])).toEqual([
      ['MT', 'mssante', 'not-configured'],
      ['PHO', 'mssante', 'not-configured'],
    ]);
    expect((await srv.store.pathway.getCase(cp))?.sentAt).toBeDefined();
  });

  it('with { "recipients": ["PHO"] } (and an empty object) as the body', async () => {
    const r = await call<SendAnswer>(`${srv.url}/ppp/${cp}/send`, { body: { recipients: ['PHO'] }, headers: as('dpi') });
    expect(r.status).toBe(200);
    expect(r.body.links.map((l) => l.role)).toEqual(['PHO']);
    const empty = await call<SendAnswer>(`${srv.url}/ppp/${cp}/send`, { body: {}, headers: as('dpi') });
    expect(empty.status).toBe(200);
    expect(empty.body.links).toHaveLength(2);
  });

  const deep = (n: number): unknown => (n === 0 ? 'MT' : [deep(n - 1)]);
  const HOSTILE: [string, string | unknown, number, string | undefined][] = [
    ['an unknown field', { recipients: ['MT'], force: true }, 400, undefined],
    ['recipients as a string', { recipients: 'MT' }, 400, 'recipients'],
    ['recipients as a number', { recipients: 1 }, 400, 'recipients'],
    ['an unknown recipient', { recipients: ['MT', 'GERIATRE'] }, 400, 'recipients.1'],
    ['a recipient named twice', { recipients: ['MT', 'MT'] }, 400, 'recipients'],
    ['no recipient', { recipients: [] }, 400, 'recipients'],
    ['a recipient with a bidi override', { recipients: ['M\u202eT'] }, 400, 'recipients.0'],
    ['a recipient with a control character', { recipients: ['MT\u0000'] }, 400, 'recipients.0'],
    ['a huge recipient', { recipients: ['M'.repeat(100_000)] }, 400, 'recipients.0'],
    ['a recipient object', { recipients: [{ role: 'MT' }] }, 400, 'recipients.0'],
    ['an array body', [{ recipients: ['MT'] }], 400, undefined],
    ['a string body', '"MT"', 400, undefined],
    ['broken JSON', '{"recipients": [', 400, undefined],
    ['deep nesting', { recipients: deep(150) }, 400, undefined],
  ];
  for (const [name, body, status, expression] of HOSTILE) {
    it(`refuses ${name} (${status}${expression ? ` on ${expression}` : ''}), writing nothing`, async () => {
      const before = await state(cp);
      const r = await call<Outcome>(`${srv.url}/ppp/${cp}/send`, { body, headers: as('dpi') });
      expect(r.status).toBe(status);
      expect(r.body.resourceType).toBe('OperationOutcome');
      if (expression) expect(r.body.issue.flatMap((i) => i.expression ?? [])).toContain(expression);
      expect(await state(cp)).toEqual(before);
    });
  }

  it('refuses a body that is not JSON (400 on Content-Type)', async () => {
    const r = await call<Outcome>(`${srv.url}/ppp/${cp}/send`, { body: 'recipients=MT', headers: { ...as('dpi', false), 'content-type': 'application/x-www-form-urlencoded' } });
    expect(r.status).toBe(400);
    expect(r.body.issue[0].expression).toEqual(['Content-Type']);
  });

  it('a PPP without an RCP nor a reason: 422 on ppp.noRcpReason, nothing written', async () => {
    const id = await submitPpp('API-SEND-NORCP', (d) => delete d.rcp);
    const before = await state(id);
    const r = await call<Outcome>(`${srv.url}/ppp/${id}/send`, { method: 'POST', headers: as('dpi', false) });
    expect(r.status).toBe(422);
    expect(r.body.issue[0]).toMatchObject({ code: 'business-rule', expression: ['ppp.noRcpReason'] });
    expect(await state(id)).toEqual(before);
  });

  it('404 for an unknown PPP or one of a tenant that cannot see it; 403 for the officine that sees it; 403 without domain.write', async () => {
    expect((await call(`${srv.url}/ppp/00000000-0000-5000-8000-000000000000/send`, { method: 'POST', headers: as('dpi', false) })).status).toBe(404);
    for (const odd of ['x'.repeat(5000), '%E2%80%AEabc', "'%20OR%201=1--", '..%2F..%2Fadmin']) {
      const r = await call<Outcome>(`${srv.url}/ppp/${odd}/send`, { method: 'POST', headers: as('dpi', false) });
      expect([400, 404], odd.slice(0, 20)).toContain(r.status);
    }
    const before = await state(cp);
    expect((await call(`${srv.url}/ppp/${cp}/send`, { method: 'POST', headers: as('other', false) })).status).toBe(404);
    expect((await call(`${srv.url}/ppp/${cp}/send`, { method: 'POST', headers: as('officine', false) })).status).toBe(403);
    expect((await call(`${srv.url}/ppp/${cp}/send`, { method: 'POST', headers: as('reader', false) })).status).toBe(403);
    expect((await call(`${srv.url}/ppp/${cp}/send`, { method: 'POST' })).status).toBe(401);
    expect(await state(cp)).toEqual(before);
  });
});

describe('POST /fhir/CarePlan/{id}/$send', () => {
  let cp: string;
  beforeAll(async () => {
    cp = await submitPpp('API-SEND-FHIR');
  });

  const part = (p: Parameters['parameter'], name: string) => (p ?? []).filter((x) => x.name === name);

  it('answers a Parameters resource: one link part per link (role, rpps, url, expires), one delivery part per message', async () => {
    const r = await call<Parameters>(`${srv.fhir}/CarePlan/${cp}/$send`, { body: { resourceType: 'Parameters', parameter: [{ name: 'recipient', valueCode: 'MT' }] }, headers: as('dpi') });
    expect(r.status).toBe(200);
    expect(r.body.resourceType).toBe('Parameters');
    expect(validateResource(r.body).filter((i) => i.severity === 'error')).toEqual([]);
    const [link] = part(r.body.parameter, 'link');
    expect(part(r.body.parameter, 'link')).toHaveLength(1);
    expect(link?.part?.map((p) => p.name)).toEqual(['role', 'rpps', 'url', 'expires']);
    expect(link?.part?.[0]?.valueCode).toBe('MT');
    expect(link?.part?.[2]?.valueUrl).toMatch(/\/p\/[A-Za-z0-9_-]{43}$/);
    expect(link?.part?.[3]?.valueInstant).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    const [delivery] = part(r.body.parameter, 'delivery');
    expect(delivery?.part?.find((p) => p.name === 'state')?.valueCode).toBe('not-configured');
    const token = (link?.part?.[2]?.valueUrl as string).split('/').pop() as string;
    expect((await resolveLink(srv.store, token, { now: new Date(), carePlan: cp, purpose: 'decision' })).ok).toBe(true);
  });

  it('an empty Parameters sends to both', async () => {
    const r = await call<Parameters>(`${srv.fhir}/CarePlan/${cp}/$send`, { body: { resourceType: 'Parameters' }, headers: as('dpi') });
    expect(r.status).toBe(200);
    expect(part(r.body.parameter, 'link').map((l) => l.part?.[0]?.valueCode)).toEqual(['MT', 'PHO']);
  });

  const HOSTILE: [string, unknown, string][] = [
    ['another resource', { resourceType: 'Patient' }, 'resourceType'],
    ['an unknown parameter', { resourceType: 'Parameters', parameter: [{ name: 'force', valueBoolean: true }] }, 'Parameters.parameter[0].name'],
    ['an unknown recipient', { resourceType: 'Parameters', parameter: [{ name: 'recipient', valueCode: 'GERIATRE' }] }, 'Parameters.parameter[0].valueCode'],
    ['a recipient as a string', { resourceType: 'Parameters', parameter: [{ name: 'recipient', valueString: 'MT' }] }, 'Parameters.parameter[0].valueString'],
    ['a recipient twice', { resourceType: 'Parameters', parameter: [{ name: 'recipient', valueCode: 'MT' }, { name: 'recipient', valueCode: 'MT' }] }, 'Parameters.parameter[1].valueCode'],
    ['parameter not an array', { resourceType: 'Parameters', parameter: { name: 'recipient' } }, 'Parameters.parameter'],
    ['a bidi override', { resourceType: 'Parameters', parameter: [{ name: 'recipient', valueCode: 'M\u202eT' }] }, 'Parameters.parameter[0].valueCode'],
    ['a huge name', { resourceType: 'Parameters', parameter: [{ name: 'x'.repeat(100_000), valueCode: 'MT' }] }, 'Parameters.parameter[0].name'],
    ['an array body', [], 'resourceType'],
  ];
  for (const [name, body, expression] of HOSTILE) {
    it(`refuses ${name} (400 on ${expression}), writing nothing`, async () => {
      const before = await state(cp);
      const r = await call<Outcome>(`${srv.fhir}/CarePlan/${cp}/$send`, { body, headers: as('dpi') });
      expect(r.status).toBe(400);
      expect(r.body.issue[0].expression).toEqual([expression]);
      expect(r.body.issue[0].details?.text?.length ?? 0).toBeLessThan(500);
      expect(await state(cp)).toEqual(before);
    });
  }

  it('404 for another tenant, 403 without domain.write; the OperationDefinition is published', async () => {
    const body = { resourceType: 'Parameters' };
    expect((await call(`${srv.fhir}/CarePlan/${cp}/$send`, { body, headers: as('other') })).status).toBe(404);
    expect((await call(`${srv.fhir}/CarePlan/${cp}/$send`, { body, headers: as('reader') })).status).toBe(403);
    const od = await call<OperationDefinition>(`${srv.fhir}/OperationDefinition/send`, { headers: as('reader', false) });
    expect(od.status).toBe(200);
    expect(od.body).toMatchObject({ code: 'send', instance: true, resource: ['CarePlan'], affectsState: true });
    expect(validateResource(od.body).filter((i) => i.severity === 'error')).toEqual([]);
  });
});
