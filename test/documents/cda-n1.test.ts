import { readFileSync } from 'node:fs';
import { DOMParser } from '@xmldom/xmldom';
import { beforeAll, describe, expect, it } from 'vitest';
import xpath from 'xpath';
import { buildCdaN1, CDA_N1_TEMPLATE_IDS, hl7Time } from '../../src/documents/cda-n1.js';
import { documentHeader } from '../../src/documents/header.js';
import type { DocumentHeader, DocumentRequest } from '../../src/documents/model.js';
import { renderPdf } from '../../src/documents/pdf.js';
import { loadDocumentSettings } from '../../src/documents/settings.js';
import type { DocumentKind } from '../../src/domain/parse.js';
import { ANS_N1_SAMPLE, haveAnsSample, haveCdaSchema, validateCda } from './cda-schemas.js';
import { ALL_FIXTURES, fixtureRequest, IDS } from './requests.js';

const HL7 = 'urn:hl7-org:v3';
const INS_OIDS = ['1.2.250.1.213.1.4.8', '1.2.250.1.213.1.4.9', '1.2.250.1.213.1.4.10', '1.2.250.1.213.1.4.11'];
const settings = loadDocumentSettings();
const select = xpath.useNamespaces({ h: HL7 });

interface Built {
  header: DocumentHeader;
  pdf: Buffer;
  xml: string;
  doc: Document;
}

async function build(req: DocumentRequest): Promise<Built> {
  const header = documentHeader(req, settings);
  const pdf = await renderPdf(req, header);
  const xml = buildCdaN1(header, pdf);
  return { header, pdf, xml, doc: parse(xml) };
}

async function buildFixture(kind: DocumentKind, name: string, overrides: Partial<DocumentRequest> = {}): Promise<Built> {
  return build(fixtureRequest(kind, name, overrides));
}

function parse(xml: string): Document {
  const errors: string[] = [];
  const doc = new DOMParser({ onError: (level, message) => void (level !== 'warning' && errors.push(message)) }).parseFromString(xml, 'text/xml');
  if (errors.length > 0) throw new Error(`malformed XML: ${errors.join('; ')}`);
  return doc as unknown as Document;
}

function elements(node: Node, path: string): Element[] {
  const found = select(path, node);
  if (!Array.isArray(found)) throw new Error(`${path} does not select nodes`);
  return found.filter((n): n is Element => xpath.isElement(n));
}

function element(node: Node, path: string): Element {
  const [first] = elements(node, path);
  if (!first) throw new Error(`no element at ${path}`);
  return first;
}

function attrs(node: Node, path: string, ...names: string[]): Record<string, string | null> {
  const e = element(node, path);
  return Object.fromEntries(names.map((n) => [n, e.getAttribute(n)]));
}

function text(node: Node, path: string): string {
  return element(node, path).textContent ?? '';
}

/** Local names of the element children, consecutive repeats collapsed (id, id → id). */
function childNames(parent: Element): string[] {
  const names: string[] = [];
  for (let n = parent.firstChild; n; n = n.nextSibling) {
    if (xpath.isElement(n) && names[names.length - 1] !== n.localName) names.push(n.localName);
  }
  return names;
}

/** Name parts with their qualifier: `family@BR`, `given`, … */
function nameParts(name: Element): string[] {
  const parts: string[] = [];
  for (let n = name.firstChild; n; n = n.nextSibling) {
    if (xpath.isElement(n)) parts.push(n.getAttribute('qualifier') ? `${n.localName}@${n.getAttribute('qualifier')}` : n.localName);
  }
  return parts;
}

function isSubsequence(part: readonly string[], whole: readonly string[]): boolean {
  let i = 0;
  for (const w of whole) if (w === part[i]) i++;
  return i === part.length;
}

