import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { certificateSha1 } from '../../../src/connectors/dmp/certificate.js';
import { xdsSubmissionOf } from '../../../src/documents/xds-metadata.js';
import { signSubmissionSet, SUBMISSION_SET_DIGEST_PLACEHOLDER, verifySubmissionSignature, type SubmissionSignature } from '../../../src/connectors/dmp/xades.js';
import { NS } from '../../../src/connectors/dmp/xds-constants.js';
import { descendants, parseXml } from '../../../src/connectors/dmp/xml-dom.js';
import type { XdsSubmission } from '../../../src/documents/model.js';
import { CDA_BYTES, headerFixture, SUBMISSION_OPTIONS } from './header-fixture.js';
import { throwawayPki, type ThrowawayPki } from './throwaway-pki.js';

const SIGNATURE_UID = '1.2.250.1.999.42.3.20250301.1.1';
let pki: ThrowawayPki;
let sub: XdsSubmission;
let signature: SubmissionSignature;

beforeAll(() => {
  pki = throwawayPki();
  sub = xdsSubmissionOf(headerFixture(), CDA_BYTES, SUBMISSION_OPTIONS);
  signature = signSubmissionSet(sub, { key: pki.org.key, cert: pki.org.cert, chain: [pki.ca.cert] }, { uniqueId: SIGNATURE_UID, signingTime: new Date('2025-03-01T10:45:12Z') });
});

const expected = () => ({ submissionSetUniqueId: sub.submissionSet.uniqueId, documents: sub.documents.map((d) => ({ uniqueId: d.entry.uniqueId, content: d.content })) });

