// Submitting a canonical PPP, CTM or BPM: parse (zod, JSON paths in errors) → map to FHIR (pure) →
// validate every resource against its profile → in ONE store transaction: register the patient with the
// identity service (SRI), write the resources and an audit row. Re-sending the same document updates the
// same resources (deterministic ids). The source Patient refers to its federated Patient; a BPM whose
// patient is not certain waits on hold (bpm-attachment.ts); a PPP lists the released BPMs of its patient.
import type { Bundle, BundleEntry, CarePlan, OperationOutcomeIssue, Patient, Reference, Resource, Task } from '@medplum/fhirtypes';
import type { PatientIdentity } from '../domain/identity.js';
import { supportedIdentity, type IdentityAnomaly } from '../domain/identity-support.js';
import { InputError, parseDocument, type DocumentKind, type DocumentOf } from '../domain/parse.js';
import { writtenEntry } from '../fhir/bundle-response.js';
import { mapDocument } from '../fhir/bundle.js';
import { CS } from '../fhir/canonical.js';
import { patientId } from '../fhir/ids.js';
import { mapPatient, systemUri } from '../fhir/map-common.js';
import { forbidden, invalidIssues, issue } from '../fhir/outcome.js';
import { finessKey, mayWriteFor, ownFiness, readFilter, type Principal } from '../domain/access/model.js';
import { documentFiness, documentOrganisations } from '../domain/access/documents.js';
import { assertValid, validateBundle } from '../fhir/validate.js';
import type { ResourceStore, StoreTransaction } from '../store/repository.js';
import { attachedBpms, holdForIdentity, syncAttachments, withBpmLinks } from './bpm-attachment.js';
import { identityServiceFor, registerSource, type SourceRegistration } from './patient-identity.js';
import { keepDecision } from './task-decision.js';
import { keepPathwayState, recordCase } from './pathway/careplan-state.js';
import type { Ppp } from '../domain/ppp.js';
import { isDocumentDestination, type OutboxConfig } from '../outbox/config.js';
import { enqueueDocuments, type DocumentsSettings } from './document-delivery.js';
import { raiseEvent } from '../outbox/events.js';
import type { MssanteConfig } from '../connectors/mssante/config.js';

export interface SubmissionContext {
  /** Clock reading taken by the caller (mapping never reads the clock). */
  now: string;
  /** Authenticated client id, for the audit trail. */
  actor: string;
  requestId?: string;
  /** Absolute FHIR base URL used in the response's fullUrls. */
  fhirBase: string;
  /**
   * The outbox configuration: the `<kind>.stored` event enqueues a message for each route, in the same transaction;
   * a route to a document destination (DMP, PDSm) enqueues the clinical document, if the DMP rules allow it.
   */
  outbox?: OutboxConfig;
  /** Ids of documents sent to the DMP (`documents.oidRoot`); needed when a document destination is routed. */
  documents?: DocumentsSettings;
  /** The gateway's MSSanté mailbox (config `mssante`): needed when an `mssante` destination is routed. */
  mssante?: MssanteConfig;
  /**
   * Who submits: a tenant-bound principal sends only documents of its own FINESS (403 otherwise, nothing written).
   * Absent (internal callers, tests): no check. Grants are written either way.
   */
  principal?: Principal;
  /**
   * Runs last in the submission's transaction (after the resources and the audit row): what must commit with the
   * document, or not at all — the MSSanté intake row of the mail that carried it. A throw rolls everything back.
   */
  inTransaction?: (tx: StoreTransaction, info: SubmissionInfo) => Promise<void>;
}

