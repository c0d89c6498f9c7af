// CDA R2 "N1" (non-structured body): the CI-SIS header written from the document's header facts, wrapping the PDF
// in base64. Follows the ANS sample DOC_NON_STRUCTURE_CDA-R2-N1.xml and the Struct_minimale header rules.
import { create } from 'xmlbuilder2';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces.js';
import type { PatientIdentity } from '../domain/identity.js';
import { OID_PATTERN } from '../fhir/map-common.js';
import { invalid } from '../fhir/outcome.js';
import { IDNAT_STRUCT_OID, IDNPS_OID } from './header.js';
import { hl7Date } from './hl7v2-datatypes.js';
import type { Coded, DocumentHeader, DocumentPerson } from './model.js';

const HL7_NS = 'urn:hl7-org:v3';
const LOINC_OID = '2.16.840.1.113883.6.1';

/** HL7 France, CI-SIS, IHE XDS-SD: an N1 document declares these three and no other model. */
export const CDA_N1_TEMPLATE_IDS = ['2.16.840.1.113883.2.8.2.1', '1.2.250.1.213.1.1.1.1', '1.3.6.1.4.1.19376.1.2.20'] as const;

const GENDER: Record<PatientIdentity['sex'], Coded> = {
  F: { code: 'F', codeSystem: '2.16.840.1.113883.5.1', display: 'Féminin' },
  M: { code: 'M', codeSystem: '2.16.840.1.113883.5.1', display: 'Masculin' },
  I: { code: 'UN', codeSystem: '2.16.840.1.113883.5.1', display: 'Inconnu' },
};

/** The CDA R2 N1 document (UTF-8 XML with its declaration) for one version, its body being the PDF. */
export function buildCdaN1(header: DocumentHeader, pdf: Buffer): string {
  const doc = create({ version: '1.0', encoding: 'UTF-8' }).ele(HL7_NS, 'ClinicalDocument', {
    'xmlns:xsi': 'http://www.w3.org/2001/XMLSchema-instance',
  });
  doc.ele('realmCode', { code: 'FR' });
  doc.ele('typeId', { root: '2.16.840.1.113883.1.3', extension: 'POCD_HD000040' });
  for (const root of CDA_N1_TEMPLATE_IDS) doc.ele('templateId', { root });
  doc.ele('id', { root: header.ids.id });
  code(doc, 'code', header.typeCode, header.typeCode.codeSystem === LOINC_OID ? 'LOINC' : undefined);
  doc.ele('title').txt(header.title);
  doc.ele('effectiveTime', { value: hl7Time(header.effectiveTime) });
  code(doc, 'confidentialityCode', header.confidentiality, 'Confidentiality');
  doc.ele('languageCode', { code: 'fr-FR' });
  doc.ele('setId', { root: header.ids.setId });
  doc.ele('versionNumber', { value: String(header.ids.version) });

  recordTarget(doc.ele('recordTarget'), header.patient);

  const author = doc.ele('author');
  author.ele('time', { value: hl7Time(header.authorTime) });
  const assignedAuthor = author.ele('assignedAuthor');
  assignedAuthor.ele('id', { root: IDNPS_OID, extension: header.author.idnps });
  // assignedAuthor/code is the XDS authorSpecialty (JDV_J01): the specialty when known, else the profession.
  code(assignedAuthor, 'code', header.author.specialty ?? header.author.profession);
  personName(assignedAuthor.ele('assignedPerson'), header.author);
  organization(assignedAuthor.ele('representedOrganization'), header);

  const custodian = doc.ele('custodian').ele('assignedCustodian').ele('representedCustodianOrganization');
  custodian.ele('id', { root: IDNAT_STRUCT_OID, extension: header.organization.idNatStruct });
  custodian.ele('name').txt(header.organization.name);

  const legal = doc.ele('legalAuthenticator');
  legal.ele('time', { value: hl7Time(header.legalAuthenticationTime) });
  legal.ele('signatureCode', { code: 'S' });
  const legalEntity = legal.ele('assignedEntity');
  legalEntity.ele('id', { root: IDNPS_OID, extension: header.legalAuthenticator.idnps });
  personName(legalEntity.ele('assignedPerson'), header.legalAuthenticator);

  const serviceEvent = doc.ele('documentationOf').ele('serviceEvent');
  if (header.serviceEvent.code) code(serviceEvent, 'code', header.serviceEvent.code);
  interval(serviceEvent.ele('effectiveTime'), header.serviceEvent.start, header.serviceEvent.stop);
  const performer = serviceEvent.ele('performer', { typeCode: 'PRF' }).ele('assignedEntity');
  performer.ele('id', { root: IDNPS_OID, extension: header.author.idnps });
  personName(performer.ele('assignedPerson'), header.author);
  const performerOrg = performer.ele('representedOrganization');
  organization(performerOrg, header);
  // The XDS practiceSettingCode is read from here (CadreExercice).
  code(performerOrg, 'standardIndustryClassCode', header.practiceSettingCode);

  if (header.ids.replaces) {
    doc.ele('relatedDocument', { typeCode: 'RPLC' }).ele('parentDocument').ele('id', { root: header.ids.replaces });
  }

  const encounter = doc.ele('componentOf').ele('encompassingEncounter');
  interval(encounter.ele('effectiveTime'), header.serviceEvent.start, header.serviceEvent.stop);
  const facility = encounter.ele('location').ele('healthCareFacility');
  facility.ele('id', { root: IDNAT_STRUCT_OID, extension: header.organization.idNatStruct });
  // The XDS healthcareFacilityTypeCode is read from here (SecteurActivite).
  code(facility, 'code', header.healthcareFacilityTypeCode);

  doc
    .ele('component')
    .ele('nonXMLBody')
    .ele('text', { mediaType: 'application/pdf', representation: 'B64' })
    .txt(pdf.toString('base64'));

  return doc.end({ prettyPrint: true });
}

