// The pathway's endpoints for systems (issue 18): `POST /pathway/<CarePlan id>/outcomes` records follow-up outcomes
// (docs/pathway.md "Recording the outcomes"), under `domain.write`, for PPPs of the client's own establishment.
import type { Express } from 'express';
import { notFound } from '../fhir/outcome.js';
import { assertPppWritable } from '../services/access/documents.js';
import { recordOutcomes } from '../services/pathway/outcomes.js';
import type { AppDeps } from './app.js';
import { requireScope } from './auth/index.js';
import { sendFhir } from './fhir-response.js';
import { jsonBody } from './json-body.js';

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
}
