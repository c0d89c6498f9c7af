// Every patient that reaches the gateway goes through the SRI. This module holds the gateway's IdentityService (one
// per store, its decisions wired to the document attachment rules) and registers a source identity together with
// its source Patient, which gets a `link` of type `refer` to its federated Patient (the federated Patient links
// back with `seealso`). After a merge or a separation the link follows the source.
import type { OperationOutcomeIssue, Patient } from '@medplum/fhirtypes';
import type { PatientIdentity } from '../domain/identity.js';
import { supportedIdentity, type IdentityAnomaly } from '../domain/identity-support.js';
import { metrics } from '../observability/metrics.js';
import { systemUri } from '../fhir/map-common.js';
import { patientIdentityFromFhir } from '../fhir/fhir-patient.js';
import { mapPatient } from '../fhir/map-common.js';
import { issue } from '../fhir/outcome.js';
import { assertValid } from '../fhir/validate.js';
import { linkToFederated, refersTo, sourcePatientId } from '../fhir/federated-patient.js';
import { IdentityService, type IdentityContext, type IdentityDecisionEvent, type RegistrationResult } from '../services/identity-registry.js';
import type { SourceIdentity } from '../identity/types.js';
import type { ResourceStore, StoreTransaction } from '../store/repository.js';
import { syncAttachments } from './bpm-attachment.js';

/** Audit actor of what the gateway does by itself after a human decision (the decision's own row names the human). */
export const GATEWAY_ACTOR = 'passerelle';

const services = new WeakMap<ResourceStore, IdentityService>();

/**
 * The identity service of `store`, created on first use with the rules of `mappings/identity-rules.yaml`. Source
 * Patients are written by `registerSource` (with their link), not by the registry.
 */
export function identityServiceFor(store: ResourceStore): IdentityService {
  let service = services.get(store);
  if (!service) {
    service = new IdentityService(store, { writeSourcePatients: false, onDecision: onIdentityDecision });
    services.set(store, service);
  }
  return service;
}

export interface SourceRegistration {
  result: RegistrationResult;
  /** The source Patient to store, linked to its federated Patient. */
  patient: Patient;
  /** False while an identity review opened for this source is open: documents for it must wait. */
  settled: boolean;
  /** What the sender declared and the data did not support (recorded with the registration). */
  anomalies: IdentityAnomaly[];
}

export interface SourceRegistrationOptions {
  /** Anomalies of the declared identity (`supportedIdentity`): `identity` is the one kept. Recorded in `tx`. */
  anomalies?: readonly IdentityAnomaly[];
  /** The sending establishment, when the door knows it (recorded with the anomalies). */
  finess?: string;
}

/** Records `anomalies` of the source `identity` in `tx`, and counts them once the transaction committed. */
export async function recordAnomalies(tx: StoreTransaction, identity: SourceIdentity, anomalies: readonly IdentityAnomaly[], finess?: string): Promise<void> {
  if (anomalies.length === 0) return;
  await tx.identityAnomalies.record({ sourceSystem: systemUri(identity.sourceId.system), sourceId: identity.sourceId.value, ...(finess ? { finess } : {}) }, anomalies);
  tx.afterCommit(() => {
    for (const a of anomalies) metrics.identityAnomalies.inc({ code: a.code });
  });
}

/**
 * Registers `identity` in `tx` (the caller's transaction: a submission, an import batch). `patient` is the source
 * Patient as the caller maps it (default: `mapPatient`); the caller stores the returned one.
 */
export async function registerSource(
  tx: StoreTransaction,
  service: IdentityService,
  identity: SourceIdentity,
  ctx: IdentityContext,
  patient: Patient = mapPatient(identity),
  options: SourceRegistrationOptions = {},
): Promise<SourceRegistration> {
  const result = await service.registerIn(tx, identity, ctx);
  const anomalies = [...(options.anomalies ?? [])];
  await recordAnomalies(tx, identity, anomalies, options.finess);
  return { result, patient: linkToFederated(patient, result.federatedId), settled: result.link !== 'review', anomalies };
}

/**
 * A Patient sent through FHIR, read as a source identity: its traits (at the status they support), the anomalies of
 * its declared status, and the id its source Patient has.
 */
export type FhirSourcePatient = { ok: true; identity: PatientIdentity; anomalies: IdentityAnomaly[]; id: string } | { ok: false; issues: OperationOutcomeIssue[] };

/**
 * Reads a Patient written through FHIR as the source identity it is (the sender's identifier and the traits the SRI
 * needs: birth name, first birth given name, birth date, sex), or the issues naming each missing or bad element.
 * Its id is derived from the sender's identifier, as for the patient of a document (`sourcePatientId`).
 */
export function fhirSourcePatient(patient: Patient): FhirSourcePatient {
  const read = patientIdentityFromFhir(patient, { requireSource: true });
  if (!read.ok) return { ok: false, issues: read.issues.map((i) => issue(i.code, i.message, i.expression)) };
  const { identity, anomalies } = supportedIdentity(read.identity, { verifiedDocument: read.verifiedDocument });
  const { sourceId } = identity;
  return { ok: true, identity, anomalies, id: sourcePatientId(sourceId.system, sourceId.value) };
}

/** Runs in the transaction of every human decision (merge, reject, separate). */
async function onIdentityDecision(tx: StoreTransaction, event: IdentityDecisionEvent): Promise<void> {
  for (const s of event.sources) {
    const p = await tx.read<Patient>('Patient', sourcePatientId(s.system, s.localId));
    if (!p || refersTo(p, s.federatedId)) continue;
    const next = linkToFederated(p, s.federatedId);
    assertValid(next);
    await tx.put(next);
  }
  const cause = `identity ${event.kind}${event.reviewId ? ` (review ${event.reviewId})` : ''}`;
  const federated = new Set([...event.federatedIds, ...event.sources.map((s) => s.federatedId)]);
  for (const id of federated) await syncAttachments(tx, id, { actor: GATEWAY_ACTOR, cause });
}
