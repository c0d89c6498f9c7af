// The shared model of an outgoing clinical document: what is rendered (PDF), wrapped (CDA R2 N1) and registered
// (XDS metadata, sent as ebRIM over ITI-41 or as an MHD ITI-65 Bundle). Pure data: no clock, no I/O.
import type { Bpm } from '../domain/bpm.js';
import type { Ctm } from '../domain/ctm.js';
import type { PatientIdentity } from '../domain/identity.js';
import type { Ppp } from '../domain/ppp.js';

/** The canonical document a clinical document is made from. */
export type SourceDocument = { kind: 'ppp'; document: Ppp } | { kind: 'ctm'; document: Ctm } | { kind: 'bpm'; document: Bpm };
export type ClinicalDocumentKind = SourceDocument['kind'];

/** DMP masking codes (TRE_A07, JDV_J58): hidden from professionals, from the patient, from the legal representatives. */
export const MASKING_CODES = ['MASQUE_PS', 'INVISIBLE_PATIENT', 'INVISIBLE_REPRESENTANTS_LEGAUX'] as const;
export type MaskingCode = (typeof MASKING_CODES)[number];

/** Ids of one document version, all OIDs (CDA `id@root`, `setId@root`; XDS uniqueId = `id`). */
export interface DocumentIds {
  /** This version's id: the CDA `id@root` and the XDS DocumentEntry uniqueId. */
  id: string;
  /** Stable across versions of the same document (CDA `setId@root`). */
  setId: string;
  /** 1, 2, … (CDA `versionNumber`). */
  version: number;
  /** The previous version's id, when this version replaces it (CDA `relatedDocument@typeCode=RPLC`, XDS RPLC). */
  replaces?: string;
}

/** A coded value with its coding scheme OID (CDA `codeSystem`, XDS `codingScheme`). */
export interface Coded {
  code: string;
  codeSystem: string;
  display: string;
}

/** Everything needed to render and wrap one document version. */
export interface DocumentRequest {
  source: SourceDocument;
  /**
   * The patient as the identity registry holds them (the qualified reference traits, INS included): printed in the
   * PDF and put in the CDA recordTarget. `localId`: the sender's own id (IPP), kept as a second patientRole/id.
   */
  patient: PatientIdentity;
  ids: DocumentIds;
  /** Document creation time (ISO 8601 with offset): CDA effectiveTime, XDS creationTime. */
  effectiveTime: string;
  /** CDA confidentialityCode: N normal (default), R restricted, V very restricted. */
  confidentiality?: 'N' | 'R' | 'V';
  /** DMP masking codes, added to the XDS confidentialityCode list (not to the CDA). */
  masking?: readonly MaskingCode[];
}

/** XDS metadata of one DocumentEntry (values as the registry sees them; HL7 v2 strings already formatted). */
export interface XdsDocumentEntry {
  /** `urn:uuid:…`, derived from the uniqueId so a later RPLC can name it without a query. */
  entryUuid: string;
  uniqueId: string;
  mimeType: 'text/xml';
  /** SHA-1 of the CDA bytes, lower-case hex. */
  hash: string;
  size: number;
  /** XDM media only (IHE ITI TF-3 4.2.3.2.23): the document's file name in its subset, e.g. `DOC0001.XML`. */
  uri?: string;
  /** YYYYMMDDhhmmss, UTC. */
  creationTime: string;
  serviceStartTime?: string;
  serviceStopTime?: string;
  languageCode: 'fr-FR';
  title: string;
  classCode: Coded;
  typeCode: Coded;
  formatCode: Coded;
  healthcareFacilityTypeCode: Coded;
  practiceSettingCode: Coded;
  /** First: N / R / V (2.16.840.1.113883.5.25); then masking codes (1.2.250.1.213.1.1.4.13). */
  confidentialityCodes: Coded[];
  /** INS as CX: `<matricule>^^^&<INS OID>&ISO^NH`. */
  patientId: string;
  /** The sender's id (`<IPP>^^^&<OID>&ISO^PI`), or the INS. */
  sourcePatientId: string;
  /** `PID-5|…`, `PID-7|…`, `PID-8|…`. */
  sourcePatientInfo: string[];
  /** XCN. */
  legalAuthenticator: string;
  authors: XdsAuthor[];
}

