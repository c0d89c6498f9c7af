// Identity (SRI) endpoints: the review queue (filters, order, counts by grade, assignment) and its decisions, unmerge,
// the link export and the bulk import; the conflict board per establishment (conflict-board-routes.ts).
// HTTP only adapts: matching, decisions and imports live in src/identity and src/services. Bodies are JSON
// (NDJSON for the import); errors are OperationOutcomes through the shared error handler.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Express, Request, RequestHandler } from 'express';
import { z } from 'zod';
import { forbidden, invalid, notFound } from '../fhir/outcome.js';
import { Finess } from '../domain/actors.js';
import { mayWriteFor, ownFiness } from '../domain/access/model.js';
import { sourcePatientId } from '../fhir/federated-patient.js';
import type { FederatedView, ReviewDetail } from '../services/identity-registry.js';
import type { ReviewRecord, SourceIdentityRecord } from '../identity/records.js';
import type { MatchGrade } from '../identity/types.js';
import type { ReviewListQuery, ReviewSort } from '../store/identity-repository.js';
import type { ResourceStore } from '../store/repository.js';
import { awaitingDocuments } from '../services/bpm-attachment.js';
import { importPatients, ndjsonLines } from '../services/identity-import.js';
import { LINK_FORMATS, LINK_MEDIA_TYPES, linkLines, type LinkFormat } from '../services/identity-links.js';
import { identityServiceFor } from '../services/patient-identity.js';
import type { AppDeps } from './app.js';
import { requireScope } from './auth/index.js';
import { auditAccess } from './audit-access.js';
import { jsonBody, parseBody } from './json-body.js';
import { unsupportedMediaType } from './fhir-response.js';
import { mountConflictBoardRoutes } from './conflict-board-routes.js';

const DEFAULT_PAGE = 50;
const MAX_PAGE = 1000;
export const NDJSON_TYPES = ['application/x-ndjson', 'application/ndjson', 'application/fhir+ndjson'];

const DecisionBody = z
  .object({
    decision: z.enum(['same', 'different'], { message: 'expected "same" or "different"' }),
    reason: z.string({ message: 'a reason is required' }).trim().min(1, 'a reason is required'),
  })
  .strict();

/** A referent's principal id as the queue stores it: printable, no control or bidi characters. */
const ASSIGNEE = /^[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}]{1,200}$/u;

const AssignBody = z
  .object({
    assignee: z.union([z.string().trim().regex(ASSIGNEE, 'expected a principal id of 1 to 200 printable characters'), z.null()], {
      message: 'the assignee is required (a principal id, or null to unassign)',
    }),
  })
  .strict();

const REVIEW_PARAMS = new Set(['state', 'grade', 'flag', 'establishment', 'assignee', '_sort', '_count', '_offset']);
const GRADES: readonly MatchGrade[] = ['certain', 'probable', 'possible', 'certainly-not'];
const SORTS: Record<string, ReviewSort> = {
  age: { key: 'age', desc: false },
  '-age': { key: 'age', desc: true },
  score: { key: 'score', desc: false },
  '-score': { key: 'score', desc: true },
};

/**
 * The queue's search parameters, like a FHIR search: an unknown or repeated parameter, or a value out of its list,
 * is a 400 naming it. `assignee=me` is the calling principal, `assignee=none` the items assigned to nobody.
 */
export function reviewQuery(query: Request['query'], me: string): Omit<ReviewListQuery, 'limit' | 'offset'> {
  for (const [name, value] of Object.entries(query)) {
    if (!REVIEW_PARAMS.has(name)) throw invalid(`${name.slice(0, 64)}: unknown parameter (expected ${[...REVIEW_PARAMS].join(', ')})`, name.slice(0, 64));
    if (typeof value !== 'string') throw invalid(`${name}: give the parameter once (several values: separated by commas)`, name);
  }
  const one = (name: string): string | undefined => query[name] as string | undefined;
  const out: Omit<ReviewListQuery, 'limit' | 'offset'> = {};
  const state = one('state');
  if (state !== undefined) {
    if (state !== 'open' && state !== 'decided') throw invalid('state: expected "open" or "decided"', 'state');
    out.state = state;
  }
  const grade = one('grade');
  if (grade !== undefined) {
    const grades = grade.split(',');
    if (grades.length > GRADES.length || !grades.every((g) => (GRADES as readonly string[]).includes(g))) {
      throw invalid(`grade: expected ${GRADES.join(', ')} (several separated by commas)`, 'grade');
    }
    out.grades = [...new Set(grades)] as MatchGrade[];
  }
  const flag = one('flag');
  if (flag !== undefined) {
    if (flag !== 'DPOT' && flag !== 'COLP') throw invalid('flag: expected "DPOT" or "COLP"', 'flag');
    out.flag = flag;
  }
  const establishment = one('establishment');
  if (establishment !== undefined) {
    if (!/^\d{9}$/.test(establishment)) throw invalid('establishment: expected a 9-digit FINESS number', 'establishment');
    out.establishment = establishment;
  }
  const assignee = one('assignee');
  if (assignee !== undefined) {
    if (!ASSIGNEE.test(assignee)) throw invalid('assignee: expected "me", "none" or a principal id of 1 to 200 printable characters', 'assignee');
    out.assignee = assignee === 'me' ? me : assignee === 'none' ? null : assignee;
  }
  const sort = one('_sort');
  if (sort !== undefined) {
    const s = SORTS[sort];
    if (!s) throw invalid('_sort: expected age, -age, score or -score', '_sort');
    out.sort = s;
  }
  return out;
}

