// The reports' endpoints (issue 20, docs/reports.md): billing extraction and active professionals
// (report-billing-routes.ts), activity figures (report-activity-routes.ts). The dashboard page is a page
// (src/pages/dashboard-page.ts, mounted with the pages).
import type { Express } from 'express';
import type { AppDeps } from './app.js';
import { mountActivityRoutes } from './report-activity-routes.js';
import { mountBillingRoutes } from './report-billing-routes.js';

export function mountReportRoutes(app: Express, deps: AppDeps): void {
  mountBillingRoutes(app, deps);
  mountActivityRoutes(app, deps);
}
