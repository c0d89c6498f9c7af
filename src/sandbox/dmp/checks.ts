// The metadata rules the local DMP peer enforces on an ITI-41 submission before registering anything (fr-interop
// §2.4): value sets of the DMP (JDV_J57–J66), classCode ↔ typeCode (ASS_X16), INS patient ids, OIDs, time formats,
// the SubmissionSet and its associations, and hash / size against the bytes received. Pure: no store, no clock.
import { createHash } from 'node:crypto';
import {
  ASSOCIATION_TYPE,
  DOCUMENT_ENTRY_IDENTIFIER,
  DOCUMENT_ENTRY_OBJECT_TYPE,
  DOCUMENT_ENTRY_SCHEME,
  SLOT,
  SUBMISSION_SET_IDENTIFIER,
  SUBMISSION_SET_NODE,
  SUBMISSION_SET_SCHEME,
} from '../../connectors/dmp/xds-constants.js';
import { isValidInsMatricule } from '../../domain/ins.js';
import type { RegistryError, XdsErrorCode } from './registry-error.js';
import { classificationsOf, identifierValue, slotValue, type ProvideAndRegisterRequest, type RimExtrinsicObject, type RimObject } from './submission.js';
import {
  ASS_X16_TYPE_TO_CLASS,
  JDV_J57_CLASS_CODE,
  JDV_J58_CONFIDENTIALITY_CODE,
  JDV_J59_CONTENT_TYPE_CODE,
  JDV_J60_FORMAT_CODE,
  JDV_J61_HEALTHCARE_FACILITY_TYPE_CODE,
  JDV_J62_PRACTICE_SETTING_CODE,
  JDV_J66_TYPE_CODE,
  type DmpValueSet,
} from './value-sets.js';

/** INS assigning authorities: NIR, NIA, NIR test, NIR démo (fr-interop §4.2). */
export const INS_OIDS: ReadonlySet<string> = new Set(['1.2.250.1.213.1.4.8', '1.2.250.1.213.1.4.9', '1.2.250.1.213.1.4.10', '1.2.250.1.213.1.4.11']);

/** The HL7 confidentiality scheme (N / R / V) the first confidentialityCode must come from. */
export const HL7_CONFIDENTIALITY = '2.16.840.1.113883.5.25';

/** classCode and formatCode of the DocumentEntry holding the XAdES signature of the submission set (IHE DSG). */
const SIGNATURE_CLASS_CODE = 'urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1';
const SIGNATURE_FORMAT_CODE = 'http://www.w3.org/2000/09/xmldsig#';

/** A DocumentEntry that passed the structural checks, with what the registry needs of it. */
export interface AcceptedEntry {
  entry: RimExtrinsicObject;
  uniqueId: string;
  patientId: string;
  content: Buffer;
  /** SHA-1 of the content, lower-case hex. */
  hash: string;
  /** The submission-set signature entry (classCode Digital Signature), not a clinical document. */
  isSignature: boolean;
}

export interface CheckedSubmission {
  errors: RegistryError[];
  submissionSet?: RimObject;
  submissionSetUniqueId?: string;
  patientId?: string;
  entries: AcceptedEntry[];
  /** RPLC: the entry (by its id in the request) replaces the registered entry with this entryUUID. */
  replacements: { entryId: string; replacedEntryUuid: string }[];
}

const OID = /^[0-2](\.(0|[1-9]\d*))+$/;

export function isOid(value: string): boolean {
  return value.length <= 64 && OID.test(value);
}

/** The DMP's INS as CX: `<matricule>^^^&<INS OID>&ISO^NH`, with a matricule whose key is right. */
export function insProblem(cx: string): string | undefined {
  const m = /^([^^&]+)\^\^\^&([^&]+)&ISO\^NH$/.exec(cx);
  if (!m) return `"${cx}" is not a CX <matricule>^^^&<OID>&ISO^NH`;
  if (!INS_OIDS.has(m[2])) return `assigning authority ${m[2]} is not an INS OID (1.2.250.1.213.1.4.8/9/10/11)`;
  if (!isValidInsMatricule(m[1])) return `matricule ${m[1]} is not a 15-character NIR/NIA with a valid key`;
  return undefined;
}

