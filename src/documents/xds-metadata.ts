// XDS metadata of one document version for the DMP, derived from the same header facts as the CDA (so the two
// agree): one DocumentEntry, its SubmissionSet, and the RPLC link when the version replaces an earlier one.
import { createHash } from 'node:crypto';
import { v5 as uuidv5 } from 'uuid';
import type { Coded, DocumentHeader, DocumentPerson, MaskingCode, XdsAuthor, XdsSubmission } from './model.js';
import { businessRule } from '../fhir/outcome.js';
import { codedString, cx, escapeHl7, hl7Date, xcn, xdsTime, xon } from './hl7v2-datatypes.js';

/** Coding schemes (XDS `codingScheme`) written without a settings file. */
export const CODING_SCHEME = {
  confidentiality: '2.16.840.1.113883.5.25',
  /** TRE_A07 StatutVisibiliteDocument: the DMP masking codes. */
  masking: '1.2.250.1.213.1.1.4.13',
} as const;

/**
 * Namespace of the v5 UUIDs derived from XDS uniqueIds. Fixed forever: a replacement (RPLC) names the replaced entry
 * by recomputing its entryUUID from its uniqueId, without querying the registry.
 */
export const ENTRY_UUID_NAMESPACE = '5c0a8f0e-6d43-5b8e-9a51-3f2c7d4e1b09';

/** `urn:uuid:` entryUUID of the registry object whose uniqueId (an OID) is given. */
export function entryUuidOf(uniqueId: string): string {
  return `urn:uuid:${uuidv5(uniqueId, ENTRY_UUID_NAMESPACE)}`;
}

const MASKING_DISPLAY: Record<MaskingCode, string> = {
  MASQUE_PS: 'Masqué aux professionnels de santé',
  INVISIBLE_PATIENT: 'Non visible par le patient',
  INVISIBLE_REPRESENTANTS_LEGAUX: 'Non visible par représentants légaux du patient',
};

export function maskingCoded(code: MaskingCode): Coded {
  return { code, codeSystem: CODING_SCHEME.masking, display: MASKING_DISPLAY[code] };
}

export interface XdsSubmissionOptions {
  /** OID of the sending system (SubmissionSet sourceId). */
  sourceId: string;
  /** OID of this submission set, unique per submission. */
  submissionSetUniqueId: string;
  submissionTime: Date | string;
  /** The sender's patient id (IPP) for sourcePatientId; default: the patient's source id when it is an OID, else the INS. */
  localPatientId?: { value: string; oid: string };
}

/** The author as XDS names them: the person (XCN), their organisation (XON) and their specialty. */
function authorOf(person: DocumentPerson, header: DocumentHeader): XdsAuthor {
  return {
    person: xcn(person),
    institution: [xon(header.organization)],
    // authorRole (JDV_J47) comes from the CDA author/functionCode, which the header does not carry: left out.
    role: [],
    specialty: [codedString(person.specialty ?? person.profession)],
  };
}

function sourcePatientIdOf(header: DocumentHeader, insCx: string, local: XdsSubmissionOptions['localPatientId']): string {
  if (local) return cx(local.value, local.oid.replace(/^urn:oid:/, ''), 'PI');
  const { system, value } = header.patient.sourceId;
  const oid = system.startsWith('urn:oid:') ? system.slice('urn:oid:'.length) : undefined;
  // A CX authority must be an ISO OID: a source id under a URL system cannot be written, so the INS stands in.
  return oid ? cx(value, oid, 'PI') : insCx;
}

/** PID-5 (birth name, first birth given name, type L), PID-7 (birth date), PID-8 (sex: F, M or U). */
function sourcePatientInfoOf(header: DocumentHeader): string[] {
  const p = header.patient;
  return [
    `PID-5|${escapeHl7(p.birthName)}^${escapeHl7(p.firstBirthGivenName)}^^^^^L`,
    `PID-7|${hl7Date(p.birthDate)}`,
    `PID-8|${p.sex === 'I' ? 'U' : p.sex}`,
  ];
}

/**
 * The ITI-41 metadata of one document version (`cda`: the exact CDA bytes that will be sent). Throws when the patient
 * has no INS: the DMP files documents under the INS only.
 */
export function xdsSubmissionOf(header: DocumentHeader, cda: Buffer, options: XdsSubmissionOptions): XdsSubmission {
  const ins = header.patient.ins;
  if (!ins) {
    throw businessRule('patient.ins: the DMP only accepts documents filed under the patient’s INS, and this patient has none', 'patient.ins');
  }
  const patientId = cx(ins.matricule, ins.oid.replace(/^urn:oid:/, ''), 'NH');
  const author = authorOf(header.author, header);
  const entry: XdsSubmission['documents'][number]['entry'] = {
    entryUuid: entryUuidOf(header.ids.id),
    uniqueId: header.ids.id,
    mimeType: 'text/xml',
    hash: createHash('sha1').update(cda).digest('hex'),
    size: cda.length,
    creationTime: xdsTime(header.effectiveTime, 'effectiveTime'),
    serviceStartTime: xdsTime(header.serviceEvent.start, 'serviceEvent.start'),
    ...(header.serviceEvent.stop ? { serviceStopTime: xdsTime(header.serviceEvent.stop, 'serviceEvent.stop') } : {}),
    languageCode: 'fr-FR',
    title: header.title,
    classCode: header.classCode,
    typeCode: header.typeCode,
    formatCode: header.formatCode,
    healthcareFacilityTypeCode: header.healthcareFacilityTypeCode,
    practiceSettingCode: header.practiceSettingCode,
    confidentialityCodes: [header.confidentiality, ...header.masking.map(maskingCoded)],
    patientId,
    sourcePatientId: sourcePatientIdOf(header, patientId, options.localPatientId),
    sourcePatientInfo: sourcePatientInfoOf(header),
    legalAuthenticator: xcn(header.legalAuthenticator),
    authors: [author],
  };
  return {
    submissionSet: {
      entryUuid: entryUuidOf(options.submissionSetUniqueId),
      uniqueId: options.submissionSetUniqueId,
      sourceId: options.sourceId,
      submissionTime: xdsTime(options.submissionTime, 'submissionTime'),
      contentTypeCode: header.contentTypeCode,
      patientId,
      authors: [author],
    },
    documents: [{ entry, content: cda }],
    replacements: header.ids.replaces ? [{ documentEntryUuid: entry.entryUuid, replacedEntryUuid: entryUuidOf(header.ids.replaces) }] : [],
  };
}
