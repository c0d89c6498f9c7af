// The pathway's endpoints for systems (issue 18): `POST /pathway/<CarePlan id>/outcomes` records follow-up outcomes
// (docs/pathway.md "Recording the outcomes"), under `domain.write`, for PPPs of the client's own establishment; and
// `POST /admin/pathway/run-due` runs the scheduler's due work now, in this gateway (with its mail settings: the
// operators' catch-up, and the demo's jump to D45/D90 — `passerelle pathway due --run --url`).
import type { Express } from 'express';
import { z } from 'zod';
import { forbidden, notFound } from '../fhir/outcome.js';
import { startPathwayScheduler } from '../services/pathway/scheduler.js';
import { assertPppWritable } from '../services/access/documents.js';
import { recordOutcomes } from '../services/pathway/outcomes.js';
import type { AppDeps } from './app.js';
import { requireScope } from './auth/index.js';
import { sendFhir } from './fhir-response.js';
import { jsonBody, parseBody } from './json-body.js';

/** Body of POST /admin/pathway/run-due: the instant to run at (default now). */
const RunDueBody = z.object({ at: z.iso.datetime({ offset: true, message: 'expected an ISO 8601 instant with its offset (2027-01-20T09:00:00Z)' }).optional() }).strict();

/** How far ahead of the clock `at` may be without being a jump ahead (clocks of two machines differ a little). */
const CLOCK_SKEW_MS = 60_000;

/** CarePlan ids are UUIDs (src/fhir/ids.ts); FHIR allows up to 64 of these characters. */
const CAREPLAN_ID = /^[A-Za-z0-9.-]{1,64}$/;

export function mountPathwayRoutes(app: Express, deps: AppDeps): void {
  const { store, config } = deps;
  app.post('/pathway/:carePlan/outcomes', requireScope('domain.write'), ...jsonBody(config.bodyLimit), (req, res, next) => {
    (async () => {
      const id = String(req.params.carePlan);
      if (!CAREPLAN_ID.test(id)) throw notFound(`CarePlan/${id.slice(0, 64)} not found`);
      // Another tenant's PPP: 404 (as a missing one); one it sees but of another establishment: 403.
      await assertPppWritable(store, req.client, id);
      const result = await recordOutcomes(store, id, req.body, {
        now: new Date(),
        actor: req.client.id,
        ...(req.requestId ? { requestId: req.requestId } : {}),
        followUp: config.pathway.followUp,
      });
      sendFhir(res, 200, result.carePlan);
    })().catch(next);
  });
  // Runs the due work at `at` (default now) here, like the scheduler of this gateway would. Running ahead of the clock
  // (opening D45 today) is for development and demonstrations only: refused when authentication is on.
  app.post('/admin/pathway/run-due', requireScope('admin'), ...jsonBody(config.bodyLimit), (req, res, next) => {
    (async () => {
      const body = parseBody(RunDueBody, req.body);
      const now = Date.now();
      const at = body.at !== undefined ? new Date(body.at) : new Date(now);
      if (at.getTime() > now + CLOCK_SKEW_MS && config.auth.enabled) {
        throw forbidden('Running the pathway ahead of the clock (at in the future) is for development and demonstrations: this gateway has authentication on');
      }
      const scheduler = startPathwayScheduler({ store, config, logger: deps.logger, poll: false, workerId: `admin:${process.pid}` });
      try {
        const result = await scheduler.runDue(at);
        await store.transaction((tx) =>
          tx.audit({
            action: 'pathway.run-due',
            actor: req.client.id,
            entities: [],
            outcome: result.failed > 0 ? 'failure' : 'success',
            detail: `at=${at.toISOString()} ran=${result.ran} failed=${result.failed}`,
            ...(req.requestId ? { requestId: req.requestId } : {}),
          }),
        );
        res.status(200).json({ at: at.toISOString(), ...result });
      } finally {
        await scheduler.stop();
      }
    })().catch(next);
  });
}
