// The one write path of the FHIR API. Every write that comes through FHIR — create, update, PATCH, conditional
// update and delete, and each entry of a transaction or batch — reaches the store through these two functions, so
// the business rules are applied in one place whichever door the request used (docs/api.md, "Who writes what"):
// - a Patient is a source identity: registered with the identity service (SRI) in the same transaction, stored at
//   the id derived from the sender's identifier and linked (`refer`) to its federated Patient; the SRI's federated
//   Patients are not written through FHIR (403);
// - what a domain document produced (PPP, CTM, BPM) is written by its endpoint, not here (422 naming it), except the
//   decision on a recommendation (a `reco-validation` Task), which goes through the decision service;
// - DocumentReference and Binary are the gateway's (405);
// - a Subscription is checked and tagged with its owner and tenant (src/services/subscriptions.ts);
// - a resource that current resources refer to is not deleted (409 listing them), unless `_cascade=delete`.
// The domain endpoints (/ppp, /ctm, /bpm) have their own services and do not come through here.
import type { OperationOutcomeIssue, Patient, Resource, Subscription, Task } from '@medplum/fhirtypes';
import { systemUri } from '../fhir/map-common.js';
import { OperationOutcomeError, businessRule, conflict, forbidden, invalidIssues, issue, outcome } from '../fhir/outcome.js';
import { assertValid } from '../fhir/validate.js';
import type { StoreTransaction, WriteOptions } from '../store/repository.js';
import { documentOwner, GATEWAY_DOCUMENT_TYPES, isFederatedPatient, preciseEndpoint } from '../services/fhir-ownership.js';
import { fhirSourcePatient, identityServiceFor, registerSource } from '../services/patient-identity.js';
import { findReferrers } from '../services/referential-integrity.js';
import { decideTask, isDecisionTask } from '../services/task-decision.js';
import { putSubscription } from '../services/subscriptions.js';
import type { AuthenticatedClient } from './auth/index.js';
import type { FhirContext } from './fhir-router.js';
import { classifyReference, findReferences, type PendingWrites } from './fhir-references.js';
import { methodNotAllowed } from './fhir-response.js';
import { assertIfMatch } from './fhir-write.js';
import { accessKey, isPatientData, readFilter } from '../domain/access/model.js';
import { mayRead, patientReferences, transactionGrants } from '../services/access/visibility.js';
import { referencesOf } from '../fhir/search-params.js';

/** Who writes, and what else the same transaction is doing. */
export interface FhirWriteContext {
  ctx: FhirContext;
  client: AuthenticatedClient;
  requestId: string;
  /** Inside a transaction Bundle: what its other entries write or delete (keys `Type/id`). */
  pending?: PendingWrites;
  /** `_cascade=delete` was asked for. */
  cascade?: boolean;
}

export interface FhirPutResult<T extends Resource = Resource> {
  resource: T;
  created: boolean;
  changed: boolean;
}

export interface FhirPutOptions {
  ifMatch?: string;
  /**
   * The server chose the id (create; a conditional update matching nothing, without an id): a Patient is then stored
   * at the id derived from its identifier instead. Default: true when the call passes no options (a create).
   */
  assignedId?: boolean;
}

/** Resources a `_cascade=delete` removes at most (the target's referrers, theirs, …). */
export const MAX_CASCADE = 100;

const INTERACTION_HINT = 'decisions on identities are made at POST /identity/reviews/{id}/decision and POST /identity/separate';

/**
 * Create or update `resource` (its id set) through the FHIR door. A Patient may land at another id than the one
 * given when the server chose it (the id derived from its identifier): callers answer with the returned resource.
 */
export async function putThroughFhir<T extends Resource>(
  tx: StoreTransaction,
  resource: T,
  w: FhirWriteContext,
  options?: FhirPutOptions,
): Promise<FhirPutResult<T>> {
  if (resource.id === undefined) throw new Error('putThroughFhir: resource without id');
  const assigned = options?.assignedId ?? options === undefined;
  const type = resource.resourceType;
  if (GATEWAY_DOCUMENT_TYPES.has(type)) throw readOnlyDocument(type);
  if (type === 'Patient') return (await putPatient(tx, resource as Patient, w, assigned, options?.ifMatch)) as unknown as FhirPutResult<T>;

  await assertIfMatch(tx, type, resource.id, options?.ifMatch);
  const write: WriteOptions | undefined = options?.ifMatch ? { ifMatchVersion: options.ifMatch } : undefined;
  const stored = assigned ? undefined : await tx.read(type, resource.id);
  await assertTenantWrite(tx, w, resource, stored);
  if (type === 'Subscription') {
    const settings = w.ctx.config.outbox.subscriptions;
    return (await putSubscription(tx, resource as unknown as Subscription, w.client, settings, stored as Subscription | undefined, write)) as unknown as FhirPutResult<T>;
  }
  const owner = documentOwner(stored) ?? documentOwner(resource);
  if (owner) {
    if (stored && isDecisionTask(stored as Task)) {
      const who = { actor: w.client.id, requestId: w.requestId, now: new Date().toISOString() };
      return (await decideTask(tx, stored as Task, resource as unknown as Task, who, write)) as unknown as FhirPutResult<T>;
    }
    const endpoint = await preciseEndpoint(tx, stored ?? resource, owner);
    throw businessRule(
      `${stored ? `${type}/${resource.id}` : `This ${type}`} is ${owner.what}: it is written by ${endpoint}, not through the FHIR API ` +
        '(only the decision on a recommendation, a reco-validation Task moving to completed or rejected, is)',
      owner.expression,
    );
  }
  return tx.put(resource, write);
}

