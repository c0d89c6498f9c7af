// Authentication of systems and scope guards. Off in the embedded default (every request acts as `anonymous` with every
// scope). When on, a request proves which declared client it comes from by one of:
// - `Authorization: Bearer <access token>`: a JWT the gateway issued at /oauth/token (client credentials with a
//   `private_key_jwt` assertion, token-endpoint.ts), checked against the gateway's own key (access-tokens.ts);
// - a TLS client certificate on the HTTPS listener, chaining to `tls.ca` and mapped by subject or serial (mtls.ts);
// - with `auth.devTokens: true` only, a static bearer token from the configuration (local development).
// An Authorization header wins over a client certificate: a request that carries one is judged by it alone.
// Failed authentications are throttled per address and per claimed client before any token is looked at
// (rate-limit.ts), and each one is an audit row (`auth.failure`).
import type { Request, RequestHandler } from 'express';
import { decodeJwt, errors as joseErrors } from 'jose';
import type { Logger } from 'pino';
import { SCOPES, type Config, type Scope } from '../../config.js';
import { hasScope as principalHasScope, type Principal } from '../../domain/access/model.js';
import { forbidden, unauthorized } from '../../fhir/outcome.js';
import { currentRequestContext } from '../../observability/request-context.js';
import { recordAccess } from '../../services/audit/index.js';
import type { ResourceStore } from '../../store/repository.js';
import { AccessTokens, loadSigningKey } from './access-tokens.js';
import { ClientRegistry, principalOf } from './client-registry.js';
import { peerCertificate, subjectText } from './mtls.js';
import { FailureThrottle, addressKey, clientKey, tooManyRequests } from './rate-limit.js';

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

/** Who a request without credentials is on a public route while authentication is on: no scopes. */
export const UNAUTHENTICATED: AuthenticatedClient = Object.freeze({ id: 'anonymous', scopes: [], roles: [], method: 'none' as const });

/** Everything authentication needs, built once per app: the clients, the gateway's token key, the failure throttle. */
export interface AuthRuntime {
  auth: Config['auth'];
  enabled: boolean;
  registry: ClientRegistry;
  /** The token endpoint's URL: the `aud` a client assertion must name. */
  tokenUrl: string;
  /** The access-token issuer (signing key loaded or generated on first use; `ready()` loads it up front). */
  tokens(): Promise<AccessTokens>;
  throttle: FailureThrottle;
  store: ResourceStore;
  logger: Logger;
  /** Loads the signing key now, so a bad key file stops the start rather than the first request. */
  ready(): Promise<void>;
  close(): void;
}

export function createAuthRuntime(config: Config, deps: { store: ResourceStore; logger: Logger; env?: Record<string, string | undefined> }): AuthRuntime {
  const auth = config.auth;
  const registry = new ClientRegistry(auth.enabled ? auth : { ...auth, clients: [] }, deps.env);
  let tokens: Promise<AccessTokens> | undefined;
  const load = (): Promise<AccessTokens> => {
    tokens ??= loadSigningKey(auth, config.dataDir).then((key) => {
      if (key.generated) deps.logger.info({ file: key.file, kid: key.kid }, 'generated the access-token signing key');
      return new AccessTokens(key, config.baseUrl, auth.accessTokenTtl);
    });
    return tokens;
  };
  const throttle = new FailureThrottle(auth.rateLimit.authentication);
  return {
    auth,
    enabled: auth.enabled,
    registry,
    tokenUrl: `${config.baseUrl}/oauth/token`,
    tokens: load,
    throttle,
    store: deps.store,
    logger: deps.logger,
    ready: async () => {
      if (auth.enabled) await load();
    },
    close: () => throttle.shutdown(),
  };
}

/** A refused authentication: the reason (never the token), the client it claimed to be when one is known. */
export class AuthFailure extends Error {
  constructor(
    readonly reason: string,
    readonly claimed?: string,
  ) {
    super(reason);
  }
}

/** An audit row and a log line for a failed authentication (never the token or assertion). */
export async function recordFailure(rt: AuthRuntime, req: Request, failure: AuthFailure): Promise<void> {
  rt.logger.warn({ reqId: req.requestId, client: failure.claimed, source: req.socket.remoteAddress, reason: failure.reason }, 'authentication failed');
  try {
    await recordAccess(rt.store, {
      action: 'auth.failure',
      actor: failure.claimed ?? 'anonymous',
      entities: [],
      outcome: 'failure',
      detail: failure.reason,
      ...(req.socket.remoteAddress ? { source: req.socket.remoteAddress } : {}),
      requestId: req.requestId,
    });
  } catch (err) {
    rt.logger.error({ reqId: req.requestId, err: (err as Error).message }, 'cannot write the audit row of an authentication failure');
  }
}

