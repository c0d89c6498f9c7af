// Throttling with express-rate-limit: (a) failed authentications per source address and per claimed client, checked
// before any token work; (b) expensive endpoints per principal and per source address. Counters live in memory, per
// process (a gateway scaled to several processes multiplies the limits by their number).
import type { Request, RequestHandler, Response } from 'express';
import { MemoryStore, ipKeyGenerator, rateLimit, type Options } from 'express-rate-limit';
import type { Config } from '../../config.js';
import { OperationOutcomeError, issue, outcome } from '../../fhir/outcome.js';

type WindowLimit = Config['auth']['rateLimit']['authentication'];

/** The rate-limit key of a source address (IPv6 addresses grouped by /56, as express-rate-limit does). */
export function addressKey(address: string | undefined): string {
  return `ip:${address ? ipKeyGenerator(address) : 'unknown'}`;
}

export function clientKey(id: string): string {
  return `client:${id}`;
}

/** 429 with the seconds to wait. */
export function tooManyRequests(text: string): OperationOutcomeError {
  return new OperationOutcomeError(outcome([issue('throttled', text)], 'too-many-requests'));
}

export type ThrottleVerdict = { blocked: false } | { blocked: true; retryAfter: number };

/**
 * Failed authentications, counted per key within a fixed window. An attempt is counted when it starts (`enter`) and
 * uncounted when it succeeds (`succeeded`), so only failures stay in the count, and a flood of concurrent attempts
 * cannot slip past the limit while the first ones are still being checked. Once a key holds `max` failures, every
 * attempt under it is answered 429 until the window ends, before any token is looked at.
 */
export class FailureThrottle {
  private readonly store = new MemoryStore();

  constructor(readonly limit: WindowLimit) {
    this.store.init({ windowMs: limit.windowMs } as Options);
  }

  /** Count one attempt under each key; blocked when any of them is over the limit (the others are left counted). */
  async enter(keys: readonly string[], now = Date.now()): Promise<ThrottleVerdict> {
    for (const key of keys) {
      const { totalHits, resetTime } = await this.store.increment(key);
      if (totalHits > this.limit.max) {
        return { blocked: true, retryAfter: Math.max(1, Math.ceil(((resetTime?.getTime() ?? now + this.limit.windowMs) - now) / 1000)) };
      }
    }
    return { blocked: false };
  }

  /** The attempt under these keys succeeded: it is not a failure. */
  async succeeded(keys: readonly string[]): Promise<void> {
    for (const key of keys) await this.store.decrement(key);
  }

  shutdown(): void {
    this.store.shutdown();
  }
}

/**
 * Whether a request is one of the expensive ones: FHIR transaction/batch (`POST /fhir`), `Patient/$match`,
 * `$everything`, the identity link export and the bulk identity import. Matched as express routes them (any case,
 * optional trailing slash, `$` possibly percent-encoded).
 */
export function isExpensive(method: string, rawPath: string): boolean {
  let p = rawPath;
  if (p.includes('%')) {
    try {
      p = decodeURIComponent(p);
    } catch {
      return false;
    }
  }
  p = p.replace(/\/+$/, '').toLowerCase();
  if (method === 'POST') return p === '/fhir' || p === '/fhir/patient/$match' || p === '/identity/import' || /^\/fhir\/patient\/[^/]+\/\$everything$/.test(p);
  if (method === 'GET') return p === '/identity/links' || p === '/identity/conflicts' || /^\/fhir\/patient\/[^/]+\/\$everything$/.test(p);
  return false;
}

function throttled(req: Request, res: Response, property: string): void {
  const info = (req as unknown as Record<string, { resetTime?: Date } | undefined>)[property];
  if (!res.getHeader('Retry-After')) {
    const seconds = info?.resetTime ? Math.max(1, Math.ceil((info.resetTime.getTime() - Date.now()) / 1000)) : 60;
    res.setHeader('Retry-After', String(seconds));
  }
}

/**
 * The expensive endpoints' limit, per principal (with the standard `RateLimit` headers) and per source address: each
 * counts every expensive request within `windowMs`; over `max`, 429 with `Retry-After`. Runs after authentication.
 */
export function expensiveLimiter(limit: WindowLimit): RequestHandler {
  const common: Partial<Options> = {
    windowMs: limit.windowMs,
    limit: limit.max,
    // Keys are ours (principal id, address through ipKeyGenerator); no proxy headers are trusted.
    validate: { xForwardedForHeader: false, keyGeneratorIpFallback: false, trustProxy: false },
    passOnStoreError: false,
  };
  const byPrincipal = rateLimit({
    ...common,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    requestPropertyName: 'rateLimitPrincipal',
    keyGenerator: (req) => clientKey(req.client?.id ?? 'anonymous'),
    handler: (req, res, next) => {
      throttled(req, res, 'rateLimitPrincipal');
      next(tooManyRequests(`Too many expensive requests by ${req.client?.id ?? 'this client'}: at most ${limit.max} in ${limit.windowMs / 1000} s`));
    },
  });
  const byAddress = rateLimit({
    ...common,
    standardHeaders: false,
    legacyHeaders: false,
    requestPropertyName: 'rateLimitAddress',
    keyGenerator: (req) => addressKey(req.socket.remoteAddress),
    handler: (req, res, next) => {
      throttled(req, res, 'rateLimitAddress');
      next(tooManyRequests(`Too many expensive requests from this address: at most ${limit.max} in ${limit.windowMs / 1000} s`));
    },
  });
  return (req, res, next) => {
    if (!isExpensive(req.method, req.path)) {
      next();
      return;
    }
    byPrincipal(req, res, (err?: unknown) => (err ? next(err) : byAddress(req, res, next)));
  };
}