/** XDS DTM, with the precisions allowed; the date must exist. */
export function dtmProblem(value: string | undefined, lengths: readonly number[]): string | undefined {
  if (value === undefined) return 'missing';
  if (!/^\d+$/.test(value) || !lengths.includes(value.length)) return `"${value}" is not YYYYMMDDhhmmss (${lengths.join('/')} digits)`;
  // Missing trailing components default to the start of the period (month 01, day 01, 00:00:00).
  const part = (from: number, fallback: string): number => Number(value.slice(from, from + 2) || fallback);
  const [y, mo, d, h, mi, s] = [Number(value.slice(0, 4)), part(4, '01'), part(6, '01'), part(8, '00'), part(10, '00'), part(12, '00')];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return `"${value}" is not a valid date and time`;
  return undefined;
}

class Collector {
  readonly errors: RegistryError[] = [];
  add(errorCode: XdsErrorCode, codeContext: string, location?: string): void {
    this.errors.push({ errorCode, codeContext, ...(location ? { location } : {}) });
  }
}

/** Checks one coded Classification (exactly one expected) against a DMP value set; returns the code when present. */
function codedOne(
  c: Collector,
  o: RimObject,
  what: string,
  field: string,
  scheme: string,
  vs: DmpValueSet,
): { code: string; codingScheme: string } | undefined {
  const found = classificationsOf(o, scheme);
  if (found.length === 0) {
    c.add('XDSRegistryMetadataError', `${what} ${o.id}: ${field} is missing (Classification ${scheme})`, o.id);
    return undefined;
  }
  if (found.length > 1) c.add('XDSRegistryMetadataError', `${what} ${o.id}: ${field} appears ${found.length} times`, o.id);
  return codedValue(c, o, what, field, found[0], vs);
}

function codedValue(
  c: Collector,
  o: RimObject,
  what: string,
  field: string,
  cl: { nodeRepresentation?: string; slots: Map<string, string[]> },
  vs: DmpValueSet,
): { code: string; codingScheme: string } | undefined {
  const code = cl.nodeRepresentation ?? '';
  const codingScheme = cl.slots.get(SLOT.codingScheme)?.[0] ?? '';
  if (!code) {
    c.add('XDSRegistryMetadataError', `${what} ${o.id}: ${field} has an empty nodeRepresentation`, o.id);
    return undefined;
  }
  if (!codingScheme) {
    c.add('XDSRegistryMetadataError', `${what} ${o.id}: ${field} "${code}" has no codingScheme slot`, o.id);
    return undefined;
  }
  if (!vs.codes[codingScheme]?.includes(code)) {
    c.add('XDSRegistryMetadataError', `${what} ${o.id}: ${field} "${code}" (codingScheme ${codingScheme}) is not in ${vs.id} (version ${vs.version})`, o.id);
    return undefined;
  }
  return { code, codingScheme };
}

function authorsPresent(c: Collector, o: RimObject, what: string, scheme: string): void {
  const authors = classificationsOf(o, scheme);
  const usable = authors.filter((a) => (a.slots.get(SLOT.authorPerson)?.length ?? 0) > 0 || (a.slots.get(SLOT.authorInstitution)?.length ?? 0) > 0);
  if (usable.length === 0) {
    c.add('XDSRegistryMetadataError', `${what} ${o.id}: author is missing (a Classification with authorPerson or authorInstitution)`, o.id);
    return;
  }
  for (const a of usable) {
    for (const xon of a.slots.get(SLOT.authorInstitution) ?? []) {
      if (!/^[^^]+\^\^\^\^\^&1\.2\.250\.1\.71\.4\.2\.2&ISO\^IDNST\^\^\^\S+$/.test(xon)) {
        c.add('XDSRegistryMetadataError', `${what} ${o.id}: authorInstitution "${xon}" is not an XON <name>^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^<IdNat_Struct>`, o.id);
      }
    }
  }
}

function patientIdOf(c: Collector, o: RimObject, what: string, scheme: string): string | undefined {
  const value = identifierValue(o, scheme);
  if (!value) {
    c.add('XDSRegistryMetadataError', `${what} ${o.id}: patientId is missing`, o.id);
    return undefined;
  }
  const problem = insProblem(value);
  if (problem) {
    c.add('XDSUnknownPatientId', `${what} ${o.id}: patientId ${problem}; the DMP files documents under the INS only`, o.id);
    return undefined;
  }
  return value;
}

