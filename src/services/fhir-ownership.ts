// Who owns a resource, and so what a write through the FHIR REST door may do to it (docs/api.md, "Who writes
// what"). The domain services mark what they produce — a Passerelle profile in `meta.profile`, the document's own
// identifier, the PPP/BPM CarePlan category, a Passerelle Task code — and the identity service (SRI) marks its
// federated Patients with the regional identifier; this module reads those marks. A FHIR write may not produce
// them either: a resource claiming to come from a document is refused, whoever sends it.
import type { CarePlan, Resource } from '@medplum/fhirtypes';
import { CANONICAL_BASE, CS, PROFILE } from '../fhir/canonical.js';
import { REGIONAL_ID_SYSTEM } from '../fhir/federated-patient.js';
import type { StoreTransaction } from '../store/repository.js';
import { carePlanKind } from './bpm-attachment.js';

/** Read-only through FHIR: the gateway writes them from the documents it produces (PDF, CDA). */
export const GATEWAY_DOCUMENT_TYPES: ReadonlySet<string> = new Set(['DocumentReference', 'Binary']);

/** A resource a domain document produced, and the endpoint that writes it. */
export interface DocumentOwner {
  /** `POST /ppp`, `POST /ctm`, `POST /bpm`, or several when the resource does not say which document. */
  endpoint: string;
  /** What the resource is, for messages: "the CarePlan of a PPP". */
  what: string;
  /** The mark that gave it away (FHIRPath of the element). */
  expression: string;
}

const ANY_DOCUMENT = 'POST /ppp, POST /ctm or POST /bpm';

/** Passerelle profiles → the endpoint of the document producing them. Patient profiles are the identity rules'. */
const BY_PROFILE: ReadonlyMap<string, { endpoint: string; what: string }> = new Map([
  [PROFILE.pppCarePlan, { endpoint: 'POST /ppp', what: 'the CarePlan of a PPP (its CTM link: POST /ppp/{id}/link-ctm and /unlink-ctm)' }],
  [PROFILE.bpmCarePlan, { endpoint: 'POST /bpm', what: 'the CarePlan of a BPM' }],
  [PROFILE.bmoComposition, { endpoint: 'POST /ctm', what: 'the BMO Composition of a CTM' }],
  [PROFILE.fctComposition, { endpoint: 'POST /ctm', what: 'the FCT Composition of a CTM' }],
  [PROFILE.validationProvenance, { endpoint: 'POST /ctm', what: "the pharmacist's validation of a BMO" }],
  [PROFILE.practitioner, { endpoint: ANY_DOCUMENT, what: 'a Practitioner named by a document' }],
  [PROFILE.practitionerRole, { endpoint: ANY_DOCUMENT, what: 'a PractitionerRole named by a document' }],
  [PROFILE.organization, { endpoint: ANY_DOCUMENT, what: 'an Organization named by a document' }],
  [PROFILE.careTeam, { endpoint: ANY_DOCUMENT, what: 'the CareTeam of a document' }],
  [PROFILE.detectedIssue, { endpoint: ANY_DOCUMENT, what: 'a drug-related problem of a document' }],
  [PROFILE.recommendationMedicationRequest, { endpoint: ANY_DOCUMENT, what: 'a recommendation of a document' }],
  [PROFILE.recommendationServiceRequest, { endpoint: ANY_DOCUMENT, what: 'a recommendation of a document' }],
  [PROFILE.medicationStatement, { endpoint: ANY_DOCUMENT, what: 'a medication line of a document' }],
  [PROFILE.medicationList, { endpoint: ANY_DOCUMENT, what: 'the medication list of a document' }],
  [PROFILE.communication, { endpoint: ANY_DOCUMENT, what: 'a message of a document' }],
  [PROFILE.task, { endpoint: ANY_DOCUMENT, what: 'a Task of a document' }],
  [PROFILE.consent, { endpoint: ANY_DOCUMENT, what: 'the consent of a document' }],
  [PROFILE.encounter, { endpoint: ANY_DOCUMENT, what: 'an encounter of a document' }],
]);

const DOCUMENT_IDENTIFIER = new RegExp(`^${CANONICAL_BASE.replace(/[.]/g, '\\.')}/identifier/[^/]+/([a-z-]+)$`);
const ENDPOINT_OF_KIND: Record<string, string> = { ppp: 'POST /ppp', bpm: 'POST /bpm', ctm: 'POST /ctm', 'ctm-bmo': 'POST /ctm', 'ctm-fct': 'POST /ctm' };

/** The SRI's own Patient: it carries the regional identifier. */
export function isFederatedPatient(resource: Resource | undefined): boolean {
  return resource?.resourceType === 'Patient' && (resource.identifier ?? []).some((i) => i.system === REGIONAL_ID_SYSTEM);
}

/** The document mark a resource carries (never for a Patient: Patients follow the identity rules). */
export function documentOwner(resource: Resource | undefined): DocumentOwner | undefined {
  if (!resource || resource.resourceType === 'Patient') return undefined;
  const profiles = resource.meta?.profile ?? [];
  for (const [i, profile] of profiles.entries()) {
    const owner = BY_PROFILE.get(profile);
    if (owner) return { ...owner, expression: `${resource.resourceType}.meta.profile[${i}]` };
  }
  const identifiers = 'identifier' in resource && Array.isArray(resource.identifier) ? (resource.identifier as { system?: string }[]) : [];
  for (const [i, id] of identifiers.entries()) {
    const m = id.system ? DOCUMENT_IDENTIFIER.exec(id.system) : null;
    if (m) {
      return { endpoint: ENDPOINT_OF_KIND[m[1]] ?? ANY_DOCUMENT, what: `a resource of a ${m[1].toUpperCase()} document`, expression: `${resource.resourceType}.identifier[${i}].system` };
    }
  }
  if (resource.resourceType === 'CarePlan') {
    const kind = carePlanKind(resource as CarePlan);
    if (kind) return { endpoint: ENDPOINT_OF_KIND[kind], what: `the CarePlan of a ${kind.toUpperCase()}`, expression: 'CarePlan.category' };
  }
  if (resource.resourceType === 'Task' && (resource.code?.coding ?? []).some((c) => c.system === CS.taskType)) {
    return { endpoint: ANY_DOCUMENT, what: 'a Task of a document', expression: 'Task.code' };
  }
  if ((resource.meta?.tag ?? []).some((t) => t.system === CS.identityState)) {
    return { endpoint: 'POST /bpm', what: 'a BPM awaiting its identity', expression: `${resource.resourceType}.meta.tag` };
  }
  return undefined;
}

/**
 * The document endpoint, made precise where the resource says which document it belongs to: a Task, a
 * recommendation or a message `basedOn`/`about` a stored PPP or BPM CarePlan.
 */
export async function preciseEndpoint(tx: Pick<StoreTransaction, 'read'>, resource: Resource, owner: DocumentOwner): Promise<string> {
  if (owner.endpoint !== ANY_DOCUMENT) return owner.endpoint;
  const r = resource as { basedOn?: { reference?: string }[]; about?: { reference?: string }[] };
  for (const ref of [...(r.basedOn ?? []), ...(r.about ?? [])]) {
    const m = /^CarePlan\/([A-Za-z0-9\-.]{1,64})$/.exec(ref.reference ?? '');
    if (!m) continue;
    const cp = await tx.read<CarePlan>('CarePlan', m[1]);
    const kind = cp && carePlanKind(cp);
    if (kind) return ENDPOINT_OF_KIND[kind];
  }
  return owner.endpoint;
}
