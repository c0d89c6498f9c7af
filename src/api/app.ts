// The HTTP application: request ids and access log, authentication, the FHIR REST router under `/fhir`,
// extra route mounts (domain endpoints), then the 404 and error handlers. `startServer` listens.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import compression from 'compression';
import express, { type Express, type RequestHandler } from 'express';
import type { Logger } from 'pino';
import { ConfigError, readSecret, type Config } from '../config.js';
import type { ResourceStore } from '../store/repository.js';
import { installSubscriptions } from '../services/subscriptions.js';
import { authenticate, createAuthRuntime, type AuthRuntime } from './auth/index.js';
import { expensiveLimiter } from './auth/rate-limit.js';
import { mountOAuthRoutes } from './auth/token-endpoint.js';
import { errorHandler, unknownRoute } from './errors.js';
import { fhirAdapter } from './fhir-router.js';
import { accessLog, requestId } from './request-id.js';
import { OPS_PUBLIC, mountOpsRoutes } from './ops-routes.js';
import type { Metrics } from '../observability/metrics.js';
import type { MappingSource } from '../mappings/model.js';

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
  /** Authentication state (clients, token key, throttles); built from `config` when absent (`startServer` builds it). */
  auth?: AuthRuntime;
  /**
   * The mappings in service (vendor formats, code maps; issue 19): the registry `serve` keeps up to date with
   * `mappings/`. Absent: no vendor format is accepted and no ConceptMap is served.
   */
  mappings?: MappingSource;
}

export type RouteMount = (app: Express, deps: AppDeps) => void;

/** Base path of the FHIR REST API. */
export const FHIR_PATH = '/fhir';

// Readable without credentials: the CapabilityStatement (FHIR clients fetch it before authenticating) and liveness.
const PUBLIC = new Set([`GET ${FHIR_PATH}/metadata`, 'GET /health', ...OPS_PUBLIC]);

export function createApp(deps: AppDeps): Express {
  const { config, logger, store } = deps;
  // Every write through this store notifies the matching FHIR Subscriptions (once per store; the dispatcher too).
  installSubscriptions(store, config.outbox.subscriptions);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // ETags are FHIR versions, set by the FHIR adapter, not body hashes.

  app.use(requestId());
  app.use(accessLog(logger));
  // gzip (or deflate) when the client asks with Accept-Encoding; bodies under 4 KiB are not worth it: gzip costs about
  // 0.3–0.5 ms of CPU per answer whatever its size (a zlib stream each), and saves 1–3 KB on a 1.8–3.2 KB answer (a
  // Patient read, a $match answer with one entry): a gain only on links slower than ~15–60 Mbit/s, and such an answer
  // fits in TCP's first window either way. Only requests naming an encoding pay for the middleware's wrapping of the
  // response (~0.14 ms a read, bench/fhir-api.bench.ts); the answer varies on the header either way.
  const gzip = compression({ threshold: 4096 });
  app.use((req, res, next) => {
    if (req.headers['accept-encoding']) return gzip(req, res, next);
    res.vary('Accept-Encoding');
    next();
  });
  for (const mount of deps.pages ?? []) mount(app, deps);
  const runtime = deps.auth ?? createAuthRuntime(config, { store, logger });
  // The token endpoint and the gateway's JWKS need no authentication (the client's assertion is its proof).
  mountOAuthRoutes(app, runtime);
  const required = authenticate(runtime);
  const optional = authenticate(runtime, { optional: true });
  const auth: RequestHandler = (req, res, next) => (PUBLIC.has(`${req.method} ${req.path}`) ? optional : required)(req, res, next);
  app.use(auth);
  // Expensive endpoints are throttled per principal and per address (when authentication is on: auth off is local
  // development, where benches and tests drive them hard).
  if (runtime.enabled) app.use(expensiveLimiter(config.auth.rateLimit.expensive));

  app.get('/health', async (_req, res) => {
    await store.ping();
    res.json({ status: 'ok' });
  });
  mountOpsRoutes(app, deps);
  app.use(FHIR_PATH, fhirAdapter({ store, config, logger, fhirBase: `${config.baseUrl}${FHIR_PATH}`, mappings: deps.mappings }));
  for (const mount of deps.mounts ?? []) mount(app, deps);

  app.use(unknownRoute());
  app.use(errorHandler(logger, config.bodyLimit));
  return app;
}

export interface RunningServer {
  /** Where the server answers, e.g. `http://localhost:8080` (`https://…` with `config.tls`; the actual port when `port` is 0). */
  url: string;
  /** Public base URL used in links and Locations (`config.baseUrl`, or `url` when that was the derived default). */
  baseUrl: string;
  server: Server | HttpsServer;
  /** Stop accepting connections and wait for in-flight requests; the store stays open. */
  close(): Promise<void>;
}

function readTlsFile(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ConfigError(`${what}: cannot read ${file}: ${(err as Error).message}`);
  }
}

/**
 * The HTTPS listener of `config.tls`. With `tls.ca`, clients are asked for a certificate; the handshake completes
 * even when the certificate does not chain to the CA (`rejectUnauthorized: false`) so that authentication can answer
 * a clear 401 OperationOutcome instead of a TLS alert — a request is authenticated by a certificate only when the
 * socket verified it (src/api/auth/mtls.ts).
 */
function httpsServer(tls: NonNullable<Config['tls']>): HttpsServer {
  const passphrase = readSecret({ file: tls.passphraseFile, env: tls.passphraseEnv }, 'tls passphrase');
  return createHttpsServer({
    cert: readTlsFile(tls.cert, 'tls.cert'),
    key: readTlsFile(tls.key, 'tls.key'),
    ...(passphrase !== undefined ? { passphrase } : {}),
    ...(tls.ca ? { ca: readTlsFile(tls.ca, 'tls.ca'), requestCert: true, rejectUnauthorized: false } : {}),
    minVersion: 'TLSv1.2',
  });
}

/**
 * Listen on `config.port` (0 = a free port), in HTTPS when `config.tls` is set. When `baseUrl` is the derived
 * default, it is set to the actual address so links in Bundles work with port 0.
 */
export async function startServer(deps: AppDeps): Promise<RunningServer> {
  const scheme = deps.config.tls ? 'https' : 'http';
  const server = deps.config.tls ? httpsServer(deps.config.tls) : createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(deps.config.port, deps.config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `${scheme}://localhost:${port}`;
  const config = deps.config.baseUrl === `${scheme}://localhost:${deps.config.port}` ? { ...deps.config, port, baseUrl: url } : deps.config;
  let auth: AuthRuntime | undefined;
  try {
    auth = deps.auth ?? createAuthRuntime(config, { store: deps.store, logger: deps.logger });
    await auth.ready();
  } catch (err) {
    server.close();
    auth?.close();
    throw err;
  }
  const runtime = auth;
  server.on('request', createApp({ ...deps, config, auth: runtime }));

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve, reject) => {
      runtime.close();
      server.close((err) => (err ? reject(err) : resolve()));
      server.closeIdleConnections();
      // Keep-alive sockets still busy get a grace period, then are cut.
      setTimeout(() => server.closeAllConnections(), 5000).unref();
    });
    return closing;
  };
  return { url, baseUrl: config.baseUrl, server, close };
}
