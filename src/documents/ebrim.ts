// The ebRIM form of an XDS submission: `lcm:SubmitObjectsRequest` with the SubmissionSet (RegistryPackage), one
// ExtrinsicObject per DocumentEntry, and the HasMember / signs / RPLC associations. Structure of the ANS sample
// ITI-41, except that every Slot precedes Name / Description / Classification as ebRIM 3.0 requires.
import { create } from 'xmlbuilder2';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces.js';
import type { Coded, XdsAuthor, XdsDocumentEntry, XdsSubmission } from './model.js';
import {
  ASSOCIATION_TYPE,
  DOCUMENT_ENTRY_IDENTIFIER,
  DOCUMENT_ENTRY_OBJECT_TYPE,
  DOCUMENT_ENTRY_SCHEME,
  IDENTIFIER_NAMES,
  NS,
  SLOT,
  SUBMISSION_SET_IDENTIFIER,
  SUBMISSION_SET_NODE,
  SUBMISSION_SET_SCHEME,
} from './xds-constants.js';

/**
 * A DocumentEntry as ebRIM writes it: the model's entry, or the submission-set signature entry (language `art`,
 * event codes), which the document model does not describe.
 */
export type RegistryDocumentEntry = Omit<XdsDocumentEntry, 'languageCode'> & { languageCode: string; eventCodes?: Coded[] };

/** An extra DocumentEntry in the same submission that signs the SubmissionSet (IHE DSG, fr-interop §2.5). */
export interface SignatureEntryRef {
  entry: RegistryDocumentEntry;
}

const LANG = 'fr-FR';

/** Local ids of Classifications, ExternalIdentifiers and Associations: symbolic, unique in the request. */
class LocalIds {
  private n = 0;
  next(prefix: string): string {
    this.n += 1;
    return `${prefix}${this.n}`;
  }
}

function slot(parent: XMLBuilder, name: string, values: readonly string[]): void {
  if (values.length === 0) return;
  const list = parent.ele(NS.rim, 'rim:Slot', { name }).ele(NS.rim, 'rim:ValueList');
  for (const v of values) list.ele(NS.rim, 'rim:Value').txt(v);
}

function localized(parent: XMLBuilder, element: 'Name' | 'Description', value: string): void {
  parent.ele(NS.rim, `rim:${element}`).ele(NS.rim, 'rim:LocalizedString', { charset: 'UTF-8', 'xml:lang': LANG, value });
}

function codeClassification(parent: XMLBuilder, ids: LocalIds, scheme: string, objectId: string, coded: Coded): void {
  const c = parent.ele(NS.rim, 'rim:Classification', {
    id: ids.next('cl'),
    classificationScheme: scheme,
    classifiedObject: objectId,
    nodeRepresentation: coded.code,
  });
  slot(c, SLOT.codingScheme, [coded.codeSystem]);
  localized(c, 'Name', coded.display);
}

function authorClassification(parent: XMLBuilder, ids: LocalIds, scheme: string, objectId: string, author: XdsAuthor): void {
  // IHE ITI TF-3 4.2.3.1.7: an author Classification has an empty nodeRepresentation.
  const c = parent.ele(NS.rim, 'rim:Classification', { id: ids.next('cl'), classificationScheme: scheme, classifiedObject: objectId, nodeRepresentation: '' });
  slot(c, SLOT.authorPerson, author.person ? [author.person] : []);
  slot(c, SLOT.authorInstitution, author.institution);
  slot(c, SLOT.authorRole, author.role);
  slot(c, SLOT.authorSpecialty, author.specialty);
}

function externalIdentifier(parent: XMLBuilder, ids: LocalIds, scheme: string, objectId: string, value: string): void {
  const e = parent.ele(NS.rim, 'rim:ExternalIdentifier', { id: ids.next('ei'), identificationScheme: scheme, registryObject: objectId, value });
  localized(e, 'Name', IDENTIFIER_NAMES[scheme] ?? scheme);
}

function submissionSet(list: XMLBuilder, ids: LocalIds, sub: XdsSubmission): void {
  const ss = sub.submissionSet;
  const pkg = list.ele(NS.rim, 'rim:RegistryPackage', { id: ss.entryUuid });
  slot(pkg, SLOT.submissionTime, [ss.submissionTime]);
  if (ss.title) localized(pkg, 'Name', ss.title);
  for (const author of ss.authors) authorClassification(pkg, ids, SUBMISSION_SET_SCHEME.author, ss.entryUuid, author);
  codeClassification(pkg, ids, SUBMISSION_SET_SCHEME.contentTypeCode, ss.entryUuid, ss.contentTypeCode);
  // Nested in the package, as in the ANS sample (IHE allows it there or as a sibling).
  pkg.ele(NS.rim, 'rim:Classification', { id: ids.next('cl'), classificationNode: SUBMISSION_SET_NODE, classifiedObject: ss.entryUuid });
  externalIdentifier(pkg, ids, SUBMISSION_SET_IDENTIFIER.patientId, ss.entryUuid, ss.patientId);
  externalIdentifier(pkg, ids, SUBMISSION_SET_IDENTIFIER.sourceId, ss.entryUuid, ss.sourceId);
  externalIdentifier(pkg, ids, SUBMISSION_SET_IDENTIFIER.uniqueId, ss.entryUuid, ss.uniqueId);
}

