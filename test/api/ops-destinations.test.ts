// POST /admin/outbox/destinations/{name}/pause|resume refuses a destination nobody configured: 404 with an
// OperationOutcome naming the configured ones, and no pause recorded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestServer, type Outcome, type TestServer } from './server.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer({
    outbox: {
      dispatcher: false,
      destinations: { dmp: { kind: 'http', url: 'http://127.0.0.1:9/never' }, pdsm: { kind: 'http', url: 'http://127.0.0.1:9/never' } },
    },
  });
});
afterAll(async () => srv.close());

describe('/admin/outbox/destinations/{name}/{action}', () => {
  for (const action of ['pause', 'resume']) {
    it(`${action} of an unknown destination: 404 listing the configured ones, nothing paused`, async () => {
      const r = await call<Outcome>(`${srv.url}/admin/outbox/destinations/dmpp/${action}`, { method: 'POST' });
      expect(r.status).toBe(404);
      expect(r.body.resourceType).toBe('OperationOutcome');
      expect(r.body.issue[0]).toMatchObject({ code: 'not-found', details: { text: 'Unknown outbox destination "dmpp"; configured destinations: dmp, pdsm' } });
      expect(await srv.store.outbox.pausedDestinations()).toEqual([]);
    });
  }

  it('a configured destination is paused and resumed', async () => {
    expect(await call(`${srv.url}/admin/outbox/destinations/pdsm/pause`, { method: 'POST' })).toMatchObject({ status: 200, body: { destination: 'pdsm', paused: true } });
    expect(await call(`${srv.url}/admin/outbox/destinations/pdsm/resume`, { method: 'POST' })).toMatchObject({ status: 200, body: { destination: 'pdsm', paused: false } });
  });
});