/** Delete `Type/id` through the FHIR door; false when there was nothing to delete. */
export async function deleteThroughFhir(
  tx: StoreTransaction,
  resourceType: string,
  id: string,
  w: FhirWriteContext,
  options: { ifMatch?: string } = {},
): Promise<boolean> {
  await assertIfMatch(tx, resourceType, id, options.ifMatch);
  return deleteChecked(tx, resourceType, id, w, new Set([`${resourceType}/${id}`]));
}

// ---- Patients: source identities ----------------------------------------------------------------------

function federatedRefusal(id: string): OperationOutcomeError {
  return forbidden(`Patient/${id} is a federated identity of the identity service (SRI): it is not written or deleted through the FHIR API; ${INTERACTION_HINT}`);
}

async function putPatient(
  tx: StoreTransaction,
  patient: Patient,
  w: FhirWriteContext,
  assigned: boolean,
  ifMatch: string | undefined,
): Promise<FhirPutResult<Patient>> {
  const given = patient.id as string;
  if (isFederatedPatient(patient)) throw federatedRefusal(given);
  if (!assigned && (isFederatedPatient(await tx.read<Patient>('Patient', given)) || (await tx.identities.getFederated(given)))) {
    throw federatedRefusal(given);
  }
  const source = fhirSourcePatient(patient);
  if (!source.ok) throw invalidIssues(source.issues);
  const { system, value } = source.identity.sourceId;
  if (!assigned && given !== source.id) {
    throw businessRule(
      `A Patient written through FHIR is the source identity ${system}|${value}; its id is derived from that identifier: ` +
        `write it as Patient/${source.id}, not Patient/${given}`,
      'Patient.id',
    );
  }
  await assertIfMatch(tx, 'Patient', source.id, ifMatch);
  // Another tenant's source identity (the same identifier, so the same id) is not rewritten.
  const storedSource = await tx.read<Patient>('Patient', source.id);
  if (storedSource) await assertTenantWrite(tx, w, undefined, storedSource);
  const registration = await registerSource(tx, identityServiceFor(w.ctx.store), source.identity, { actor: w.client.id, requestId: w.requestId }, { ...patient, id: source.id }, { anomalies: source.anomalies });
  const federated = `Patient/${registration.result.federatedId}`;
  const claimed = (patient.link ?? []).findIndex((l) => l.type === 'refer' && l.other?.reference !== federated);
  if (claimed >= 0) {
    throw businessRule(
      `The identity service links ${system}|${value} to ${federated}, not to ${patient.link?.[claimed].other?.reference ?? '?'}; ${INTERACTION_HINT}`,
      `Patient.link[${claimed}]`,
    );
  }
  assertValid(registration.patient);
  const put = await tx.put(registration.patient, ifMatch ? { ifMatchVersion: ifMatch } : undefined);
  // The writer's tenant has a relationship with the patient from now on (the source and its federated Patient).
  const key = w.client.tenant ? accessKey(w.client.tenant) : undefined;
  if (key && w.client.tenant?.kind !== 'region') await tx.access.grant(key, [source.id, registration.result.federatedId], 'fhir-write');
  return put;
}

/**
 * Tenants (docs/security.md): a tenant-bound writer changes only resources it may see (403), and a resource it writes
 * refers only to patients it may see (403; the writer named them itself). Shared data (Organization…) is not filtered.
 */
async function assertTenantWrite(tx: StoreTransaction, w: FhirWriteContext, resource: Resource | undefined, stored: Resource | undefined): Promise<void> {
  if (readFilter(w.client) === undefined) return;
  const grants = transactionGrants(tx);
  if (stored && !(await mayRead(grants, w.client, stored))) {
    throw forbidden(`${stored.resourceType}/${stored.id} is not data of a patient of your tenant: it is not written through your client`);
  }
  if (!resource || !isPatientData(resource.resourceType) || resource.resourceType === 'Patient') return;
  const tenant = readFilter(w.client) as string;
  for (const id of patientReferences(resource)) {
    if (!(await grants.mayAccess(tenant, id))) {
      throw forbidden(`Patient/${id} is not a patient of your tenant: a resource written through your client may not refer to it`);
    }
  }
  // Nor to another tenant's resources (a CarePlan, a Task… of a patient it does not see).
  for (const key of referencesOf(resource, '_ref')) {
    const [type, id] = key.split('/') as [string, string];
    if (type === 'Patient' || !isPatientData(type)) continue;
    const target = await tx.read(type, id);
    if (target && !(await mayRead(grants, w.client, target))) {
      throw forbidden(`${key} is not data of a patient of your tenant: a resource written through your client may not refer to it`);
    }
  }
}

