// The gateway's OAuth2 token endpoint, as SMART Backend Services and RFC 7523 describe it: a client proves who it is
// with a JWT it signed with its own key (`private_key_jwt`) and gets a short-lived access token signed by the gateway.
//   POST /oauth/token   (application/x-www-form-urlencoded)
//     grant_type=client_credentials
//     client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer
//     client_assertion=<JWT: iss = sub = client id, aud = <baseUrl>/oauth/token, exp ≤ 5 min ahead, jti never reused>
//     scope=<optional, space-separated: fhir.read fhir.write … or SMART system/*.read, system/*.write, system/*.*>
//   GET /oauth/jwks     the gateway's public key (to check its access tokens elsewhere)
// Errors are RFC 6749 JSON (`error`, `error_description`), 400 or 401, never cached.
import express, { type ErrorRequestHandler, type Express, type Request, type Response } from 'express';
import { decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { SCOPES, type Scope } from '../../config.js';
import { recordAccess } from '../../services/audit/index.js';
import { tenantKey } from '../../domain/access/model.js';
import { AuthFailure, joseReason, recordFailure, type AuthRuntime } from './index.js';
import { addressKey, clientKey } from './rate-limit.js';
import type { RegisteredClient } from './client-registry.js';

export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Signature algorithms accepted on client assertions (SMART asks for RS384 and ES384; RS256/ES256 are common). */
export const ASSERTION_ALGORITHMS = ['RS384', 'ES384', 'RS256', 'ES256'];
/** Clock skew tolerated on `exp` / `nbf` / `iat`, in seconds. */
const CLOCK_TOLERANCE = 30;
/** An assertion may not be valid for longer than this (SMART: five minutes). */
const MAX_ASSERTION_LIFETIME = 300;
const MAX_ASSERTION_LENGTH = 16_384;

type OAuthErrorCode = 'invalid_request' | 'invalid_client' | 'invalid_grant' | 'unsupported_grant_type' | 'invalid_scope';

class OAuthError extends AuthFailure {
  constructor(
    readonly code: OAuthErrorCode,
    reason: string,
    claimed?: string,
  ) {
    super(reason, claimed);
  }
  get status(): number {
    return this.code === 'invalid_client' ? 401 : 400;
  }
}

/** SMART system scopes mapped to ours: reads → fhir.read, writes → fhir.write; resource-type scopes are refused. */
const SMART: Record<string, Scope[]> = {
  'system/*.read': ['fhir.read'],
  'system/*.rs': ['fhir.read'],
  'system/*.write': ['fhir.write'],
  'system/*.cud': ['fhir.write'],
  'system/*.*': ['fhir.read', 'fhir.write'],
  'system/*.cruds': ['fhir.read', 'fhir.write'],
};

function grantedScopes(client: RegisteredClient, requested: string | undefined): Scope[] {
  const holds = (s: Scope): boolean => client.scopes.includes(s) || client.scopes.includes('admin');
  if (requested === undefined || requested.trim() === '') {
    if (client.scopes.length === 0) throw new OAuthError('invalid_scope', 'the client holds no scope', client.id);
    return [...client.scopes];
  }
  const wanted = new Set<Scope>();
  for (const word of requested.trim().split(/\s+/)) {
    const mapped = (SCOPES as readonly string[]).includes(word) ? [word as Scope] : SMART[word];
    if (!mapped) throw new OAuthError('invalid_scope', `unknown scope "${word.slice(0, 64)}"`, client.id);
    for (const s of mapped) {
      if (!holds(s)) throw new OAuthError('invalid_scope', `the client does not hold the scope ${s}`, client.id);
      wanted.add(s);
    }
  }
  return SCOPES.filter((s) => wanted.has(s));
}

function param(body: Record<string, unknown>, name: string): string | undefined {
  const v = body[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new OAuthError('invalid_request', `${name} is given more than once`);
  return v;
}

async function verifyAssertion(rt: AuthRuntime, body: Record<string, unknown>): Promise<{ client: RegisteredClient; scopes: Scope[] }> {
  const grantType = param(body, 'grant_type');
  if (grantType === undefined) throw new OAuthError('invalid_request', 'grant_type is missing');
  if (grantType !== 'client_credentials') throw new OAuthError('unsupported_grant_type', 'only grant_type=client_credentials is supported');
  const assertionType = param(body, 'client_assertion_type');
  const assertion = param(body, 'client_assertion');
  if (assertionType !== ASSERTION_TYPE) throw new OAuthError('invalid_request', `client_assertion_type must be ${ASSERTION_TYPE}`);
  if (!assertion) throw new OAuthError('invalid_request', 'client_assertion is missing');
  if (assertion.length > MAX_ASSERTION_LENGTH) throw new OAuthError('invalid_request', `client_assertion is longer than ${MAX_ASSERTION_LENGTH} characters`);
  let iss: unknown;
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(assertion).alg;
    iss = decodeJwt(assertion).iss;
  } catch {
    throw new OAuthError('invalid_client', 'client_assertion is not a signed JWT');
  }
  const client = typeof iss === 'string' ? rt.registry.get(iss) : undefined;
  if (!client) throw new OAuthError('invalid_client', 'the assertion names no declared client (iss)');
  const clientId = param(body, 'client_id');
  if (clientId !== undefined && clientId !== client.id) throw new OAuthError('invalid_client', 'client_id differs from the assertion issuer', client.id);
  if (typeof alg !== 'string' || !ASSERTION_ALGORITHMS.includes(alg)) {
    throw new OAuthError('invalid_client', `the assertion's alg must be one of ${ASSERTION_ALGORITHMS.join(', ')}`, client.id);
  }
  if (!client.keys) throw new OAuthError('invalid_client', 'no key is declared for this client (jwks, jwksUrl or jwksFile)', client.id);
  const now = new Date();
  let payload;
  try {
    ({ payload } = await jwtVerify(assertion, client.keys, {
      algorithms: ASSERTION_ALGORITHMS,
      issuer: client.id,
      subject: client.id,
      audience: rt.tokenUrl,
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'jti'],
      clockTolerance: CLOCK_TOLERANCE,
      currentDate: now,
    }));
  } catch (err) {
    if (client.keysFrom === 'jwksUrl') rt.logger.debug({ client: client.id, err: (err as Error).message }, 'client assertion refused');
    throw new OAuthError('invalid_client', `client assertion ${joseReason(err)}`, client.id);
  }
  const nowSeconds = Math.floor(now.getTime() / 1000);
  const exp = payload.exp!;
  if (exp - nowSeconds > MAX_ASSERTION_LIFETIME + CLOCK_TOLERANCE) throw new OAuthError('invalid_client', 'the assertion expires more than 5 minutes from now', client.id);
  const jti = payload.jti;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) throw new OAuthError('invalid_client', 'the assertion needs a jti of 1 to 256 characters', client.id);
  const scopes = grantedScopes(client, param(body, 'scope'));
  // Remembered until the assertion could no longer be accepted anyway.
  if (!(await rt.store.security.rememberJti(client.id, jti, new Date((exp + CLOCK_TOLERANCE) * 1000), now))) {
    throw new OAuthError('invalid_client', 'the assertion was already used (jti replayed)', client.id);
  }
  return { client, scopes };
}