const SeparateBody = z
  .object({
    system: z.string({ message: 'the source identity’s system is required' }).trim().min(1, 'the source identity’s system is required'),
    value: z.string({ message: 'the source identity’s id is required' }).trim().min(1, 'the source identity’s id is required'),
    reason: z.string({ message: 'a reason is required' }).trim().min(1, 'a reason is required'),
    /** The federated identity mixed two persons (COLV). Default true. */
    collision: z.boolean().optional(),
  })
  .strict();

function intParam(req: Request, name: string, fallback: number, max: number): number {
  const raw = req.query[name];
  if (raw === undefined) return fallback;
  const n = typeof raw === 'string' && /^\d{1,9}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n > max) throw invalid(`${name}: expected an integer from 0 to ${max}`, name);
  return n;
}

const wrap =
  (fn: (req: Request) => Promise<unknown>): RequestHandler =>
  (req, res, next) => {
    fn(req).then((body) => res.status(200).json(body), next);
  };

/**
 * The import's `finess` parameter (the establishment whose feed the body is; its anomalies go to that board): a FINESS
 * as documents give it, given once; a client bound to an establishment may name its own only, as for its documents.
 */
function importFiness(req: Request): string | undefined {
  const value = req.query.finess;
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalid('finess: give the parameter once', 'finess');
  const parsed = Finess.safeParse(value);
  if (!parsed.success) throw invalid('finess: expected a FINESS number of 9 characters (digits, 2A/2B for Corsica)', 'finess');
  if (!mayWriteFor(req.client, parsed.data)) {
    const own = ownFiness(req.client);
    throw forbidden(`finess: client "${req.client.id}" imports for ${own ? `FINESS ${own}` : 'no establishment'} only, not ${parsed.data}`);
  }
  return parsed.data;
}

const ctxOf = (req: Request): { actor: string; requestId: string } => ({ actor: req.client.id, requestId: req.requestId });

function sourceView(s: SourceIdentityRecord) {
  return {
    system: s.system,
    value: s.localId,
    patient: `Patient/${sourcePatientId(s.system, s.localId)}`,
    status: s.status,
    link: s.decision,
    ...(s.score !== undefined ? { score: s.score } : {}),
    traits: s.traits,
  };
}

function identityView(f: FederatedView) {
  return {
    id: f.id,
    patient: `Patient/${f.id}`,
    status: f.status,
    flags: f.flags,
    active: f.active,
    ...(f.replacedBy ? { replacedBy: `Patient/${f.replacedBy}` } : {}),
    traits: f.traits,
    sources: f.sources.map(sourceView),
  };
}

/** One item of the queue: who, what was compared, and the documents waiting for the decision. */
async function reviewSummary(store: ResourceStore, r: ReviewRecord) {
  return {
    id: r.id,
    state: r.state,
    grade: r.grade,
    score: r.score,
    flag: r.flag,
    created: r.created,
    source: { system: r.sourceSystem, value: r.sourceId, patient: `Patient/${sourcePatientId(r.sourceSystem, r.sourceId)}` },
    newIdentity: `Patient/${r.newFederatedId}`,
    candidate: `Patient/${r.candidateFederatedId}`,
    ...(r.assignee ? { assignee: r.assignee } : {}),
    ...(r.decision ? { decision: r.decision, decidedBy: r.decidedBy, decidedAt: r.decidedAt, reason: r.reason } : {}),
    awaiting: await awaitingDocuments(store, r.sourceSystem, r.sourceId),
  };
}

async function reviewDetail(store: ResourceStore, d: ReviewDetail) {
  const c = d.review.comparison;
  return {
    ...(await reviewSummary(store, d.review)),
    ...(d.source ? { sourceIdentity: sourceView(d.source) } : {}),
    newIdentity: identityView(d.newIdentity),
    candidate: identityView(d.candidate),
    comparison: { grade: c.grade, score: c.score, weight: c.weight, fields: c.comparisons, reasons: c.reasons, ...(c.flag ? { flag: c.flag } : {}) },
  };
}

