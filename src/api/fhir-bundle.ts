// `POST /fhir` with a transaction or batch Bundle. A transaction is planned and validated entry by entry,
// then run in ONE store transaction: `urn:uuid:` fullUrls get ids, references are rewritten and checked,
// and any failure rolls everything back. A batch runs each entry on its own.
import { randomUUID } from 'node:crypto';
import { allOk } from '@medplum/core';
import type { Bundle, BundleEntry, OperationOutcomeIssue, Patient, Resource } from '@medplum/fhirtypes';
import { statusLine, writtenEntry } from '../fhir/bundle-response.js';
import { OperationOutcomeError, invalid, invalidIssues, notFound, statusOf } from '../fhir/outcome.js';
import type { StoreTransaction } from '../store/repository.js';
import { isFederatedPatient } from '../services/fhir-ownership.js';
import { fhirSourcePatient } from '../services/patient-identity.js';
import { classifyReference, findReferences, assertReferencesResolve } from './fhir-references.js';
import type { FhirContext, FhirHandler, FhirRequest, HttpMethod } from './fhir-router.js';
import { findMatches, searchBundle } from './fhir-search.js';
import { scopedReader, transactionGrants, type Reader } from '../services/access/visibility.js';
import { deleteThroughFhir, putThroughFhir, type FhirWriteContext } from './fhir-writes.js';
import {
  asResource,
  assertId,
  assertResourceType,
  assertValidResource,
  isObject,
  parseIfMatch,
  preconditionFailed,
  reanchor,
} from './fhir-write.js';

/** One Bundle entry, parsed and checked, ready to run against a store transaction. */
interface EntryPlan {
  index: number;
  /** `Bundle.entry[i]`, the prefix of every expression about this entry. */
  at: string;
  method: HttpMethod;
  type: string;
  /** Target id: assigned for POST, from the URL otherwise (unset for searches and conditional PUT). */
  id?: string;
  vid?: string;
  /** Search query of a GET search, a conditional PUT, or a POST's ifNoneExist. */
  query?: string;
  resource?: Resource;
  fullUrl?: string;
  ifMatch?: string;
  /** Set when a conditional create found its match: nothing is written. */
  existing?: Resource;
}

const METHODS: readonly HttpMethod[] = ['GET', 'POST', 'PUT', 'DELETE'];
/** FHIR processing order inside a transaction. */
const ORDER: Record<HttpMethod, number> = { DELETE: 0, POST: 1, PUT: 2, GET: 3 };


/** `Bundle.entry`, checked to be an array (absent: none). */
function entriesOf(bundle: Bundle): unknown[] {
  const entry: unknown = bundle.entry;
  if (entry === undefined) return [];
  if (!Array.isArray(entry)) throw invalid(`Bundle.entry must be an array of entries, not ${entry === null ? 'null' : typeof entry}`, 'Bundle.entry');
  return entry;
}

/** The JSON types of an entry's fields (what the profile validator would check, before anything reads them). */
function assertEntryShape(entry: unknown, at: string): asserts entry is BundleEntry {
  if (!isObject(entry)) throw invalid(`Each entry must be an object, not ${jsonKind(entry)}`, at);
  const { request, fullUrl } = entry;
  if (fullUrl !== undefined && typeof fullUrl !== 'string') throw invalid(`fullUrl must be a string, not ${jsonKind(fullUrl)}`, `${at}.fullUrl`);
  if (request === undefined) throw invalid('Each entry of a transaction or batch needs a request', `${at}.request`);
  if (!isObject(request)) throw invalid(`request must be an object {method, url}, not ${jsonKind(request)}`, `${at}.request`);
  for (const field of ['method', 'url', 'ifMatch', 'ifNoneExist', 'ifNoneMatch', 'ifModifiedSince']) {
    const v = request[field];
    if (v !== undefined && typeof v !== 'string') throw invalid(`request.${field} must be a string, not ${jsonKind(v)}`, `${at}.request.${field}`);
  }
}

