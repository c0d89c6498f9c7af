// The context of the request being served, for code far from the HTTP layer that must say who acted: the audit rows
// of a transaction take their person, tenant and source address from here when the caller did not give them.
// Set once per request by the api layer (`requestId()` opens it; authentication fills the principal).
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Principal } from '../domain/access/model.js';

export interface RequestContext {
  requestId: string;
  /** Client address (as the socket saw it). */
  source?: string;
  /** Set by authentication (systems) or by the pages' session (people). */
  principal?: Principal;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** Runs `fn` (and everything it starts) with `ctx` as the current request context. */
export function withRequestContext<T>(ctx: RequestContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

/** The context of the request being served, if any. */
export function currentRequestContext(): RequestContext | undefined {
  return storage.getStore();
}
