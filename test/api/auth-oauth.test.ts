// OAuth2 client credentials with private_key_jwt (SMART Backend Services) over the gateway's HTTPS listener: tokens
// issued and used, and every way an assertion or an access token can be wrong, refused.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLocalJWKSet, exportPKCS8, exportSPKI, generateKeyPair, importJWK, jwtVerify, SignJWT, UnsecuredJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GENERATED_KEY_FILE } from '../../src/api/auth/access-tokens.js';
import { ConfigError, configFrom } from '../../src/config.js';
import { call, patient, startTestServer, type Outcome, type Reply, type TestServer } from './server.js';
import {
  assertionFor,
  bearer,
  clientKeys,
  closeTlsAgents,
  jwksOf,
  requestToken,
  tlsCall,
  tokenFor,
  tokenForm,
  tokenUrlOf,
  type ClientKey,
} from './auth-support.js';

const HOSPITAL = 'establishment:990000010';
let srv: TestServer;
let dpi: ClientKey;
let lgo: ClientKey;
let stranger: ClientKey;

beforeAll(async () => {
  [dpi, lgo, stranger] = await Promise.all([clientKeys('ES384'), clientKeys('RS384'), clientKeys('ES384')]);
  srv = await startTestServer(
    {
      auth: {
        enabled: true,
        clients: [
          { id: 'dpi-a', tenant: HOSPITAL, roles: ['dpi'], jwks: jwksOf(dpi) },
          { id: 'lgo-b', tenant: 'pharmacy:990000028', roles: ['lgo'], jwks: jwksOf(lgo) },
          { id: 'keyless', tenant: HOSPITAL, roles: ['dpi'] },
        ],
        // This file fails authentication on purpose many times from one address.
        rateLimit: { authentication: { windowMs: 60_000, max: 10_000 } },
      },
    },
    [],
    { tls: true },
  );
});
afterAll(async () => {
  closeTlsAgents();
  await srv?.close();
});

const errorOf = (r: Reply): { error: string; error_description: string } => r.body as { error: string; error_description: string };