const jsonKind = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`);

function planEntry(raw: unknown, index: number, fhirBase: string): EntryPlan {
  const at = `Bundle.entry[${index}]`;
  assertEntryShape(raw, at);
  const entry = raw;
  const request = entry.request as NonNullable<BundleEntry['request']>;
  const method = request.method as HttpMethod;
  if (!METHODS.includes(method)) {
    throw invalid(`Unsupported request method "${String(request.method)}"; use GET, POST, PUT or DELETE`, `${at}.request.method`);
  }
  if (typeof request.url !== 'string' || request.url === '') throw invalid('Missing request url', `${at}.request.url`);
  let url = request.url;
  if (url.startsWith(`${fhirBase}/`)) url = url.slice(fhirBase.length + 1);
  url = url.replace(/^\/+/, '');
  const q = url.indexOf('?');
  const query = q >= 0 ? url.slice(q + 1) : undefined;
  const segs = (q >= 0 ? url.slice(0, q) : url).split('/').filter((s) => s !== '');
  const urlAt = `${at}.request.url`;
  const type = segs[0] ?? '';
  assertResourceType(type, urlAt);
  const plan: EntryPlan = { index, at, method, type, ...(entry.fullUrl ? { fullUrl: entry.fullUrl } : {}) };

  const shape = (ok: boolean, expected: string): void => {
    if (!ok) throw invalid(`Request url "${request.url}" does not fit ${method}; expected ${expected}`, urlAt);
  };
  const takeResource = (): Resource => {
    if (entry.resource === undefined) throw invalid(`A ${method} entry needs a resource`, `${at}.resource`);
    // Cloned: references are rewritten in place later.
    return structuredClone(asResource(entry.resource, type, `${at}.resource`));
  };

  switch (method) {
    case 'POST': {
      shape(segs.length === 1 && query === undefined, 'Type');
      plan.resource = { ...takeResource(), id: randomUUID() };
      plan.id = plan.resource.id;
      if (request.ifNoneExist) plan.query = request.ifNoneExist.replace(/^[^?]*\?/, '');
      break;
    }
    case 'PUT': {
      plan.resource = takeResource();
      if (query !== undefined) {
        shape(segs.length === 1, 'Type?search (conditional update)');
        plan.query = query;
      } else {
        shape(segs.length === 2, 'Type/id');
        assertId(segs[1], urlAt);
        plan.id = segs[1];
        if (plan.resource.id !== plan.id) {
          throw invalid(`Resource id "${plan.resource.id ?? ''}" does not match the id "${plan.id}" in the request url`, `${at}.resource.id`);
        }
      }
      plan.ifMatch = parseIfMatch(request.ifMatch);
      break;
    }
    case 'DELETE': {
      shape(segs.length === 2 && query === undefined, 'Type/id (conditional delete is not supported)');
      assertId(segs[1], urlAt);
      plan.id = segs[1];
      plan.ifMatch = parseIfMatch(request.ifMatch);
      break;
    }
    case 'GET': {
      if (segs.length === 1) {
        plan.query = query ?? '';
      } else {
        shape((segs.length === 2 || (segs.length === 4 && segs[2] === '_history')) && query === undefined, 'Type?search, Type/id or Type/id/_history/vid');
        assertId(segs[1], urlAt);
        plan.id = segs[1];
        if (segs.length === 4) {
          assertId(segs[3], urlAt);
          plan.vid = segs[3];
        }
      }
      break;
    }
  }
  if (plan.resource) assertValidResource(plan.resource, `${at}.resource`);
  if (plan.resource?.resourceType === 'Patient' && !isFederatedPatient(plan.resource)) placePatient(plan);
  return plan;
}

/**
 * A Patient is a source identity, stored at the id derived from the sender's identifier (fhir-writes.ts): a POST
 * gets that id now, so that the references to its fullUrl point at it. Missing traits are named inside the entry.
 */
function placePatient(plan: EntryPlan): void {
  const source = fhirSourcePatient(plan.resource as Patient);
  if (!source.ok) throw invalidIssues(reanchor(source.issues, 'Patient', `${plan.at}.resource`));
  if (plan.method === 'POST' && plan.resource) {
    plan.resource.id = source.id;
    plan.id = source.id;
  }
}

/** The id a Patient without one gets: the id derived from its identifier (undefined when it names none). */
function derivedPatientId(resource: Resource): string | undefined {
  if (resource.resourceType !== 'Patient') return undefined;
  const source = fhirSourcePatient(resource as Patient);
  return source.ok ? source.id : undefined;
}

/**
 * Keep the outcome's status, but make every issue point into the entry it is about; expressions about the entry's
 * resource (`Patient.id`, `CarePlan.meta.profile[0]`) go to `Bundle.entry[i].resource…`.
 */
function atEntry(err: unknown, at: string, type?: string): unknown {
  if (!(err instanceof OperationOutcomeError)) return err;
  const inEntry = (e: string): string => {
    if (e.startsWith('Bundle.')) return e;
    if (type && (e === type || e.startsWith(`${type}.`) || e.startsWith(`${type}[`))) return `${at}.resource${e.slice(type.length)}`;
    return `${at}.${e}`;
  };
  const issue: OperationOutcomeIssue[] = err.outcome.issue.map((i) => ({
    ...i,
    expression: i.expression?.length ? i.expression.map(inEntry) : [at],
  }));
  return new OperationOutcomeError({ ...err.outcome, issue }, err);
}

/** Resolve conditional creates and updates against the store (before ids are handed out to references). */
async function resolveConditionals(tx: Pick<StoreTransaction, 'search'>, plans: EntryPlan[]): Promise<void> {
  for (const p of plans) {
    if (p.query === undefined || p.method === 'GET') continue;
    const what = p.method === 'POST' ? `${p.at}.request.ifNoneExist` : `${p.at}.request.url`;
    let matches: Resource[];
    try {
      matches = await findMatches(tx, p.type, p.query, what);
    } catch (err) {
      throw atEntry(err, what);
    }
    if (matches.length > 1) throw atEntry(preconditionFailed(`"${p.query}" matches ${matches.length} ${p.type} resources`), what);
    if (p.method === 'POST') {
      if (matches.length === 1) p.existing = matches[0];
    } else if (p.resource) {
      // Conditional update: the match's id, else the resource's own id, else a new one.
      p.id = matches[0]?.id ?? p.resource.id ?? derivedPatientId(p.resource) ?? randomUUID();
      if (p.resource.id !== undefined && p.resource.id !== p.id) {
        throw invalid(`Resource id "${p.resource.id}" differs from the matching ${p.type}/${p.id}`, `${p.at}.resource.id`);
      }
      p.resource.id = p.id;
    }
  }
}

/** Turn `urn:uuid:` and conditional references into `Type/id`; throws on what cannot be resolved. */
async function rewriteReferences(tx: Pick<StoreTransaction, 'search'>, p: EntryPlan, ids: ReadonlyMap<string, string>, fhirBase: string): Promise<void> {
  if (!p.resource || p.existing) return;
  const where = (path: string): string => `${p.at}.resource${path.slice(p.type.length)}`;
  for (const ref of findReferences(p.resource)) {
    const target = ids.get(ref.value);
    if (target) {
      ref.set(target);
      continue;
    }
    const k = classifyReference(ref.value, fhirBase);
    if (k.kind === 'urn') {
      throw invalid(`Reference "${ref.value}" does not match any fullUrl of the Bundle`, where(ref.path));
    }
    if (k.kind === 'conditional') {
      const matches = await findMatches(tx, k.resourceType, k.query, where(ref.path));
      if (matches.length !== 1) {
        throw invalid(`Conditional reference "${ref.value}" matches ${matches.length} resources; it must match exactly one`, where(ref.path));
      }
      ref.set(`${k.resourceType}/${matches[0].id}`);
    }
  }
}

async function execute(ctx: FhirContext, tx: StoreTransaction, p: EntryPlan, w: FhirWriteContext, view: Reader): Promise<BundleEntry> {
  switch (p.method) {
    case 'POST': {
      if (p.existing) return writtenEntry(ctx.fhirBase, p.existing, 200);
      // A Patient whose identifier is known updates its source Patient: 200.
      const r = await putThroughFhir(tx, p.resource as Resource, w, { assignedId: true });
      return writtenEntry(ctx.fhirBase, r.resource, r.created ? 201 : 200);
    }
    case 'PUT': {
      const r = await putThroughFhir(tx, p.resource as Resource, w, { ifMatch: p.ifMatch });
      return writtenEntry(ctx.fhirBase, r.resource, r.created ? 201 : 200);
    }
    case 'DELETE': {
      await deleteThroughFhir(tx, p.type, p.id as string, w, { ifMatch: p.ifMatch });
      return { response: { status: statusLine(204) } };
    }
    case 'GET': {
      if (p.id === undefined) {
        const bundle = await searchBundle(ctx, view, p.type, new URLSearchParams(p.query ?? ''));
        return { resource: bundle, response: { status: statusLine(200) } };
      }
      if (p.vid !== undefined) {
        // Store transactions have no vread; only the current version can be read inside one.
        const current = await view.read(p.type, p.id);
        if (!current || current.meta?.versionId !== p.vid) throw notFound(`${p.type}/${p.id}/_history/${p.vid} not found`);
        return writtenEntry(ctx.fhirBase, current, 200);
      }
      const resource = await view.read(p.type, p.id);
      if (!resource) throw notFound(`${p.type}/${p.id} not found`);
      return writtenEntry(ctx.fhirBase, resource, 200);
    }
  }
}

/** Run planned entries in one store transaction; `ids` maps fullUrls to `Type/id`. */
async function runPlans(ctx: FhirContext, tx: StoreTransaction, plans: EntryPlan[], req: FhirRequest, action: string): Promise<BundleEntry[]> {
  // What the principal may see: conditional matches and GET entries are filtered to its tenant.
  const view = scopedReader(tx, req.client, transactionGrants(tx));
  await resolveConditionals(view, plans);

  const ids = new Map<string, string>();
  const pending = new Map<string, 'write' | 'delete'>();
  for (const p of plans) {
    if (p.method === 'GET') continue;
    const target = `${p.type}/${p.existing?.id ?? p.id}`;
    if (pending.has(target)) throw invalid(`${target} is the target of more than one entry`, p.at);
    if (p.fullUrl && p.method !== 'DELETE') ids.set(p.fullUrl, target);
    if (!p.existing) pending.set(target, p.method === 'DELETE' ? 'delete' : 'write');
  }
  for (const p of plans) await rewriteReferences(view, p, ids, ctx.fhirBase);
  for (const p of plans) {
    if (p.resource && !p.existing) await assertReferencesResolve(tx, p.resource, ctx.fhirBase, pending, `${p.at}.resource`);
  }

  const w: FhirWriteContext = { ctx, client: req.client, requestId: req.requestId, pending };
  const responses: BundleEntry[] = new Array<BundleEntry>(plans.length);
  const ordered = plans.map((p, i) => ({ p, i })).sort((a, b) => ORDER[a.p.method] - ORDER[b.p.method] || a.i - b.i);
  for (const { p, i } of ordered) {
    try {
      responses[i] = await execute(ctx, tx, p, w, view);
    } catch (err) {
      throw atEntry(err, p.at, p.type);
    }
  }
  const entities = [...pending.keys()];
  if (entities.length) {
    await tx.audit({ action, actor: req.client.id, entities, outcome: 'success', requestId: req.requestId });
  }
  return responses;
}

function duplicateFullUrls(entries: unknown[]): OperationOutcomeIssue[] {
  const seen = new Map<string, number>();
  const issues: OperationOutcomeIssue[] = [];
  entries.forEach((raw, i) => {
    const e = isObject(raw) ? (raw as BundleEntry) : undefined;
    if (typeof e?.fullUrl !== 'string' || e.fullUrl === '') return;
    const first = seen.get(e.fullUrl);
    if (first !== undefined) {
      issues.push(...invalid(`fullUrl "${e.fullUrl}" repeats Bundle.entry[${first}]`, `Bundle.entry[${i}].fullUrl`).outcome.issue);
    } else {
      seen.set(e.fullUrl, i);
    }
  });
  return issues;
}

async function transaction(ctx: FhirContext, bundle: Bundle, req: FhirRequest): Promise<Bundle> {
  const entries = entriesOf(bundle);
  const plans: EntryPlan[] = [];
  // Report every bad entry at once, not only the first.
  const issues = duplicateFullUrls(entries);
  entries.forEach((e, i) => {
    try {
      plans.push(planEntry(e, i, ctx.fhirBase));
    } catch (err) {
      if (!(err instanceof OperationOutcomeError)) throw err;
      issues.push(...err.outcome.issue);
    }
  });
  if (issues.length) throw invalidIssues(issues);
  const entry = await ctx.store.transaction((tx) => runPlans(ctx, tx, plans, req, 'fhir.transaction'));
  return { resourceType: 'Bundle', type: 'transaction-response', entry };
}

async function batch(ctx: FhirContext, bundle: Bundle, req: FhirRequest): Promise<Bundle> {
  const entry: BundleEntry[] = [];
  for (const [i, e] of entriesOf(bundle).entries()) {
    try {
      const plan = planEntry(e, i, ctx.fhirBase);
      // fullUrls mean nothing across batch entries: each entry stands alone.
      const [response] = await ctx.store.transaction((tx) => runPlans(ctx, tx, [{ ...plan, fullUrl: undefined }], req, 'fhir.batch'));
      entry.push(response);
    } catch (err) {
      let outcomeError = err;
      if (!(err instanceof OperationOutcomeError)) {
        ctx.logger.error({ reqId: req.requestId, err, entry: i }, 'batch entry failed');
        outcomeError = new OperationOutcomeError({
          resourceType: 'OperationOutcome',
          issue: [{ severity: 'error', code: 'exception', details: { text: `Internal error; request id ${req.requestId}` } }],
        });
      }
      const o = (outcomeError as OperationOutcomeError).outcome;
      entry.push({ response: { status: statusLine(statusOf(o)), outcome: o } });
    }
  }
  return { resourceType: 'Bundle', type: 'batch-response', entry };
}

export function bundleHandler(ctx: FhirContext): FhirHandler {
  return async (req) => {
    const rt = (req.body as { resourceType?: unknown } | undefined)?.resourceType;
    if (rt !== 'Bundle') throw invalid(`POST to the FHIR base expects a Bundle, not ${typeof rt === 'string' ? rt : 'this body'}`, 'resourceType');
    const bundle = asResource(req.body, 'Bundle') as Bundle;
    if (bundle.type === 'transaction') return [allOk, await transaction(ctx, bundle, req)];
    if (bundle.type === 'batch') return [allOk, await batch(ctx, bundle, req)];
    throw invalid(`Bundle.type must be transaction or batch, not "${String(bundle.type)}"`, 'Bundle.type');
  };
}

