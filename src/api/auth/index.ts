// Bearer-token authentication of API clients and scope guards. Off in the embedded default (every
// request acts as `anonymous` with every scope); when on, a token must match a configured client.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { SCOPES, type Config, type Scope } from '../../config.js';
import { hasScope as principalHasScope, type Principal } from '../../domain/access/model.js';
import { forbidden, unauthorized } from '../../fhir/outcome.js';
import { currentRequestContext } from '../../observability/request-context.js';

/** Who a request acts as (src/domain/access/model.ts). */
export type AuthenticatedClient = Principal;

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by `authenticate()` on every request that reaches a route. */
      client: AuthenticatedClient;
    }
  }
}

export const ANONYMOUS: AuthenticatedClient = Object.freeze({ id: 'anonymous', scopes: SCOPES, roles: [], method: 'none' as const });

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

interface KnownClient {
  id: string;
  scopes: readonly Scope[];
  digest: Buffer;
}

/** Who a request without credentials is on a public route while authentication is on: no scopes. */
export const UNAUTHENTICATED: AuthenticatedClient = Object.freeze({ id: 'anonymous', scopes: [], roles: [], method: 'none' as const });

/**
 * Authentication middleware. With `optional`, a request without an Authorization header goes on as
 * `UNAUTHENTICATED` (public routes such as metadata); a header that is present must still be valid.
 */
export function authenticate(auth: Config['auth'], options: { optional?: boolean } = {}): RequestHandler {
  if (!auth.enabled) {
    return (req, _res, next) => {
      req.client = ANONYMOUS;
      next();
    };
    // (the anonymous principal is not recorded in the request context: audit rows say `anonymous` as actor)
  }
  // Compare digests, not secrets: equal lengths for timingSafeEqual, and a `tokenSha256` needs no clear text.
  const clients: KnownClient[] = auth.clients.map((c) => ({
    id: c.id,
    scopes: c.scopes,
    digest: c.tokenSha256 ? Buffer.from(c.tokenSha256, 'hex') : sha256(c.token ?? ''),
  }));
  return (req, res, next) => {
    const header = req.get('authorization');
    if (!header && options.optional) {
      req.client = UNAUTHENTICATED;
      next();
      return;
    }
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="passerelle"');
      next(unauthorized(header ? 'Authorization header must be "Bearer <token>"' : 'Missing bearer token'));
      return;
    }
    const presented = sha256(match[1]);
    let found: KnownClient | undefined;
    // Visit every client whatever happens, so timing says nothing about which one matched.
    for (const c of clients) {
      if (timingSafeEqual(c.digest, presented) && !found) found = c;
    }
    if (!found) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="passerelle", error="invalid_token"');
      next(unauthorized('Invalid bearer token'));
      return;
    }
    req.client = { id: found.id, scopes: found.scopes, roles: [], method: 'dev-token' };
    const ctx = currentRequestContext();
    if (ctx) ctx.principal = req.client;
    next();
  };
}

export function hasScope(client: AuthenticatedClient, scope: Scope): boolean {
  return principalHasScope(client, scope);
}

/** 403 unless the authenticated client holds `scope` (or `admin`). */
export function requireScope(scope: Scope): RequestHandler {
  return (req, _res, next) => {
    if (!hasScope(req.client, scope)) {
      next(forbidden(`Client "${req.client.id}" lacks the scope ${scope}`));
      return;
    }
    next();
  };
}