/**
 * patientRole: the INS first when the header carries it (it does only for a qualified identity), then the sender's
 * own id; the name with its birth parts (the list of birth given names unqualified, family and first given name BR)
 * and used (CL) parts; sex, birth date (partial allowed) and birthplace (INSEE).
 */
function recordTarget(target: XMLBuilder, p: PatientIdentity): void {
  const role = target.ele('patientRole');
  if (p.ins) role.ele('id', { root: p.ins.oid, extension: p.ins.matricule });
  role.ele('id', { root: oidOf(p.sourceId.system), extension: p.sourceId.value });
  const patient = role.ele('patient', { classCode: 'PSN' });
  const name = patient.ele('name');
  name.ele('family', { qualifier: 'BR' }).txt(p.birthName);
  // The list of birth given names goes unqualified, space-separated, even when it holds one name: the CI-SIS header
  // (template 1.2.250.1.213.1.1.1.1) requires it among the INS traits. A qualified identity sent without the list has
  // the first birth given name alone (as the FHIR mapping assumes); for any other identity it is written only when known.
  const birthGivenNames = p.birthGivenNames ?? (p.ins ? [p.firstBirthGivenName] : undefined);
  if (birthGivenNames) name.ele('given').txt(birthGivenNames.join(' '));
  name.ele('given', { qualifier: 'BR' }).txt(p.firstBirthGivenName);
  if (p.usedName) name.ele('family', { qualifier: 'CL' }).txt(p.usedName);
  if (p.usedGivenName) name.ele('given', { qualifier: 'CL' }).txt(p.usedGivenName);
  code(patient, 'administrativeGenderCode', GENDER[p.sex]);
  patient.ele('birthTime', { value: hl7Date(p.birthDate) });
  if (p.birthPlaceInsee) patient.ele('birthplace').ele('place').ele('addr').ele('county').txt(p.birthPlaceInsee);
}

function personName(parent: XMLBuilder, p: DocumentPerson): void {
  const name = parent.ele('name');
  if (p.given) name.ele('given').txt(p.given);
  name.ele('family').txt(p.family);
}

function organization(parent: XMLBuilder, header: DocumentHeader): void {
  parent.ele('id', { root: IDNAT_STRUCT_OID, extension: header.organization.idNatStruct });
  parent.ele('name').txt(header.organization.name);
}

function code(parent: XMLBuilder, element: string, c: Coded, codeSystemName?: string): void {
  parent.ele(element, {
    code: c.code,
    displayName: c.display,
    codeSystem: c.codeSystem,
    ...(codeSystemName ? { codeSystemName } : {}),
  });
}

function interval(parent: XMLBuilder, start: string, stop: string | undefined): void {
  parent.ele('low', { value: hl7Time(start) });
  if (stop) parent.ele('high', { value: hl7Time(stop) });
}

/** `urn:oid:1.2.3` or `1.2.3` → `1.2.3`; the header builder has already refused any other id domain. */
function oidOf(system: string): string {
  const oid = system.replace(/^urn:oid:/, '');
  if (!OID_PATTERN.test(oid)) throw invalid(`patient.sourceId.system: "${system}" is not an OID`, 'patient.sourceId.system');
  return oid;
}

/**
 * ISO 8601 with offset → HL7 TS `YYYYMMDDhhmmss±hhmm`, keeping the sender's offset (the CI-SIS examples carry local
 * time with its offset, not UTC). Fractions of a second are dropped.
 */
export function hl7Time(iso: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.exec(iso);
  if (!m) throw invalid(`not an ISO 8601 date-time with offset: "${iso}"`);
  const [, y, mo, d, h, mi, s = '00', zone] = m;
  const offset = zone === 'Z' ? '+0000' : zone.replace(':', '');
  return `${y}${mo}${d}${h}${mi}${s}${offset}`;
}