describe('submission-set signature (XAdES)', () => {
  it('names the SubmissionSet and each document in the Manifest, each document with the SHA-1 of its bytes', () => {
    const result = verifySubmissionSignature(signature.content, pki.ca.cert, expected());
    expect(result.reason).toBeUndefined();
    expect(result.ok).toBe(true);
    expect(result.submissionSetUniqueId).toBe(SUBMISSION_OPTIONS.submissionSetUniqueId);
    expect(result.documents).toEqual([
      {
        uri: `urn:oid:${headerFixture().ids.id}`,
        uniqueId: headerFixture().ids.id,
        digestMethod: 'http://www.w3.org/2000/09/xmldsig#sha1',
        digest: createHash('sha1').update(CDA_BYTES).digest('base64'),
      },
    ]);
    // The same digest as the XDS hash slot, in base64 instead of hex.
    expect(Buffer.from(result.documents[0].digest, 'base64').toString('hex')).toBe(sub.documents[0].entry.hash);
    expect(result.signingTime).toBe('2025-03-01T10:45:12.000Z');
    expect(result.purposeOfSignature).toBe('1.2.840.10065.1.12.1.14');
    expect(result.signatureId).toBe(SIGNATURE_UID);
  });

  it('has the shape of §2.5: SignedInfo → #IHEManifest and the XAdES 1.1.1 SignedProperties, SigningCertificate, policy implied', () => {
    const doc = parseXml(signature.content.toString('utf8'));
    const refs = descendants(doc.documentElement, NS.ds, 'SignedInfo').flatMap((s) => descendants(s, NS.ds, 'Reference'));
    expect(refs.map((r) => [r.getAttribute('URI'), r.getAttribute('Type')])).toEqual([
      ['#IHEManifest', 'http://www.w3.org/2000/09/xmldsig#Manifest'],
      ['#SignedProperties', 'http://uri.etsi.org/01903/v1.1.1#SignedProperties'],
    ]);
    const manifestRefs = descendants(doc.documentElement, NS.ds, 'Manifest').flatMap((m) => descendants(m, NS.ds, 'Reference'));
    expect(manifestRefs[0].getAttribute('URI')).toBe(`urn:oid:${SUBMISSION_OPTIONS.submissionSetUniqueId}`);
    expect(descendants(manifestRefs[0], NS.ds, 'DigestValue')[0].textContent).toBe(SUBMISSION_SET_DIGEST_PLACEHOLDER);
    expect(descendants(doc.documentElement, NS.xades, 'SignaturePolicyImplied')).toHaveLength(1);
    const certDigest = descendants(doc.documentElement, NS.xades, 'CertDigest').flatMap((d) => descendants(d, NS.ds, 'DigestValue'))[0];
    expect(certDigest.textContent).toBe(certificateSha1(pki.org.cert));
    expect(descendants(doc.documentElement, NS.ds, 'X509IssuerName')[0].textContent).toBe('CN=TEST AC RACINE, O=TEST IGC, C=FR');
  });

  it('describes the signature as the DocumentEntry of §2.5, hashed over the bytes sent', () => {
    const e = signature.entry;
    expect(e).toMatchObject({
      uniqueId: SIGNATURE_UID,
      mimeType: 'text/xml',
      languageCode: 'art',
      classCode: { code: 'urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1', codeSystem: 'URN' },
      typeCode: { code: 'E1762', codeSystem: 'ASTM' },
      formatCode: { code: 'http://www.w3.org/2000/09/xmldsig#', codeSystem: 'URN' },
      eventCodes: [{ code: '1.2.840.10065.1.12.1.14', codeSystem: '1.2.840.10065.1.12' }],
      patientId: sub.submissionSet.patientId,
      healthcareFacilityTypeCode: sub.documents[0].entry.healthcareFacilityTypeCode,
      practiceSettingCode: sub.documents[0].entry.practiceSettingCode,
      authors: sub.submissionSet.authors,
      creationTime: '20250301104512',
    });
    expect(e.hash).toBe(createHash('sha1').update(signature.content).digest('hex'));
    expect(e.size).toBe(signature.content.length);
  });

  it('fails when a document differs from what was signed', () => {
    const result = verifySubmissionSignature(signature.content, pki.ca.cert, { ...expected(), documents: [{ uniqueId: headerFixture().ids.id, content: Buffer.from('other bytes') }] });
    expect(result.ok).toBe(false);
    expect(result.reason).toMatch(/digest does not match/);
  });

  it('fails when the Manifest is edited after signing', () => {
    const doc = signature.content.toString('utf8');
    const digest = createHash('sha1').update(CDA_BYTES).digest('base64');
    const tampered = doc.replace(digest, createHash('sha1').update('forged').digest('base64'));
    expect(tampered).not.toBe(doc);
    const result = verifySubmissionSignature(tampered, pki.ca.cert);
    expect(result.ok).toBe(false);
    expect(result.reason).toMatch(/changed after signing|signature invalid/);
  });

  it('fails when the SubmissionSet is not the one expected', () => {
    expect(verifySubmissionSignature(signature.content, pki.ca.cert, { submissionSetUniqueId: '1.2.3' }).reason).toMatch(/names SubmissionSet/);
  });

  it('fails for a signer outside the trusted CA, and checks only the signature without a CA', () => {
    const intruder = signSubmissionSet(sub, { key: pki.intruder.key, cert: pki.intruder.cert, chain: [] }, { uniqueId: SIGNATURE_UID, signingTime: new Date() });
    expect(verifySubmissionSignature(intruder.content, pki.ca.cert).reason).toMatch(/not trusted/);
    expect(verifySubmissionSignature(intruder.content).ok).toBe(true);
  });

  it('signs with RSA-SHA1 when asked', () => {
    const sha1 = signSubmissionSet(sub, { key: pki.org.key, cert: pki.org.cert, chain: [] }, { uniqueId: SIGNATURE_UID, signingTime: new Date(), algorithm: 'rsa-sha1' });
    expect(sha1.content.toString()).toContain('http://www.w3.org/2000/09/xmldsig#rsa-sha1');
    expect(verifySubmissionSignature(sha1.content, pki.ca.cert, expected()).ok).toBe(true);
  });
});
