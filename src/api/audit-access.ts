// Audit of express routes outside the FHIR adapter (identity review queue, link export, the PPP medication review):
// `auditAccess(action)` before the route's scope check records one row once the response is finished — who (from the
// request context), the status, what the route names (`:id`), the query's parameter names (values masked unless ids).
// A denied attempt (401 is the authentication's own row; 403 here) is recorded as a failure.
import type { Request, RequestHandler } from 'express';
import { currentRequestContext, withRequestContext } from '../observability/request-context.js';
import { accessAuditor } from '../services/audit/access.js';
import { maskedQuery } from '../services/audit/query.js';
import type { AuditEntry, ResourceStore } from '../store/repository.js';

export interface AuditAccessOptions {
  /** What the request touched (default: `<prefix>/<:id>` when the route has an id and `prefix` is given). */
  entities?: (req: Request) => string[];
  /** The reference type of the route's `:id` (`Patient`, `CarePlan`) or a label (`identity-review`). */
  prefix?: string;
}

/** The audit row of a finished request on a non-FHIR route. */
export function accessEntry(action: string, req: Request, status: number, options: AuditAccessOptions = {}): AuditEntry {
  const id = typeof req.params?.id === 'string' ? req.params.id : undefined;
  const entities = options.entities ? options.entities(req) : id && options.prefix ? [`${options.prefix}/${id}`] : [];
  const query = maskedQuery(new URL(req.originalUrl, 'http://x').searchParams);
  return {
    action,
    actor: req.client?.id ?? 'anonymous',
    entities,
    outcome: status < 400 ? 'success' : 'failure',
    detail: `status ${status}${query ? `; query ${req.path}?${query}` : ''}`,
    ...(req.requestId ? { requestId: req.requestId } : {}),
  };
}

/**
 * Middleware recording the access once answered (`res` finished or closed). Put it before the route's scope check so
 * refusals are recorded too. A failure to write the row is reported as a process warning (the answer is gone).
 */
export function auditAccess(store: ResourceStore, action: string, options: AuditAccessOptions = {}): RequestHandler {
  return (req, res, next) => {
    // The who of the request (its principal is set by then), for a row written when the response has gone.
    const ctx = currentRequestContext();
    let done = false;
    const record = (): void => {
      if (done) return;
      done = true;
      const write = (): Promise<void> => accessAuditor(store).record(accessEntry(action, req, res.statusCode, options));
      (ctx ? withRequestContext(ctx, write) : write()).catch((err: unknown) => process.emitWarning(`audit: ${action} could not be recorded: ${(err as Error).message}`));
    };
    res.on('finish', record);
    res.on('close', record);
    next();
  };
}
