import { createHash } from 'node:crypto';
import { OperationOutcomeError } from '@medplum/core';
import { describe, expect, it } from 'vitest';
import { entryUuidOf, xdsSubmissionOf } from '../../../src/documents/xds-metadata.js';
import { CDA_BYTES, headerFixture, SUBMISSION_OPTIONS } from './header-fixture.js';

describe('xdsSubmissionOf', () => {
  const sub = xdsSubmissionOf(headerFixture(), CDA_BYTES, SUBMISSION_OPTIONS);
  const entry = sub.documents[0].entry;

  it('files the document under the INS, in the CX form of the ANS sample', () => {
    expect(entry.patientId).toBe('279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH');
    expect(sub.submissionSet.patientId).toBe(entry.patientId);
  });

  it('keeps the sender’s IPP as sourcePatientId, and the traits as PID-5/7/8', () => {
    expect(entry.sourcePatientId).toBe('IPP-0042^^^&1.2.250.1.999.42.9&ISO^PI');
    expect(entry.sourcePatientInfo).toEqual(['PID-5|PAT-TROIS^DOMINIQUE^^^^^L', 'PID-7|19790328', 'PID-8|F']);
  });

  it('uses the INS as sourcePatientId when the local id is not under an OID, and an explicit local id when given', () => {
    const urlSource = headerFixture();
    urlSource.patient = { ...urlSource.patient, sourceId: { system: 'https://pharmacie.example/patients', value: '42' } };
    expect(xdsSubmissionOf(urlSource, CDA_BYTES, SUBMISSION_OPTIONS).documents[0].entry.sourcePatientId).toBe(entry.patientId);
    const explicit = xdsSubmissionOf(urlSource, CDA_BYTES, { ...SUBMISSION_OPTIONS, localPatientId: { value: 'A^B', oid: 'urn:oid:1.2.3' } });
    expect(explicit.documents[0].entry.sourcePatientId).toBe('A\\S\\B^^^&1.2.3&ISO^PI');
  });

  it('derives the ids, the hash and the size from the CDA bytes', () => {
    expect(entry.uniqueId).toBe('1.2.250.1.999.42.1.20250301.1');
    expect(entry.entryUuid).toBe(entryUuidOf(entry.uniqueId));
    expect(entry.entryUuid).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(entry.hash).toBe(createHash('sha1').update(CDA_BYTES).digest('hex'));
    expect(entry.size).toBe(CDA_BYTES.length);
    expect(sub.submissionSet.uniqueId).toBe(SUBMISSION_OPTIONS.submissionSetUniqueId);
    expect(sub.submissionSet.entryUuid).toBe(entryUuidOf(SUBMISSION_OPTIONS.submissionSetUniqueId));
    expect(sub.submissionSet.sourceId).toBe(SUBMISSION_OPTIONS.sourceId);
  });

  it('writes the times as YYYYMMDDhhmmss in UTC', () => {
    expect(entry.creationTime).toBe('20250301103000');
    expect(entry.serviceStartTime).toBe('20250220080000');
    expect(entry.serviceStopTime).toBe('20250301100000');
    expect(sub.submissionSet.submissionTime).toBe('20250301104512');
  });

  it('lists N/R/V first, then the masking codes under TRE_A07', () => {
    expect(entry.confidentialityCodes).toEqual([
      { code: 'N', codeSystem: '2.16.840.1.113883.5.25', display: 'Normal' },
      { code: 'INVISIBLE_REPRESENTANTS_LEGAUX', codeSystem: '1.2.250.1.213.1.1.4.13', display: 'Non visible par représentants légaux du patient' },
    ]);
  });

  it('names the author and the legal authenticator as XCN / XON exactly like the ANS sample', () => {
    expect(entry.legalAuthenticator).toBe('810000000001^OFFICINE^Claire^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS');
    expect(entry.authors).toEqual([
      {
        person: '810000000001^OFFICINE^Claire^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS',
        institution: ['Pharmacie de Test^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1990000010'],
        role: [],
        specialty: ['G15_21/SM54^Pharmacien - Pharmacie d’officine^1.2.250.1.213.1.1.4.5'],
      },
    ]);
    expect(sub.submissionSet.authors).toEqual(entry.authors);
  });

  it('copies the coded header facts', () => {
    const h = headerFixture();
    expect(entry).toMatchObject({
      classCode: h.classCode,
      typeCode: h.typeCode,
      formatCode: h.formatCode,
      healthcareFacilityTypeCode: h.healthcareFacilityTypeCode,
      practiceSettingCode: h.practiceSettingCode,
      title: h.title,
      languageCode: 'fr-FR',
      mimeType: 'text/xml',
    });
    expect(sub.submissionSet.contentTypeCode).toEqual(h.contentTypeCode);
  });

  it('adds no replacement for a first version, and an RPLC to the recomputed entryUUID of the replaced one', () => {
    expect(sub.replacements).toEqual([]);
    const v2 = xdsSubmissionOf(headerFixture({ ids: { id: '1.2.250.1.999.42.1.20250301.2', setId: '1.2.250.1.999.42.2.20250301.1', version: 2, replaces: '1.2.250.1.999.42.1.20250301.1' } }), CDA_BYTES, SUBMISSION_OPTIONS);
    expect(v2.replacements).toEqual([{ documentEntryUuid: entryUuidOf('1.2.250.1.999.42.1.20250301.2'), replacedEntryUuid: entry.entryUuid }]);
  });

  it('refuses a patient without INS, naming the field', () => {
    const h = headerFixture();
    const { ins: _ins, ...noIns } = h.patient;
    h.patient = { ...noIns, status: 'VALI' };
    expect(() => xdsSubmissionOf(h, CDA_BYTES, SUBMISSION_OPTIONS)).toThrow(OperationOutcomeError);
    expect(() => xdsSubmissionOf(h, CDA_BYTES, SUBMISSION_OPTIONS)).toThrow(/patient\.ins/);
  });

  it('escapes HL7 delimiters in names so components cannot shift', () => {
    const h = headerFixture();
    h.author = { ...h.author, family: 'A^B&C' };
    const e = xdsSubmissionOf(h, CDA_BYTES, SUBMISSION_OPTIONS).documents[0].entry;
    expect(e.authors[0].person).toBe('810000000001^A\\S\\B\\T\\C^Claire^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS');
  });
});