describe('POST /oauth/token', () => {
  it('issues a short-lived access token for a valid assertion, and the token opens the API over HTTPS', async () => {
    expect(srv.url).toMatch(/^https:\/\/localhost:\d+$/);
    const r = await requestToken(srv, await tokenForm(srv, 'dpi-a', dpi));
    expect(r.status).toBe(200);
    expect(r.headers.get('cache-control')).toBe('no-store');
    const body = r.body as { access_token: string; token_type: string; expires_in: number; scope: string };
    expect(body.token_type).toBe('bearer');
    expect(body.expires_in).toBe(300);
    expect(body.scope).toBe('fhir.read fhir.write domain.write');
    // The token is a JWT of the gateway's key, published at /oauth/jwks.
    const jwks = await tlsCall<{ keys: JWK[] }>(srv, `${srv.url}/oauth/jwks`);
    expect(jwks.status).toBe(200);
    expect(jwks.body.keys[0]).not.toHaveProperty('d');
    const { payload, protectedHeader } = await jwtVerify(body.access_token, createLocalJWKSet(jwks.body), { issuer: srv.url, audience: srv.url });
    expect(protectedHeader).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
    expect(payload).toMatchObject({ sub: 'dpi-a', tenant: HOSPITAL, scope: 'fhir.read fhir.write domain.write' });
    expect(payload.exp! - payload.iat!).toBe(300);

    const created = await tlsCall(srv, `${srv.fhir}/Patient`, { body: patient('oauth-1'), headers: bearer(body.access_token) });
    expect(created.status).toBe(201);
    expect((await tlsCall(srv, `${srv.fhir}/Patient/${String(created.body.id)}`, { headers: bearer(body.access_token) })).status).toBe(200);
  });

  it('RS384 keys work too, and the granted scope is what was asked (ours or SMART system scopes)', async () => {
    const token = await tokenFor(srv, 'lgo-b', lgo, 'system/*.read');
    const claims = (await jwtVerify(token, createLocalJWKSet((await tlsCall<{ keys: JWK[] }>(srv, `${srv.url}/oauth/jwks`)).body))).payload;
    expect(claims.scope).toBe('fhir.read');
    const readOnly = await tokenFor(srv, 'dpi-a', dpi, 'fhir.read');
    expect((await tlsCall(srv, `${srv.fhir}/Patient`, { headers: bearer(readOnly) })).status).toBe(200);
    const write = await tlsCall<Outcome>(srv, `${srv.fhir}/Patient`, { body: patient('oauth-2'), headers: bearer(readOnly) });
    expect(write.status).toBe(403);
  });

  it('a scope the client does not hold → 400 invalid_scope', async () => {
    for (const scope of ['admin', 'identity.review', 'system/Patient.read', 'fhir.write']) {
      const r = await requestToken(srv, await tokenForm(srv, 'lgo-b', lgo, scope));
      expect(r.status, scope).toBe(400);
      expect(errorOf(r).error, scope).toBe('invalid_scope');
    }
  });

  const refused = async (form: Record<string, string>, status = 401, error = 'invalid_client'): Promise<string> => {
    const r = await requestToken(srv, form);
    expect(r.status, JSON.stringify(r.body)).toBe(status);
    expect(errorOf(r).error).toBe(error);
    expect(r.headers.get('cache-control')).toBe('no-store');
    return errorOf(r).error_description;
  };

  it('an expired assertion → 401', async () => {
    expect(await refused(await tokenForm(srv, 'dpi-a', dpi, undefined, { expiresIn: -600 }))).toContain('expired');
  });

  it('an assertion valid for more than five minutes → 401', async () => {
    expect(await refused(await tokenForm(srv, 'dpi-a', dpi, undefined, { expiresIn: 3600 }))).toContain('5 minutes');
  });

  it('a replayed jti → 401 (the first use succeeds)', async () => {
    const form = await tokenForm(srv, 'dpi-a', dpi, undefined, { jti: 'once-only-42' });
    expect((await requestToken(srv, form)).status).toBe(200);
    expect(await refused(form)).toContain('jti');
    // A new assertion with the same jti, too.
    expect(await refused(await tokenForm(srv, 'dpi-a', dpi, undefined, { jti: 'once-only-42' }))).toContain('jti');
  });

  it('signed by a key the client did not declare (even one declared by another client) → 401', async () => {
    expect(await refused(await tokenForm(srv, 'dpi-a', stranger))).toMatch(/key|signature/);
    expect(await refused(await tokenForm(srv, 'dpi-a', { ...lgo, kid: dpi.kid }))).toMatch(/key|signature/);
    expect(await refused(await tokenForm(srv, 'keyless', dpi))).toContain('no key');
  });

  it('wrong aud, iss ≠ sub, or an unknown client → 401', async () => {
    expect(await refused(await tokenForm(srv, 'dpi-a', dpi, undefined, { aud: `${srv.url}/fhir` }))).toContain('aud');
    expect(await refused(await tokenForm(srv, 'dpi-a', dpi, undefined, { sub: 'lgo-b' }))).toContain('sub');
    expect(await refused(await tokenForm(srv, 'nobody', dpi))).toContain('no declared client');
  });

  it('alg none → 401', async () => {
    const now = Math.floor(Date.now() / 1000);
    const unsigned = new UnsecuredJWT({ jti: 'none-1' }).setIssuer('dpi-a').setSubject('dpi-a').setAudience(tokenUrlOf(srv)).setExpirationTime(now + 60).encode();
    const form = { ...(await tokenForm(srv, 'dpi-a', dpi)), client_assertion: unsigned };
    expect(await refused(form)).toContain('alg');
  });

  it('HS256 with the public key as the shared secret → 401', async () => {
    const rsa = await clientKeys('RS256');
    const pem = await exportSPKI((await importJWK(rsa.publicJwk, 'RS256')) as CryptoKey);
    const now = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', kid: rsa.kid })
      .setIssuer('dpi-a')
      .setSubject('dpi-a')
      .setAudience(tokenUrlOf(srv))
      .setJti('hs-1')
      .setExpirationTime(now + 60)
      .sign(new TextEncoder().encode(pem));
    const form = { ...(await tokenForm(srv, 'dpi-a', dpi)), client_assertion: forged };
    expect(await refused(form)).toContain('alg');
    // And with the client's own declared JWK as the secret.
    const forged2 = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', kid: dpi.kid })
      .setIssuer('dpi-a')
      .setSubject('dpi-a')
      .setAudience(tokenUrlOf(srv))
      .setJti('hs-2')
      .setExpirationTime(now + 60)
      .sign(new TextEncoder().encode(JSON.stringify(dpi.publicJwk)));
    expect(await refused({ ...form, client_assertion: forged2 })).toContain('alg');
  });

  it('malformed requests → 400 (never 5xx)', async () => {
    const good = await tokenForm(srv, 'dpi-a', dpi);
    expect(await refused({ ...good, grant_type: 'password' }, 400, 'unsupported_grant_type')).toContain('client_credentials');
    expect(await refused({ client_assertion: good.client_assertion }, 400, 'invalid_request')).toContain('grant_type');
    expect(await refused({ ...good, client_assertion_type: 'urn:x' }, 400, 'invalid_request')).toContain('client_assertion_type');
    expect(await refused({ ...good, client_assertion: '' }, 400, 'invalid_request')).toContain('missing');
    expect(await refused({ ...good, client_assertion: 'x'.repeat(20_000) }, 400, 'invalid_request')).toContain('longer');
    // JSON instead of a form
    const json = await tlsCall(srv, tokenUrlOf(srv), { body: good, headers: { 'content-type': 'application/json' } });
    expect(json.status).toBe(400);
    expect(errorOf(json).error).toBe('invalid_request');
    // A body over the limit
    const huge = await tlsCall(srv, tokenUrlOf(srv), { body: `grant_type=client_credentials&x=${'a'.repeat(100_000)}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(huge.status).toBe(400);
    // Repeated parameters
    const twice = await tlsCall(srv, tokenUrlOf(srv), {
      body: `${new URLSearchParams(good).toString()}&grant_type=client_credentials`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(twice.status).toBe(400);
    expect((await tlsCall(srv, tokenUrlOf(srv))).status).toBe(405);
  });

  it('hostile assertions (not base64, not JSON, deeply nested header, huge header) → 400/401', async () => {
    const good = await tokenForm(srv, 'dpi-a', dpi);
    const b64 = (s: string): string => Buffer.from(s).toString('base64url');
    const payload = b64(JSON.stringify({ iss: 'dpi-a', sub: 'dpi-a', aud: tokenUrlOf(srv), exp: Math.floor(Date.now() / 1000) + 60, jti: 'h' }));
    for (const assertion of [
      '!!!.@@@.###',
      'a.b.c',
      `${b64('not json')}.${payload}.c2ln`,
      `${b64(`{"alg":"ES384","x":${'['.repeat(5000)}${']'.repeat(5000)}}`)}.${payload}.c2ln`,
      `${b64(`{"alg":"ES384","kid":"${'k'.repeat(10_000)}"}`)}.${payload}.c2ln`,
      `${b64('{"alg":"ES384"}')}.${payload}`,
      `${b64('{"alg":"ES384"}')}.${payload}.${'A'.repeat(300)}`,
    ]) {
      const r = await requestToken(srv, { ...good, client_assertion: assertion });
      expect([400, 401], assertion.slice(0, 40)).toContain(r.status);
      expect(typeof errorOf(r).error).toBe('string');
    }
  });
});

describe('access tokens on the API', () => {
  const gatewayKey = async (): Promise<CryptoKey> => {
    const jwk = JSON.parse(readFileSync(path.join(srv.dataDir, 'keys', GENERATED_KEY_FILE), 'utf8')) as JWK;
    return (await importJWK(jwk, 'ES256')) as CryptoKey;
  };
  const signed = async (key: CryptoKey, claims: Record<string, unknown>, exp: number, typ = 'at+jwt'): Promise<string> =>
    new SignJWT({ scope: 'fhir.read', tenant: HOSPITAL, ...claims })
      .setProtectedHeader({ alg: 'ES256', typ })
      .setIssuer(srv.url)
      .setAudience(srv.url)
      .setSubject((claims.sub as string) ?? 'dpi-a')
      .setJti(crypto.randomUUID())
      .setIssuedAt(exp - 300)
      .setExpirationTime(exp)
      .sign(key);

  it('the generated signing key is private to the gateway (mode 0600)', async () => {
    const { statSync } = await import('node:fs');
    expect(statSync(path.join(srv.dataDir, 'keys', GENERATED_KEY_FILE)).mode & 0o777).toBe(0o600);
  });

  it('a token signed by the gateway key is accepted; the same one expired is refused', async () => {
    const key = await gatewayKey();
    const now = Math.floor(Date.now() / 1000);
    expect((await tlsCall(srv, `${srv.fhir}/Patient`, { headers: bearer(await signed(key, {}, now + 60)) })).status).toBe(200);
    const expired = await tlsCall<Outcome>(srv, `${srv.fhir}/Patient`, { headers: bearer(await signed(key, {}, now - 10)) });
    expect(expired.status).toBe(401);
    expect(expired.body.issue[0].details?.text).toContain('expired');
    expect(expired.headers.get('www-authenticate')).toContain('invalid_token');
  });

  it('a token of a client no longer declared, of another tenant, of another type, or signed by another key → 401', async () => {
    const key = await gatewayKey();
    const exp = Math.floor(Date.now() / 1000) + 60;
    expect((await tlsCall(srv, `${srv.fhir}/Patient`, { headers: bearer(await signed(key, { sub: 'removed-client' }, exp)) })).status).toBe(401);
    expect((await tlsCall(srv, `${srv.fhir}/Patient`, { headers: bearer(await signed(key, { tenant: 'establishment:990000036' }, exp)) })).status).toBe(401);
    expect((await tlsCall(srv, `${srv.fhir}/Patient`, { headers: bearer(await signed(key, {}, exp, 'JWT')) })).status).toBe(401);
    const other = (await generateKeyPair('ES256')).privateKey;
    expect((await tlsCall(srv, `${srv.fhir}/Patient`, { headers: bearer(await signed(other, {}, exp)) })).status).toBe(401);
    // A client assertion is not an access token.
    const assertion = await assertionFor(srv.url, 'dpi-a', dpi);
    expect((await tlsCall(srv, `${srv.fhir}/Patient`, { headers: bearer(assertion) })).status).toBe(401);
  });

  it('a scope granted then but no longer held is not honoured', async () => {
    const key = await gatewayKey();
    const exp = Math.floor(Date.now() / 1000) + 60;
    // lgo-b (role lgo: fhir.read, domain.write) with a token claiming fhir.write
    const token = await signed(key, { sub: 'lgo-b', tenant: 'pharmacy:990000028', scope: 'fhir.read fhir.write' }, exp);
    expect((await tlsCall(srv, `${srv.fhir}/Patient`, { body: patient('oauth-3'), headers: bearer(token) })).status).toBe(403);
  });

  it('a static token is refused when auth.devTokens is off', async () => {
    const r = await tlsCall<Outcome>(srv, `${srv.fhir}/Patient`, { headers: bearer('reader-secret-0123456789abcdef') });
    expect(r.status).toBe(401);
  });

  it('authentication failures are audited, without the token', async () => {
    const rows = (await srv.store.auditLog({ limit: 10_000 })).filter((r) => r.action === 'auth.failure');
    expect(rows.length).toBeGreaterThan(10);
    expect(rows.some((r) => r.actor === 'dpi-a' && r.outcome === 'failure' && /expired/.test(r.detail ?? ''))).toBe(true);
    expect(rows.every((r) => !(r.detail ?? '').includes('reader-secret') && !(r.detail ?? '').includes('eyJ'))).toBe(true);
    const issued = (await srv.store.auditLog({ limit: 10_000 })).filter((r) => r.action === 'auth.token');
    expect(issued.some((r) => r.actor === 'dpi-a' && r.tenant === HOSPITAL)).toBe(true);
  });
});

describe('configuration', () => {
  it('a static token without auth.devTokens is a clear configuration error', () => {
    expect(() => configFrom({ auth: { enabled: true, clients: [{ id: 'x', tenant: HOSPITAL, token: 'abcdefghijklmnopqrstuvwxyz' }] } })).toThrow(ConfigError);
    expect(() => configFrom({ auth: { enabled: true, clients: [{ id: 'x', tenant: HOSPITAL, token: 'abcdefghijklmnopqrstuvwxyz' }] } })).toThrow(/devTokens/);
  });

  it('private key members in a declared JWKS are refused', () => {
    expect(() => configFrom({ auth: { enabled: true, clients: [{ id: 'x', tenant: HOSPITAL, jwks: { keys: [{ kty: 'EC', d: 'secret' }] } }] } })).toThrow(/public/);
  });

  it('a tokenEnv that is not set stops the start with a clear message', async () => {
    await expect(
      startTestServer({ auth: { enabled: true, devTokens: true, clients: [{ id: 'x', tenant: HOSPITAL, tokenEnv: 'PASSERELLE_TEST_UNSET_TOKEN' }] } }),
    ).rejects.toThrow(/PASSERELLE_TEST_UNSET_TOKEN is not set/);
  });
});

describe('keys from a JWKS URL, and the signing key from a file', () => {
  let jwksServer: Server;
  let jwksUrl: string;
  let key: ClientKey;
  let gw: TestServer;
  let keyDir: string;
  beforeAll(async () => {
    key = await clientKeys('ES256');
    jwksServer = createServer((req, res) => {
      if (req.url === '/jwks.json') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwksOf(key)));
      else if (req.url === '/slow') setTimeout(() => res.writeHead(200).end('{"keys":[]}'), 8000).unref();
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
    jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}`;
    // A PKCS#8 PEM signing key given by the operator.
    keyDir = mkdtempSync(path.join(tmpdir(), 'passerelle-key-'));
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    writeFileSync(path.join(keyDir, 'token-key.pem'), await exportPKCS8(privateKey), { mode: 0o600 });
    gw = await startTestServer({
      auth: {
        enabled: true,
        signingKeyFile: path.join(keyDir, 'token-key.pem'),
        clients: [
          { id: 'remote', tenant: HOSPITAL, roles: ['dpi'], jwksUrl: `${jwksUrl}/jwks.json` },
          { id: 'slow', tenant: HOSPITAL, roles: ['dpi'], jwksUrl: `${jwksUrl}/slow` },
          { id: 'gone', tenant: HOSPITAL, roles: ['dpi'], jwksUrl: `${jwksUrl}/missing` },
        ],
      },
    });
  });
  afterAll(async () => {
    await gw?.close();
    jwksServer?.closeAllConnections();
    await new Promise((r) => jwksServer?.close(r));
    rmSync(keyDir, { recursive: true, force: true });
  });

  it('a client whose keys are at a JWKS URL gets a token, signed with the configured key', async () => {
    const token = await tokenFor(gw, 'remote', key);
    expect((await call(`${gw.fhir}/Patient`, { headers: bearer(token) })).status).toBe(200);
    expect(existsSync(path.join(gw.dataDir, 'keys', GENERATED_KEY_FILE))).toBe(false);
    const jwks = await call<{ keys: JWK[] }>(`${gw.url}/oauth/jwks`);
    expect((await jwtVerify(token, createLocalJWKSet(jwks.body))).payload.sub).toBe('remote');
  });

  it('a JWKS URL that answers 404 or too slowly → 401, not 5xx', async () => {
    expect((await requestToken(gw, await tokenForm(gw, 'gone', key))).status).toBe(401);
    const slow = await requestToken(gw, await tokenForm(gw, 'slow', key));
    expect(slow.status).toBe(401);
    expect((slow.body as { error_description: string }).error_description).toContain('in time');
  }, 15_000);

  it('a configured signing key file that does not exist stops the start', async () => {
    await expect(
      startTestServer({ auth: { enabled: true, signingKeyFile: path.join(keyDir, 'absent.pem'), clients: [{ id: 'x', tenant: HOSPITAL, jwks: jwksOf(key) }] } }),
    ).rejects.toThrow(/signingKeyFile.*does not exist/);
  });
});
