// Throttling: a flood of wrong tokens is answered 429 after the limit (and leaves no more audit rows than the limit),
// the token endpoint counts too, expensive endpoints are limited per principal, and auth off is not throttled.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isExpensive } from '../../src/api/auth/rate-limit.js';
import { call, startTestServer, type Outcome, type TestServer } from './server.js';
import { bearer, clientKeys, closeTlsAgents, jwksOf, requestToken, tlsCall, tokenFor, tokenForm, type ClientKey } from './auth-support.js';

describe('failed authentications', () => {
  let srv: TestServer;
  let key: ClientKey;
  beforeAll(async () => {
    key = await clientKeys();
    srv = await startTestServer(
      { auth: { enabled: true, clients: [{ id: 'dpi-a', tenant: 'establishment:990000010', roles: ['dpi'], jwks: jwksOf(key) }] } },
      [],
      { tls: true },
    );
  });
  afterAll(async () => {
    closeTlsAgents();
    await srv?.close();
  });

  it('2,000 wrong tokens at once: 20 answered 401, the rest 429 with Retry-After, 20 audit rows', async () => {
    const token = await tokenFor(srv, 'dpi-a', key); // before the flood
    const replies = await Promise.all(
      Array.from({ length: 2000 }, (_, i) => tlsCall<Outcome>(srv, `${srv.fhir}/Patient`, { headers: bearer(`wrong-token-${i}-0123456789abcdef`) })),
    );
    const count = (s: number): number => replies.filter((r) => r.status === s).length;
    expect(count(401)).toBe(20);
    expect(count(429)).toBe(1980);
    const throttled = replies.find((r) => r.status === 429)!;
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(throttled.body.issue[0].code).toBe('throttled');
    const audited = (await srv.store.auditLog({ limit: 10_000 })).filter((r) => r.action === 'auth.failure');
    expect(audited).toHaveLength(20);
    // The address is blocked before any token work: a valid token too, and the token endpoint.
    expect((await tlsCall(srv, `${srv.fhir}/Patient`, { headers: bearer(token) })).status).toBe(429);
    const r = await requestToken(srv, await tokenForm(srv, 'dpi-a', key));
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toBeTruthy();
    // Public routes are not blocked.
    expect((await tlsCall(srv, `${srv.fhir}/metadata`)).status).toBe(200);
  });
});

describe('the token endpoint counts failures, successes do not', () => {
  let srv: TestServer;
  let key: ClientKey;
  let other: ClientKey;
  beforeAll(async () => {
    [key, other] = await Promise.all([clientKeys(), clientKeys()]);
    srv = await startTestServer({
      auth: {
        enabled: true,
        clients: [{ id: 'dpi-a', tenant: 'establishment:990000010', roles: ['dpi'], jwks: jwksOf(key) }],
        rateLimit: { authentication: { windowMs: 60_000, max: 5 } },
      },
    });
  });
  afterAll(async () => {
    await srv?.close();
  });

  it('many good requests pass; five bad assertions block the address', async () => {
    for (let i = 0; i < 12; i++) expect((await requestToken(srv, await tokenForm(srv, 'dpi-a', key))).status).toBe(200);
    const token = await tokenFor(srv, 'dpi-a', key);
    for (let i = 0; i < 12; i++) expect((await call(`${srv.fhir}/Patient`, { headers: bearer(token) })).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await requestToken(srv, await tokenForm(srv, 'dpi-a', other))).status).toBe(401);
    const blocked = await requestToken(srv, await tokenForm(srv, 'dpi-a', key));
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('expensive endpoints', () => {
  let srv: TestServer;
  let key: ClientKey;
  beforeAll(async () => {
    key = await clientKeys();
    srv = await startTestServer({
      auth: {
        enabled: true,
        clients: [{ id: 'dpi-a', tenant: 'establishment:990000010', roles: ['dpi'], jwks: jwksOf(key) }],
        rateLimit: { expensive: { windowMs: 60_000, max: 3 } },
      },
    });
  });
  afterAll(async () => {
    await srv?.close();
  });

  it('over the limit per principal → 429 with Retry-After and RateLimit headers; cheap reads are not counted', async () => {
    const token = await tokenFor(srv, 'dpi-a', key);
    const match = (): Promise<ReturnType<typeof call> extends Promise<infer R> ? R : never> =>
      call(`${srv.fhir}/Patient/$match`, { body: { resourceType: 'Parameters', parameter: [] }, headers: bearer(token) });
    for (let i = 0; i < 3; i++) {
      const r = await match();
      expect(r.status).not.toBe(429);
      expect(r.headers.get('ratelimit')).toBeTruthy();
    }
    const r = await call<Outcome>(`${srv.fhir}/Patient/x/%24everything`, { headers: bearer(token) });
    expect(r.status).toBe(429);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(r.body.issue[0].code).toBe('throttled');
    expect((await call(`${srv.fhir}/Patient`, { headers: bearer(token) })).status).toBe(200);
  });

  it('recognises the expensive routes', () => {
    expect(isExpensive('POST', '/fhir')).toBe(true);
    expect(isExpensive('POST', '/fhir/')).toBe(true);
    expect(isExpensive('POST', '/FHIR/Patient/$match')).toBe(true);
    expect(isExpensive('GET', '/fhir/Patient/abc/$everything')).toBe(true);
    expect(isExpensive('POST', '/fhir/Patient/abc/%24everything')).toBe(true);
    expect(isExpensive('GET', '/identity/links')).toBe(true);
    // The conflict board reads every open item of an establishment.
    expect(isExpensive('GET', '/identity/conflicts')).toBe(true);
    expect(isExpensive('POST', '/identity/import')).toBe(true);
    expect(isExpensive('GET', '/fhir/Patient/abc')).toBe(false);
    expect(isExpensive('POST', '/fhir/Patient')).toBe(false);
    expect(isExpensive('GET', '/fhir/Patient/%E0%A4%A')).toBe(false);
  });
});

describe('authentication off (local development)', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer();
  });
  afterAll(async () => {
    await srv?.close();
  });

  it('is not throttled', async () => {
    const replies = await Promise.all(Array.from({ length: 400 }, () => call(`${srv.fhir}/Patient/x/$everything`)));
    expect(replies.filter((r) => r.status === 429)).toHaveLength(0);
  });
});

