// The DMP reads the CDA it receives: the document must parse as a CDA R2 and its header must say what the XDS
// metadata says (patient INS, id, type, creation time, confidentiality, language, facility, practice setting, and
// the N1 body's media type for the formatCode). A mismatch means the sender built the two from different facts.
import { DOCUMENT_ENTRY_SCHEME, NS, SLOT } from '../../connectors/dmp/xds-constants.js';
import { child, children, descendants, parseXml } from '../../connectors/dmp/xml-dom.js';
import { HL7_CONFIDENTIALITY, INS_OIDS, type AcceptedEntry } from './checks.js';
import type { RegistryError } from './registry-error.js';
import { classificationsOf, slotValue } from './submission.js';

/** ASS_A12: the formatCode of a CDA N1 by the media type of its nonXMLBody (fr-interop §2.6). */
const N1_FORMAT_BY_MEDIA_TYPE: Readonly<Record<string, string>> = {
  'application/pdf': 'urn:ihe:iti:xds-sd:pdf:2008',
  'text/plain': 'urn:ihe:iti:xds-sd:text:2008',
  'text/rtf': 'urn:ihe:iti-fr:xds-sd:rtf:2010',
  'image/jpeg': 'urn:ihe:iti-fr:xds-sd:jpeg:2010',
  'image/tiff': 'urn:ihe:iti-fr:xds-sd:tiff:2010',
};

/**
 * HL7 v3 TS (`YYYYMMDDhhmmss[.f][±hhmm]`) as the XDS DTM of the same instant in UTC. Without an offset the
 * instant is unknown: the digits are returned as written.
 */
export function tsToUtcDtm(ts: string): string | undefined {
  const m = /^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d+)?([+-]\d{4})?$/.exec(ts);
  if (!m) return undefined;
  const [, y, mo = '01', d = '01', h, mi, s, offset] = m;
  if (!offset || h === undefined) return ts.replace(/\.\d+/, '').replace(/[+-]\d{4}$/, '');
  const sign = offset.startsWith('-') ? -1 : 1;
  const offsetMinutes = sign * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(3, 5)));
  const utc = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi ?? '0'), Number(s ?? '0')) - offsetMinutes * 60_000;
  const iso = new Date(utc).toISOString().replace(/[-:T]/g, '');
  const digits = 8 + (h === undefined ? 0 : 2) + (mi === undefined ? 0 : 2) + (s === undefined ? 0 : 2);
  return iso.slice(0, digits);
}

function firstCode(o: AcceptedEntry['entry'], scheme: string): { code: string; codingScheme: string } | undefined {
  const cl = classificationsOf(o, scheme)[0];
  return cl ? { code: cl.nodeRepresentation ?? '', codingScheme: cl.slots.get(SLOT.codingScheme)?.[0] ?? '' } : undefined;
}

