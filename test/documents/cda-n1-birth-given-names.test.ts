// Issue 14: the list of birth given names (unqualified `given`) is one of the INS traits the CI-SIS header requires
// (template 1.2.250.1.213.1.1.1.1), also when the patient has a single birth given name.
import { DOMParser } from '@xmldom/xmldom';
import { describe, expect, it } from 'vitest';
import xpath from 'xpath';
import { buildCdaN1 } from '../../src/documents/cda-n1.js';
import { documentHeader } from '../../src/documents/header.js';
import type { DocumentRequest } from '../../src/documents/model.js';
import { loadDocumentSettings } from '../../src/documents/settings.js';
import { fixtureRequest } from './requests.js';

const settings = loadDocumentSettings();
const select = xpath.useNamespaces({ h: 'urn:hl7-org:v3' });
// The header alone is under test: a stand-in body keeps the test fast.
const PDF = Buffer.from('%PDF-1.7\n');

/** The patient name parts in order, `part@QUALIFIER=text`. */
function patientName(req: DocumentRequest): string[] {
  const xml = buildCdaN1(documentHeader(req, settings), PDF);
  const doc = new DOMParser().parseFromString(xml, 'text/xml') as unknown as Document;
  const parts = select('/h:ClinicalDocument/h:recordTarget/h:patientRole/h:patient/h:name/*', doc) as Element[];
  return parts.map((e) => `${e.localName}${e.getAttribute('qualifier') ? `@${e.getAttribute('qualifier')}` : ''}=${e.textContent}`);
}

describe('CDA recordTarget: the list of birth given names', () => {
  it('is written for a qualified patient with one birth given name, sent without the list (bpm/self-medication-remote)', () => {
    const req = fixtureRequest('bpm', 'self-medication-remote');
    expect(req.patient.status).toBe('QUAL');
    expect(req.patient.birthGivenNames).toBeUndefined();
    expect(patientName(req)).toEqual(['family@BR=GRANDET', 'given=Félix', 'given@BR=Félix']);
  });

  it('is written when the list holds one name', () => {
    const req = fixtureRequest('bpm', 'self-medication-remote');
    const patient = { ...req.patient, birthGivenNames: ['Félix'] };
    expect(patientName({ ...req, patient })).toEqual(['family@BR=GRANDET', 'given=Félix', 'given@BR=Félix']);
  });

  it('joins several names with spaces, before the first one qualified BR, as in the ANS sample', () => {
    expect(patientName(fixtureRequest('ppp', 'hospital-sync-rcp'))).toEqual(['family@BR=FALCONE', 'given=Mateo Ange Fortunato', 'given@BR=Mateo']);
  });

  it('is written for an identity that is not qualified only when the sender gave it', () => {
    expect(patientName(fixtureRequest('ppp', 'hdj-partial-birthdate'))).toEqual(['family@BR=VALJEAN', 'given@BR=Jean']);
    const req = fixtureRequest('ppp', 'hdj-partial-birthdate');
    expect(patientName({ ...req, patient: { ...req.patient, birthGivenNames: ['Jean'] } })).toContain('given=Jean');
  });
});
