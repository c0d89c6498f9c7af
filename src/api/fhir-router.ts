// The FHIR REST surface as a route table of small handlers returning `[OperationOutcome, Resource?]`,
// plus the one adapter that turns it into express middleware. Handlers know nothing of HTTP.
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import type { Config, Scope } from '../config.js';
import { ctmLinkOperationHandler } from './fhir-ctm-link-operation.js';
import { sendOperationHandler } from './fhir-send-operation.js';
import { matchOperationHandler } from './fhir-match-operation.js';
import { forbidden, statusOf } from '../fhir/outcome.js';
import type { ResourceStore } from '../store/repository.js';
import { hasScope, type AuthenticatedClient } from './auth/index.js';
import { FHIR_BODY_TYPES, methodNotAllowed, sendFhir, sendFhirWrite, sendRawBinary, unsupportedMediaType } from './fhir-response.js';
import { capabilityHandler } from './fhir-capability.js';
import { createHandler, deleteHandler, historyHandler, readHandler, updateHandler, vreadHandler } from './fhir-crud.js';
import { conditionalDeleteHandler, conditionalUpdateHandler } from './fhir-conditional.js';
import { definitionRoutes } from './fhir-conformance.js';
import { everythingHandler } from './fhir-everything.js';
import { assertJsonAcceptable, binaryRepresentation, preferReturn } from './fhir-negotiation.js';
import { JSON_PATCH_TYPE, patchHandler } from './fhir-patch.js';
import { GATEWAY_DOCUMENT_TYPES } from '../services/fhir-ownership.js';
import { searchHandler } from './fhir-search.js';
import { bundleHandler } from './fhir-bundle.js';
import { validateOperationHandler } from './fhir-validate-operation.js';
import { assertJsonDepth } from './json-body.js';
import { auditFhirAccess, statusOfError } from './fhir-audit.js';
import { auditEventRoutes } from './fhir-audit-event.js';
import { conceptMapRoutes } from './fhir-concept-map.js';
import type { MappingSource } from '../mappings/model.js';

/** Methods of a Bundle entry (`Bundle.entry.request.method`). */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';
/** Methods of the route table: PATCH only over HTTP (not as a Bundle entry). */
export type RouteMethod = HttpMethod | 'PATCH';

/** A request as handlers see it: already routed, authenticated and parsed. */
export interface FhirRequest {
  method: RouteMethod;
  /** Path below the FHIR base, e.g. `/Patient/123`. */
  pathname: string;
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
  headers: { ifMatch?: string; ifNoneExist?: string; ifNoneMatch?: string; prefer?: string; accept?: string };
  client: AuthenticatedClient;
  requestId: string;
}

/** The outcome decides the HTTP status (`statusOf`); the resource, when present, is the body. */
export type FhirResponse = [OperationOutcome, Resource?];
export type FhirHandler = (req: FhirRequest) => Promise<FhirResponse>;

/** CapabilityStatement interaction codes (type and system level) and `operation` for `$op` routes. */
export type Interaction =
  | 'capabilities'
  | 'transaction'
  | 'batch'
  | 'create'
  | 'read'
  | 'vread'
  | 'update'
  | 'patch'
  | 'delete'
  | 'history-instance'
  | 'search-type'
  | 'operation';

export interface FhirRoute {
  method: RouteMethod;
  /** Segments: literals, `:param`; e.g. `/:type/:id/_history/:vid`. */
  path: string;
  /** Several for routes serving more than one (POST / serves transaction and batch). */
  interactions: Interaction[];
  /** For `operation` routes, the operation code without `$`. */
  operation?: string;
  /** Required scope; absent for public routes (metadata). */
  scope?: Scope;
  /** Body the route reads: JSON resource, JSON Patch, or a form (search). */
  body?: 'json' | 'json-patch' | 'form';
  /** A conditional form of its interaction: the search in the URL picks the resource (PUT/DELETE `/:type?…`). */
  conditional?: boolean;
  /** Search parameters of a route that does not search the store (definitions); others come from search-params.ts. */
  searchParams?: RouteSearchParam[];
  handler: FhirHandler;
}

export interface RouteSearchParam {
  name: string;
  type: 'token' | 'uri' | 'string' | 'reference' | 'date';
  documentation: string;
}

export interface FhirContext {
  store: ResourceStore;
  config: Config;
  logger: Logger;
  /** Absolute FHIR base URL, e.g. `http://localhost:8080/fhir`. */
  fhirBase: string;
  /** The mappings in service (issue 19): the code maps served as ConceptMaps. Absent: no ConceptMap. */
  mappings?: MappingSource;
}

