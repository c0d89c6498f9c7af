// Mutual TLS on the gateway's HTTPS listener: a client certificate chaining to the configured CA, mapped by subject
// to a declared client, authenticates; one from an unknown CA (with the very same subject) does not.
import type { Express } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalSerial, parseDn, sameSubject } from '../../src/api/auth/mtls.js';
import { startTestServer, type Outcome, type TestServer } from './server.js';
import { bearer, clientKeys, closeTlsAgents, intruderCertificate, jwksOf, orgCertificate, tlsCall, tokenFor, type ClientKey } from './auth-support.js';

// The subject of the test PKI's organisation certificate (src/sandbox/pki.ts defaults), as RFC 4514 writes it.
const ORG_SUBJECT = 'CN=TEST-PASSERELLE-DMP,OU=1990000010,O=TEST CENTRE HOSPITALIER PASSERELLE,ST=Paris (75),C=FR';
const whoami = (app: Express): void => {
  app.get('/whoami', (req, res) => {
    res.json({ id: req.client.id, method: req.client.method, tenant: req.client.tenant, scopes: req.client.scopes });
  });
};

describe('mutual TLS', () => {
  let srv: TestServer;
  let key: ClientKey;
  beforeAll(async () => {
    key = await clientKeys();
    srv = await startTestServer(
      {
        auth: {
          enabled: true,
          clients: [
            { id: 'dpi-mtls', tenant: 'establishment:990000010', roles: ['dpi'], certificate: { subject: ORG_SUBJECT } },
            { id: 'dpi-jwt', tenant: 'establishment:990000036', roles: ['dpi'], jwks: jwksOf(key) },
          ],
        },
      },
      [whoami],
      { tls: true },
    );
  });
  afterAll(async () => {
    closeTlsAgents();
    await srv?.close();
  });

  it('a certificate of the configured CA whose subject is declared is that client (method mtls)', async () => {
    expect(srv.pki!.organisation.subject.replace(/, /g, ',')).toBe(ORG_SUBJECT);
    const r = await tlsCall(srv, `${srv.url}/whoami`, {}, orgCertificate(srv));
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: 'dpi-mtls', method: 'mtls', tenant: { kind: 'establishment', finess: '990000010' } });
    expect((await tlsCall(srv, `${srv.fhir}/Patient`, {}, orgCertificate(srv))).status).toBe(200);
  });

  it('the same subject from an unknown CA → 401 OperationOutcome (not a TLS alert)', async () => {
    const r = await tlsCall<Outcome>(srv, `${srv.fhir}/Patient`, {}, intruderCertificate(srv));
    expect(r.status).toBe(401);
    expect(r.body.issue[0].code).toBe('login');
    expect(r.body.issue[0].details?.text).toContain('not trusted');
  });

  it('no certificate and no token → 401', async () => {
    expect((await tlsCall(srv, `${srv.fhir}/Patient`)).status).toBe(401);
  });

  it('an Authorization header wins over a certificate', async () => {
    const token = await tokenFor(srv, 'dpi-jwt', key);
    // With the intruder's certificate: the token authenticates.
    const r = await tlsCall(srv, `${srv.url}/whoami`, { headers: bearer(token) }, intruderCertificate(srv));
    expect(r.body).toMatchObject({ id: 'dpi-jwt', method: 'jwt' });
    // With a good certificate and a bad token: refused (the header is judged alone).
    expect((await tlsCall(srv, `${srv.url}/whoami`, { headers: bearer('x'.repeat(40)) }, orgCertificate(srv))).status).toBe(401);
  });

  it('public routes stay readable whatever certificate is presented', async () => {
    expect((await tlsCall(srv, `${srv.fhir}/metadata`, {}, intruderCertificate(srv))).status).toBe(200);
    expect((await tlsCall(srv, `${srv.url}/healthz`)).status).toBe(200);
  });
});

describe('mutual TLS: a trusted certificate that maps to no client', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer(
      { auth: { enabled: true, clients: [{ id: 'other', tenant: 'establishment:990000010', roles: ['dpi'], certificate: { subject: 'CN=someone else,O=elsewhere,C=FR' } }] } },
      [whoami],
      { tls: true },
    );
  });
  afterAll(async () => {
    closeTlsAgents();
    await srv?.close();
  });

  it('→ 401 naming the subject', async () => {
    const r = await tlsCall<Outcome>(srv, `${srv.fhir}/Patient`, {}, orgCertificate(srv));
    expect(r.status).toBe(401);
    expect(r.body.issue[0].details?.text).toContain('maps to no declared client');
    expect(r.body.issue[0].details?.text).toContain('CN=TEST-PASSERELLE-DMP');
  });
});

describe('subjects and serials as the configuration writes them', () => {
  const presented = parseDn('C=FR,ST=Paris (75),O=CH Test,OU=1990000010,CN=TEST-DPI'); // root first, as Node prints
  it('RFC 4514 order, OpenSSL order and spacing all match', () => {
    expect(sameSubject(parseDn('CN=TEST-DPI,OU=1990000010,O=CH Test,ST=Paris (75),C=FR'), presented)).toBe(true);
    expect(sameSubject(parseDn('subject=C = FR, ST = Paris (75), O = CH Test, OU = 1990000010, CN = TEST-DPI'), presented)).toBe(true);
    expect(sameSubject(parseDn('cn=TEST-DPI, ou=1990000010, o=CH Test, st=Paris (75), c=FR'), presented)).toBe(true);
  });
  it('a different or partial subject does not', () => {
    expect(sameSubject(parseDn('CN=TEST-DPI,OU=1990000010,O=CH Test,C=FR'), presented)).toBe(false);
    expect(sameSubject(parseDn('CN=TEST-DPJ,OU=1990000010,O=CH Test,ST=Paris (75),C=FR'), presented)).toBe(false);
    expect(sameSubject(parseDn('CN=TEST\\,DPI,O=x'), parseDn('O=x,CN=TEST\\,DPI'))).toBe(true);
  });
  it('serials compare as hexadecimal digits', () => {
    expect(normalSerial('00:1A:2b:3C')).toBe(normalSerial('1a2b3c'));
  });
});
