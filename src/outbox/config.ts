// The `outbox` section of the configuration: destinations (where messages go, how hard to retry), routes (which
// events send a message where) and the dispatcher's settings.
import { z } from 'zod';

/** Events a submission raises once it is stored. */
export const OUTBOX_EVENTS = ['ppp.stored', 'ctm.stored', 'bpm.stored'] as const;
export type OutboxEvent = (typeof OUTBOX_EVENTS)[number];

const httpDestination = z
  .object({
    kind: z.literal('http'),
    /** Receiver URL: the payload is POSTed as JSON with an `Idempotency-Key` header. */
    url: z.url(),
    headers: z.record(z.string(), z.string()).optional(),
    timeoutMs: z.number().int().positive().default(10_000),
    /** Deliveries in flight at once, per gateway process. */
    concurrency: z.number().int().positive().default(4),
    /** Attempts in all, the first included; then the message is dead. */
    maxAttempts: z.number().int().positive().default(12),
    /** Backoff: first retry after ~baseDelayMs (jittered), doubling, capped at maxDelayMs. */
    baseDelayMs: z.number().int().positive().default(1000),
    maxDelayMs: z.number().int().positive().default(600_000),
    circuit: z
      .object({ failureThreshold: z.number().int().positive().default(5), openMs: z.number().int().positive().default(30_000) })
      .strict()
      .default({ failureThreshold: 5, openMs: 30_000 }),
  })
  .strict();

export const outboxConfigSchema = z
  .object({
    /** Run the dispatcher in this process (`passerelle serve`). */
    dispatcher: z.boolean().default(true),
    /** How long a claimed message is held before another process may take it over. */
    leaseMs: z.number().int().positive().default(60_000),
    pollMs: z.number().int().positive().default(250),
    batch: z.number().int().positive().default(64),
    destinations: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'lower-case letters, digits, - and _'), httpDestination).default({}),
    routes: z.array(z.object({ on: z.enum(OUTBOX_EVENTS), destination: z.string() }).strict()).default([]),
  })
  .strict()
  .superRefine((o, ctx) => {
    o.routes.forEach((r, i) => {
      if (!(r.destination in o.destinations)) {
        ctx.addIssue({ code: 'custom', message: `unknown destination "${r.destination}"`, path: ['routes', i, 'destination'] });
      }
    });
  })
  .default({ dispatcher: true, leaseMs: 60_000, pollMs: 250, batch: 64, destinations: {}, routes: [] });

export type OutboxConfig = z.infer<typeof outboxConfigSchema>;
