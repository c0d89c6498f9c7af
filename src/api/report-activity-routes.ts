// GET /reports/activity (issue 20 point 2). TO BE BUILT.
import type { Express } from 'express';
import type { AppDeps } from './app.js';

export function mountActivityRoutes(_app: Express, _deps: AppDeps): void {}