/** Compares a CDA document with its DocumentEntry; returns the disagreements. */
export function checkCdaAgainstEntry(accepted: AcceptedEntry): RegistryError[] {
  const e = accepted.entry;
  const errors: RegistryError[] = [];
  const add = (errorCode: RegistryError['errorCode'], text: string): void => {
    errors.push({ errorCode, codeContext: `DocumentEntry ${e.id}: ${text}`, location: e.id });
  };
  let doc: Document;
  try {
    doc = parseXml(accepted.content.toString('utf8'));
  } catch (err) {
    add('XDSRegistryMetadataError', `the document is not well-formed XML (${(err as Error).message})`);
    return errors;
  }
  const cda = doc.documentElement;
  if (cda.namespaceURI !== NS.hl7v3 || cda.localName !== 'ClinicalDocument') {
    add('XDSRegistryMetadataError', `the document is not a CDA R2 (root {${cda.namespaceURI ?? ''}}${cda.localName}, expected {${NS.hl7v3}}ClinicalDocument)`);
    return errors;
  }
  const at = (el: Element | undefined, name: string): string => el?.getAttribute(name) ?? '';

  // Patient: the recordTarget INS must be the DocumentEntry patientId.
  const recordTargets = children(cda, NS.hl7v3, 'recordTarget');
  const patientRole = recordTargets.length === 1 ? child(recordTargets[0], NS.hl7v3, 'patientRole') : undefined;
  if (!patientRole) add('XDSRegistryMetadataError', `CDA recordTarget/patientRole: expected exactly one, found ${recordTargets.length} recordTarget`);
  else {
    const insIds = children(patientRole, NS.hl7v3, 'id').filter((id) => INS_OIDS.has(at(id, 'root')));
    const cdaIns = insIds.map((id) => `${at(id, 'extension')}^^^&${at(id, 'root')}&ISO^NH`);
    if (cdaIns.length === 0) add('XDSPatientIdDoesNotMatch', 'CDA recordTarget/patientRole has no id under an INS OID');
    else if (!cdaIns.includes(accepted.patientId)) {
      add('XDSPatientIdDoesNotMatch', `CDA recordTarget INS ${cdaIns.join(', ')} is not the patientId ${accepted.patientId}`);
    }
  }

  // Document id = XDS uniqueId (root, or root^extension).
  const id = child(cda, NS.hl7v3, 'id');
  const cdaUniqueId = at(id, 'extension') ? `${at(id, 'root')}^${at(id, 'extension')}` : at(id, 'root');
  const uniqueId = accepted.uniqueId;
  if (cdaUniqueId !== uniqueId) add('XDSRegistryMetadataError', `CDA id "${cdaUniqueId}" is not the uniqueId "${uniqueId}"`);

  const code = child(cda, NS.hl7v3, 'code');
  const typeCode = firstCode(e, DOCUMENT_ENTRY_SCHEME.typeCode);
  if (typeCode && (at(code, 'code') !== typeCode.code || at(code, 'codeSystem') !== typeCode.codingScheme)) {
    add('XDSRegistryMetadataError', `CDA code ${at(code, 'code')} (${at(code, 'codeSystem')}) is not the typeCode ${typeCode.code} (${typeCode.codingScheme})`);
  }

  const effective = at(child(cda, NS.hl7v3, 'effectiveTime'), 'value');
  const creationTime = slotValue(e, SLOT.creationTime);
  const effectiveUtc = tsToUtcDtm(effective);
  if (!effectiveUtc) add('XDSRegistryMetadataError', `CDA effectiveTime "${effective}" is not an HL7 TS`);
  else if (creationTime !== undefined && effectiveUtc !== creationTime) {
    add('XDSRegistryMetadataError', `creationTime ${creationTime} is not the CDA effectiveTime ${effective} in UTC (${effectiveUtc})`);
  }

  const confidentiality = at(child(cda, NS.hl7v3, 'confidentialityCode'), 'code');
  const hl7Confidentiality = classificationsOf(e, DOCUMENT_ENTRY_SCHEME.confidentialityCode).find((cl) => cl.slots.get(SLOT.codingScheme)?.[0] === HL7_CONFIDENTIALITY);
  if (hl7Confidentiality && hl7Confidentiality.nodeRepresentation !== confidentiality) {
    add('XDSRegistryMetadataError', `confidentialityCode ${hl7Confidentiality.nodeRepresentation ?? ''} is not the CDA confidentialityCode "${confidentiality}"`);
  }

  const language = at(child(cda, NS.hl7v3, 'languageCode'), 'code');
  if (language !== 'fr-FR') add('XDSRegistryMetadataError', `CDA languageCode "${language}" is not fr-FR`);

  // healthcareFacilityTypeCode ← componentOf/encompassingEncounter/location/healthCareFacility/code.
  const facility = descendants(cda, NS.hl7v3, 'healthCareFacility').map((f) => child(f, NS.hl7v3, 'code'))[0];
  const facilityCode = firstCode(e, DOCUMENT_ENTRY_SCHEME.healthcareFacilityTypeCode);
  if (!facility) add('XDSRegistryMetadataError', 'CDA componentOf/encompassingEncounter/location/healthCareFacility/code is missing');
  else if (facilityCode && at(facility, 'code') !== facilityCode.code) {
    add('XDSRegistryMetadataError', `healthcareFacilityTypeCode ${facilityCode.code} is not the CDA healthCareFacility code ${at(facility, 'code')}`);
  }

  // practiceSettingCode ← a standardIndustryClassCode of the header (documentationOf performer or author organisation).
  const practice = descendants(cda, NS.hl7v3, 'standardIndustryClassCode').map((el) => at(el, 'code'));
  const practiceCode = firstCode(e, DOCUMENT_ENTRY_SCHEME.practiceSettingCode);
  if (practice.length === 0) add('XDSRegistryMetadataError', 'CDA representedOrganization/standardIndustryClassCode (practice setting) is missing');
  else if (practiceCode && !practice.includes(practiceCode.code)) {
    add('XDSRegistryMetadataError', `practiceSettingCode ${practiceCode.code} is not a CDA standardIndustryClassCode (${practice.join(', ')})`);
  }

  // An N1 document: the formatCode follows the nonXMLBody media type (ASS_A12).
  const component = child(cda, NS.hl7v3, 'component');
  const nonXml = component && child(component, NS.hl7v3, 'nonXMLBody');
  const formatCode = firstCode(e, DOCUMENT_ENTRY_SCHEME.formatCode);
  if (nonXml && formatCode) {
    const text = child(nonXml, NS.hl7v3, 'text');
    const mediaType = at(text, 'mediaType');
    const expected = N1_FORMAT_BY_MEDIA_TYPE[mediaType];
    if (!expected) add('XDSRegistryMetadataError', `CDA nonXMLBody mediaType "${mediaType}" has no DMP formatCode`);
    else if (expected !== formatCode.code) add('XDSRegistryMetadataError', `formatCode ${formatCode.code} does not match the CDA nonXMLBody mediaType ${mediaType} (expected ${expected})`);
    if (at(text, 'representation') !== 'B64') add('XDSRegistryMetadataError', 'CDA nonXMLBody/text must have representation="B64"');
  } else if (formatCode && Object.values(N1_FORMAT_BY_MEDIA_TYPE).includes(formatCode.code)) {
    add('XDSRegistryMetadataError', `formatCode ${formatCode.code} is a CDA N1 format but the CDA has no nonXMLBody`);
  }
  return errors;
}
