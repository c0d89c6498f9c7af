// Every read and search over the FHIR API leaves an audit row (issue 16: "reads leave no trace"), written by the one
// express adapter of fhir-router.ts once a handler has answered: the interaction, the ids returned (a searchset's
// entries, capped, with their count), the outcome and the HTTP status. Writes are audited by their handlers inside
// their transaction; here only their failures. Public and conformance routes (metadata, definitions, $validate) read
// no patient data and are not audited.
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { OperationOutcomeError, statusOf } from '../fhir/outcome.js';
import { accessAuditor } from '../services/audit/access.js';
import { maskedQuery } from '../services/audit/query.js';
import type { AuditEntry } from '../store/repository.js';
import type { FhirContext, FhirRequest, FhirRoute, Interaction } from './fhir-router.js';

/** Ids of a searchset kept in its audit row; the count of all is in the detail. */
export const AUDITED_IDS_MAX = 50;

const WRITES = new Set<Interaction>(['create', 'update', 'patch', 'delete', 'transaction', 'batch']);
const REFERENCE = /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/;

/** The patient a resource is about, when it says so (`subject` / `patient`), for `AuditEvent?patient=`. */
function patientOf(r: Resource): string | undefined {
  if (r.resourceType === 'Patient') return `Patient/${r.id}`;
  const rec = r as { subject?: { reference?: string }; patient?: { reference?: string } };
  const ref = rec.subject?.reference ?? rec.patient?.reference;
  return ref && ref.startsWith('Patient/') && REFERENCE.test(ref) ? ref : undefined;
}

const keyOf = (r: Resource): string => `${r.resourceType}/${r.id}`;

/** The resources a response returned: the resource itself, or a Bundle's entries (matches and includes). */
function returned(resource: Resource | undefined): Resource[] {
  if (!resource || resource.resourceType === 'OperationOutcome') return [];
  if (resource.resourceType !== 'Bundle') return resource.id ? [resource] : [];
  return ((resource as Bundle).entry ?? []).flatMap((e) => (e.resource && e.resource.id && e.resource.resourceType !== 'OperationOutcome' ? [e.resource] : []));
}

/** The references an access touched: what was returned (capped), with their patients, then what was asked for. */
function touched(asked: string[], resources: Resource[]): { entities: string[]; count: number } {
  const out = new Set<string>();
  for (const r of resources) {
    if (out.size >= AUDITED_IDS_MAX) break;
    out.add(keyOf(r));
  }
  for (const r of resources.slice(0, AUDITED_IDS_MAX)) {
    const p = patientOf(r);
    if (p) out.add(p);
  }
  for (const a of asked) if (REFERENCE.test(a)) out.add(a);
  return { entities: [...out], count: resources.length };
}

function actionOf(route: FhirRoute, type: string | undefined): string | undefined {
  const domain = type === 'AuditEvent' ? 'audit' : 'fhir';
  const i = route.interactions;
  if (i.includes('read')) return `${domain}.read`;
  if (i.includes('vread')) return `${domain}.vread`;
  if (i.includes('history-instance')) return `${domain}.history`;
  if (i.includes('search-type')) return `${domain}.search`;
  if (i.includes('operation')) return `${domain}.operation`;
  return undefined;
}

/** The audit row of one FHIR access, or undefined when the route is not audited here. */
export function fhirAccessEntry(route: FhirRoute, req: Pick<FhirRequest, 'params' | 'query' | 'client' | 'requestId' | 'body'>, status: number, resource?: Resource): AuditEntry | undefined {
  const type = req.params.type ?? /^\/([A-Z][A-Za-z]+)/.exec(route.path)?.[1];
  // Definitions (routes with search parameters of their own, except the trail itself) hold no patient data.
  if (!route.scope || (route.searchParams && type !== 'AuditEvent') || route.operation === 'validate') return undefined;
  const failed = status >= 400;
  const base = { actor: req.client.id, outcome: failed ? ('failure' as const) : ('success' as const), requestId: req.requestId };
  const asked = type && req.params.id ? [`${type}/${req.params.id}`] : [];
  if (route.interactions.some((i) => WRITES.has(i)) || (route.operation && route.method === 'POST' && route.operation !== 'everything' && route.operation !== 'match')) {
    // A write: its success is audited in its transaction; a batch's GET entries are reads all the same.
    if (failed) {
      const verb = route.interactions[0] === 'operation' ? 'operation' : route.interactions[0];
      return { ...base, action: `fhir.${verb}`, entities: asked, detail: `status ${status}${route.operation ? `; $${route.operation}` : ''}` };
    }
    const gets = batchGets(req.body);
    if (gets.length === 0) return undefined;
    const entities = [...new Set(gets.filter((g) => REFERENCE.test(g)))].slice(0, AUDITED_IDS_MAX);
    return { ...base, action: 'fhir.read', entities, detail: `status ${status}; ${gets.length} GET entries of a ${route.interactions[0]}` };
  }
  const action = actionOf(route, type);
  if (!action) return undefined;
  const resources = failed ? [] : returned(resource);
  const { entities, count } = touched(asked, resources);
  const parts = [`status ${status}`];
  if (route.operation) parts.push(`$${route.operation}`);
  if (route.interactions.includes('search-type') || route.operation) {
    const total = resource?.resourceType === 'Bundle' ? (resource as Bundle).total : undefined;
    parts.push(`${count} returned${total !== undefined ? ` of ${total}` : ''}`);
  }
  if (route.interactions.includes('search-type')) parts.push(`query ${type ?? ''}?${maskedQuery(req.query)}`);
  return { ...base, action, entities, detail: parts.join('; ') };
}

/** The references of a batch's or transaction's GET entries (`Patient/1`; searches are counted, not named). */
function batchGets(body: unknown): string[] {
  const entries = (body as Bundle | undefined)?.entry;
  if (!Array.isArray(entries)) return [];
  return entries.flatMap((e) => (e?.request?.method === 'GET' && typeof e.request.url === 'string' ? [e.request.url.split('?')[0]] : []));
}

/** The HTTP status an error will be answered with. */
export function statusOfError(err: unknown): number {
  return err instanceof OperationOutcomeError ? statusOf(err.outcome) : 500;
}

/**
 * Records the access (see `accessAuditor`: committed before the response, or queued when buffered). A failure to
 * record is thrown: the data is not served without its trace.
 */
export async function auditFhirAccess(
  ctx: Pick<FhirContext, 'store'>,
  route: FhirRoute,
  req: Pick<FhirRequest, 'params' | 'query' | 'client' | 'requestId' | 'body'>,
  status: number,
  resource?: Resource,
): Promise<void> {
  const entry = fhirAccessEntry(route, req, status, resource);
  if (entry) await accessAuditor(ctx.store).record(entry);
}
