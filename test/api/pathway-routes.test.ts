// POST /pathway/<CarePlan id>/outcomes over HTTP (api/pathway-routes.ts): `domain.write`, tenant-bound like link-ctm
// (another establishment's PPP: 404), OperationOutcome errors naming the field's path, hostile bodies refused with a
// 4xx and nothing written, the outcomes recorded and returned on the CarePlan.
import type { CarePlan, OperationOutcome } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followupOutcomesOf } from '../../src/services/pathway/careplan-state.js';
import { DAY, submitPpp, type Submitted } from '../services/pathway/casemgr-support.js';
import { call, startTestServer, type TestServer } from './server.js';

const TOKENS = { rouen: 'rouen-dpi-0123456789abcdefghij', amiens: 'amiens-dpi-0123456789abcdefghi', reader: 'reader-0123456789abcdefghijklmn' };
let srv: TestServer;
let sent: Submitted;
let other: Submitted;

const send = (carePlan: string, body: unknown, token: string | undefined = TOKENS.rouen, type = 'application/json') =>
  call<OperationOutcome>(`${srv.url}/pathway/${carePlan}/outcomes`, {
    method: 'POST',
    body,
    headers: { 'content-type': type, ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });
const expressions = (o: OperationOutcome) => o.issue.flatMap((i) => i.expression ?? []);
const version = async (id: string) => (await srv.store.read<CarePlan>('CarePlan', id))?.meta?.versionId;

beforeAll(async () => {
  const { mountPathwayRoutes } = await import('../../src/api/pathway-routes.js');
  srv = await startTestServer(
    {
      auth: {
        enabled: true,
        devTokens: true,
        clients: [
          { id: 'dpi-rouen', tenant: 'establishment:760000018', token: TOKENS.rouen, roles: ['dpi'] },
          { id: 'dpi-amiens', tenant: 'establishment:800000317', token: TOKENS.amiens, roles: ['dpi'] },
          { id: 'reader', tenant: 'establishment:760000018', token: TOKENS.reader, scopes: ['fhir.read'] },
        ],
      },
    },
    [mountPathwayRoutes],
  );
  sent = await submitPpp(srv.store, 'API-SENT', { sentAt: new Date(Date.now() - 50 * DAY), undecided: true });
  other = await submitPpp(srv.store, 'API-OTHER', { fixture: 'hospital-sync-rcp', sentAt: new Date(Date.now() - 50 * DAY) });
}, 60_000);
afterAll(async () => {
  await srv?.close();
});

describe('POST /pathway/:carePlan/outcomes', () => {
  const good = () => ({ window: 'd45', outcomes: [{ recommendation: sent.recommendations[0], outcome: 'implementee', note: 'Vu sur l’ordonnance du 12.' }] });

  it('needs a client with domain.write of the PPP’s establishment', async () => {
    expect((await send(sent.carePlan, good(), '')).status).toBe(401);
    expect((await send(sent.carePlan, good(), TOKENS.reader)).status).toBe(403);
    expect((await send(sent.carePlan, good(), TOKENS.amiens)).status).toBe(404);
    expect((await send('00000000-0000-5000-8000-000000000000', good())).status).toBe(404);
    expect((await send(encodeURIComponent('a b<c>'), good())).status).toBe(404);
  });

  it('refuses hostile bodies with a 4xx naming the field, and writes nothing', async () => {
    const before = await version(sent.carePlan);
    const r0 = sent.recommendations[0];
    const cases: [unknown, number, string[]][] = [
      [{ window: 'd45', outcomes: [{ recommendation: r0, outcome: 'yes' }] }, 400, ['outcomes[0].outcome']],
      [{ window: 45, outcomes: [{ recommendation: r0, outcome: 'implementee' }] }, 400, ['window']],
      [{ window: 'd45', outcomes: [{ recommendation: r0, outcome: 'implementee', note: 'x'.repeat(2001) }] }, 400, ['outcomes[0].note']],
      [{ window: 'd45', outcomes: [{ recommendation: r0, outcome: 'implementee', note: 'ok\u0007' }] }, 400, ['outcomes[0].note']],
      [{ window: 'd45', outcomes: [{ recommendation: r0, outcome: 'implementee', note: '\u2067x\u2069' }] }, 400, ['outcomes[0].note']],
      [{ window: 'd45', outcomes: [{ recommendation: other.recommendations[0], outcome: 'implementee' }] }, 400, ['outcomes[0].recommendation']],
      [{ window: 'd45', outcomes: [{ recommendation: r0, outcome: 'implementee' }], admin: true }, 400, ['']],
      [{ window: 'd45', outcomes: Array.from({ length: 201 }, () => ({ recommendation: r0, outcome: 'inconnue' })) }, 400, ['outcomes']],
      [[good()], 400, []],
      ['not json', 400, []],
    ];
    for (const [body, status, paths] of cases) {
      const r = await send(sent.carePlan, body);
      expect(r.status, JSON.stringify(body).slice(0, 80)).toBe(status);
      expect(r.body.resourceType).toBe('OperationOutcome');
      for (const p of paths.filter(Boolean)) expect(expressions(r.body)).toContain(p);
    }
    expect((await send(sent.carePlan, JSON.stringify(good()), TOKENS.rouen, 'text/plain')).status).toBe(400);
    let deep: unknown = 'x';
    for (let i = 0; i < 200; i++) deep = { a: deep };
    expect((await send(sent.carePlan, { window: 'd45', outcomes: [deep] })).status).toBe(400);
    expect((await send(sent.carePlan, { window: 'd45', outcomes: [{ recommendation: r0, outcome: 'implementee', note: 'x'.repeat(3_000_000) }] })).status).toBeOneOf([400, 413]);
    expect(await version(sent.carePlan)).toBe(before);
  });

  it('records the outcomes and answers the CarePlan', async () => {
    const r = await send(sent.carePlan, good());
    expect(r.status).toBe(200);
    expect((r.body as unknown as CarePlan).resourceType).toBe('CarePlan');
    expect(followupOutcomesOf(r.body as unknown as CarePlan)).toEqual([
      expect.objectContaining({ window: 'd45', recommendation: sent.recommendations[0], outcome: 'implementee', recorder: 'dpi-rouen', note: 'Vu sur l’ordonnance du 12.' }),
    ]);
    const [row] = (await srv.store.auditLog({ entity: `CarePlan/${sent.carePlan}`, limit: 50 })).filter((a) => a.action === 'pathway.outcome');
    expect(row).toMatchObject({ actor: 'dpi-rouen', tenant: 'establishment:760000018', outcome: 'success' });
    // D90 is not open 50 days after the send.
    const d90 = await send(sent.carePlan, { ...good(), window: 'd90' });
    expect(d90.status).toBe(422);
    expect(expressions(d90.body)).toEqual(['window']);
  });
});
