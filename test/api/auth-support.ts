// Authentication helpers for API tests: client key pairs, SMART-style client assertions, access tokens from the
// gateway's /oauth/token, and calls over the test server's HTTPS listener (with or without a client certificate).
//
//   const key = await clientKeys();                         // ES384 by default
//   srv = await startTestServer({ auth: { enabled: true, clients: [{ id: 'dpi-a', tenant: 'establishment:990000010',
//     roles: ['dpi'], jwks: jwksOf(key) }] } }, [], { tls: true });
//   const token = await tokenFor(srv, 'dpi-a', key);       // a gateway access token (JWT)
//   const r = await tlsCall(srv, `${srv.fhir}/Patient`, { headers: bearer(token) });
//   const m = await tlsCall(srv, `${srv.fhir}/Patient`, {}, orgCertificate(srv));   // mutual TLS
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:https';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { call, type Reply, type TestServer } from './server.js';

export interface ClientKey {
  alg: string;
  kid: string;
  privateKey: CryptoKey;
  /** The public half, with kid and alg: what the configuration's `jwks` lists. */
  publicJwk: JWK;
}

let kids = 0;

/** A fresh key pair for a client's assertions. */
export async function clientKeys(alg: 'ES384' | 'RS384' | 'ES256' | 'RS256' = 'ES384'): Promise<ClientKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = `key-${++kids}-${alg.toLowerCase()}`;
  return { alg, kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** The `jwks` of a client declaration. */
export function jwksOf(...keys: ClientKey[]): { keys: JWK[] } {
  return { keys: keys.map((k) => k.publicJwk) };
}

export interface AssertionOptions {
  /** Seconds from now (default 120; negative for an expired assertion). */
  expiresIn?: number;
  jti?: string;
  aud?: string;
  iss?: string;
  sub?: string;
  /** Extra protected-header members (kid and alg come from the key). */
  header?: Record<string, unknown>;
}

/** A SMART Backend Services client assertion signed with `key`. */
export async function assertionFor(tokenUrl: string, clientId: string, key: ClientKey, o: AssertionOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...o.header })
    .setIssuer(o.iss ?? clientId)
    .setSubject(o.sub ?? clientId)
    .setAudience(o.aud ?? tokenUrl)
    .setJti(o.jti ?? randomUUID())
    .setIssuedAt(now)
    .setExpirationTime(now + (o.expiresIn ?? 120))
    .sign(key.privateKey);
}

export const tokenUrlOf = (srv: TestServer): string => `${srv.url}/oauth/token`;

/** POST /oauth/token with these form fields (over HTTPS when the server has TLS). */
export function requestToken(srv: TestServer, form: Record<string, string>, identity?: TlsIdentity): Promise<Reply> {
  const body = new URLSearchParams(form).toString();
  const init = { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } };
  return srv.pki ? tlsCall(srv, tokenUrlOf(srv), init, identity) : call(tokenUrlOf(srv), init);
}

/** The form of a client-credentials request with a fresh assertion. */
export async function tokenForm(srv: TestServer, clientId: string, key: ClientKey, scope?: string, o: AssertionOptions = {}): Promise<Record<string, string>> {
  return {
    grant_type: 'client_credentials',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: await assertionFor(tokenUrlOf(srv), clientId, key, o),
    ...(scope ? { scope } : {}),
  };
}

/** A gateway access token for `clientId` (throws when the gateway refuses). */
export async function tokenFor(srv: TestServer, clientId: string, key: ClientKey, scope?: string): Promise<string> {
  const r = await requestToken(srv, await tokenForm(srv, clientId, key, scope));
  if (r.status !== 200) throw new Error(`token for ${clientId}: ${r.status} ${JSON.stringify(r.body)}`);
  return (r.body as { access_token: string }).access_token;
}

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

/** A client certificate and key (PEM) presented on the TLS handshake. */
export interface TlsIdentity {
  cert: string;
  key: string;
}

/** The PKI's organisation certificate (trusted CA). */
export const orgCertificate = (srv: TestServer): TlsIdentity => ({ cert: srv.pki!.pem.org, key: srv.pki!.pem.orgKey });
/** A certificate with the same subject from an unknown CA. */
export const intruderCertificate = (srv: TestServer): TlsIdentity => ({ cert: srv.pki!.pem.intruder, key: srv.pki!.pem.intruderKey });

const agents = new Map<string, Agent>();

function agentFor(ca: string, identity: TlsIdentity | undefined): Agent {
  const key = `${ca.length}:${ca.slice(-80)}|${identity?.cert.slice(-80) ?? 'none'}`;
  let agent = agents.get(key);
  if (!agent) {
    agent = new Agent({ keepAlive: true, maxSockets: 32, ca, ...(identity ? { cert: identity.cert, key: identity.key } : {}) });
    agents.set(key, agent);
  }
  return agent;
}

/** Close the keep-alive connections of tlsCall (in afterAll, before the server closes). */
export function closeTlsAgents(): void {
  for (const a of agents.values()) a.destroy();
  agents.clear();
}

/** Like `call` (JSON in, parsed JSON out), over the test server's HTTPS with its CA trusted, optionally with a client certificate. */
export function tlsCall<T = Record<string, unknown>>(
  srv: TestServer,
  url: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
  identity?: TlsIdentity,
): Promise<Reply<T>> {
  if (!srv.pki) throw new Error('tlsCall: the test server was started without tls');
  const body = init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
  const headers: Record<string, string> = { ...(body !== undefined ? { 'content-type': 'application/fhir+json', 'content-length': String(Buffer.byteLength(body)) } : {}), ...init.headers };
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? (body !== undefined ? 'POST' : 'GET'), headers, agent: agentFor(srv.pki!.pem.ca, identity) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
        let parsed: unknown;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          parsed = text;
        }
        resolve({ status: res.statusCode ?? 0, headers: h, body: parsed as T });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}