function checkSubmissionSet(c: Collector, req: ProvideAndRegisterRequest): { ss?: RimObject; uniqueId?: string; patientId?: string } {
  if (req.submissionSets.length !== 1) {
    c.add('XDSRegistryMetadataError', `SubmitObjectsRequest: expected one SubmissionSet (RegistryPackage classified ${SUBMISSION_SET_NODE}), found ${req.submissionSets.length}`);
    return {};
  }
  for (const p of req.otherPackages) c.add('XDSRegistryMetadataError', `RegistryPackage ${p.id}: folders are not supported by the sandbox DMP`, p.id);
  const ss = req.submissionSets[0];
  const what = 'SubmissionSet';
  const timeProblem = dtmProblem(slotValue(ss, SLOT.submissionTime), [14]);
  if (timeProblem) c.add('XDSRegistryMetadataError', `${what} ${ss.id}: submissionTime ${timeProblem}`, ss.id);
  const sourceId = identifierValue(ss, SUBMISSION_SET_IDENTIFIER.sourceId);
  if (!sourceId) c.add('XDSRegistryMetadataError', `${what} ${ss.id}: sourceId is missing`, ss.id);
  else if (!isOid(sourceId)) c.add('XDSRegistryMetadataError', `${what} ${ss.id}: sourceId "${sourceId}" is not an OID`, ss.id);
  const uniqueId = identifierValue(ss, SUBMISSION_SET_IDENTIFIER.uniqueId);
  if (!uniqueId) c.add('XDSRegistryMetadataError', `${what} ${ss.id}: uniqueId is missing`, ss.id);
  else if (!isOid(uniqueId)) c.add('XDSRegistryMetadataError', `${what} ${ss.id}: uniqueId "${uniqueId}" is not an OID`, ss.id);
  codedOne(c, ss, what, 'contentTypeCode', SUBMISSION_SET_SCHEME.contentTypeCode, JDV_J59_CONTENT_TYPE_CODE);
  authorsPresent(c, ss, what, SUBMISSION_SET_SCHEME.author);
  const patientId = patientIdOf(c, ss, what, SUBMISSION_SET_IDENTIFIER.patientId);
  return { ss, uniqueId, patientId };
}

function isSignatureEntry(e: RimExtrinsicObject): boolean {
  return (
    classificationsOf(e, DOCUMENT_ENTRY_SCHEME.classCode).some((cl) => cl.nodeRepresentation === SIGNATURE_CLASS_CODE) ||
    classificationsOf(e, DOCUMENT_ENTRY_SCHEME.formatCode).some((cl) => cl.nodeRepresentation === SIGNATURE_FORMAT_CODE)
  );
}

