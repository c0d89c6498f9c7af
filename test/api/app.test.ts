import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireScope } from '../../src/api/auth/index.js';
import { businessRule } from '../../src/fhir/outcome.js';
import { call, startTestServer, type Outcome, type TestServer } from './server.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer(
    { auth: { enabled: true, devTokens: true, clients: [{ id: 'lgo', tenant: 'pharmacy:990000028', token: 'lgo-secret-0123456789abcdef', scopes: ['domain.write'] }] } },
    [
      (app) => {
        const router = express.Router();
        router.use(express.json());
        router.post('/ppp', requireScope('domain.write'), (req, res) => {
          res.status(201).json({ client: req.client.id });
        });
        router.post('/ctm', requireScope('domain.write'), () => {
          throw businessRule('BMO not validated by a pharmacist', 'ctm.bmo.validation');
        });
        router.get('/boom', () => {
          throw new Error('secret internal detail');
        });
        app.use(router);
      },
    ],
  );
});
afterAll(async () => {
  await srv.close();
});
const auth = { authorization: 'Bearer lgo-secret-0123456789abcdef' };

describe('extra route mounts (domain endpoints)', () => {
  it('run behind authentication, with req.client set', async () => {
    expect((await call(`${srv.url}/ppp`, { body: {} })).status).toBe(401);
    const r = await call<{ client: string }>(`${srv.url}/ppp`, { body: {}, headers: { ...auth, 'content-type': 'application/json' } });
    expect(r.status).toBe(201);
    expect(r.body.client).toBe('lgo');
  });

  it('thrown OperationOutcomeErrors keep their status', async () => {
    const r = await call<Outcome>(`${srv.url}/ctm`, { body: {}, headers: auth });
    expect(r.status).toBe(422);
    expect(r.body.issue[0].expression).toEqual(['ctm.bmo.validation']);
  });

  it('anything else is a 500 OperationOutcome with the request id and no internals', async () => {
    const res = await fetch(`${srv.url}/boom`, { headers: { ...auth, 'x-request-id': 'trace-42' } });
    expect(res.status).toBe(500);
    expect(res.headers.get('x-request-id')).toBe('trace-42');
    const text = await res.text();
    expect(text).not.toContain('secret internal detail');
    expect(text).not.toMatch(/\.ts:\d+|Error:/);
    const body = JSON.parse(text) as Outcome;
    expect(body.issue[0].code).toBe('exception');
    expect(body.issue[0].details?.text).toContain('trace-42');
  });
});
