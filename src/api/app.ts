// The HTTP application: request ids and access log, authentication, the FHIR REST router under `/fhir`,
// extra route mounts (domain endpoints), then the 404 and error handlers. `startServer` listens.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import compression from 'compression';
import express, { type Express, type RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { ResourceStore } from '../store/repository.js';
import { authenticate } from './auth/index.js';
import { errorHandler, unknownRoute } from './errors.js';
import { fhirAdapter } from './fhir-router.js';
import { accessLog, requestId } from './request-id.js';
import { OPS_PUBLIC, mountOpsRoutes } from './ops-routes.js';
import type { Metrics } from '../observability/metrics.js';

export interface AppDeps {
  store: ResourceStore;
  config: Config;
  logger: Logger;
  /**
   * Extra routes, mounted after authentication and before the 404 handler (e.g. `mountDomainRoutes`
   * for POST /ppp, /ctm, /bpm). Each gets the app and these deps; errors they pass to `next` or throw
   * become OperationOutcomes through the shared error handler.
   */
  mounts?: RouteMount[];
  /**
   * Pages for people (src/pages/): mounted before the systems' authentication, because they authenticate people by
   * their session (and redirect to the sign-in) themselves.
   */
  pages?: RouteMount[];
  /** Metrics registry for `/metrics` (default: the process's). */
  metrics?: Metrics;
  /** Circuit state of each outbox destination, for `/admin/outbox/destinations` (the process's dispatcher). */
  circuits?: () => Record<string, string>;
}

export type RouteMount = (app: Express, deps: AppDeps) => void;

/** Base path of the FHIR REST API. */
export const FHIR_PATH = '/fhir';

// Readable without credentials: the CapabilityStatement (FHIR clients fetch it before authenticating) and liveness.
const PUBLIC = new Set([`GET ${FHIR_PATH}/metadata`, 'GET /health', ...OPS_PUBLIC]);

export function createApp(deps: AppDeps): Express {
  const { config, logger, store } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // ETags are FHIR versions, set by the FHIR adapter, not body hashes.

  app.use(requestId());
  app.use(accessLog(logger));
  // gzip (or deflate) when the client asks with Accept-Encoding; bodies under 1 KiB are not worth it. Only requests
  // naming an encoding pay for the middleware's wrapping of the response (~0.14 ms a read, bench/fhir-api.bench.ts);
  // the answer varies on the header either way.
  const gzip = compression({ threshold: 1024 });
  app.use((req, res, next) => {
    if (req.headers['accept-encoding']) return gzip(req, res, next);
    res.vary('Accept-Encoding');
    next();
  });
  for (const mount of deps.pages ?? []) mount(app, deps);
  const required = authenticate(config.auth);
  const optional = authenticate(config.auth, { optional: true });
  const auth: RequestHandler = (req, res, next) => (PUBLIC.has(`${req.method} ${req.path}`) ? optional : required)(req, res, next);
  app.use(auth);

  app.get('/health', async (_req, res) => {
    await store.ping();
    res.json({ status: 'ok' });
  });
  mountOpsRoutes(app, deps);
  app.use(FHIR_PATH, fhirAdapter({ store, config, logger, fhirBase: `${config.baseUrl}${FHIR_PATH}` }));
  for (const mount of deps.mounts ?? []) mount(app, deps);

  app.use(unknownRoute());
  app.use(errorHandler(logger, config.bodyLimit));
  return app;
}

export interface RunningServer {
  /** Where the server answers, e.g. `http://localhost:8080` (the actual port when `port` is 0). */
  url: string;
  /** Public base URL used in links and Locations (`config.baseUrl`, or `url` when that was the derived default). */
  baseUrl: string;
  server: Server;
  /** Stop accepting connections and wait for in-flight requests; the store stays open. */
  close(): Promise<void>;
}

/**
 * Listen on `config.port` (0 = a free port). When `baseUrl` is the derived default, it is set to the
 * actual address so links in Bundles work with port 0.
 */
export async function startServer(deps: AppDeps): Promise<RunningServer> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(deps.config.port, deps.config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://localhost:${port}`;
  const config = deps.config.baseUrl === `http://localhost:${deps.config.port}` ? { ...deps.config, port, baseUrl: url } : deps.config;
  server.on('request', createApp({ ...deps, config }));

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve, reject) => {
      server.close((err) => (err ? reject(err) : resolve()));
      server.closeIdleConnections();
      // Keep-alive sockets still busy get a grace period, then are cut.
      setTimeout(() => server.closeAllConnections(), 5000).unref();
    });
    return closing;
  };
  return { url, baseUrl: config.baseUrl, server, close };
}
