// The regional activity dashboard (issue 20 point 3): GET /reports/dashboard. TO BE BUILT.
import type { IRouter, RequestHandler } from 'express';
import type { Config } from '../config.js';
import type { ResourceStore } from '../store/repository.js';
import type { PeopleSessions } from './session.js';

export const DASHBOARD_PAGE = '/reports/dashboard';

export function mountDashboardPage(_app: IRouter, _deps: { store: ResourceStore; config: Config }, _sessions: PeopleSessions, _pageHeaders: RequestHandler): void {}