/** Why jose refused a token, in words (no token content). */
export function joseReason(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `claim "${err.claim}" ${err.reason === 'check_failed' ? 'check failed' : err.reason}`;
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'signature algorithm not allowed';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature does not verify';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'signed by no declared key';
  if (err instanceof joseErrors.JWKSTimeout) return 'the JWKS URL did not answer in time';
  if (err instanceof joseErrors.JOSEError) return `invalid (${err.code})`;
  return 'invalid';
}

const BEARER = /^Bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i;
/** Longest bearer token looked at (a gateway access token is under 1 KB). */
const MAX_TOKEN = 8192;

/** The declared client an unverified JWT claims to be (its `sub`), for the per-client throttle. */
function claimedBy(rt: AuthRuntime, token: string, tokens: AccessTokens | undefined): string | undefined {
  const known = tokens?.known(token);
  if (known) return rt.registry.get(known.sub) ? known.sub : undefined;
  if (token.length > MAX_TOKEN || token.split('.').length !== 3) return undefined;
  try {
    const sub = decodeJwt(token).sub;
    return typeof sub === 'string' && rt.registry.get(sub) ? sub : undefined;
  } catch {
    return undefined;
  }
}

async function byBearer(rt: AuthRuntime, token: string, claimed: string | undefined): Promise<Principal> {
  if (rt.registry.hasDevTokens) {
    const c = rt.registry.byDevToken(token);
    if (c) return principalOf(c, 'dev-token');
  }
  if (token.length > MAX_TOKEN || token.split('.').length !== 3) throw new AuthFailure('not a valid access token');
  const tokens = await rt.tokens();
  let claims;
  try {
    claims = await tokens.verify(token);
  } catch (err) {
    throw new AuthFailure(`access token ${joseReason(err)}`, claimed);
  }
  const client = rt.registry.get(claims.sub);
  if (!client) throw new AuthFailure('access token of a client that is no longer declared', claims.sub);
  if ((claims.tenant ?? undefined) !== client.tenantText) throw new AuthFailure("access token issued for another tenant than the client's current one", client.id);
  // The scopes granted then, as far as the client still holds them now.
  const granted = claims.scope.split(' ').filter((s): s is Scope => (client.scopes as readonly string[]).includes(s) || (client.scopes.includes('admin') && (SCOPES as readonly string[]).includes(s)));
  return principalOf(client, 'jwt', granted);
}

/**
 * Authentication middleware. With `optional`, a request without credentials goes on as `UNAUTHENTICATED` (public
 * routes such as metadata); credentials that are present must still be valid.
 */
export function authenticate(rt: AuthRuntime, options: { optional?: boolean } = {}): RequestHandler {
  if (!rt.enabled) {
    return (req, _res, next) => {
      req.client = ANONYMOUS;
      next();
    };
    // (the anonymous principal is not recorded in the request context: audit rows say `anonymous` as actor)
  }
  return async (req, res, next) => {
    try {
      const header = req.get('authorization');
      const cert = header ? undefined : peerCertificate(req.socket);
      if (!header && (cert === undefined || cert.state !== 'trusted') && options.optional) {
        req.client = UNAUTHENTICATED;
        next();
        return;
      }
      const match = header ? BEARER.exec(header) : null;
      const claimed = match ? claimedBy(rt, match[1], await rt.tokens()) : cert?.state === 'trusted' ? rt.registry.byCertificate(cert.subject, cert.serial)?.id : undefined;
      const keys = [addressKey(req.socket.remoteAddress), ...(claimed ? [clientKey(claimed)] : [])];
      const verdict = await rt.throttle.enter(keys);
      if (verdict.blocked) {
        res.setHeader('Retry-After', String(verdict.retryAfter));
        next(tooManyRequests(`Too many failed authentications; retry in ${verdict.retryAfter} s`));
        return;
      }
      let principal: Principal;
      try {
        if (header) {
          if (!match) throw new AuthFailure('Authorization header must be "Bearer <token>"');
          principal = await byBearer(rt, match[1], claimed);
        } else if (cert?.state === 'trusted') {
          if (!claimed) throw new AuthFailure(`client certificate ${subjectText(cert.subject)} maps to no declared client`);
          principal = principalOf(rt.registry.get(claimed)!, 'mtls');
        } else if (cert?.state === 'untrusted') {
          throw new AuthFailure(`client certificate not trusted (${cert.reason})`);
        } else {
          throw new AuthFailure('missing credentials: a bearer access token or a client certificate');
        }
      } catch (err) {
        if (!(err instanceof AuthFailure)) throw err;
        await recordFailure(rt, req, err);
        res.setHeader('WWW-Authenticate', header ? 'Bearer realm="passerelle", error="invalid_token"' : 'Bearer realm="passerelle"');
        next(unauthorized(err.reason.charAt(0).toUpperCase() + err.reason.slice(1)));
        return;
      }
      await rt.throttle.succeeded(keys);
      req.client = principal;
      const ctx = currentRequestContext();
      if (ctx) ctx.principal = principal;
      next();
    } catch (err) {
      next(err);
    }
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
