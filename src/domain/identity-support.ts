// Statuses the data does not support (issue 21, point 1; docs/identity.md "Statuses the data does not support"): a
// source identity whose declared RNIV status its own traits do not bear out is registered at the status they do
// support, with one anomaly per fault for the sender — never refused. Pure: declared identity → kept identity + anomalies.
import type { IdentityStatus, PatientIdentity } from './identity.js';

/** What was wrong with a declared identity (one code per fault; an identity may have several). */
export const IDENTITY_ANOMALY_CODES = [
  'QUAL_WITHOUT_INS',
  'QUAL_PARTIAL_BIRTH_DATE',
  'QUAL_WITHOUT_BIRTHPLACE',
  'QUAL_SEX_UNDETERMINED',
  'INS_WITH_PROV',
] as const;
export type IdentityAnomalyCode = (typeof IDENTITY_ANOMALY_CODES)[number];

export interface IdentityAnomaly {
  code: IdentityAnomalyCode;
  /** The PatientIdentity field at fault (`ins`, `birthDate`, `birthPlaceInsee`, `sex`). */
  field: 'ins' | 'birthDate' | 'birthPlaceInsee' | 'sex';
  /** What was received, as a shape (status and what the field held), never the traits' values. */
  received: string;
  /** What was kept. */
  kept: string;
}

export interface IdentityEvidence {
  /**
   * The sender asserts that the identity was checked against a high-trust identity document (FHIR: the
   * identity-reliability extension carries table 0445 `VALI`, or a `validationMode`). A declared `QUAL` alone is not
   * such an assertion: it is the claim the data contradicts.
   */
  verifiedDocument?: boolean;
}

export interface SupportedIdentity {
  /** The identity to register: the declared one, at the status its traits support. */
  identity: PatientIdentity;
  /** Empty when the declared identity is consistent. */
  anomalies: IdentityAnomaly[];
}

/** The shape of a birth date, never its value. */
const dateShape = (d: string): string => (d.length === 4 ? 'YYYY' : d.length === 7 ? 'YYYY-MM' : 'YYYY-MM-DD');

/**
 * The status `declared`'s traits support, and why it differs. Rules:
 *  - `QUAL` needs the INS and the five strict traits complete (full birth date, birthplace INSEE code, sex F or M).
 *    When it lacks any: kept `VALI` if only the INS lacks and the sender asserts a verified document; else `RECUP`
 *    if the INS is there (retrieved from INSi, not proven qualifiable); else `PROV`. One anomaly per fault.
 *  - `PROV` with an INS: the status is kept (never raised) and so is the INS, for matching only (only QUAL emits it).
 *  - `RECUP` / `VALI` with a partial birth date are consistent (the civil record may have no day or month).
 */
export function supportedIdentity(declared: PatientIdentity, evidence: IdentityEvidence = {}): SupportedIdentity {
  if (declared.status === 'PROV') {
    if (!declared.ins) return { identity: declared, anomalies: [] };
    return {
      identity: declared,
      anomalies: [{ code: 'INS_WITH_PROV', field: 'ins', received: 'status PROV with an INS', kept: 'status PROV; INS kept for matching only, never emitted' }],
    };
  }
  if (declared.status !== 'QUAL') return { identity: declared, anomalies: [] };
  const faults: Omit<IdentityAnomaly, 'kept'>[] = [];
  if (!declared.ins) faults.push({ code: 'QUAL_WITHOUT_INS', field: 'ins', received: 'status QUAL without an INS' });
  if (declared.birthDate.length !== 10) {
    faults.push({ code: 'QUAL_PARTIAL_BIRTH_DATE', field: 'birthDate', received: `status QUAL with a partial birth date (${dateShape(declared.birthDate)})` });
  }
  if (!declared.birthPlaceInsee) faults.push({ code: 'QUAL_WITHOUT_BIRTHPLACE', field: 'birthPlaceInsee', received: 'status QUAL without a birthplace INSEE code' });
  if (declared.sex === 'I') faults.push({ code: 'QUAL_SEX_UNDETERMINED', field: 'sex', received: 'status QUAL with sex I (undetermined)' });
  if (faults.length === 0) return { identity: declared, anomalies: [] };
  const traitsComplete = faults.every((f) => f.code === 'QUAL_WITHOUT_INS');
  const status: IdentityStatus = traitsComplete && evidence.verifiedDocument === true ? 'VALI' : declared.ins ? 'RECUP' : 'PROV';
  const kept = `status ${status}`;
  return { identity: { ...declared, status }, anomalies: faults.map((f) => ({ ...f, kept })) };
}

/**
 * The issues a strict reader raises on a QUAL identity its traits do not support (the MSSanté intake keeps refusing
 * them with its own error codes): paths relative to the patient, the messages the schema used to give.
 */
export function unsupportedQualIssues(p: PatientIdentity): { path: 'ins' | 'status'; message: string }[] {
  if (p.status !== 'QUAL') return [];
  const out: { path: 'ins' | 'status'; message: string }[] = [];
  if (!p.ins) out.push({ path: 'ins', message: 'a qualified (QUAL) identity must carry its INS' });
  if (p.birthDate.length !== 10 || !p.birthPlaceInsee || p.sex === 'I') {
    out.push({ path: 'status', message: 'a qualified (QUAL) identity needs the five strict traits: full birth date, birthplace INSEE code and sex F/M' });
  }
  return out;
}