export function mountIdentityRoutes(app: Express, deps: AppDeps): void {
  const { store, config } = deps;
  const service = identityServiceFor(store);
  const body = jsonBody(config.bodyLimit);

  app.get(
    '/identity/reviews',
    auditAccess(store, 'identity.reviews.read'),
    requireScope('identity.review'),
    wrap(async (req) => {
      const filter = reviewQuery(req.query, req.client.id);
      const limit = intParam(req, '_count', DEFAULT_PAGE, MAX_PAGE);
      const offset = intParam(req, '_offset', 0, Number.MAX_SAFE_INTEGER);
      const [page, stats] = await Promise.all([service.listReviews({ ...filter, limit, offset }), service.reviewStats(filter)]);
      return {
        total: page.total,
        offset,
        count: page.items.length,
        // Counts of the same filter, whatever its grade: what each grade tab holds.
        byGrade: Object.fromEntries(GRADES.map((g) => [g, stats.byGrade[g] ?? 0])),
        ...(stats.oldest ? { oldest: stats.oldest } : {}),
        items: await Promise.all(page.items.map((r) => reviewSummary(store, r))),
      };
    }),
  );

  app.get(
    '/identity/reviews/:id',
    auditAccess(store, 'identity.reviews.read', { prefix: 'identity-review' }),
    requireScope('identity.review'),
    wrap(async (req) => {
      const detail = await service.getReview(String(req.params.id));
      if (!detail) throw notFound(`Review item ${String(req.params.id)} not found`);
      return reviewDetail(store, detail);
    }),
  );

  app.post(
    '/identity/reviews/:id/decision',
    requireScope('identity.review'),
    ...body,
    wrap(async (req) => {
      const body = parseBody(DecisionBody, req.body);
      const who = req.client.id;
      const result = await service.decide(String(req.params.id), { decision: body.decision, who, why: body.reason }, ctxOf(req));
      return {
        review: await reviewSummary(store, result.review),
        patient: `Patient/${result.federatedId}`,
        ...(result.replaced ? { replaced: `Patient/${result.replaced}` } : {}),
      };
    }),
  );

  // The regional cell assigns items to referents; `null` takes an item back.
  app.post(
    '/identity/reviews/:id/assign',
    requireScope('identity.review'),
    ...body,
    wrap(async (req) => {
      const body = parseBody(AssignBody, req.body);
      const review = await service.assign(String(req.params.id), body.assignee, ctxOf(req));
      return reviewSummary(store, review);
    }),
  );

  app.post(
    '/identity/separate',
    requireScope('identity.review'),
    ...body,
    wrap(async (req) => {
      const body = parseBody(SeparateBody, req.body);
      const result = await service.separate(
        body.system,
        body.value,
        { who: req.client.id, why: body.reason, ...(body.collision !== undefined ? { collision: body.collision } : {}) },
        ctxOf(req),
      );
      return { patient: `Patient/${result.federatedId}`, previous: `Patient/${result.previousFederatedId}` };
    }),
  );

  // The SRI's review queue and link table are identitovigilance's (docs/security.md): identity.review.
  app.get('/identity/links', auditAccess(store, 'identity.links.export'), requireScope('identity.review'), (req, res, next) => {
    const format = (req.query.format ?? 'csv') as LinkFormat;
    if (!(LINK_FORMATS as readonly unknown[]).includes(format)) {
      next(invalid(`format: expected ${LINK_FORMATS.join(' or ')}`, 'format'));
      return;
    }
    res.status(200).type(LINK_MEDIA_TYPES[format]);
    if (format === 'csv') res.setHeader('Content-Disposition', 'attachment; filename="identity-links.csv"');
    pipeline(Readable.from(linkLines(service.links(), format)), res).catch(next);
  });

  // Importing identities writes the SRI's registry and the source Patients of any establishment's namespace: an
  // identitovigilance operation (a tenant-bound client could otherwise rewrite another establishment's patients).
  app.post(
    '/identity/import',
    requireScope('identity.review'),
    (req, _res, next) => {
      const type = req.get('content-type') ?? '(none)';
      if (!req.is(NDJSON_TYPES)) next(unsupportedMediaType(`Content-Type must be application/x-ndjson (one FHIR Patient per line), not "${type}"`));
      else next();
    },
    wrap(async (req) => {
      // Checked before the body is read: a refused import writes nothing.
      const finess = importFiness(req);
      const summary = await importPatients(store, ndjsonLines(req), { ctx: ctxOf(req), pipeline: false, ...(finess ? { finess } : {}) });
      if (summary.lines === 0) throw invalid('The body holds no Patient (one FHIR Patient per line)', 'body');
      return summary;
    }),
  );

  // The conflict board per establishment (its own access rule: the regional cell, or the establishment itself).
  mountConflictBoardRoutes(app, deps);
}