/** The route table. Order matters only among routes of the same shape (literals listed first). */
export function fhirRoutes(ctx: FhirContext): FhirRoute[] {
  const routes: FhirRoute[] = [
    { method: 'GET', path: '/metadata', interactions: ['capabilities'], handler: capabilityHandler(ctx, () => routes) },
    { method: 'POST', path: '/', interactions: ['transaction', 'batch'], scope: 'fhir.write', body: 'json', handler: bundleHandler(ctx) },
    { method: 'POST', path: '/:type/_search', interactions: ['search-type'], scope: 'fhir.read', body: 'form', handler: searchHandler(ctx) },
    { method: 'POST', path: '/CarePlan/:id/$link-ctm', interactions: ['operation'], operation: 'link-ctm', scope: 'domain.write', body: 'json', handler: ctmLinkOperationHandler(ctx, 'link') },
    { method: 'POST', path: '/CarePlan/:id/$unlink-ctm', interactions: ['operation'], operation: 'unlink-ctm', scope: 'domain.write', body: 'json', handler: ctmLinkOperationHandler(ctx, 'unlink') },
    { method: 'POST', path: '/CarePlan/:id/$send', interactions: ['operation'], operation: 'send', scope: 'domain.write', body: 'json', handler: sendOperationHandler(ctx) },
    { method: 'POST', path: '/Patient/$match', interactions: ['operation'], operation: 'match', scope: 'fhir.read', body: 'json', handler: matchOperationHandler(ctx) },
    { method: 'GET', path: '/Patient/:id/$everything', interactions: ['operation'], operation: 'everything', scope: 'fhir.read', handler: everythingHandler(ctx) },
    { method: 'POST', path: '/Patient/:id/$everything', interactions: ['operation'], operation: 'everything', scope: 'fhir.read', body: 'json', handler: everythingHandler(ctx) },
    ...definitionRoutes(ctx),
    ...auditEventRoutes(ctx),
    ...conceptMapRoutes(ctx),
    ...[...GATEWAY_DOCUMENT_TYPES].flatMap((type) => readOnlyRoutes(ctx, type)),
    { method: 'POST', path: '/:type/$validate', interactions: ['operation'], operation: 'validate', scope: 'fhir.read', body: 'json', handler: validateOperationHandler() },
    { method: 'POST', path: '/:type/:id/$validate', interactions: ['operation'], operation: 'validate', scope: 'fhir.read', body: 'json', handler: validateOperationHandler() },
    { method: 'GET', path: '/:type/:id/_history/:vid', interactions: ['vread'], scope: 'fhir.read', handler: vreadHandler(ctx) },
    { method: 'GET', path: '/:type/:id/_history', interactions: ['history-instance'], scope: 'fhir.read', handler: historyHandler(ctx) },
    { method: 'GET', path: '/:type/:id', interactions: ['read'], scope: 'fhir.read', handler: readHandler(ctx) },
    { method: 'PUT', path: '/:type/:id', interactions: ['update'], scope: 'fhir.write', body: 'json', handler: updateHandler(ctx) },
    { method: 'PATCH', path: '/:type/:id', interactions: ['patch'], scope: 'fhir.write', body: 'json-patch', handler: patchHandler(ctx) },
    { method: 'DELETE', path: '/:type/:id', interactions: ['delete'], scope: 'fhir.write', handler: deleteHandler(ctx) },
    { method: 'GET', path: '/:type', interactions: ['search-type'], scope: 'fhir.read', handler: searchHandler(ctx) },
    // Create is also conditional: If-None-Exist (createHandler).
    { method: 'POST', path: '/:type', interactions: ['create'], conditional: true, scope: 'fhir.write', body: 'json', handler: createHandler(ctx) },
    { method: 'PUT', path: '/:type', interactions: ['update'], conditional: true, scope: 'fhir.write', body: 'json', handler: conditionalUpdateHandler(ctx) },
    { method: 'DELETE', path: '/:type', interactions: ['delete'], conditional: true, scope: 'fhir.write', handler: conditionalDeleteHandler(ctx) },
  ];
  return routes;
}

/** The handler of a `/:type` route, serving one type from a route written for it. */
const forType = (type: string, handler: FhirHandler): FhirHandler => (req) => handler({ ...req, params: { ...req.params, type } });

/**
 * Reads of a type the FHIR API does not write (the gateway's documents: fhir-ownership.ts); being routes of their
 * own, the generic write routes do not take the type, and a write answers 405.
 */