function checkEntry(c: Collector, e: RimExtrinsicObject, req: ProvideAndRegisterRequest, ssPatientId: string | undefined): AcceptedEntry | undefined {
  const what = 'DocumentEntry';
  const errorsBefore = c.errors.length;
  const isSignature = isSignatureEntry(e);
  if (e.objectType !== DOCUMENT_ENTRY_OBJECT_TYPE) {
    c.add('XDSRegistryMetadataError', `${what} ${e.id}: objectType "${e.objectType ?? ''}" is not the stable DocumentEntry type ${DOCUMENT_ENTRY_OBJECT_TYPE}`, e.id);
  }
  // A CDA R2 is text/xml (application/xslt+xml when it carries its own stylesheet); so is the XAdES signature.
  const mimeTypes = isSignature ? ['text/xml'] : ['text/xml', 'application/xslt+xml'];
  if (!e.mimeType) c.add('XDSRegistryMetadataError', `${what} ${e.id}: mimeType is missing`, e.id);
  else if (!mimeTypes.includes(e.mimeType)) c.add('XDSRegistryMetadataError', `${what} ${e.id}: mimeType "${e.mimeType}" is not ${mimeTypes.join(' or ')}`, e.id);

  const classCode = codedOne(c, e, what, 'classCode', DOCUMENT_ENTRY_SCHEME.classCode, JDV_J57_CLASS_CODE);
  const typeCode = codedOne(c, e, what, 'typeCode', DOCUMENT_ENTRY_SCHEME.typeCode, JDV_J66_TYPE_CODE);
  if (classCode && typeCode) {
    const expected = ASS_X16_TYPE_TO_CLASS[`${typeCode.codingScheme}|${typeCode.code}`];
    if (expected !== undefined && expected !== classCode.code) {
      c.add('XDSRegistryMetadataError', `${what} ${e.id}: classCode "${classCode.code}" does not match typeCode "${typeCode.code}", which ASS_X16 classes as "${expected}"`, e.id);
    }
  }
  codedOne(c, e, what, 'formatCode', DOCUMENT_ENTRY_SCHEME.formatCode, JDV_J60_FORMAT_CODE);
  codedOne(c, e, what, 'healthcareFacilityTypeCode', DOCUMENT_ENTRY_SCHEME.healthcareFacilityTypeCode, JDV_J61_HEALTHCARE_FACILITY_TYPE_CODE);
  codedOne(c, e, what, 'practiceSettingCode', DOCUMENT_ENTRY_SCHEME.practiceSettingCode, JDV_J62_PRACTICE_SETTING_CODE);
  const confidentiality = classificationsOf(e, DOCUMENT_ENTRY_SCHEME.confidentialityCode);
  if (confidentiality.length === 0 || confidentiality.length > 4) {
    c.add('XDSRegistryMetadataError', `${what} ${e.id}: confidentialityCode must appear 1 to 4 times, found ${confidentiality.length}`, e.id);
  }
  const conf = confidentiality.map((cl) => codedValue(c, e, what, 'confidentialityCode', cl, JDV_J58_CONFIDENTIALITY_CODE));
  if (conf.length > 0 && conf.every((x) => x !== undefined) && conf.filter((x) => x?.codingScheme === HL7_CONFIDENTIALITY).length !== 1) {
    c.add('XDSRegistryMetadataError', `${what} ${e.id}: confidentialityCode needs exactly one N, R or V (${HL7_CONFIDENTIALITY})`, e.id);
  }

  const creation = dtmProblem(slotValue(e, SLOT.creationTime), [14]);
  if (creation) c.add('XDSRegistryMetadataError', `${what} ${e.id}: creationTime ${creation}`, e.id);
  for (const slot of [SLOT.serviceStartTime, SLOT.serviceStopTime]) {
    const v = slotValue(e, slot);
    if (slot === SLOT.serviceStartTime && v === undefined && !isSignature) {
      c.add('XDSRegistryMetadataError', `${what} ${e.id}: serviceStartTime is missing`, e.id);
      continue;
    }
    const p = v === undefined ? undefined : dtmProblem(v, [8, 10, 12, 14]);
    if (p) c.add('XDSRegistryMetadataError', `${what} ${e.id}: ${slot} ${p}`, e.id);
  }
  const language = slotValue(e, SLOT.languageCode);
  if (!isSignature && language !== 'fr-FR') c.add('XDSRegistryMetadataError', `${what} ${e.id}: languageCode "${language ?? ''}" is not fr-FR`, e.id);
  if (!isSignature) {
    if (!slotValue(e, SLOT.legalAuthenticator)) c.add('XDSRegistryMetadataError', `${what} ${e.id}: legalAuthenticator is missing`, e.id);
    if (!slotValue(e, SLOT.sourcePatientId)) c.add('XDSRegistryMetadataError', `${what} ${e.id}: sourcePatientId is missing`, e.id);
    if (!e.name) c.add('XDSRegistryMetadataError', `${what} ${e.id}: title (Name) is missing`, e.id);
  }
  authorsPresent(c, e, what, DOCUMENT_ENTRY_SCHEME.author);

  const uniqueId = identifierValue(e, DOCUMENT_ENTRY_IDENTIFIER.uniqueId);
  if (!uniqueId) c.add('XDSRegistryMetadataError', `${what} ${e.id}: uniqueId is missing`, e.id);
  else {
    const [root, extension, ...rest] = uniqueId.split('^');
    if (!isOid(root) || rest.length > 0 || (extension !== undefined && (extension.length === 0 || extension.length > 16))) {
      c.add('XDSRegistryMetadataError', `${what} ${e.id}: uniqueId "${uniqueId}" is not an OID (or OID^extension of at most 16 characters)`, e.id);
    }
  }
  const patientId = patientIdOf(c, e, what, DOCUMENT_ENTRY_IDENTIFIER.patientId);
  if (patientId && ssPatientId && patientId !== ssPatientId) {
    c.add('XDSPatientIdDoesNotMatch', `${what} ${e.id}: patientId ${patientId} differs from the SubmissionSet patientId ${ssPatientId}`, e.id);
  }

  const content = req.documents.get(e.id);
  if (!content) {
    const why = req.unreadableDocuments.get(e.id);
    c.add('XDSMissingDocument', `${what} ${e.id}: ${why ? `xdsb:Document ${why}` : 'no xdsb:Document with this id in the request'}`, e.id);
    return undefined;
  }
  const hash = createHash('sha1').update(content).digest('hex');
  const declaredHash = slotValue(e, SLOT.hash);
  const declaredSize = slotValue(e, SLOT.size);
  // hash and size are required by the DMP (fr-interop §2.4); a repository verifies them against the bytes.
  if (declaredHash === undefined) c.add('XDSRepositoryMetadataError', `${what} ${e.id}: hash is missing`, e.id);
  else if (declaredHash.toLowerCase() !== hash) {
    c.add('XDSRepositoryMetadataError', `${what} ${e.id}: hash ${declaredHash} is not the SHA-1 of the document received (${hash})`, e.id);
  }
  if (declaredSize === undefined) c.add('XDSRepositoryMetadataError', `${what} ${e.id}: size is missing`, e.id);
  else if (declaredSize !== String(content.length)) {
    c.add('XDSRepositoryMetadataError', `${what} ${e.id}: size ${declaredSize} is not the size of the document received (${content.length} bytes)`, e.id);
  }
  if (c.errors.length > errorsBefore || !uniqueId || !patientId) return undefined;
  return { entry: e, uniqueId, patientId, content, hash, isSignature };
}

