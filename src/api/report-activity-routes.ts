// `GET /reports/activity?from=&to=[&establishment=]` (issue 20 point 2, docs/reports.md "Activity figures"): the
// activity figures of a period as JSON. Scope `reports.read`; a principal bound to an establishment sees its own only
// (another's: 403, whether or not it has PPPs); a bad parameter is a 400 OperationOutcome naming it. Audited.
import type { Express, RequestHandler } from 'express';
import { activityReport } from '../services/reports/activity.js';
import { reportQuery } from '../services/reports/query.js';
import type { AppDeps } from './app.js';
import { requireScope } from './auth/index.js';
import { auditAccess } from './audit-access.js';
import { reportFiness } from './report-access.js';

export const ACTIVITY_PATH = '/reports/activity';

export function mountActivityRoutes(app: Express, deps: AppDeps): void {
  const handler: RequestHandler = (req, res, next) => {
    (async () => {
      // Access first: another establishment is a 403 before anything says whether it has PPPs.
      const asked = req.query.establishment;
      if (typeof asked === 'string' && asked !== '') reportFiness(req, asked);
      const query = await reportQuery(deps.store, req.query as Record<string, unknown>, { formats: ['json'] });
      const finess = reportFiness(req, query.finess);
      const report = await activityReport(deps.store, { from: query.from, to: query.to, ...(finess !== undefined ? { finess } : {}) }, { now: new Date() });
      res.status(200).json(report);
    })().catch(next);
  };
  app.get(ACTIVITY_PATH, auditAccess(deps.store, 'reports.activity', { entities: () => [] }), requireScope('reports.read'), handler);
}
