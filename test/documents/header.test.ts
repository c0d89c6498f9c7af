import { OperationOutcomeError } from '@medplum/core';
import { describe, expect, it } from 'vitest';
import { documentHeader } from '../../src/documents/header.js';
import { loadDocumentSettings } from '../../src/documents/settings.js';
import { fixtureRequest, fixtureSource, IDS } from './requests.js';

const settings = loadDocumentSettings();
const PHARMACIEN = { code: 'G15_21', codeSystem: '1.2.250.1.213.1.1.4.5', display: 'Pharmacien' };

describe('documentHeader: PPP', () => {
  const req = fixtureRequest('ppp', 'hospital-sync-rcp');
  const h = documentHeader(req, settings);

  it('carries the request ids and time, the title and the codes of the kind', () => {
    expect(h.kind).toBe('ppp');
    expect(h.ids).toEqual(IDS);
    expect(h.effectiveTime).toBe('2025-05-15T08:30:00+02:00');
    expect(h.title).toBe("Plan pharmaceutique personnalisé — sortie d'hospitalisation");
    expect(h.typeCode.code).toBe('18776-5');
    expect(h.classCode.code).toBe('44');
    expect(h.formatCode).toEqual({ code: 'urn:ihe:iti:xds-sd:pdf:2008', codeSystem: '1.3.6.1.4.1.19376.1.2.3', display: 'Document à corps non structuré en Pdf/A-1' });
    expect(h.contentTypeCode.code).toBe('03');
    expect(h.healthcareFacilityTypeCode.code).toBe('SA01');
    expect(h.practiceSettingCode.code).toBe('ETABLISSEMENT');
    expect(h.confidentiality).toEqual({ code: 'N', codeSystem: '2.16.840.1.113883.5.25', display: 'Normal' });
    expect(h.masking).toEqual([]);
  });

  it('names the PPP author by IDNPS, with the specialty of their team role, as author and legal authenticator', () => {
    expect(h.author).toEqual({
      idnps: '810100890259',
      family: 'CANIVET',
      given: 'Sophie',
      profession: PHARMACIEN,
      specialty: { code: 'G15_21/H', codeSystem: '1.2.250.1.213.1.1.4.5', display: "Pharmacien d'établissement de santé" },
    });
    expect(h.authorTime).toBe('2025-05-15T08:30:00+02:00');
    expect(h.legalAuthenticator).toEqual(h.author);
    expect(h.legalAuthenticationTime).toBe(req.effectiveTime);
  });

  it('names the establishment by IdNat_Struct (1 + FINESS)', () => {
    expect(h.organization).toEqual({ idNatStruct: '1800000317', finess: '800000317', name: 'CHU Picardie (démo), site Sud' });
  });

  it('dates the review from the PPP creation to the RCP, or to the sending when there was no RCP yet', () => {
    expect(h.serviceEvent).toEqual({ start: '2025-05-12T16:45:00+02:00', stop: '2025-05-14T12:30:00+02:00' });
    const source = fixtureSource('ppp', 'hospital-sync-rcp');
    if (source.kind !== 'ppp') throw new Error('expected a PPP');
    const withoutRcp = { ...source, document: { ...source.document, rcp: undefined } };
    expect(documentHeader({ ...req, source: withoutRcp }, settings).serviceEvent).toEqual({
      start: '2025-05-12T16:45:00+02:00',
      stop: '2025-05-15T08:30:00+02:00',
    });
  });

  it('takes the situation from the stay type', () => {
    expect(documentHeader(fixtureRequest('ppp', 'hdj-partial-birthdate'), settings).contentTypeCode.code).toBe('04');
    expect(documentHeader(fixtureRequest('ppp', 'consultation-born-abroad'), settings).contentTypeCode.code).toBe('07');
  });

  it('passes the confidentiality and masking codes on', () => {
    const masked = documentHeader({ ...req, confidentiality: 'R', masking: ['MASQUE_PS'] }, settings);
    expect(masked.confidentiality.code).toBe('R');
    expect(masked.masking).toEqual(['MASQUE_PS']);
  });
});

