// GET /reports/billing and GET /reports/professionals (issue 20 points 1 and 4, docs/reports.md "Billing extraction",
// "Active professionals"). Scope `reports.read`; a principal bound to an establishment reads its own only, a pharmacy
// nothing (src/api/report-access.ts) — checked before the parameters, so that a refused principal learns nothing of
// other establishments. Bad parameters: 400 naming each (services/reports/query.ts), nothing written but the access
// audit row (`reports.billing`, `reports.professionals`).
import type { Express, Request, RequestHandler } from 'express';
import { billingCsv, billingFileName, billingReport } from '../services/reports/billing.js';
import { professionalsCsv, professionalsFileName, professionalsReport } from '../services/reports/professionals.js';
import { reportsPseudonymKey } from '../services/reports/pseudonym-key.js';
import { reportQuery } from '../services/reports/query.js';
import type { AppDeps } from './app.js';
import { requireScope } from './auth/index.js';
import { auditAccess } from './audit-access.js';
import { reportFiness } from './report-access.js';

export const BILLING_PATH = '/reports/billing';
export const PROFESSIONALS_PATH = '/reports/professionals';

/** Refuses a principal that may not read this establishment's reports (403) before the parameters are looked at. */
function checkTenant(req: Request): void {
  const asked = req.query.establishment;
  reportFiness(req, typeof asked === 'string' && asked !== '' ? asked : undefined);
}

function sendCsv(res: Parameters<RequestHandler>[1], fileName: string, csv: string): void {
  res.status(200).set({ 'content-type': 'text/csv; charset=utf-8', 'content-disposition': `attachment; filename="${fileName}"`, 'cache-control': 'no-store' }).send(csv);
}

export function mountBillingRoutes(app: Express, deps: AppDeps): void {
  const billing: RequestHandler = (req, res, next) => {
    (async () => {
      checkTenant(req);
      const q = await reportQuery(deps.store, req.query, { formats: ['csv', 'json'] });
      const finess = reportFiness(req, q.finess);
      const report = await billingReport(deps.store, { from: q.from, to: q.to, ...(finess !== undefined ? { finess } : {}) }, {
        tariffs: deps.config.reports.tariffs,
        pseudonymKey: reportsPseudonymKey(deps.config),
      });
      if (q.format === 'json') res.status(200).set('cache-control', 'no-store').json(report);
      else sendCsv(res, billingFileName(report.period), billingCsv(report));
    })().catch(next);
  };
  const professionals: RequestHandler = (req, res, next) => {
    (async () => {
      checkTenant(req);
      const q = await reportQuery(deps.store, req.query, { formats: ['json', 'csv'], extra: { role: ['MT', 'PHO'] } });
      const finess = reportFiness(req, q.finess);
      const role = q.extra.role as 'MT' | 'PHO' | undefined;
      const report = await professionalsReport(deps.store, { from: q.from, to: q.to, ...(finess !== undefined ? { finess } : {}), ...(role ? { role } : {}) });
      if (q.format === 'csv') sendCsv(res, professionalsFileName(report.period), professionalsCsv(report));
      else res.status(200).set('cache-control', 'no-store').json(report);
    })().catch(next);
  };
  app.get(BILLING_PATH, auditAccess(deps.store, 'reports.billing', { entities: () => [] }), requireScope('reports.read'), billing);
  app.get(PROFESSIONALS_PATH, auditAccess(deps.store, 'reports.professionals', { entities: () => [] }), requireScope('reports.read'), professionals);
}
