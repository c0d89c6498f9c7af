// GET /reports/billing and GET /reports/professionals (issue 20 points 1 and 4). TO BE BUILT.
import type { Express } from 'express';
import type { AppDeps } from './app.js';

export function mountBillingRoutes(_app: Express, _deps: AppDeps): void {}