/** What `inTransaction` learns of the submission being stored. */
export interface SubmissionInfo {
  federatedId: string;
  /** False when the document waits for its patient's identity (a BPM on hold). */
  settled: boolean;
  /** How the SRI registered the patient (`new`: no candidate at all). */
  registration: SourceRegistration['result'];
  /** `CarePlan/…` or `Composition/…` of the document's root resource. */
  root?: string;
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

/** A document parsed, mapped and validated, not stored yet. */
export interface PreparedSubmission {
  kind: DocumentKind;
  /** The mapped resources, as the mapping wrote them (identity-dependent changes are made when storing). */
  bundle: Bundle;
  /** The patient as the sender named them, at the status their traits support, for the identity service. */
  patient: PatientIdentity;
  /** What the sender declared and the traits did not support (recorded with the registration, warned in the answer). */
  anomalies: IdentityAnomaly[];
  /** The canonical document as parsed (what documents sent to the DMP are rendered from). */
  document: DocumentOf<DocumentKind>;
}

/**
 * Parse, map and validate without storing. A patient whose declared status the traits do not support is mapped (and
 * kept in the document) at the status they support (identity-support.ts; a canonical document has no field for a
 * checked identity document, so a QUAL without INS becomes PROV).
 */
export function prepareSubmission(kind: DocumentKind, input: unknown, now: string): PreparedSubmission {
  const parsed = parseSubmission(kind, input);
  const supported = supportedIdentity(parsed.patient);
  const doc = supported.anomalies.length > 0 ? ({ ...parsed, patient: supported.identity } as typeof parsed) : parsed;
  const bundle = mapDocument(kind, doc, { now });
  const errors = validateBundle(bundle).filter((i) => i.severity === 'error' || i.severity === 'fatal');
  if (errors.length > 0) throw invalidIssues(errors);
  return { kind, bundle, patient: doc.patient, anomalies: supported.anomalies, document: doc };
}

/** The warning the answer carries for each anomaly: the field at fault, what was received and what was kept. */
export function anomalyIssues(kind: DocumentKind, anomalies: readonly IdentityAnomaly[]): OperationOutcomeIssue[] {
  return anomalies.map((a) =>
    issue('business-rule', `${kind}.patient.${a.field}: ${a.received}; registered with ${a.kept} (identity anomaly ${a.code}, recorded for the sender)`, `${kind}.patient.${a.field}`, 'warning'),
  );
}

const isCarePlanOf = (kind: 'ppp' | 'bpm', r: Resource): r is CarePlan =>
  r.resourceType === 'CarePlan' && (r.category?.some((c) => c.coding?.some((k) => k.system === CS.careplanCategory && k.code === kind)) ?? false);

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

/**
 * Store a prepared submission in one transaction: the patient's registration with the SRI, every resource and the
 * audit row commit together or not at all. Answers the transaction-response Bundle.
 */
export async function storeSubmission(store: ResourceStore, prepared: PreparedSubmission, ctx: SubmissionContext): Promise<Bundle> {
  const entry = await store.transaction((tx) => storeSubmissionIn(tx, store, prepared, ctx));
  return { resourceType: 'Bundle', type: 'transaction-response', entry };
}

/**
 * `storeSubmission` inside the caller's transaction `tx` (the pathway re-stores a PPP with what else it writes):
 * the registration, the resources, the case, the outbox messages and the audit row join `tx`. `store` gives the
 * identity service and the MSSanté directory (read outside the transaction). Answers the response Bundle's entries.
 */
export async function storeSubmissionIn(tx: StoreTransaction, store: ResourceStore, prepared: PreparedSubmission, ctx: SubmissionContext): Promise<BundleEntry[]> {
  const { kind, bundle, patient } = prepared;
  const sourcePatient = patientId(systemUri(patient.sourceId.system), patient.sourceId.value);
  const service = identityServiceFor(store);
  const who = { actor: ctx.actor, ...(ctx.requestId ? { requestId: ctx.requestId } : {}) };
  const mapped = (bundle.entry ?? []).map((e) => e.resource as Resource);
  const mappedPatient = mapped.find((r): r is Patient => r.resourceType === 'Patient' && r.id === sourcePatient);
  // A document naming a patient by another establishment's identifier (the same source Patient id) does not take
  // that patient over: the sender must already have a relationship with it, or be its first.
  if (ctx.principal && readFilter(ctx.principal) !== undefined) {
    const holders = await tx.access.tenantsOf(sourcePatient);
    const own = readFilter(ctx.principal) as string;
    if (holders.length > 0 && !holders.includes(own)) {
      throw forbidden(`The patient ${patient.sourceId.system}|${patient.sourceId.value} is known to Passerelle through another establishment's identifier; send your own identifier of the patient`);
    }
  }
  // Who may see this patient from now on: the document's establishment (or pharmacy) and every organisation it
  // names (care team, MT's practice, pharmacist's pharmacy: the owners of its Tasks). Document-level: the source
  // Patient of this sender and the federated Patient, not the other establishments' source Patients. The source
  // Patient's grants come before any resource is written (a tenant's Subscription on Tasks checks them).
  const organisations = documentOrganisations(kind, prepared.document);
  const grantReason = (finess: string) => (finess === documentFiness(kind, prepared.document) ? 'document' : 'care-team');
  for (const finess of organisations) await tx.access.grant(finessKey(finess), [sourcePatient], grantReason(finess));
  // The resources that do not depend on the patient's identity are written before it is registered: on PostgreSQL
  // the registration holds the registry lock until the commit, and concurrent submissions wait on it only for what
  // is left after it (issue 22). The answer keeps the mapping's order.
  const dependsOnIdentity = (r: Resource): boolean => r === mappedPatient || (kind !== 'ctm' && isCarePlanOf(kind, r));
  const resources: Resource[] = [...mapped];
  const written: { resource: Resource; created: boolean }[] = new Array(mapped.length);
  const write = async (i: number, resource: Resource): Promise<void> => {
    if (resource !== mapped[i]) assertValid(resource);
    resources[i] = resource;
    const r = await tx.put(resource);
    written[i] = { resource: r.resource, created: r.created };
  };
  // In one `putMany`: a few statements for them all rather than several per resource (PostgreSQL round trips).
  const first: number[] = [];
  for (let i = 0; i < mapped.length; i++) {
    const original = mapped[i];
    if (dependsOnIdentity(original)) continue;
    const resource = original.resourceType === 'Task' ? await keepDecision(tx, original as Task) : original;
    if (resource !== original) assertValid(resource);
    resources[i] = resource;
    first.push(i);
  }
  const firstWritten = await tx.putMany(first.map((i) => resources[i]));
  first.forEach((i, k) => (written[i] = { resource: firstWritten[k].resource, created: firstWritten[k].created }));
  const identity = await registerSource(tx, service, patient, who, mappedPatient ?? mapPatient(patient), {
    anomalies: prepared.anomalies ?? [],
    finess: documentFiness(kind, prepared.document),
  });
  const federatedId = identity.result.federatedId;
  for (const finess of organisations) await tx.access.grant(finessKey(finess), [federatedId], grantReason(finess));
  for (let i = 0; i < mapped.length; i++) {
    let resource = mapped[i];
    if (!dependsOnIdentity(resource)) continue;
    if (resource === mappedPatient) resource = identity.patient;
    else if (kind === 'bpm') resource = identity.settled ? resource : holdForIdentity(resource as CarePlan);
    else {
      await keepCtmLinks(tx, resource as CarePlan);
      await keepPathwayState(tx, resource as CarePlan);
      // Identity before data: only a PPP whose patient is certain lists the patient's BPMs.
      resource = withBpmLinks(resource as CarePlan, identity.settled ? await attachedBpms(tx, federatedId) : []);
    }
    await write(i, resource);
  }
  const out: BundleEntry[] = written.map((w) => writtenEntry(ctx.fhirBase, w.resource, w.created ? 201 : 200));
  const rootIndex = resources.findIndex((r) => r.resourceType === (kind === 'ctm' ? 'Composition' : 'CarePlan'));
  const rootVersion = rootIndex >= 0 ? written[rootIndex].resource.meta?.versionId : undefined;
  // A PPP is a case of the pathway: its canonical document is kept for the pages and the regenerated PDF.
  const rootResource = rootIndex >= 0 ? resources[rootIndex] : undefined;
  if (kind === 'ppp' && rootResource?.id) {
    await recordCase(tx, { carePlan: rootResource.id, document: prepared.document as Ppp, federatedId, now: ctx.now });
  }
  // A BPM of a certain patient joins the PPPs of the same federated patient (an on-hold one leaves them).
  if (kind === 'bpm') await syncAttachments(tx, federatedId, { ...who, cause: `${kind}.submit` });
  const root = rootResource;
  let refusals: OperationOutcomeIssue[] = [];
  if (root && ctx.outbox && ctx.outbox.routes.length > 0) {
    // One message per stored version: re-sending an unchanged document sends nothing again.
    const reference = `${root.resourceType}/${root.id}`;
    // Routes to document destinations (DMP, PDSm) enqueue the clinical document (document-delivery.ts); the others
    // the event's message.
    const { destinations, routes } = ctx.outbox;
    const documentRoutes: OutboxConfig['routes'] = [];
    const messageRoutes: OutboxConfig['routes'] = [];
    for (const r of routes) (isDocumentDestination(destinations[r.destination]) ? documentRoutes : messageRoutes).push(r);
    await raiseEvent(tx, messageRoutes, `${kind}.stored`, {
      orderingKey: `Patient/${federatedId}`,
      occurrence: `${reference}/_history/${rootVersion ?? '1'}`,
      payload: { resource: reference, versionId: rootVersion ?? '1', patient: `Patient/${federatedId}`, fhirBase: ctx.fhirBase },
      ...(ctx.requestId ? { requestId: ctx.requestId } : {}),
    });
    if (documentRoutes.length > 0) {
      if (!ctx.documents) throw new Error('a document destination is routed but no documents settings were given');
      refusals = await enqueueDocuments({
        tx,
        outbox: ctx.outbox,
        documents: ctx.documents,
        event: `${kind}.stored`,
        kind,
        document: prepared.document,
        federatedId,
        settled: identity.settled,
        resource: reference,
        versionId: rootVersion ?? '1',
        now: ctx.now,
        actor: ctx.actor,
        ...(ctx.requestId ? { requestId: ctx.requestId } : {}),
        ...(ctx.mssante ? { mssante: ctx.mssante } : {}),
        // MSSanté recipients' addresses: the directory's committed data (read on its own, not in this transaction).
        directory: store.directory,
      });
    }
  }
  // The refusals (DMP, PDSm, MSSanté recipients) travel back on the root entry (the document itself is stored), after
  // the warnings of a patient registered at a lower status than declared.
  refusals = [...anomalyIssues(kind, prepared.anomalies ?? []), ...refusals];
  if (refusals.length > 0 && root) {
    const rootEntry = out.find((e) => e.resource?.resourceType === root.resourceType && e.resource.id === root.id);
    if (rootEntry?.response) rootEntry.response.outcome = { resourceType: 'OperationOutcome', issue: refusals };
  }
  const created = out.filter((e) => e.response?.status.startsWith('201')).length;
  const waiting = kind === 'bpm' && !identity.settled ? ', awaiting identity' : '';
  await tx.audit({
    action: `${kind}.submit`,
    actor: ctx.actor,
    entities: [...(root ? [`${root.resourceType}/${root.id}`] : []), `Patient/${federatedId}`],
    outcome: 'success',
    detail: `${resources.length} resources, ${created} created; identity ${identity.result.decision}${waiting}`,
    ...(ctx.requestId ? { requestId: ctx.requestId } : {}),
  });
  if (ctx.inTransaction) {
    await ctx.inTransaction(tx, { federatedId, settled: identity.settled, registration: identity.result, ...(root ? { root: `${root.resourceType}/${root.id}` } : {}) });
  }
  return out;
}

export async function submitDocument(store: ResourceStore, kind: DocumentKind, input: unknown, ctx: SubmissionContext): Promise<Bundle> {
  const prepared = prepareSubmission(kind, input, ctx.now);
  if (ctx.principal) assertDocumentOwner(ctx.principal, prepared);
  return storeSubmission(store, prepared, ctx);
}

/** 403 unless the principal may send documents of the FINESS the document belongs to (docs/security.md). */
export function assertDocumentOwner(principal: Principal, prepared: PreparedSubmission): void {
  const finess = documentFiness(prepared.kind, prepared.document);
  if (mayWriteFor(principal, finess)) return;
  const where = prepared.kind === 'bpm' ? 'pharmacy.finess' : 'establishment.finess';
  throw forbidden(`This ${prepared.kind.toUpperCase()} belongs to FINESS ${finess} (${where}); client "${principal.id}" sends documents of ${ownFiness(principal) ? `FINESS ${ownFiness(principal)}` : 'no establishment'} only`);
}