function sendError(res: Response, err: OAuthError): void {
  if (err.code === 'invalid_client') res.setHeader('WWW-Authenticate', 'Bearer realm="passerelle", error="invalid_client"');
  res.status(err.status).json({ error: err.code, error_description: err.reason });
}

/** Mounts /oauth/token and /oauth/jwks (before the systems' authentication: they need none). */
export function mountOAuthRoutes(app: Express, rt: AuthRuntime): void {
  if (!rt.enabled) return;
  const form = express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 20 });
  const noStore = (_req: Request, res: Response, next: () => void): void => {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Pragma', 'no-cache');
    next();
  };

  app.get('/oauth/jwks', async (_req, res, next) => {
    try {
      res.setHeader('Cache-Control', 'public, max-age=300');
      res.json((await rt.tokens()).jwks);
    } catch (err) {
      next(err);
    }
  });

  const token = async (req: Request, res: Response): Promise<void> => {
    res.locals.route = 'POST /oauth/token';
    const keys = [addressKey(req.socket.remoteAddress)];
    let verdict = await rt.throttle.enter(keys);
    let claimed: string | undefined;
    try {
      if (!verdict.blocked) {
        // Body parsing errors (too large, bad charset) come here as `req.formError`.
        const formError = (req as Request & { formError?: string }).formError;
        if (formError) throw new OAuthError('invalid_request', formError);
        if (!req.is('application/x-www-form-urlencoded') || typeof req.body !== 'object' || req.body === null) {
          throw new OAuthError('invalid_request', 'the body must be application/x-www-form-urlencoded');
        }
        const iss = (() => {
          try {
            const a = (req.body as Record<string, unknown>).client_assertion;
            return typeof a === 'string' && a.length <= MAX_ASSERTION_LENGTH ? decodeJwt(a).iss : undefined;
          } catch {
            return undefined;
          }
        })();
        claimed = typeof iss === 'string' && rt.registry.get(iss) ? iss : undefined;
        if (claimed) {
          keys.push(clientKey(claimed));
          verdict = await rt.throttle.enter([clientKey(claimed)]);
        }
      }
      if (verdict.blocked) {
        res.setHeader('Retry-After', String(verdict.retryAfter));
        res.status(429).json({ error: 'invalid_request', error_description: `too many failed authentications; retry in ${verdict.retryAfter} s` });
        return;
      }
      const { client, scopes } = await verifyAssertion(rt, req.body as Record<string, unknown>);
      const issued = await (await rt.tokens()).issue(client, scopes);
      await rt.throttle.succeeded(keys);
      try {
        await recordAccess(rt.store, {
          action: 'auth.token',
          actor: client.id,
          ...(client.tenant ? { tenant: tenantKey(client.tenant) } : {}),
          entities: [],
          outcome: 'success',
          detail: `scope ${scopes.join(' ')}`,
          ...(req.socket.remoteAddress ? { source: req.socket.remoteAddress } : {}),
          requestId: req.requestId,
        });
      } catch (err) {
        rt.logger.error({ reqId: req.requestId, err: (err as Error).message }, 'cannot write the audit row of a token issued');
      }
      res.status(200).json({ access_token: issued.token, token_type: 'bearer', expires_in: issued.expiresIn, scope: scopes.join(' ') });
    } catch (err) {
      if (!(err instanceof OAuthError)) throw err;
      await recordFailure(rt, req, err.claimed === undefined && claimed ? new OAuthError(err.code, err.reason, claimed) : err);
      sendError(res, err);
    }
  };

  // A body the parser refuses (too large, unsupported charset or encoding) is an invalid_request, not a 413/415 outcome.
  const formErrors: ErrorRequestHandler = (err: unknown, req, _res, next) => {
    const type = (err as { type?: unknown }).type;
    if (typeof type !== 'string') {
      next(err);
      return;
    }
    (req as Request & { formError?: string }).formError = type === 'entity.too.large' ? 'the body is too large' : `unreadable body (${type})`;
    next();
  };
  app.post('/oauth/token', noStore, form, formErrors, (req: Request, res: Response, next: (err?: unknown) => void) => {
    token(req, res).catch(next);
  });
  app.all('/oauth/token', noStore, (_req, res) => {
    res.setHeader('Allow', 'POST');
    res.status(405).json({ error: 'invalid_request', error_description: 'use POST with a form-encoded body' });
  });
}
