// FHIR view of a federated identity: a Patient whose id is the regional id, with `link` seealso → each source
// Patient, `replaced-by` / `replaces` after a merge, `active`, the FR Core identity-reliability extension
// (RNIV status, then one per table 0445 flag) and the INS only for an active qualified identity (a merged one
// keeps its status but not the INS, which the survivor carries). Pure.
import type { Extension, Patient, PatientLink } from '@medplum/fhirtypes';
import { CANONICAL_BASE, PROFILE, SYSTEM } from './canonical.js';
import { patientId } from './ids.js';
import { mapPatient, systemUri } from './map-common.js';
import type { IdentityFlag } from '../identity/types.js';
import type { FederatedIdentityRecord } from '../identity/records.js';

/** Identifier system of the regional (federated) patient id. */
export const REGIONAL_ID_SYSTEM = `${CANONICAL_BASE}/identifier/federated-patient`;

const FLAG_DISPLAY: Record<IdentityFlag, string> = {
  DPOT: 'Doublon potentiel',
  DOUA: 'Doublon avéré',
  COLP: 'Collision potentielle',
  COLV: 'Collision avérée',
  HOMD: 'Homonyme détecté',
  HOMA: 'Homonyme avéré',
  DOUT: 'Identité douteuse (Attribut d’identité « douteuse »)',
  FICT: 'Identité fictive (Attribut d’identité « fictive »)',
  DESA: 'Identité désactivée',
};

/** Id of the Patient a source stores for its own identity (same rule as the document mapping). */
export function sourcePatientId(system: string, localId: string): string {
  return patientId(systemUri(system), localId);
}

function flagExtension(flag: IdentityFlag): Extension {
  return {
    url: SYSTEM.frCoreIdentityReliabilityExt,
    extension: [{ url: 'identityStatus', valueCoding: { system: SYSTEM.frCoreIdentityStatus, code: flag, display: FLAG_DISPLAY[flag] } }],
  };
}

export interface FederatedPatientInput {
  identity: FederatedIdentityRecord;
  /** Its source identities (system + local id), in a stable order. */
  sources: readonly { system: string; localId: string }[];
  /** Federated identities merged into this one. */
  replaces?: readonly string[];
}

export function federatedPatient({ identity, sources, replaces = [] }: FederatedPatientInput): Patient & { id: string } {
  // The reference traits give name, sex, birth date, birthplace, status and (QUAL only) the INS.
  const base = mapPatient({ ...identity.traits, status: identity.status });
  const ins = identity.active ? (base.identifier ?? []).filter((i) => i.use === 'official') : [];
  const link: PatientLink[] = [];
  if (identity.replacedBy) link.push({ other: { reference: `Patient/${identity.replacedBy}` }, type: 'replaced-by' });
  for (const id of replaces) link.push({ other: { reference: `Patient/${id}` }, type: 'replaces' });
  for (const s of sources) link.push({ other: { reference: `Patient/${sourcePatientId(s.system, s.localId)}` }, type: 'seealso' });
  return {
    ...base,
    id: identity.id,
    meta: { profile: [ins.length > 0 ? PROFILE.patientIns : PROFILE.patient] },
    extension: [...(base.extension ?? []), ...identity.flags.map(flagExtension)],
    identifier: [...ins, { use: 'secondary', system: REGIONAL_ID_SYSTEM, value: identity.id }],
    active: identity.active,
    ...(link.length > 0 ? { link } : {}),
  };
}

/** True when the source Patient points at `federatedId`, and only at it (`link.type` refer). */
export const refersTo = (p: Patient, federatedId: string): boolean =>
  (p.link ?? []).some((l) => l.type === 'refer' && l.other.reference === `Patient/${federatedId}`) &&
  (p.link ?? []).filter((l) => l.type === 'refer').length === 1;

/** The source Patient pointing at its federated Patient (`link.type` refer); other links are kept. */
export function linkToFederated(patient: Patient, federatedId: string): Patient {
  const others = (patient.link ?? []).filter((l) => l.type !== 'refer');
  return { ...patient, link: [...others, { other: { reference: `Patient/${federatedId}` }, type: 'refer' }] };
}
