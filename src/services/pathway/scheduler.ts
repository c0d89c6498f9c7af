// The pathway's scheduler (issue 18 point 6, docs/pathway.md "The scheduler"): polls the due work of the pathway
// (`pathway_due`: the D45/D90 windows, the decisions' deadline, the document regenerated after the decisions), claims
// what is due — each item by one process only, like outbox messages (PostgreSQL `FOR UPDATE SKIP LOCKED`, SQLite one
// writer) — and runs the handler of its kind. Success marks the item done; a failure gives it back with a backoff
// (logged, the item kept). Everything past due is claimed at start: the scheduler catches up after downtime.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { DueItem, DueKind } from '../../store/pathway-repository.js';
import type { ResourceStore } from '../../store/repository.js';
import type { PathwayContext } from './context.js';
import { openFollowUpWindow } from './followup.js';
import { regenerateDocument } from './regenerate.js';

export type DueHandler = (store: ResourceStore, item: DueItem, ctx: PathwayContext) => Promise<void>;

/** What each kind of due item runs. */
export const DEFAULT_DUE_HANDLERS: Record<DueKind, DueHandler> = {
  d45: async (store, item, ctx) => {
    await openFollowUpWindow(store, item.carePlan, 'd45', ctx);
  },
  d90: async (store, item, ctx) => {
    await openFollowUpWindow(store, item.carePlan, 'd90', ctx);
  },
  document: async (store, item, ctx) => {
    await regenerateDocument(store, item.carePlan, ctx);
  },
  'decision-deadline': async (store, item, ctx) => {
    await regenerateDocument(store, item.carePlan, ctx);
  },
};

/** Backoff after the n-th failed attempt: 1 min, 2, 4, … at most 6 hours. */
export function retryDelayMs(attempts: number): number {
  return Math.min(60_000 * 2 ** Math.max(0, Math.min(attempts, 20) - 1), 6 * 3_600_000);
}

export interface SchedulerOptions {
  store: ResourceStore;
  config: Config;
  logger: Logger;
  /** Handlers by kind, replacing the defaults given. */
  handlers?: Partial<Record<DueKind, DueHandler>>;
  /** This process's name in the claims (default `<host>:<pid>:<random>`). */
  workerId?: string;
  /** Do not poll: only `runDue` runs items (the CLI). */
  poll?: boolean;
  /** The clock (tests). */
  now?: () => Date;
}

export interface RunningScheduler {
  readonly workerId: string;
  /** Stops polling and waits for the items in flight. */
  stop(): Promise<void>;
  /** Claims and runs everything due at `at` (default now), batch after batch. */
  runDue(at?: Date): Promise<{ ran: number; failed: number }>;
}

/** Safety bound on the batches of one run (a run that keeps finding due work stops and resumes at the next poll). */
const MAX_BATCHES = 1000;

export function startPathwayScheduler(options: SchedulerOptions): RunningScheduler {
  const { store, config, logger } = options;
  const settings = config.pathway.scheduler;
  const workerId = options.workerId ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  const handlers: Record<DueKind, DueHandler> = { ...DEFAULT_DUE_HANDLERS, ...options.handlers };
  const clock = options.now ?? (() => new Date());
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  // One run at a time in this process: a run asked for while another goes waits for it.
  let chain: Promise<unknown> = Promise.resolve();

  const runOnce = async (at: Date): Promise<{ ran: number; failed: number }> => {
    let ran = 0;
    let failed = 0;
    const nowIso = at.toISOString();
    for (let batch = 0; batch < MAX_BATCHES && !stopped; batch++) {
      const items = await store.pathway.claimDue(workerId, nowIso, new Date(at.getTime() + settings.leaseMs).toISOString(), settings.batch);
      for (const item of items) {
        const ctx: PathwayContext = { now: at, actor: 'scheduler', config, fhirBase: `${config.baseUrl}/fhir` };
        try {
          await handlers[item.kind](store, item, ctx);
          const kept = await store.pathway.completeDue(item.carePlan, item.kind, workerId, nowIso);
          if (!kept) logger.warn({ carePlan: item.carePlan, kind: item.kind }, 'pathway scheduler: claim lost before completion');
          ran++;
        } catch (err) {
          failed++;
          const message = err instanceof Error ? err.message : String(err);
          const retryAt = new Date(at.getTime() + retryDelayMs(item.attempts)).toISOString();
          logger.error({ carePlan: item.carePlan, kind: item.kind, attempts: item.attempts, retryAt, err: message }, 'pathway scheduler: due item failed, will retry');
          await store.pathway.failDue(item.carePlan, item.kind, workerId, message, retryAt).catch((e: unknown) => logger.error({ err: e }, 'pathway scheduler: cannot give the item back'));
        }
      }
      if (items.length < settings.batch) break;
    }
    return { ran, failed };
  };

  const runDue = (at?: Date): Promise<{ ran: number; failed: number }> => {
    const next = chain.then(() => runOnce(at ?? clock()));
    chain = next.catch(() => undefined);
    return next;
  };

  const tick = (): void => {
    if (stopped) return;
    runDue()
      .then(
        (r) => {
          if (r.ran > 0 || r.failed > 0) logger.info({ ...r, worker: workerId }, 'pathway scheduler: due items run');
        },
        (err: unknown) => logger.error({ err }, 'pathway scheduler: run failed'),
      )
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, settings.pollMs);
      });
  };
  // At start: everything past due (catch-up after downtime), then every pollMs.
  if (options.poll !== false) timer = setTimeout(tick, 0);

  return {
    workerId,
    runDue,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await chain;
    },
  };
}
