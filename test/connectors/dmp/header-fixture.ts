// A DocumentHeader written by hand (the header builder is tested on its own): a medication review report (BPM) by
// a community pharmacist, for a qualified test patient (INS-NIR test OID), with masking.
import type { DocumentHeader } from '../../../src/documents/model.js';

export function headerFixture(over: Partial<DocumentHeader> = {}): DocumentHeader {
  return {
    kind: 'bpm',
    ids: { id: '1.2.250.1.999.42.1.20250301.1', setId: '1.2.250.1.999.42.2.20250301.1', version: 1 },
    title: 'Bilan partagé de médication',
    effectiveTime: '2025-03-01T11:30:00+01:00',
    typeCode: { code: '56445-0', codeSystem: '2.16.840.1.113883.6.1', display: 'Bilan médicamenteux' },
    classCode: { code: '11', codeSystem: '1.2.250.1.213.1.1.4.1', display: 'Synthèse' },
    formatCode: { code: 'urn:ihe:iti:xds-sd:pdf:2008', codeSystem: '1.3.6.1.4.1.19376.1.2.3', display: 'Document à corps non structuré en Pdf/A-1' },
    healthcareFacilityTypeCode: { code: 'SA33', codeSystem: '1.2.250.1.71.4.2.4', display: 'Officine' },
    practiceSettingCode: { code: 'AMBULATOIRE', codeSystem: '1.2.250.1.213.1.1.4.9', display: 'Ambulatoire' },
    contentTypeCode: { code: '07', codeSystem: '1.2.250.1.213.2.2', display: 'Consultation externe' },
    confidentiality: { code: 'N', codeSystem: '2.16.840.1.113883.5.25', display: 'Normal' },
    masking: ['INVISIBLE_REPRESENTANTS_LEGAUX'],
    patient: {
      sourceId: { system: 'urn:oid:1.2.250.1.999.42.9', value: 'IPP-0042' },
      ins: { matricule: '279035121518989', oid: '1.2.250.1.213.1.4.10' },
      status: 'QUAL',
      birthName: 'PAT-TROIS',
      firstBirthGivenName: 'DOMINIQUE',
      birthGivenNames: ['DOMINIQUE', 'MARIE-LOUISE'],
      birthDate: '1979-03-28',
      sex: 'F',
      birthPlaceInsee: '75056',
    },
    author: {
      idnps: '810000000001',
      family: 'OFFICINE',
      given: 'Claire',
      profession: { code: '21', codeSystem: '1.2.250.1.71.1.2.7', display: 'Pharmacien' },
      specialty: { code: 'G15_21/SM54', codeSystem: '1.2.250.1.213.1.1.4.5', display: 'Pharmacien - Pharmacie d’officine' },
    },
    authorTime: '2025-03-01T11:00:00+01:00',
    organization: { idNatStruct: '1990000010', finess: '990000010', name: 'Pharmacie de Test' },
    legalAuthenticator: {
      idnps: '810000000001',
      family: 'OFFICINE',
      given: 'Claire',
      profession: { code: '21', codeSystem: '1.2.250.1.71.1.2.7', display: 'Pharmacien' },
    },
    legalAuthenticationTime: '2025-03-01T11:30:00+01:00',
    serviceEvent: { start: '2025-02-20T09:00:00+01:00', stop: '2025-03-01T11:00:00+01:00' },
    ...over,
  };
}

/** Stand-in CDA bytes (the CDA builder is another module's job; the metadata only hashes and counts them). */
export const CDA_BYTES = Buffer.from(
  '<?xml version="1.0" encoding="UTF-8"?>\n<ClinicalDocument xmlns="urn:hl7-org:v3"><id root="1.2.250.1.999.42.1.20250301.1"/><title>Bilan partagé de médication</title></ClinicalDocument>\n',
  'utf8',
);

export const SUBMISSION_OPTIONS = {
  sourceId: '1.2.250.1.999.42.0',
  submissionSetUniqueId: '1.2.250.1.999.42.3.20250301.1',
  submissionTime: new Date('2025-03-01T10:45:12Z'),
} as const;