export interface XdsAuthor {
  /** XCN: `<IdNat>^<family>^<given>^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS`. */
  person?: string;
  /** XON: `<name>^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^<IdNat_Struct>`. */
  institution: string[];
  role: string[];
  specialty: string[];
}

export interface XdsSubmissionSet {
  entryUuid: string;
  uniqueId: string;
  /** OID of the sending system. */
  sourceId: string;
  /** YYYYMMDDhhmmss, UTC. */
  submissionTime: string;
  title?: string;
  contentTypeCode: Coded;
  patientId: string;
  authors: XdsAuthor[];
}

/** One ITI-41 (or ITI-65) submission: a submission set with its documents, possibly replacing an earlier one. */
export interface XdsSubmission {
  submissionSet: XdsSubmissionSet;
  documents: { entry: XdsDocumentEntry; content: Buffer }[];
  /** RPLC: the new document (by entryUuid) replaces the registered one (by its entryUuid). */
  replacements: { documentEntryUuid: string; replacedEntryUuid: string }[];
}

/** A professional as documents name them: IdNat (IDNPS = 8 + RPPS, OID 1.2.250.1.71.4.2.1). */
export interface DocumentPerson {
  idnps: string;
  family: string;
  given?: string;
  /** Profession (TRE_G15 / R95 style code), e.g. médecin, pharmacien. */
  profession: Coded;
  /** Specialty when known (e.g. SM26 médecine générale, G15_21/… pharmacie). */
  specialty?: Coded;
}

/** An organisation as documents name it: IdNat_Struct (1 + FINESS, OID 1.2.250.1.71.4.2.2). */
export interface DocumentOrganization {
  idNatStruct: string;
  finess: string;
  name: string;
}

/**
 * The header facts of one document version, computed once from the request and the document settings
 * (`mappings/documents.yaml`): the CDA header is written from them, and the XDS metadata is derived from the same
 * values, so the two always agree (the local DMP peer checks that they do).
 */
export interface DocumentHeader {
  kind: ClinicalDocumentKind;
  ids: DocumentIds;
  title: string;
  /** ISO 8601 with offset. */
  effectiveTime: string;
  /** CDA `code` = XDS typeCode (JDV_J66). */
  typeCode: Coded;
  /** Derived from typeCode (ASS_X16): TRE_A03. */
  classCode: Coded;
  /** `urn:ihe:iti:xds-sd:pdf:2008` (1.3.6.1.4.1.19376.1.2.3). */
  formatCode: Coded;
  /** TRE_R02 SAxx (1.2.250.1.71.4.2.4): CDA healthCareFacility/code. */
  healthcareFacilityTypeCode: Coded;
  /** TRE_A01 (1.2.250.1.213.1.1.4.9): CDA representedOrganization/standardIndustryClassCode. */
  practiceSettingCode: Coded;
  /** TRE_R209 (1.2.250.1.213.2.2): XDS SubmissionSet contentTypeCode. */
  contentTypeCode: Coded;
  /** N / R / V (2.16.840.1.113883.5.25). */
  confidentiality: Coded;
  masking: readonly MaskingCode[];
  patient: PatientIdentity;
  author: DocumentPerson;
  /** When the author wrote it (ISO 8601). */
  authorTime: string;
  organization: DocumentOrganization;
  legalAuthenticator: DocumentPerson;
  legalAuthenticationTime: string;
  /** documentationOf/serviceEvent: the act documented (e.g. the medication review), with its period. */
  serviceEvent: { code?: Coded; start: string; stop?: string };
}
