// Domain endpoints: canonical PPP / CTM / BPM submissions and the explicit CTM ↔ PPP link.
// HTTP only adapts: parsing, mapping, validation and storage live in src/services.
import type { Express, Request, RequestHandler } from 'express';
import { z } from 'zod';
import type { DocumentKind } from '../domain/parse.js';
import { invalidIssues, issue } from '../fhir/outcome.js';
import { linkCtm, medicationReview, unlinkCtm, type CtmRef } from '../services/ctm-link.js';
import { submitDocument } from '../services/submission.js';
import { sendPpp } from '../services/pathway/send.js';
import { assertPppVisible, assertPppWritable } from '../services/access/documents.js';
import type { AppDeps } from './app.js';
import { FHIR_PATH } from './app.js';
import { requireScope } from './auth/index.js';
import { auditAccess } from './audit-access.js';
import { jsonBody, parseBody } from './json-body.js';
import { mountWorklistRoute } from './pathway-worklist-route.js';
import { sendFhir } from './fhir-response.js';
import { vendorUpload } from './mapping-upload.js';

/** Body of link-ctm / unlink-ctm: the CTM's establishment and local id, or a business identifier. */
export const CtmRefBody = z.union([
  z.object({ ctm: z.object({ finess: z.string().regex(/^(\d{9}|2[AB]\d{7})$/, 'a FINESS number has 9 characters'), id: z.string().min(1) }).strict() }).strict(),
  z.object({ identifier: z.object({ system: z.string().min(1), value: z.string().min(1) }).strict() }).strict(),
]);

export function parseCtmRef(body: unknown): CtmRef {
  const r = CtmRefBody.safeParse(body);
  if (r.success) return 'ctm' in r.data ? r.data.ctm : { identifier: r.data.identifier };
  throw invalidIssues(
    r.error.issues.map((i) =>
      issue('invalid', i.code === 'invalid_union' ? 'expected {"ctm": {"finess", "id"}} or {"identifier": {"system", "value"}}' : i.message, i.path.join('.') || undefined),
    ),
  );
}

/** Body of POST /ppp/{id}/send: optional, whom to send to. */
export const SendBody = z
  .object({
    recipients: z
      .array(z.enum(['MT', 'PHO']))
      .min(1, 'name at least one recipient (or send no body)')
      .max(2)
      .refine((r) => new Set(r).size === r.length, 'a recipient is named twice')
      .optional(),
  })
  .strict();

/** Whether a request carries a body at all (a send may have none). */
const hasBody = (req: Request): boolean => req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');

const wrap =
  (fn: (req: Request) => Promise<[number, unknown]>): RequestHandler =>
  (req, res, next) => {
    fn(req).then(([status, body]) => {
      if (body && typeof body === 'object' && 'resourceType' in body) sendFhir(res, status, body as never);
      else res.status(status).json(body);
    }, next);
  };

export function mountDomainRoutes(app: Express, deps: AppDeps): void {
  const { store, config } = deps;
  const body = jsonBody(config.bodyLimit);
  const fhirBase = (): string => `${deps.config.baseUrl}${FHIR_PATH}`;

  for (const kind of ['ppp', 'ctm', 'bpm'] as const satisfies readonly DocumentKind[]) {
    const submit = (req: Request, document: unknown) =>
      submitDocument(store, kind, document, {
        now: new Date().toISOString(),
        actor: req.client.id,
        requestId: req.requestId,
        fhirBase: fhirBase(),
        outbox: config.outbox,
        documents: config.documents,
        ...(config.mssante ? { mssante: config.mssante } : {}),
        principal: req.client,
      });
    app.post(
      `/${kind}`,
      requireScope('domain.write'),
      // A vendor format (Content-Type of a format, or X-Passerelle-Format) is answered there; anything else goes on.
      vendorUpload(kind, () => deps.mappings, submit),
      ...body,
      wrap(async (req) => [200, await submit(req, req.body)]),
    );
  }

  const actor = (req: Request) => ({ actor: req.client.id, requestId: req.requestId });
  // Another tenant's PPP: 404 (as a missing one); one the tenant sees (care team) but of another establishment: 403.
  const writable = async (req: Request): Promise<CtmRef> => {
    const ref = parseCtmRef(req.body);
    await assertPppWritable(store, req.client, String(req.params.id), 'finess' in ref ? ref.finess : undefined);
    return ref;
  };
  app.post('/ppp/:id/link-ctm', requireScope('domain.write'), ...body, wrap(async (req) => [200, (await linkCtm(store, String(req.params.id), await writable(req), actor(req))).carePlan]));
  app.post('/ppp/:id/unlink-ctm', requireScope('domain.write'), ...body, wrap(async (req) => [200, (await unlinkCtm(store, String(req.params.id), await writable(req), actor(req))).carePlan]));
  // The body is optional: without one, the MT and (when named) the PHO.
  const optionalBody: RequestHandler = (req, res, next) => {
    if (!hasBody(req)) return next();
    const chain = [...body];
    const step = (err?: unknown): void => {
      if (err) return next(err);
      const mw = chain.shift();
      if (mw) mw(req, res, step);
      else next();
    };
    step();
  };
  app.post(
    '/ppp/:id/send',
    requireScope('domain.write'),
    optionalBody,
    wrap(async (req) => {
      const parsed = parseBody(SendBody, hasBody(req) ? req.body : {});
      const result = await sendPpp(
        store,
        String(req.params.id),
        { now: new Date(), actor: req.client.id, requestId: req.requestId, config, fhirBase: fhirBase(), principal: req.client },
        parsed.recipients ? { recipients: parsed.recipients } : {},
      );
      return [200, { links: result.links, deliveries: result.deliveries }];
    }),
  );
  app.get(
    '/ppp/:id/medication-review',
    auditAccess(store, 'fhir.read', { prefix: 'CarePlan' }),
    requireScope('fhir.read'),
    wrap(async (req) => {
      await assertPppVisible(store, req.client, String(req.params.id));
      return [200, await medicationReview(store, String(req.params.id))];
    }),
  );
  // The pathway's due work (issue 18): GET /pathway/worklist.
  mountWorklistRoute(app, deps);
}