describe('buildCdaN1: header of a PPP', () => {
  let b: Built;
  beforeAll(async () => {
    b = await buildFixture('ppp', 'hospital-sync-rcp');
  });

  it('is UTF-8 XML with its declaration, in the HL7 v3 namespace', () => {
    expect(b.xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>')).toBe(true);
    expect(b.doc.documentElement.namespaceURI).toBe(HL7);
    expect(b.doc.documentElement.localName).toBe('ClinicalDocument');
  });

  it('declares the realm, the CDA type and exactly the three N1 templates', () => {
    expect(attrs(b.doc, '/h:ClinicalDocument/h:realmCode', 'code')).toEqual({ code: 'FR' });
    expect(attrs(b.doc, '/h:ClinicalDocument/h:typeId', 'root', 'extension')).toEqual({ root: '2.16.840.1.113883.1.3', extension: 'POCD_HD000040' });
    const templates = elements(b.doc, '/h:ClinicalDocument/h:templateId').map((t) => t.getAttribute('root'));
    expect(templates).toEqual([...CDA_N1_TEMPLATE_IDS]);
  });

  it('identifies, types, titles and dates the document from the header facts', () => {
    const root = '/h:ClinicalDocument';
    expect(attrs(b.doc, `${root}/h:id`, 'root', 'extension')).toEqual({ root: IDS.id, extension: null });
    expect(attrs(b.doc, `${root}/h:code`, 'code', 'codeSystem', 'displayName', 'codeSystemName')).toEqual({
      code: '18776-5',
      codeSystem: '2.16.840.1.113883.6.1',
      displayName: 'Plan personnalisé de soins',
      codeSystemName: 'LOINC',
    });
    expect(text(b.doc, `${root}/h:title`)).toBe(b.header.title);
    expect(attrs(b.doc, `${root}/h:effectiveTime`, 'value')).toEqual({ value: '20250515083000+0200' });
    expect(attrs(b.doc, `${root}/h:confidentialityCode`, 'code', 'codeSystem')).toEqual({ code: 'N', codeSystem: '2.16.840.1.113883.5.25' });
    expect(attrs(b.doc, `${root}/h:languageCode`, 'code')).toEqual({ code: 'fr-FR' });
    expect(attrs(b.doc, `${root}/h:setId`, 'root')).toEqual({ root: IDS.setId });
    expect(attrs(b.doc, `${root}/h:versionNumber`, 'value')).toEqual({ value: '1' });
  });

  it('puts the INS of the qualified patient first, then the IPP, and the INS traits', () => {
    const role = element(b.doc, '/h:ClinicalDocument/h:recordTarget/h:patientRole');
    expect(elements(role, 'h:id').map((id) => [id.getAttribute('root'), id.getAttribute('extension')])).toEqual([
      ['1.2.250.1.213.1.4.10', '138112A00405796'],
      ['1.2.250.1.999.1.800000317.1', '80057321'],
    ]);
    const patient = element(role, 'h:patient');
    expect(patient.getAttribute('classCode')).toBe('PSN');
    expect(text(patient, 'h:name/h:family[@qualifier="BR"]')).toBe('FALCONE');
    expect(text(patient, 'h:name/h:given[not(@qualifier)]')).toBe('Mateo Ange Fortunato');
    expect(text(patient, 'h:name/h:given[@qualifier="BR"]')).toBe('Mateo');
    expect(attrs(patient, 'h:administrativeGenderCode', 'code', 'codeSystem')).toEqual({ code: 'M', codeSystem: '2.16.840.1.113883.5.1' });
    expect(attrs(patient, 'h:birthTime', 'value')).toEqual({ value: '19381102' });
    expect(text(patient, 'h:birthplace/h:place/h:addr/h:county')).toBe('2A004');
  });

  it('names the author by IDNPS with their specialty and organisation (IdNat_Struct)', () => {
    const author = element(b.doc, '/h:ClinicalDocument/h:author');
    expect(attrs(author, 'h:time', 'value')).toEqual({ value: '20250515083000+0200' });
    expect(attrs(author, 'h:assignedAuthor/h:id', 'root', 'extension')).toEqual({ root: '1.2.250.1.71.4.2.1', extension: '810100890259' });
    expect(attrs(author, 'h:assignedAuthor/h:code', 'code', 'codeSystem')).toEqual({ code: 'G15_21/H', codeSystem: '1.2.250.1.213.1.1.4.5' });
    expect(text(author, 'h:assignedAuthor/h:assignedPerson/h:name/h:family')).toBe('CANIVET');
    expect(text(author, 'h:assignedAuthor/h:assignedPerson/h:name/h:given')).toBe('Sophie');
    expect(attrs(author, 'h:assignedAuthor/h:representedOrganization/h:id', 'root', 'extension')).toEqual({
      root: '1.2.250.1.71.4.2.2',
      extension: '1800000317',
    });
    expect(text(author, 'h:assignedAuthor/h:representedOrganization/h:name')).toBe('CHU Picardie (démo), site Sud');
  });

  it('keeps it at the establishment and has it signed by the author', () => {
    const custodian = element(b.doc, '/h:ClinicalDocument/h:custodian/h:assignedCustodian/h:representedCustodianOrganization');
    expect(attrs(custodian, 'h:id', 'root', 'extension')).toEqual({ root: '1.2.250.1.71.4.2.2', extension: '1800000317' });
    const legal = element(b.doc, '/h:ClinicalDocument/h:legalAuthenticator');
    expect(attrs(legal, 'h:time', 'value')).toEqual({ value: '20250515083000+0200' });
    expect(attrs(legal, 'h:signatureCode', 'code')).toEqual({ code: 'S' });
    expect(attrs(legal, 'h:assignedEntity/h:id', 'root', 'extension')).toEqual({ root: '1.2.250.1.71.4.2.1', extension: '810100890259' });
  });

  it('documents the review period and the practice setting, and the facility type of the encounter', () => {
    const event = element(b.doc, '/h:ClinicalDocument/h:documentationOf/h:serviceEvent');
    expect(attrs(event, 'h:effectiveTime/h:low', 'value')).toEqual({ value: '20250512164500+0200' });
    expect(attrs(event, 'h:effectiveTime/h:high', 'value')).toEqual({ value: '20250514123000+0200' });
    expect(attrs(event, 'h:performer', 'typeCode')).toEqual({ typeCode: 'PRF' });
    expect(attrs(event, 'h:performer/h:assignedEntity/h:representedOrganization/h:standardIndustryClassCode', 'code', 'codeSystem')).toEqual({
      code: 'ETABLISSEMENT',
      codeSystem: '1.2.250.1.213.1.1.4.9',
    });
    const facility = element(b.doc, '/h:ClinicalDocument/h:componentOf/h:encompassingEncounter/h:location/h:healthCareFacility');
    expect(attrs(facility, 'h:code', 'code', 'codeSystem')).toEqual({ code: 'SA01', codeSystem: '1.2.250.1.71.4.2.4' });
  });

  it('wraps exactly the PDF bytes in base64', () => {
    const body = element(b.doc, '/h:ClinicalDocument/h:component/h:nonXMLBody/h:text');
    expect(body.getAttribute('mediaType')).toBe('application/pdf');
    expect(body.getAttribute('representation')).toBe('B64');
    expect(Buffer.from(body.textContent ?? '', 'base64').equals(b.pdf)).toBe(true);
  });

  it('has no relatedDocument for a first version', () => {
    expect(elements(b.doc, '/h:ClinicalDocument/h:relatedDocument')).toHaveLength(0);
  });
});

describe('buildCdaN1: recordTarget rules', () => {
  it('never emits the INS of an identity that is not qualified', async () => {
    const b = await buildFixture('ppp', 'town-async-rcp');
    const roots = elements(b.doc, '/h:ClinicalDocument/h:recordTarget/h:patientRole/h:id').map((id) => id.getAttribute('root'));
    expect(roots).toEqual(['1.2.250.1.999.1.140000787.1']);
    expect(roots.filter((r) => r !== null && INS_OIDS.includes(r))).toEqual([]);
    expect(b.xml).not.toContain('247051411803232');
  });

  it('writes a partial birth date with its own precision and no birthplace when unknown', async () => {
    const b = await buildFixture('ppp', 'hdj-partial-birthdate');
    const patient = element(b.doc, '//h:recordTarget/h:patientRole/h:patient');
    expect(attrs(patient, 'h:birthTime', 'value')).toEqual({ value: '193805' });
    expect(elements(patient, 'h:birthplace')).toHaveLength(0);
    expect(nameParts(element(patient, 'h:name'))).toEqual(['family@BR', 'given@BR']);
  });

  it('writes birth and used names, the list of birth given names, and a birthplace abroad', async () => {
    const b = await buildFixture('ppp', 'consultation-born-abroad');
    const name = element(b.doc, '//h:recordTarget/h:patientRole/h:patient/h:name');
    expect(nameParts(name)).toEqual(['family@BR', 'given', 'given@BR', 'family@CL']);
    expect(text(name, 'h:family[@qualifier="CL"]')).toBe('MONDEGO');
    expect(text(name, 'h:given[not(@qualifier)]')).toBe('Mercedes Dolores');
    expect(text(b.doc, '//h:recordTarget/h:patientRole/h:patient/h:birthplace/h:place/h:addr/h:county')).toBe('99134');
  });

  it('writes a used given name as given@CL, and an undetermined sex as UN', async () => {
    const req = fixtureRequest('bpm', 'year-only-birthdate');
    const b = await build({ ...req, patient: { ...req.patient, sex: 'I', usedGivenName: 'Gervaise-Marie' } });
    const patient = element(b.doc, '//h:recordTarget/h:patientRole/h:patient');
    expect(nameParts(element(patient, 'h:name'))).toEqual(['family@BR', 'given@BR', 'family@CL', 'given@CL']);
    expect(text(patient, 'h:name/h:given[@qualifier="CL"]')).toBe('Gervaise-Marie');
    expect(attrs(patient, 'h:administrativeGenderCode', 'code')).toEqual({ code: 'UN' });
    expect(attrs(patient, 'h:birthTime', 'value')).toEqual({ value: '1941' });
    // The pharmacy software's URI domain is written with the OID the settings give it.
    expect(attrs(b.doc, '//h:recordTarget/h:patientRole/h:id', 'root', 'extension')).toEqual({ root: '1.2.250.1.999.2.1760001016', extension: 'P-88213' });
  });
});

describe('buildCdaN1: other kinds and versions', () => {
  it('has a CTM signed by the pharmacist who validated the BMO', async () => {
    const b = await buildFixture('ctm', 'admission-divergences');
    expect(attrs(b.doc, '/h:ClinicalDocument/h:code', 'code')).toEqual({ code: '80820-4' });
    expect(attrs(b.doc, '//h:legalAuthenticator/h:assignedEntity/h:id', 'extension')).toEqual({ extension: '810100378222' });
    expect(attrs(b.doc, '//h:author/h:assignedAuthor/h:id', 'extension')).toEqual({ extension: '810101749504' });
  });

  it('places a BPM at the officine, ambulatory', async () => {
    const b = await buildFixture('bpm', 'self-medication-remote');
    expect(attrs(b.doc, '/h:ClinicalDocument/h:code', 'code')).toEqual({ code: '56445-0' });
    expect(attrs(b.doc, '//h:healthCareFacility/h:code', 'code')).toEqual({ code: 'SA33' });
    expect(attrs(b.doc, '//h:standardIndustryClassCode', 'code')).toEqual({ code: 'AMBULATOIRE' });
    expect(attrs(b.doc, '//h:custodian//h:id', 'extension')).toEqual({ extension: '1590002234' });
  });

  it('names the version it replaces (RPLC) between documentationOf and componentOf', async () => {
    const b = await buildFixture('ppp', 'hospital-sync-rcp', { ids: { ...IDS, id: '1.2.250.1.999.1.1.3', version: 2, replaces: IDS.id } });
    const related = elements(b.doc, '/h:ClinicalDocument/h:relatedDocument');
    expect(related).toHaveLength(1);
    expect(related[0].getAttribute('typeCode')).toBe('RPLC');
    expect(attrs(related[0], 'h:parentDocument/h:id', 'root')).toEqual({ root: IDS.id });
    expect(attrs(b.doc, '/h:ClinicalDocument/h:versionNumber', 'value')).toEqual({ value: '2' });
    expect(attrs(b.doc, '/h:ClinicalDocument/h:setId', 'root')).toEqual({ root: IDS.setId });
    const top = childNames(b.doc.documentElement);
    expect(top.slice(top.indexOf('documentationOf'), top.indexOf('componentOf') + 1)).toEqual(['documentationOf', 'relatedDocument', 'componentOf']);
  });

  it('escapes markup in the header values', async () => {
    const b = await buildFixture('ppp', 'hospital-sync-rcp');
    const xml = buildCdaN1({ ...b.header, title: 'PPP <test> & "suivi"' }, b.pdf);
    expect(text(parse(xml), '/h:ClinicalDocument/h:title')).toBe('PPP <test> & "suivi"');
  });
});

describe.skipIf(!haveAnsSample)('buildCdaN1: same header structure as the ANS N1 sample', () => {
  let sample: Document;
  let ours: Built;
  let replacing: Built;
  beforeAll(async () => {
    sample = parse(readFileSync(ANS_N1_SAMPLE, 'utf8'));
    ours = await buildFixture('ctm', 'admission-divergences');
    replacing = await buildFixture('ppp', 'consultation-born-abroad', { ids: { ...IDS, version: 2, replaces: '1.2.250.1.999.1.1.0' } });
  });

  it('declares the same templateIds', () => {
    const roots = (d: Document) => elements(d, '/h:ClinicalDocument/h:templateId').map((t) => t.getAttribute('root'));
    expect(roots(ours.doc)).toEqual(roots(sample));
  });

  it('has the header parts of the sample in the same order (the sample’s participants aside)', () => {
    const sampleOrder = childNames(sample.documentElement).filter((n) => n !== 'participant');
    expect(childNames(ours.doc.documentElement)).toEqual(sampleOrder);
    // relatedDocument (absent from the sample) goes where the CDA schema puts it; XSD validation checks that.
    expect(childNames(replacing.doc.documentElement).filter((n) => n !== 'relatedDocument')).toEqual(sampleOrder);
  });

  it('has the cardinalities of the CI-SIS header', () => {
    for (const b of [ours, replacing]) {
      const count = (name: string) => elements(b.doc, `/h:ClinicalDocument/h:${name}`).length;
      expect(count('recordTarget')).toBe(1);
      expect(count('author')).toBeGreaterThanOrEqual(1);
      expect(count('custodian')).toBe(1);
      expect(count('legalAuthenticator')).toBe(1);
      expect(count('documentationOf')).toBeGreaterThanOrEqual(1);
      expect(count('componentOf')).toBe(1);
      expect(count('component')).toBe(1);
      expect(count('realmCode')).toBe(1);
    }
    expect(elements(ours.doc, '/h:ClinicalDocument/h:relatedDocument')).toHaveLength(0);
    expect(elements(replacing.doc, '/h:ClinicalDocument/h:relatedDocument')).toHaveLength(1);
    expect(elements(ours.doc, '//h:recordTarget/h:patientRole/h:patient/h:name')).toHaveLength(1);
  });

  it('orders the children of each header part as the sample does, with nothing the sample lacks', () => {
    const parts = [
      'h:recordTarget/h:patientRole',
      'h:recordTarget/h:patientRole/h:patient',
      'h:recordTarget/h:patientRole/h:patient/h:birthplace/h:place/h:addr',
      'h:author',
      'h:author/h:assignedAuthor',
      'h:custodian/h:assignedCustodian/h:representedCustodianOrganization',
      'h:legalAuthenticator',
      'h:legalAuthenticator/h:assignedEntity',
      'h:documentationOf/h:serviceEvent',
      'h:documentationOf/h:serviceEvent/h:effectiveTime',
      'h:documentationOf/h:serviceEvent/h:performer/h:assignedEntity',
      'h:documentationOf/h:serviceEvent/h:performer/h:assignedEntity/h:representedOrganization',
      'h:componentOf/h:encompassingEncounter',
      'h:componentOf/h:encompassingEncounter/h:location/h:healthCareFacility',
      'h:component/h:nonXMLBody',
    ];
    for (const part of parts) {
      const path = `/h:ClinicalDocument/${part}`;
      const theirs = childNames(element(sample, path));
      for (const b of [ours, replacing]) {
        const mine = childNames(element(b.doc, path));
        expect(isSubsequence(mine, theirs), `${part}: [${mine.join(', ')}] not in the order of [${theirs.join(', ')}]`).toBe(true);
      }
    }
  });

  it('orders the patient name parts as the sample does', () => {
    const theirs = nameParts(element(sample, '//h:recordTarget/h:patientRole/h:patient/h:name'));
    for (const b of [ours, replacing]) {
      const mine = nameParts(element(b.doc, '//h:recordTarget/h:patientRole/h:patient/h:name'));
      expect(isSubsequence(mine, theirs), `[${mine.join(', ')}] vs [${theirs.join(', ')}]`).toBe(true);
    }
  });
});

describe.skipIf(!haveCdaSchema)('buildCdaN1: valid against CDA_extended.xsd', () => {
  it.each(ALL_FIXTURES)('%s %s', async (kind, name) => {
    const b = await buildFixture(kind, name);
    const result = await validateCda(b.xml);
    expect(result.errors.map((e) => e.message)).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('a replacing version', async () => {
    const b = await buildFixture('bpm', 'year-only-birthdate', { ids: { ...IDS, version: 3, replaces: '1.2.250.1.999.1.1.0' }, confidentiality: 'V' });
    const result = await validateCda(b.xml);
    expect(result.errors.map((e) => e.message)).toEqual([]);
  });
});

describe('hl7Time', () => {
  it('keeps the sender’s offset', () => {
    expect(hl7Time('2026-01-15T14:30:00+01:00')).toBe('20260115143000+0100');
    expect(hl7Time('2025-07-01T08:05:09-03:30')).toBe('20250701080509-0330');
  });

  it('writes UTC as +0000 and drops fractions of a second', () => {
    expect(hl7Time('2025-05-14T10:30:00.123Z')).toBe('20250514103000+0000');
  });

  it('accepts a time without seconds', () => {
    expect(hl7Time('2025-05-14T10:30+02:00')).toBe('20250514103000+0200');
  });

  it('refuses a date-time without offset', () => {
    expect(() => hl7Time('2025-05-14T10:30:00')).toThrow('not an ISO 8601 date-time with offset');
  });
});