describe('passerelle serve in the Docker image', () => {
  it('refuses to start with auth off (exit 2) unless PASSERELLE_INSECURE_DEV=1', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-docker-'));
    try {
      const env = { ...process.env, PASSERELLE_REQUIRE_AUTH: '1', PASSERELLE_DATA: dir, PORT: '0', LOG_LEVEL: 'silent', PASSERELLE_CONFIG: '' };
      const r = spawnSync(process.execPath, ['bin/passerelle.js', 'serve'], { env, encoding: 'utf8', timeout: 60_000 });
      expect(r.status).toBe(2);
      expect(r.stderr).toContain('authentication is off');
      expect(r.stderr).toContain('PASSERELLE_INSECURE_DEV=1');
      // With the explicit opt-out it starts (and says that auth is off).
      const child = spawn(process.execPath, ['bin/passerelle.js', 'serve'], { env: { ...env, PASSERELLE_INSECURE_DEV: '1', LOG_LEVEL: 'info' } });
      let out = '';
      const started = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 50_000);
        child.stdout.on('data', (c: Buffer) => {
          out += c.toString();
          if (out.includes('passerelle listening')) {
            clearTimeout(timer);
            resolve(true);
          }
        });
        child.once('exit', () => resolve(false));
      });
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      expect(started, out).toBe(true);
      expect(out).toContain('authentication is off');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('logs', () => {
  it('name the client and the reason of a failure, never a token or an assertion', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (l: string) => void lines.push(l) });
    const key = await clientKeys();
    const srv = await startTestServer(
      { auth: { enabled: true, clients: [{ id: 'dpi-a', tenant: 'establishment:990000010', roles: ['dpi'], jwks: jwksOf(key) }] } },
      [],
      { deps: { logger } },
    );
    try {
      const form = await tokenForm(srv, 'dpi-a', key);
      const token = (await requestToken(srv, form)).body.access_token as string;
      expect((await requestToken(srv, form)).status).toBe(401); // replayed
      expect((await call(`${srv.fhir}/Patient`, { headers: bearer(`${token}x`) })).status).toBe(401);
      expect((await call(`${srv.fhir}/Patient`, { headers: bearer('static-secret-0123456789abcdef') })).status).toBe(401);
      expect((await call(`${srv.fhir}/Patient`, { headers: bearer(token) })).status).toBe(200);
      const text = lines.join('');
      expect(text).toContain('authentication failed');
      expect(text).toContain('dpi-a');
      for (const secret of [token, form.client_assertion, 'static-secret-0123456789abcdef', token.split('.')[2], form.client_assertion.split('.')[2]]) {
        expect(text.includes(secret!)).toBe(false);
      }
      expect(text).not.toContain('eyJ');
    } finally {
      await srv.close();
    }
  });
});