function readOnlyRoutes(ctx: FhirContext, type: string): FhirRoute[] {
  return [
    { method: 'POST', path: `/${type}/_search`, interactions: ['search-type'], scope: 'fhir.read', body: 'form', handler: forType(type, searchHandler(ctx)) },
    { method: 'GET', path: `/${type}/:id/_history/:vid`, interactions: ['vread'], scope: 'fhir.read', handler: forType(type, vreadHandler(ctx)) },
    { method: 'GET', path: `/${type}/:id/_history`, interactions: ['history-instance'], scope: 'fhir.read', handler: forType(type, historyHandler(ctx)) },
    { method: 'GET', path: `/${type}/:id`, interactions: ['read'], scope: 'fhir.read', handler: forType(type, readHandler(ctx)) },
    { method: 'GET', path: `/${type}`, interactions: ['search-type'], scope: 'fhir.read', handler: forType(type, searchHandler(ctx)) },
  ];
}

const segments = (p: string): string[] => p.split('/').filter((s) => s !== '');

/**
 * Types served by routes of their own (`GET /StructureDefinition/:id`): the generic `/:type` routes do not take them,
 * so a method their own routes lack answers 405 rather than reaching the store.
 */
export function ownTypes(routes: readonly FhirRoute[]): Set<string> {
  const own = new Set<string>();
  for (const r of routes) {
    const m = /^\/([A-Z][A-Za-z]+)\/:id$/.exec(r.path);
    if (m && r.method === 'GET' && r.interactions.includes('read')) own.add(m[1]);
  }
  return own;
}

/** Whether `route` serves resources of `type` (a `/:type` route, or one written for that type). */
export function routeServesType(route: FhirRoute, type: string, own: ReadonlySet<string>): boolean {
  const first = segments(route.path)[0];
  return first === ':type' ? !own.has(type) : first === type;
}

function matchPath(pattern: string, pathname: string, own: ReadonlySet<string>): Record<string, string> | undefined {
  const want = segments(pattern);
  const got = segments(pathname);
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    let value: string;
    try {
      value = decodeURIComponent(got[i]);
    } catch {
      return undefined;
    }
    if (want[i].startsWith(':')) {
      // A parameter never swallows a literal keyword of another route (`_history`, `_search`, `$op`).
      if (value.startsWith('_') || value.startsWith('$')) return undefined;
      if (want[i] === ':type' && own.has(value)) return undefined;
      params[want[i].slice(1)] = value;
    } else if (want[i] !== value) {
      return undefined;
    }
  }
  return params;
}

export type RouteMatch =
  | { route: FhirRoute; params: Record<string, string> }
  | { allowed: RouteMethod[] }
  | undefined;

const ownTypesCache = new WeakMap<FhirRoute[], Set<string>>();

export function matchRoute(routes: FhirRoute[], method: string, pathname: string): RouteMatch {
  let own = ownTypesCache.get(routes);
  if (!own) ownTypesCache.set(routes, (own = ownTypes(routes)));
  const allowed: RouteMethod[] = [];
  for (const route of routes) {
    const params = matchPath(route.path, pathname, own);
    if (!params) continue;
    if (route.method === method) return { route, params };
    allowed.push(route.method);
  }
  return allowed.length ? { allowed: [...new Set(allowed)] } : undefined;
}

function responseHeaders(res: Response, ctx: FhirContext, status: number, resource: Resource | undefined): void {
  if (!resource || resource.resourceType === 'Bundle' || resource.resourceType === 'OperationOutcome') return;
  const { versionId, lastUpdated } = resource.meta ?? {};
  if (versionId) res.setHeader('ETag', `W/"${versionId}"`);
  if (lastUpdated) res.setHeader('Last-Modified', new Date(lastUpdated).toUTCString());
  if (status === 201 && resource.id) {
    res.setHeader('Location', `${ctx.fhirBase}/${resource.resourceType}/${resource.id}${versionId ? `/_history/${versionId}` : ''}`);
  }
}

function toFhirRequest(req: Request, route: FhirRoute, params: Record<string, string>): FhirRequest {
  const url = new URL(req.originalUrl, 'http://x');
  const query = url.searchParams;
  let body: unknown = req.body;
  if (route.body === 'form' && req.body && typeof req.body === 'object') {
    // POST _search: form fields join the URL's query string.
    for (const [k, v] of Object.entries(req.body as Record<string, unknown>)) {
      for (const item of Array.isArray(v) ? v : [v]) query.append(k, String(item));
    }
    body = undefined;
  }
  return {
    method: req.method as RouteMethod,
    pathname: req.path,
    params,
    query,
    body,
    headers: {
      ifMatch: req.get('if-match'),
      ifNoneExist: req.get('if-none-exist'),
      ifNoneMatch: req.get('if-none-match'),
      prefer: req.get('prefer'),
      accept: req.get('accept'),
    },
    client: req.client,
    requestId: req.requestId,
  };
}

