// Operations endpoints: liveness (`/healthz`: the process answers), readiness (`/readyz`: the database answers and
// its schema is the one this process expects), Prometheus metrics (`/metrics`), and the outbox administration under `/admin/outbox`
// (scope `admin`): list, show with attempts, redrive, pause / resume a destination.
import type { Express, Request, RequestHandler } from 'express';
import { z } from 'zod';
import { conflict, invalid, issue, notFound, outcome } from '../fhir/outcome.js';
import { metrics as processMetrics } from '../observability/metrics.js';
import { OUTBOX_STATES, type OutboxState } from '../store/outbox-repository.js';
import { REST_HOOK_DESTINATION } from '../outbox/config.js';
import type { ResourceStore } from '../store/repository.js';
import { schemaStatus } from '../store/open.js';
import type { AppDeps } from './app.js';
import { requireScope } from './auth/index.js';

/** Paths readable without credentials (probes and the scraper). */
export const OPS_PUBLIC = ['GET /healthz', 'GET /readyz', 'GET /metrics'];

const json =
  (fn: (req: Request) => Promise<unknown>): RequestHandler =>
  (req, res, next) => {
    fn(req).then((body) => res.status(200).json(body), next);
  };

const listQuery = z.object({
  state: z.enum(OUTBOX_STATES as [OutboxState, ...OutboxState[]]).optional(),
  destination: z.string().min(1).optional(),
  _count: z.coerce.number().int().min(0).max(1000).default(50),
  _offset: z.coerce.number().int().min(0).default(0),
});

function parseQuery(req: Request): z.infer<typeof listQuery> {
  const r = listQuery.safeParse(req.query);
  if (!r.success) {
    const i = r.error.issues[0];
    throw invalid(`${i.path.join('.')}: ${i.message}`, i.path.join('.'));
  }
  return r.data;
}

/** The outbox administration, shared with the CLI's view of a message. */
export async function messageDetail(store: ResourceStore, id: string): Promise<unknown> {
  const message = await store.outbox.get(id);
  if (!message) throw notFound(`Outbox message ${id} not found`);
  // The MSSanté mails it became (recipient, status from the receipts, Communication): empty for other destinations.
  return { ...message, attemptLog: await store.outbox.attempts(id), mail: await store.mssante.sentOf(id) };
}

/**
 * Destinations an operator may pause or resume: the configured ones, plus those the store still holds messages for
 * or a pause of (a destination since removed from the configuration, or added at start by `serve --sandbox-dmp`).
 * Anything else is a typo, refused rather than recorded as a pause nothing would ever read.
 */
export async function knownDestinations(store: ResourceStore, configured: readonly string[]): Promise<string[]> {
  const names = new Set(configured);
  for (const d of await store.outbox.depth()) names.add(d.destination);
  for (const d of await store.outbox.pausedDestinations()) names.add(d);
  return [...names].sort();
}

/** Why `destination` cannot be paused or resumed, or undefined when it can. */
export async function unknownDestinationProblem(store: ResourceStore, configured: readonly string[], destination: string): Promise<string | undefined> {
  // The FHIR Subscription notifications' destination is always there (src/services/subscriptions.ts).
  if (destination === REST_HOOK_DESTINATION) return undefined;
  const known = await knownDestinations(store, configured);
  if (known.includes(destination)) return undefined;
  const list = configured.length ? [...configured].sort().join(', ') : 'none (outbox.destinations in the configuration)';
  const others = known.filter((d) => !configured.includes(d));
  return `Unknown outbox destination "${destination}"; configured destinations: ${list}${others.length ? `; also known from the outbox: ${others.join(', ')}` : ''}`;
}

const hasStatus = (s: object): s is { status(): object } => typeof (s as { status?: unknown }).status === 'function';

export function mountOpsRoutes(app: Express, deps: AppDeps): void {
  const { store } = deps;
  const metrics = deps.metrics ?? processMetrics;
  metrics.watch(store);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    const check = async (): Promise<void> => {
      await store.ping();
      if (deps.config.database === ':memory:' && !deps.config.databaseUrl) return;
      // Another (newer) process may have migrated the shared database, or migrations may be pending.
      const { current, latest } = await schemaStatus({ databaseUrl: deps.config.databaseUrl, file: deps.config.database });
      if (current !== latest) throw new Error(`schema at version ${current}, this process needs ${latest}`);
    };
    check().then(
      () => res.json({ status: 'ready' }),
      (err: unknown) =>
        res
          .status(503)
          .type('application/fhir+json')
          .json(outcome([issue('transient', `database not ready: ${err instanceof Error ? err.message : String(err)}`)])),
    );
  });
  app.get('/metrics', (_req, res, next) => {
    metrics.registry.metrics().then((text) => {
      res.type(metrics.registry.contentType).send(text);
    }, next);
  });

  const admin = requireScope('admin');
  // The mappings in service (issue 19): per format and code map the version (content hash) served, when it was
  // loaded, and the error of a broken file on disk (its last good version keeps serving). Per process.
  app.get(
    '/admin/mappings',
    admin,
    json(async () => {
      const source = deps.mappings;
      if (!source) return { enabled: false, files: [], problems: [] };
      if (hasStatus(source)) return { enabled: true, ...source.status() };
      const set = source.current();
      return {
        enabled: true,
        files: [
          ...[...set.mappings.values()].map((m) => ({ name: m.name, kind: 'format', version: m.version, loadedAt: set.loadedAt, file: m.dir })),
          ...[...set.codeMaps.values()].map((c) => ({ name: c.name, kind: 'codemap', version: c.version, loadedAt: set.loadedAt, file: c.file })),
        ],
        problems: set.problems,
      };
    }),
  );
  app.get(
    '/admin/outbox',
    admin,
    json(async (req) => {
      const q = parseQuery(req);
      const page = await store.outbox.list({ ...(q.state ? { state: q.state } : {}), ...(q.destination ? { destination: q.destination } : {}), limit: q._count, offset: q._offset });
      return { total: page.total, items: page.items.map(({ payload: _p, ...m }) => m) };
    }),
  );
  app.get(
    '/admin/outbox/destinations',
    admin,
    json(async () => ({ paused: await store.outbox.pausedDestinations(), circuits: deps.circuits?.() ?? {}, depth: await store.outbox.depth() })),
  );
  app.post(
    '/admin/outbox/redrive-dead',
    admin,
    json(async (req) => {
      const destination = typeof req.query.destination === 'string' && req.query.destination !== '' ? req.query.destination : undefined;
      return { redriven: await store.outbox.redriveDead(destination) };
    }),
  );
  app.post(
    '/admin/outbox/destinations/:name/:action',
    admin,
    json(async (req) => {
      const action = String(req.params.action);
      if (action !== 'pause' && action !== 'resume') throw notFound(`Unknown action ${action}: pause or resume`);
      const problem = await unknownDestinationProblem(store, Object.keys(deps.config.outbox.destinations), String(req.params.name));
      if (problem) throw notFound(problem);
      await store.outbox.setPaused(String(req.params.name), action === 'pause');
      return { destination: String(req.params.name), paused: action === 'pause' };
    }),
  );
  app.get('/admin/outbox/:id', admin, json(async (req) => messageDetail(store, String(req.params.id))));
  app.post(
    '/admin/outbox/:id/redrive',
    admin,
    json(async (req) => {
      const id = String(req.params.id);
      if (!(await store.outbox.get(id))) throw notFound(`Outbox message ${id} not found`);
      if (!(await store.outbox.redrive(id))) throw conflict(`Outbox message ${id} is not dead: only a dead message can be redriven`);
      return store.outbox.get(id);
    }),
  );
}
