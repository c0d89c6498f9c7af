// Submitting a canonical PPP, CTM or BPM: parse (zod, JSON paths in errors) → map to FHIR (pure) →
// validate every resource against its profile → write all of it, plus an audit row, in ONE store
// transaction. Re-sending the same document updates the same resources (deterministic ids).
import type { Bundle, BundleEntry, CarePlan, Reference, Resource } from '@medplum/fhirtypes';
import { InputError, parseDocument, type DocumentKind } from '../domain/parse.js';
import { writtenEntry } from '../fhir/bundle-response.js';
import { mapDocument } from '../fhir/bundle.js';
import { CS } from '../fhir/canonical.js';
import { invalidIssues, issue } from '../fhir/outcome.js';
import { validateBundle } from '../fhir/validate.js';
import type { ResourceStore, StoreTransaction } from '../store/repository.js';

export interface SubmissionContext {
  /** Clock reading taken by the caller (mapping never reads the clock). */
  now: string;
  /** Authenticated client id, for the audit trail. */
  actor: string;
  requestId?: string;
  /** Absolute FHIR base URL used in the response's fullUrls. */
  fhirBase: string;
}

/** Parse a canonical document; bad input becomes a 400 OperationOutcome naming each field. */
export function parseSubmission<K extends DocumentKind>(kind: K, input: unknown): ReturnType<typeof parseDocument<K>> {
  try {
    return parseDocument(kind, input);
  } catch (err) {
    if (err instanceof InputError) throw invalidIssues(err.issues.map((i) => issue('invalid', `${i.path}: ${i.message}`, i.path)));
    throw err;
  }
}

/** Parse, map and validate without storing: the Bundle exactly as it would be written. */
export function prepareSubmission(kind: DocumentKind, input: unknown, now: string): Bundle {
  const bundle = mapDocument(kind, parseSubmission(kind, input), { now });
  const errors = validateBundle(bundle).filter((i) => i.severity === 'error' || i.severity === 'fatal');
  if (errors.length > 0) throw invalidIssues(errors);
  return bundle;
}

const isPppCarePlan = (r: Resource): r is CarePlan =>
  r.resourceType === 'CarePlan' && (r.category?.some((c) => c.coding?.some((k) => k.system === CS.careplanCategory && k.code === 'ppp')) ?? false);

/**
 * A CTM linked to a PPP (POST /ppp/{id}/link-ctm) lives in the stored CarePlan's supportingInfo as references
 * to Compositions; the mapping of a re-sent PPP knows nothing of it, so the link is carried over.
 */
async function keepCtmLinks(tx: StoreTransaction, carePlan: CarePlan): Promise<void> {
  const stored = await tx.read<CarePlan>('CarePlan', carePlan.id as string);
  const links = (stored?.supportingInfo ?? []).filter((r) => r.reference?.startsWith('Composition/'));
  if (links.length === 0) return;
  const present = new Set((carePlan.supportingInfo ?? []).map((r) => r.reference));
  const carried: Reference[] = links.filter((r) => !present.has(r.reference));
  if (carried.length > 0) carePlan.supportingInfo = [...(carePlan.supportingInfo ?? []), ...carried];
}

/** Store a prepared Bundle in one transaction; answers the transaction-response Bundle. */
export async function storeSubmission(store: ResourceStore, kind: DocumentKind, bundle: Bundle, ctx: SubmissionContext): Promise<Bundle> {
  const resources = (bundle.entry ?? []).map((e) => e.resource as Resource);
  const entry = await store.transaction(async (tx) => {
    const out: BundleEntry[] = [];
    for (const resource of resources) {
      if (kind === 'ppp' && isPppCarePlan(resource)) await keepCtmLinks(tx, resource);
      const r = await tx.put(resource);
      out.push(writtenEntry(ctx.fhirBase, r.resource, r.created ? 201 : 200));
    }
    const root = resources.find((r) => r.resourceType === (kind === 'ctm' ? 'Composition' : 'CarePlan'));
    await tx.audit({
      action: `${kind}.submit`,
      actor: ctx.actor,
      entities: root ? [`${root.resourceType}/${root.id}`] : [],
      outcome: 'success',
      detail: `${resources.length} resources, ${out.filter((e) => e.response?.status.startsWith('201')).length} created`,
      ...(ctx.requestId ? { requestId: ctx.requestId } : {}),
    });
    return out;
  });
  return { resourceType: 'Bundle', type: 'transaction-response', entry };
}

export async function submitDocument(store: ResourceStore, kind: DocumentKind, input: unknown, ctx: SubmissionContext): Promise<Bundle> {
  return storeSubmission(store, kind, prepareSubmission(kind, input, ctx.now), ctx);
}