/** Interactions answering the written resource, shaped by `Prefer: return=`. */
const WRITE_INTERACTIONS = new Set<Interaction>(['create', 'update', 'patch']);

// The bare media type of the request body, whether or not a body follows.
const mediaType = (req: Request): string => (req.get('content-type') ?? '').split(';')[0].trim().toLowerCase();

/** Express middleware serving the route table; mount it under the FHIR base path (`/fhir`). */
export function fhirAdapter(ctx: FhirContext, routes: FhirRoute[] = fhirRoutes(ctx)): Router {
  const router = express.Router();
  const limit = ctx.config.bodyLimit;
  const json = express.json({ type: FHIR_BODY_TYPES, limit });
  const jsonPatch = express.json({ type: JSON_PATCH_TYPE, limit });
  const form = express.urlencoded({ type: 'application/x-www-form-urlencoded', extended: false, limit });

  const dispatch: RequestHandler = (req, res, next) => {
    const match = matchRoute(routes, req.method, req.path);
    if (!match) {
      next(); // falls through to the 404 handler
      return;
    }
    if ('allowed' in match) {
      res.setHeader('Allow', match.allowed.join(', '));
      next(methodNotAllowed(`${req.method} is not supported on ${req.baseUrl}${req.path}; allowed: ${match.allowed.join(', ')}`));
      return;
    }
    const { route, params } = match;
    res.locals.route = `${route.method} ${req.baseUrl}${route.path === '/' ? '' : route.path}`;
    if (route.scope && !hasScope(req.client, route.scope)) {
      const denied = forbidden(`Client "${req.client.id}" lacks the scope ${route.scope}`);
      auditFhirAccess(ctx, route, toFhirRequest(req, route, params), 403).then(() => next(denied), next);
      return;
    }
    const negotiation = { format: new URL(req.originalUrl, 'http://x').searchParams.get('_format'), accept: req.get('accept') };
    // A Binary read may answer its own bytes: decided once the Binary's content type is known.
    const binaryRead = (params.type ?? segments(route.path)[0]) === 'Binary' && route.method === 'GET' && route.interactions.some((i) => i === 'read' || i === 'vread');
    if (!binaryRead) {
      try {
        assertJsonAcceptable(negotiation);
      } catch (err) {
        next(err);
        return;
      }
    }
    const run = (): void => {
      const fhirReq = toFhirRequest(req, route, params);
      route
        .handler(fhirReq)
        .then(async ([o, resource]) => {
          const status = statusOf(o);
          // Every read and search leaves its audit row before the data leaves (fhir-audit.ts).
          await auditFhirAccess(ctx, route, fhirReq, status, resource);
          const raw = binaryRead && resource?.resourceType === 'Binary' && binaryRepresentation(negotiation, resource.contentType) === 'raw';
          responseHeaders(res, ctx, status, resource);
          if (raw) sendRawBinary(res, status, resource);
          else if (resource && route.interactions.some((i) => WRITE_INTERACTIONS.has(i))) sendFhirWrite(res, status, o, resource, preferReturn(req.get('prefer')));
          else sendFhir(res, status, resource ?? o);
        })
        .catch((err: unknown) => {
          if (res.headersSent) return next(err);
          auditFhirAccess(ctx, route, fhirReq, statusOfError(err)).then(() => next(err), next);
        });
    };
    const parsed = (err?: unknown): void => {
      if (err) return next(err);
      try {
        assertJsonDepth(req.body);
      } catch (depthErr) {
        return next(depthErr);
      }
      run();
    };
    if (route.body === 'json') {
      if (!FHIR_BODY_TYPES.includes(mediaType(req))) {
        next(unsupportedMediaType(`Content-Type must be application/fhir+json or application/json, not "${req.get('content-type') ?? '(none)'}"`));
        return;
      }
      json(req, res, parsed);
    } else if (route.body === 'json-patch') {
      if (mediaType(req) !== JSON_PATCH_TYPE) {
        next(unsupportedMediaType(`Content-Type must be ${JSON_PATCH_TYPE} (a JSON Patch; FHIRPath Patch is not supported), not "${req.get('content-type') ?? '(none)'}"`));
        return;
      }
      jsonPatch(req, res, parsed);
    } else if (route.body === 'form') {
      if (req.get('content-type') !== undefined && mediaType(req) !== 'application/x-www-form-urlencoded') {
        next(unsupportedMediaType(`Content-Type must be application/x-www-form-urlencoded for _search`));
        return;
      }
      form(req, res, (err?: unknown) => (err ? next(err) : run()));
    } else {
      run();
    }
  };
  router.use(dispatch);
  return router;
}