function checkAssociations(c: Collector, req: ProvideAndRegisterRequest, ss: RimObject | undefined, entries: readonly RimExtrinsicObject[]): CheckedSubmission['replacements'] {
  const replacements: CheckedSubmission['replacements'] = [];
  const entryIds = new Set(entries.map((e) => e.id));
  const members = new Map<string, number>();
  for (const a of req.associations) {
    switch (a.type) {
      case ASSOCIATION_TYPE.hasMember:
        if (!ss || a.source !== ss.id) c.add('XDSRegistryMetadataError', `Association ${a.id}: HasMember source ${a.source} is not the SubmissionSet`, a.id);
        else if (!entryIds.has(a.target)) c.add('XDSRegistryMetadataError', `Association ${a.id}: HasMember target ${a.target} is not a DocumentEntry of this submission`, a.id);
        else {
          members.set(a.target, (members.get(a.target) ?? 0) + 1);
          if (a.slots.get(SLOT.submissionSetStatus)?.[0] !== 'Original') {
            c.add('XDSRegistryMetadataError', `Association ${a.id}: HasMember needs the slot SubmissionSetStatus = Original`, a.id);
          }
        }
        break;
      case ASSOCIATION_TYPE.replace:
        if (!entryIds.has(a.source)) c.add('XDSRegistryMetadataError', `Association ${a.id}: RPLC source ${a.source} is not a DocumentEntry of this submission`, a.id);
        else if (!/^urn:uuid:[0-9a-f-]{36}$/i.test(a.target)) c.add('XDSRegistryMetadataError', `Association ${a.id}: RPLC target "${a.target}" is not the entryUUID of a registered entry`, a.id);
        else replacements.push({ entryId: a.source, replacedEntryUuid: a.target.toLowerCase() });
        break;
      case ASSOCIATION_TYPE.signs:
        if (!entryIds.has(a.source) || !ss || a.target !== ss.id) {
          c.add('XDSRegistryMetadataError', `Association ${a.id}: signs must go from the signature DocumentEntry to the SubmissionSet`, a.id);
        }
        break;
      default:
        c.add('XDSRegistryMetadataError', `Association ${a.id}: type "${a.type}" is not accepted by the DMP (HasMember, RPLC, signs)`, a.id);
    }
  }
  for (const e of entries) {
    const n = members.get(e.id) ?? 0;
    if (n !== 1) c.add('XDSRegistryMetadataError', `DocumentEntry ${e.id}: must be the target of exactly one HasMember from the SubmissionSet (found ${n})`, e.id);
  }
  return replacements;
}

/** Every metadata rule that does not need the registry's content. */
export function checkSubmission(req: ProvideAndRegisterRequest): CheckedSubmission {
  const c = new Collector();
  const { ss, uniqueId, patientId } = checkSubmissionSet(c, req);
  if (req.entries.length === 0) c.add('XDSRegistryMetadataError', 'SubmitObjectsRequest: no DocumentEntry (ExtrinsicObject)');
  const accepted = req.entries.map((e) => checkEntry(c, e, req, patientId)).filter((a): a is AcceptedEntry => a !== undefined);
  const entryIds = new Set(req.entries.map((e) => e.id));
  for (const id of [...req.documents.keys(), ...req.unreadableDocuments.keys()]) {
    if (!entryIds.has(id)) c.add('XDSMissingDocumentMetadata', `xdsb:Document ${id}: no DocumentEntry (ExtrinsicObject) with this id`, id);
  }
  const ids = accepted.map((a) => a.uniqueId);
  for (const dup of new Set(ids.filter((u, i) => ids.indexOf(u) !== i))) c.add('XDSRegistryMetadataError', `DocumentEntry uniqueId ${dup} appears twice in the submission`);
  const replacements = checkAssociations(c, req, ss, req.entries);
  return { errors: c.errors, submissionSet: ss, submissionSetUniqueId: uniqueId, patientId, entries: accepted, replacements };
}
