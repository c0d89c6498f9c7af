// The declared clients (systems) as authentication needs them: the principal each stands for, the keys that may sign
// its assertions (inline JWKS, a JWKS file read at start, or a JWKS URL fetched with a timeout and cached), its client
// certificate, and — with `auth.devTokens` only — the digest of its static bearer token.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, createRemoteJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { ConfigError, readSecret, type AuthClient, type Config } from '../../config.js';
import { parseTenant, scopesOf, type Principal, type Scope, type Tenant } from '../../domain/access/model.js';
import { normalSerial, parseDn, sameSubject } from './mtls.js';

export interface RegisteredClient {
  id: string;
  tenant?: Tenant;
  /** The tenant as configured (`establishment:<FINESS>`…), as access tokens carry it. */
  tenantText?: string;
  roles: Principal['roles'];
  /** Every scope the client holds: its roles' and its own. */
  scopes: readonly Scope[];
  /** Keys that may sign its `private_key_jwt` assertions; absent when none is declared. */
  keys?: JWTVerifyGetKey;
  /** Where the keys come from, for messages. */
  keysFrom?: 'jwks' | 'jwksFile' | 'jwksUrl';
  certificate?: { subject?: string[]; serial?: string };
  /** SHA-256 of the static token (dev tokens only). */
  devTokenDigest?: Buffer;
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** How long a JWKS URL may take to answer, how long its keys are kept, how soon an unknown `kid` may refetch. */
export const REMOTE_JWKS = { timeoutDuration: 5000, cacheMaxAge: 10 * 60_000, cooldownDuration: 30_000 };

function readJwksFile(file: string, id: string): JSONWebKeySet {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`auth.clients[${id}].jwksFile: cannot read ${file} as JSON: ${(err as Error).message}`);
  }
  const keys = (doc as { keys?: unknown }).keys;
  if (!Array.isArray(keys) || keys.length === 0) throw new ConfigError(`auth.clients[${id}].jwksFile: ${file} holds no "keys" array`);
  for (const k of keys) {
    if (typeof k !== 'object' || k === null || typeof (k as { kty?: unknown }).kty !== 'string') {
      throw new ConfigError(`auth.clients[${id}].jwksFile: ${file}: every key needs a kty`);
    }
    if (['d', 'p', 'q', 'k'].some((m) => m in k)) throw new ConfigError(`auth.clients[${id}].jwksFile: ${file}: a client key must be public (no d, p, q or k member)`);
  }
  return { keys } as JSONWebKeySet;
}

function keysOf(c: AuthClient): Pick<RegisteredClient, 'keys' | 'keysFrom'> {
  try {
    if (c.jwks) return { keys: createLocalJWKSet(c.jwks as JSONWebKeySet), keysFrom: 'jwks' };
    if (c.jwksFile) return { keys: createLocalJWKSet(readJwksFile(c.jwksFile, c.id)), keysFrom: 'jwksFile' };
    if (c.jwksUrl) return { keys: createRemoteJWKSet(new URL(c.jwksUrl), REMOTE_JWKS), keysFrom: 'jwksUrl' };
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`auth.clients[${c.id}]: unusable keys: ${(err as Error).message}`);
  }
  return {};
}

function devTokenOf(c: AuthClient, devTokens: boolean, env: Record<string, string | undefined> | undefined): Buffer | undefined {
  if (!devTokens) return undefined;
  if (c.tokenSha256) return Buffer.from(c.tokenSha256, 'hex');
  const clear = c.token ?? readSecret({ file: c.tokenFile, env: c.tokenEnv }, `auth.clients[${c.id}] token`, env);
  if (clear === undefined) return undefined;
  if (clear.length < 16) throw new ConfigError(`auth.clients[${c.id}] token: a bearer token needs at least 16 characters`);
  return sha256(clear);
}

export class ClientRegistry {
  private readonly byId = new Map<string, RegisteredClient>();
  private readonly withToken: RegisteredClient[] = [];
  private readonly withCertificate: RegisteredClient[] = [];

  /** `env`: where `tokenEnv` variables are read (default: the process's, through config.ts's readSecret). */
  constructor(auth: Config['auth'], env?: Record<string, string | undefined>) {
    for (const c of auth.clients) {
      if (this.byId.has(c.id)) throw new ConfigError(`auth.clients: the id ${c.id} is declared twice`);
      const registered: RegisteredClient = {
        id: c.id,
        ...(c.tenant ? { tenant: parseTenant(c.tenant), tenantText: c.tenant } : {}),
        roles: c.roles,
        scopes: scopesOf(c.roles, c.scopes),
        ...keysOf(c),
        ...(c.certificate
          ? {
              certificate: {
                ...(c.certificate.subject ? { subject: parseDn(c.certificate.subject) } : {}),
                ...(c.certificate.serial ? { serial: normalSerial(c.certificate.serial) } : {}),
              },
            }
          : {}),
      };
      const digest = devTokenOf(c, auth.devTokens, env);
      if (digest) registered.devTokenDigest = digest;
      this.byId.set(c.id, registered);
      if (digest) this.withToken.push(registered);
      if (registered.certificate) this.withCertificate.push(registered);
    }
  }

  get(id: string): RegisteredClient | undefined {
    return this.byId.get(id);
  }

  get size(): number {
    return this.byId.size;
  }

  /** Whether any client has a static token (then `serve` warns). */
  get hasDevTokens(): boolean {
    return this.withToken.length > 0;
  }

  /** The client whose dev token this is. Every client is visited, so timing says nothing about which one matched. */
  byDevToken(token: string): RegisteredClient | undefined {
    const presented = sha256(token);
    let found: RegisteredClient | undefined;
    for (const c of this.withToken) {
      if (timingSafeEqual(c.devTokenDigest!, presented) && !found) found = c;
    }
    return found;
  }

  /** The client a trusted certificate stands for: every criterion declared (subject, serial) must match. */
  byCertificate(subject: readonly string[], serial: string): RegisteredClient | undefined {
    return this.withCertificate.find(
      (c) => (c.certificate!.serial === undefined || c.certificate!.serial === serial) && (c.certificate!.subject === undefined || sameSubject(c.certificate!.subject, subject)),
    );
  }
}

/** The principal a client stands for, authenticated by `method`, holding `scopes` (default: all its scopes). */
export function principalOf(c: RegisteredClient, method: Principal['method'], scopes: readonly Scope[] = c.scopes): Principal {
  return { id: c.id, scopes, roles: c.roles, ...(c.tenant ? { tenant: c.tenant } : {}), method };
}