function documentEntry(list: XMLBuilder, ids: LocalIds, e: RegistryDocumentEntry): void {
  const id = e.entryUuid;
  const eo = list.ele(NS.rim, 'rim:ExtrinsicObject', { id, mimeType: e.mimeType, objectType: DOCUMENT_ENTRY_OBJECT_TYPE });
  slot(eo, SLOT.hash, [e.hash]);
  slot(eo, SLOT.size, [String(e.size)]);
  slot(eo, SLOT.uri, e.uri ? [e.uri] : []);
  slot(eo, SLOT.creationTime, [e.creationTime]);
  slot(eo, SLOT.languageCode, [e.languageCode]);
  slot(eo, SLOT.legalAuthenticator, [e.legalAuthenticator]);
  slot(eo, SLOT.serviceStartTime, e.serviceStartTime ? [e.serviceStartTime] : []);
  slot(eo, SLOT.serviceStopTime, e.serviceStopTime ? [e.serviceStopTime] : []);
  slot(eo, SLOT.sourcePatientId, [e.sourcePatientId]);
  slot(eo, SLOT.sourcePatientInfo, e.sourcePatientInfo);
  localized(eo, 'Name', e.title);
  for (const author of e.authors) authorClassification(eo, ids, DOCUMENT_ENTRY_SCHEME.author, id, author);
  codeClassification(eo, ids, DOCUMENT_ENTRY_SCHEME.classCode, id, e.classCode);
  codeClassification(eo, ids, DOCUMENT_ENTRY_SCHEME.typeCode, id, e.typeCode);
  for (const c of e.confidentialityCodes) codeClassification(eo, ids, DOCUMENT_ENTRY_SCHEME.confidentialityCode, id, c);
  codeClassification(eo, ids, DOCUMENT_ENTRY_SCHEME.formatCode, id, e.formatCode);
  codeClassification(eo, ids, DOCUMENT_ENTRY_SCHEME.healthcareFacilityTypeCode, id, e.healthcareFacilityTypeCode);
  codeClassification(eo, ids, DOCUMENT_ENTRY_SCHEME.practiceSettingCode, id, e.practiceSettingCode);
  for (const c of e.eventCodes ?? []) codeClassification(eo, ids, DOCUMENT_ENTRY_SCHEME.eventCodeList, id, c);
  externalIdentifier(eo, ids, DOCUMENT_ENTRY_IDENTIFIER.patientId, id, e.patientId);
  externalIdentifier(eo, ids, DOCUMENT_ENTRY_IDENTIFIER.uniqueId, id, e.uniqueId);
}

function association(list: XMLBuilder, ids: LocalIds, type: string, source: string, target: string, original: boolean): void {
  const a = list.ele(NS.rim, 'rim:Association', { id: ids.next('as'), associationType: type, sourceObject: source, targetObject: target });
  if (original) slot(a, SLOT.submissionSetStatus, ['Original']);
}

/** Builds the `lcm:SubmitObjectsRequest` element (no XML declaration), ready to sit in a SOAP body. */
export function submitObjectsRequest(sub: XdsSubmission, signature?: SignatureEntryRef): string {
  const ids = new LocalIds();
  const root = create().ele(NS.lcm, 'lcm:SubmitObjectsRequest', { 'xmlns:lcm': NS.lcm, 'xmlns:rim': NS.rim });
  const list = root.ele(NS.rim, 'rim:RegistryObjectList');
  submissionSet(list, ids, sub);
  const entries: RegistryDocumentEntry[] = [...sub.documents.map((d) => d.entry), ...(signature ? [signature.entry] : [])];
  for (const e of entries) documentEntry(list, ids, e);
  const ssId = sub.submissionSet.entryUuid;
  for (const e of entries) association(list, ids, ASSOCIATION_TYPE.hasMember, ssId, e.entryUuid, true);
  // The ANS sample also puts SubmissionSetStatus=Original on the signs association; kept for the DMP's sake.
  if (signature) association(list, ids, ASSOCIATION_TYPE.signs, signature.entry.entryUuid, ssId, true);
  for (const r of sub.replacements) association(list, ids, ASSOCIATION_TYPE.replace, r.documentEntryUuid, r.replacedEntryUuid, false);
  return root.end({ headless: true });
}
