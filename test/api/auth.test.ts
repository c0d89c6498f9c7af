import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, patient, startTestServer, type Outcome, type TestServer } from './server.js';

const READER = 'reader-secret-0123456789abcdef';
const WRITER = 'writer-secret-0123456789abcdef';

describe('authentication on', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({
      auth: {
        enabled: true,
        devTokens: true,
        clients: [
          { id: 'dpi-reader', tenant: 'establishment:990000010', token: READER, scopes: ['fhir.read'] },
          { id: 'dpi-writer', tenant: 'establishment:990000010', tokenSha256: createHash('sha256').update(WRITER).digest('hex'), scopes: ['fhir.read', 'fhir.write'] },
        ],
      },
    });
  });
  afterAll(async () => {
    await srv.close();
  });
  const bearer = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` });

  it('no token → 401 OperationOutcome with WWW-Authenticate', async () => {
    const r = await call<Outcome>(`${srv.fhir}/Patient`);
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toContain('Bearer');
    expect(r.body.issue[0].code).toBe('login');
  });

  it('unknown token → 401', async () => {
    expect((await call(`${srv.fhir}/Patient`, { headers: bearer('not-a-known-token') })).status).toBe(401);
  });

  it('a token without the scope → 403', async () => {
    const r = await call<Outcome>(`${srv.fhir}/Patient`, { body: patient('auth-1'), headers: bearer(READER) });
    expect(r.status).toBe(403);
    expect(r.body.issue[0].details?.text).toContain('fhir.write');
  });

  it('good tokens → 200/201 (clear token and sha256 configured)', async () => {
    expect((await call(`${srv.fhir}/Patient`, { body: patient('auth-2'), headers: bearer(WRITER) })).status).toBe(201);
    expect((await call(`${srv.fhir}/Patient`, { headers: bearer(READER) })).status).toBe(200);
  });

  it('metadata stays public', async () => {
    expect((await call(`${srv.fhir}/metadata`)).status).toBe(200);
  });
});

describe('authentication off (default)', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer();
  });
  afterAll(async () => {
    await srv.close();
  });

  it('accepts requests without a token', async () => {
    expect((await call(`${srv.fhir}/Patient`, { body: patient('auth-3') })).status).toBe(201);
    expect((await call(`${srv.fhir}/Patient`)).status).toBe(200);
  });
});
