// `GET /pathway/worklist` (issue 18 point 6, docs/pathway.md "The worklist"): the case managers' due work as JSON —
// overdue prescription requests and missing follow-up outcomes, per case. Read scope `fhir.read`; a principal bound to
// an establishment sees its own establishment only (`?finess=` of another: 403), a pharmacy or a region none (403);
// the cross-tenant roles (and a gateway without authentication) see every establishment or the one asked for.
import type { Express, Request, RequestHandler } from 'express';
import { isTenantBound } from '../domain/access/model.js';
import { forbidden, invalid } from '../fhir/outcome.js';
import { worklist } from '../services/pathway/worklist.js';
import type { AppDeps } from './app.js';
import { requireScope } from './auth/index.js';
import { auditAccess } from './audit-access.js';

export const WORKLIST_PATH = '/pathway/worklist';
const FINESS = /^(\d{9}|2[AB]\d{7})$/;

/** The establishment the request may list: the one asked for, bounded by the principal's tenant. */
export function worklistFiness(req: Request): string | undefined {
  const asked = req.query.finess;
  if (asked !== undefined && (typeof asked !== 'string' || !FINESS.test(asked))) throw invalid('finess: expected one 9-character FINESS number', 'finess');
  if (!isTenantBound(req.client)) return asked;
  const tenant = req.client.tenant;
  if (!tenant || tenant.kind !== 'establishment') throw forbidden('The worklist is an establishment’s: this client is bound to no establishment');
  if (asked !== undefined && asked !== tenant.finess) throw forbidden(`This client sees the worklist of establishment ${tenant.finess} only`);
  return tenant.finess;
}

export function mountWorklistRoute(app: Express, deps: AppDeps): void {
  const handler: RequestHandler = (req, res, next) => {
    (async () => {
      const finess = worklistFiness(req);
      const now = new Date();
      const items = await worklist(deps.store, { ...(finess ? { finess } : {}), now });
      res.status(200).json({ at: now.toISOString(), ...(finess ? { finess } : {}), items });
    })().catch(next);
  };
  app.get(WORKLIST_PATH, auditAccess(deps.store, 'pathway.worklist', { entities: () => [] }), requireScope('fhir.read'), handler);
}