describe('documentHeader: the patient', () => {
  it('keeps the INS of a qualified identity', () => {
    const h = documentHeader(fixtureRequest('ppp', 'hospital-sync-rcp'), settings);
    expect(h.patient.ins).toEqual({ matricule: '138112A00405796', oid: '1.2.250.1.213.1.4.10' });
  });

  it('drops the INS of an identity that is not qualified, even when the sender gave one', () => {
    const req = fixtureRequest('ppp', 'town-async-rcp');
    expect(req.patient.status).toBe('VALI');
    expect(req.patient.ins).toBeDefined();
    const h = documentHeader(req, settings);
    expect(h.patient.ins).toBeUndefined();
    expect(h.patient.birthName).toBe('LAROQUE');
  });

  it('writes the local id domain as an OID, translating a URI domain through the settings', () => {
    expect(documentHeader(fixtureRequest('ppp', 'hospital-sync-rcp'), settings).patient.sourceId).toEqual({
      system: 'urn:oid:1.2.250.1.999.1.800000317.1',
      value: '80057321',
    });
    const lgo = documentHeader(fixtureRequest('bpm', 'year-only-birthdate'), settings);
    expect(lgo.patient.sourceId).toEqual({ system: 'urn:oid:1.2.250.1.999.2.1760001016', value: 'P-88213' });
  });

  it('refuses a URI domain the settings do not translate, naming the field', () => {
    const req = fixtureRequest('ppp', 'hdj-partial-birthdate');
    const patient = { ...req.patient, sourceId: { system: 'https://dpi.example/ipp', value: '42' } };
    expect(() => documentHeader({ ...req, patient }, settings)).toThrow(OperationOutcomeError);
    expect(() => documentHeader({ ...req, patient }, settings)).toThrow(/patient id domain "https:\/\/dpi\.example\/ipp" is not an OID/);
  });
});

describe('documentHeader: CTM', () => {
  it('has the BMO author write it and the validating pharmacist answer for it', () => {
    const h = documentHeader(fixtureRequest('ctm', 'admission-divergences'), settings);
    expect(h.author).toEqual({ idnps: '810101749504', family: 'SOREL', given: 'Julien', profession: PHARMACIEN });
    expect(h.authorTime).toBe('2025-03-14T16:40:00+01:00');
    expect(h.legalAuthenticator).toEqual({ idnps: '810100378222', family: 'DESROCHES', given: 'Clara', profession: PHARMACIEN });
    expect(h.legalAuthenticationTime).toBe('2025-03-14T18:05:00+01:00');
    expect(h.serviceEvent).toEqual({ start: '2025-03-14T16:40:00+01:00', stop: '2025-03-15T10:30:00+01:00' });
    expect(h.typeCode.code).toBe('80820-4');
    expect(h.classCode.code).toBe('11');
  });

  it('falls back on the author while the BMO is not validated', () => {
    const req = fixtureRequest('ctm', 'admission-unvalidated-bmo');
    const h = documentHeader(req, settings);
    expect(h.legalAuthenticator).toEqual(h.author);
    expect(h.legalAuthenticationTime).toBe(req.effectiveTime);
  });
});

describe('documentHeader: BPM', () => {
  const h = documentHeader(fixtureRequest('bpm', 'self-medication-remote'), settings);

  it('is written and signed by the pharmacist, for the officine', () => {
    expect(h.author.idnps).toBe('810101044781');
    expect(h.author.profession).toEqual(PHARMACIEN);
    expect(h.legalAuthenticator).toEqual(h.author);
    expect(h.organization).toEqual({ idNatStruct: '1590002234', finess: '590002234', name: 'Pharmacie de la Grand-Place (démo)' });
    expect(h.healthcareFacilityTypeCode.code).toBe('SA33');
    expect(h.practiceSettingCode.code).toBe('AMBULATOIRE');
    expect(h.typeCode.code).toBe('56445-0');
  });

  it('dates the bilan from the adhesion to the conclusions', () => {
    expect(h.serviceEvent).toEqual({ start: '2025-02-03T10:15:00+01:00', stop: '2025-02-10T16:30:00+01:00' });
    expect(h.authorTime).toBe('2025-02-10T16:30:00+01:00');
  });

  it('refuses an author whose profession has no code, naming the field', () => {
    const req = fixtureRequest('bpm', 'self-medication-remote');
    if (req.source.kind !== 'bpm') throw new Error('expected a BPM');
    const source = { kind: 'bpm' as const, document: { ...req.source.document, pharmacist: { ...req.source.document.pharmacist, profession: 'autre' as const } } };
    expect(() => documentHeader({ ...req, source }, settings)).toThrow('bpm.pharmacist.profession: no profession code for "autre"');
  });
});