/** Why a source Patient cannot go: the registry keeps every source identity. */
async function registeredSource(tx: StoreTransaction, patient: Patient): Promise<OperationOutcomeIssue | undefined> {
  const source = fhirSourcePatient(patient);
  if (!source.ok) return undefined;
  const { system, value } = source.identity.sourceId;
  const known = await tx.identities.getSource(systemUri(system), value);
  if (!known) return undefined;
  return issue(
    'conflict',
    `Patient/${patient.id} is the source identity ${system}|${value}, linked to federated Patient/${known.federatedId}: the identity ` +
      'service keeps every source identity, so it is not deleted; correct it with PUT, or separate it (POST /identity/separate)',
    'Patient',
  );
}

// ---- delete ------------------------------------------------------------------------------------------------

function readOnlyDocument(type: string): OperationOutcomeError {
  return methodNotAllowed(`${type} is written by the gateway from the documents it produces (POST /ppp, /ctm, /bpm); through the FHIR API it is read-only`);
}

/** The ownership rules of a delete (the referrers and the identity registry aside). */
async function assertDeletable(tx: StoreTransaction, stored: Resource): Promise<void> {
  const key = `${stored.resourceType}/${stored.id}`;
  if (GATEWAY_DOCUMENT_TYPES.has(stored.resourceType)) throw readOnlyDocument(stored.resourceType);
  if (stored.resourceType === 'Patient' && (isFederatedPatient(stored) || (await tx.identities.getFederated(stored.id as string)))) {
    throw federatedRefusal(stored.id as string);
  }
  const owner = documentOwner(stored);
  if (owner) {
    const endpoint = await preciseEndpoint(tx, stored, owner);
    throw businessRule(`${key} is ${owner.what}: it is written by ${endpoint} and not deleted through the FHIR API`, owner.expression);
  }
}

/** One issue per referrer, with the elements that point at the target, as HAPI FHIR lists them. */
async function referrerIssues(tx: StoreTransaction, target: string, referrers: readonly string[], fhirBase: string): Promise<OperationOutcomeIssue[]> {
  const issues: OperationOutcomeIssue[] = [];
  for (const key of referrers) {
    const [type, id] = key.split('/') as [string, string];
    const referrer = await tx.read(type, id);
    const paths = referrer
      ? findReferences(referrer)
          .filter((r) => {
            const k = classifyReference(r.value, fhirBase);
            return k.kind === 'local' && `${k.resourceType}/${k.id}` === target;
          })
          .map((r) => r.path)
      : [];
    issues.push({
      ...issue('conflict', `Unable to delete ${target}: ${key} refers to it${paths.length ? ` (${paths.join(', ')})` : ''}`),
      diagnostics: key,
      ...(paths.length ? { expression: paths } : {}),
    });
  }
  return issues;
}

async function deleteChecked(tx: StoreTransaction, type: string, id: string, w: FhirWriteContext, deleting: Set<string>): Promise<boolean> {
  const stored = await tx.read(type, id);
  if (!stored) return tx.delete(type, id);
  await assertTenantWrite(tx, w, undefined, stored);
  await assertDeletable(tx, stored);
  const target = `${type}/${id}`;
  const registry = type === 'Patient' ? await registeredSource(tx, stored as Patient) : undefined;
  // Referrers the same Bundle deletes or rewrites do not count: a rewrite still pointing here fails its own check.
  const ignore = (key: string): boolean => deleting.has(key) || w.pending?.has(key) === true;
  const referrers = await findReferrers(tx, type, id, ignore);
  if (registry || referrers.length > 0) {
    // A Patient never goes by cascade: it is an identity, and what refers to it is that patient's record.
    const cascadable = w.cascade === true && type !== 'Patient';
    if (!cascadable) {
      const hint = w.cascade
        ? '_cascade=delete is not allowed for a Patient'
        : `Delete or change the referring resources first${type === 'Patient' ? '' : ', or ask _cascade=delete'} (docs/api.md, "Who writes what")`;
      const issues = [...(registry ? [registry] : []), ...(await referrerIssues(tx, target, referrers, w.ctx.fhirBase)), issue('conflict', hint, undefined, 'information')];
      throw new OperationOutcomeError(outcome(issues, 'conflict'));
    }
    for (const key of referrers) {
      if (deleting.size >= MAX_CASCADE) {
        throw conflict(`_cascade=delete from ${[...deleting][0]} would delete more than ${MAX_CASCADE} resources; delete them in parts`);
      }
      deleting.add(key);
      const [rt, rid] = key.split('/') as [string, string];
      if (await deleteChecked(tx, rt, rid, w, deleting)) {
        await tx.audit({ action: 'fhir.delete', actor: w.client.id, entities: [key], outcome: 'success', detail: `_cascade=delete from ${target}`, requestId: w.requestId });
      }
    }
  }
  return tx.delete(type, id);
}
