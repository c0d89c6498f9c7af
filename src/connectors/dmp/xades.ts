// The submission-set signature the DMP expects (IHE DSG with XAdES, fr-interop §2.5): a detached XML signature
// document whose ds:Manifest names the SubmissionSet and every document by `urn:oid:<uniqueId>`, sent as one more
// DocumentEntry of the submission with a `signs` association to the SubmissionSet. Shape of DRIMbox / the ANS sample.
import { createHash } from 'node:crypto';
import { create } from 'xmlbuilder2';
import type { Coded, XdsSubmission } from '../../documents/model.js';
import { certificateSha1, issuerDn, serialDecimal } from './certificate.js';
import type { RegistryDocumentEntry } from './ebrim.js';
import { xdsTime } from '../../documents/hl7v2-datatypes.js';
import { entryUuidOf, maskingCoded } from '../../documents/xds-metadata.js';
import { CODING_SCHEME, NS } from './xds-constants.js';
import { child, children, descendants, parseXml, textOf } from './xml-dom.js';
import { checkSignatureWithKeyInfo, DIGEST_METHOD, EXC_C14N, SHA1_DIGEST, signerOf, type SignatureAlgorithm, type SigningCredentials } from './xmldsig.js';

/** The signature document and its DocumentEntry, to add to the submission (ebRIM + one more xdsb:Document). */
export interface SubmissionSignature {
  entry: RegistryDocumentEntry;
  /** The exact bytes sent (and hashed into `entry.hash` / `entry.size`). */
  content: Buffer;
}

export interface SubmissionSignatureOptions {
  /** uniqueId (OID) of the signature document; also the ds:Signature Id, as in DRIMbox. */
  uniqueId: string;
  signingTime: Date;
  /** SignedInfo algorithm; default rsa-sha256. The Manifest digests stay SHA-1 (the XDS hash algorithm). */
  algorithm?: SignatureAlgorithm;
}

const MANIFEST_ID = 'IHEManifest';
const SIGNED_PROPERTIES_ID = 'SignedProperties';
const MANIFEST_TYPE = 'http://www.w3.org/2000/09/xmldsig#Manifest';
const SIGNED_PROPERTIES_TYPE = 'http://uri.etsi.org/01903/v1.1.1#SignedProperties';
/** IHE DSG purpose of signature "Source" (ISO 17090 / ASTM E1762). */
export const PURPOSE_OF_SIGNATURE = '1.2.840.10065.1.12.1.14';

/**
 * Digest written for the `urn:oid:<SubmissionSet uniqueId>` reference. The SubmissionSet is metadata, not bytes:
 * IHE DSG gives it nothing to digest, and DRIMbox (whose output is the ANS sample the DMP accepted) writes this
 * one-byte placeholder. We do the same; verifiers check that reference's URI, never its digest.
 */
export const SUBMISSION_SET_DIGEST_PLACEHOLDER = 'AA==';

/** Coded values of the signature DocumentEntry (IHE DSG; fr-interop §2.5). */
export const SIGNATURE_ENTRY_CODES = {
  classCode: { code: 'urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1', codeSystem: 'URN', display: 'Digital Signature' },
  typeCode: { code: 'E1762', codeSystem: 'ASTM', display: 'Full Document' },
  formatCode: { code: 'http://www.w3.org/2000/09/xmldsig#', codeSystem: 'URN', display: 'Default Signature Style' },
  eventCode: { code: PURPOSE_OF_SIGNATURE, codeSystem: '1.2.840.10065.1.12', display: 'Source' },
} as const satisfies Record<string, Coded>;

const sha1Base64 = (bytes: Buffer): string => createHash('sha1').update(bytes).digest('base64');

function manifestXml(sub: XdsSubmission): string {
  const m = create().ele(NS.ds, 'ds:Manifest', { 'xmlns:ds': NS.ds, Id: MANIFEST_ID });
  const reference = (uri: string, digest: string): void => {
    const r = m.ele(NS.ds, 'ds:Reference', { URI: uri });
    r.ele(NS.ds, 'ds:DigestMethod', { Algorithm: SHA1_DIGEST });
    r.ele(NS.ds, 'ds:DigestValue').txt(digest);
  };
  reference(`urn:oid:${sub.submissionSet.uniqueId}`, SUBMISSION_SET_DIGEST_PLACEHOLDER);
  // No Transforms: the digest is over the exact bytes sent, the same bytes as the XDS `hash` slot.
  for (const d of sub.documents) reference(`urn:oid:${d.entry.uniqueId}`, sha1Base64(d.content));
  return m.end({ headless: true });
}

function qualifyingPropertiesXml(signatureId: string, signing: SigningCredentials, signingTime: Date): string {
  const q = create().ele(NS.xades, 'xades:QualifyingProperties', { 'xmlns:xades': NS.xades, 'xmlns:ds': NS.ds, Target: `#${signatureId}` });
  const ssp = q.ele(NS.xades, 'xades:SignedProperties', { Id: SIGNED_PROPERTIES_ID }).ele(NS.xades, 'xades:SignedSignatureProperties');
  ssp.ele(NS.xades, 'xades:SigningTime').txt(signingTime.toISOString());
  const cert = ssp.ele(NS.xades, 'xades:SigningCertificate').ele(NS.xades, 'xades:Cert');
  const digest = cert.ele(NS.xades, 'xades:CertDigest');
  digest.ele(NS.ds, 'ds:DigestMethod', { Algorithm: SHA1_DIGEST });
  digest.ele(NS.ds, 'ds:DigestValue').txt(certificateSha1(signing.cert));
  const serial = cert.ele(NS.xades, 'xades:IssuerSerial');
  serial.ele(NS.ds, 'ds:X509IssuerName').txt(issuerDn(signing.cert));
  serial.ele(NS.ds, 'ds:X509SerialNumber').txt(serialDecimal(signing.cert));
  ssp.ele(NS.xades, 'xades:SignaturePolicyIdentifier').ele(NS.xades, 'xades:SignaturePolicyImplied');
  return q.end({ headless: true });
}

function purposeXml(signatureId: string): string {
  return create()
    .ele(NS.ds, 'ds:SignatureProperties', { 'xmlns:ds': NS.ds })
    .ele(NS.ds, 'ds:SignatureProperty', { Id: 'purposeOfSignature', Target: `#${signatureId}` })
    .txt(PURPOSE_OF_SIGNATURE)
    .doc()
    .end({ headless: true });
}

/** The XML signature document over the submission set (UTF-8 bytes, with an XML declaration). */
export function submissionSignatureDocument(sub: XdsSubmission, signing: SigningCredentials, options: SubmissionSignatureOptions): Buffer {
  const algorithm = options.algorithm ?? 'rsa-sha256';
  const signatureId = options.uniqueId;
  const signer = signerOf(signing, algorithm, [
    { content: purposeXml(signatureId) },
    { content: manifestXml(sub) },
    { content: qualifyingPropertiesXml(signatureId, signing, options.signingTime) },
  ]);
  const byId = (id: string) => `//*[@Id='${id}']`;
  signer.addReference({ xpath: byId(MANIFEST_ID), transforms: [EXC_C14N], digestAlgorithm: DIGEST_METHOD[algorithm], type: MANIFEST_TYPE });
  signer.addReference({ xpath: byId(SIGNED_PROPERTIES_ID), transforms: [EXC_C14N], digestAlgorithm: DIGEST_METHOD[algorithm], type: SIGNED_PROPERTIES_TYPE });
  // xml-crypto signs into a document; a throw-away root holds the signature, which is then taken out whole. With
  // exclusive c14n the holder leaves no trace in the digests.
  signer.computeSignature('<holder/>', { prefix: 'ds', attrs: { Id: signatureId } });
  return Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n${signer.getSignatureXml()}`, 'utf8');
}

/** Signs the submission set and describes the signature as the extra DocumentEntry the DMP expects. */
export function signSubmissionSet(sub: XdsSubmission, signing: SigningCredentials, options: SubmissionSignatureOptions): SubmissionSignature {
  if (sub.documents.length === 0) throw new Error('submission: nothing to sign, the submission has no document');
  // The uniqueId is also the ds:Signature Id and a QualifyingProperties Target: an OID keeps both well-formed.
  if (!/^[0-2](\.(0|[1-9]\d*))+$/.test(options.uniqueId)) throw new Error(`signature uniqueId: "${options.uniqueId}" is not an OID`);
  const content = submissionSignatureDocument(sub, signing, options);
  const first = sub.documents[0].entry;
  const ss = sub.submissionSet;
  const time = xdsTime(options.signingTime);
  const entry: RegistryDocumentEntry = {
    entryUuid: entryUuidOf(options.uniqueId),
    uniqueId: options.uniqueId,
    mimeType: 'text/xml',
    hash: createHash('sha1').update(content).digest('hex'),
    size: content.length,
    creationTime: time,
    serviceStartTime: time,
    serviceStopTime: time,
    // IHE DSG: a signature is in no human language ("art", artificial).
    languageCode: 'art',
    title: 'Source',
    classCode: SIGNATURE_ENTRY_CODES.classCode,
    typeCode: SIGNATURE_ENTRY_CODES.typeCode,
    formatCode: SIGNATURE_ENTRY_CODES.formatCode,
    eventCodes: [SIGNATURE_ENTRY_CODES.eventCode],
    healthcareFacilityTypeCode: first.healthcareFacilityTypeCode,
    practiceSettingCode: first.practiceSettingCode,
    // As in the ANS sample: the technical signature entry is hidden from professionals' and the patient's lists.
    confidentialityCodes: [{ code: 'N', codeSystem: CODING_SCHEME.confidentiality, display: 'Normal' }, maskingCoded('MASQUE_PS'), maskingCoded('INVISIBLE_PATIENT')],
    patientId: ss.patientId,
    sourcePatientId: ss.patientId,
    sourcePatientInfo: [],
    legalAuthenticator: ss.authors.find((a) => a.person)?.person ?? first.legalAuthenticator,
    authors: ss.authors,
  };
  return { entry, content };
}

export interface ManifestReference {
  uri: string;
  /** The OID after `urn:oid:`. */
  uniqueId: string;
  digestMethod: string;
  digest: string;
}

export interface SubmissionSignatureVerification {
  ok: boolean;
  reason?: string;
  signatureId?: string;
  signingTime?: string;
  purposeOfSignature?: string;
  /** The first Manifest reference: the SubmissionSet. */
  submissionSetUniqueId?: string;
  /** The other Manifest references: the documents. */
  documents: ManifestReference[];
  certificate?: string;
}

export interface SubmissionSignatureExpectations {
  submissionSetUniqueId?: string;
  /** Documents of the submission: each must be in the Manifest with the SHA-1 of these bytes, and no other. */
  documents?: readonly { uniqueId: string; content: Buffer }[];
  now?: Date;
}

function manifestReferences(manifest: Element): ManifestReference[] {
  return children(manifest, NS.ds, 'Reference').map((r) => {
    const uri = r.getAttribute('URI') ?? '';
    return {
      uri,
      uniqueId: uri.replace(/^urn:oid:/, ''),
      digestMethod: child(r, NS.ds, 'DigestMethod')?.getAttribute('Algorithm') ?? '',
      digest: textOf(child(r, NS.ds, 'DigestValue')),
    };
  });
}

/**
 * Checks a submission-set signature document: the XML-DSig over the Manifest and the XAdES SignedProperties, and
 * the SigningCertificate against the KeyInfo certificate; with `trustedCaPem` (a PEM bundle) the chain of that
 * certificate, without it only the signature itself; with `expected`, the SubmissionSet uniqueId and the SHA-1 of
 * each document. Values are read from the signed bytes only.
 */
export function verifySubmissionSignature(xml: string | Buffer, trustedCaPem?: string, expected: SubmissionSignatureExpectations = {}): SubmissionSignatureVerification {
  const text = typeof xml === 'string' ? xml : xml.toString('utf8');
  const result: SubmissionSignatureVerification = { ok: false, documents: [] };
  const fail = (reason: string): SubmissionSignatureVerification => ({ ...result, ok: false, reason });
  let doc: Document;
  try {
    doc = parseXml(text);
  } catch (err) {
    return fail((err as Error).message);
  }
  const signature = doc.documentElement;
  if (signature.namespaceURI !== NS.ds || signature.localName !== 'Signature') return fail('the document is not a ds:Signature');
  result.signatureId = signature.getAttribute('Id') ?? undefined;
  const checked = checkSignatureWithKeyInfo(signature, text, {
    trustedCaPem,
    now: expected.now,
    checkReferences: () => {
      // xml-crypto does not keep Reference@Type; read it from the SignedInfo element it verifies.
      const signedInfo = child(signature, NS.ds, 'SignedInfo');
      const types = signedInfo ? children(signedInfo, NS.ds, 'Reference').map((r) => r.getAttribute('Type')) : [];
      const manifestAndProperties = types.length === 2 && types.includes(MANIFEST_TYPE) && types.includes(SIGNED_PROPERTIES_TYPE);
      return manifestAndProperties ? undefined : 'SignedInfo must reference the Manifest and the XAdES SignedProperties, and nothing else';
    },
    digestMismatch: 'signature digest mismatch: the Manifest or the signed properties were changed after signing',
  });
  if (checked.certificate !== undefined) result.certificate = checked.certificate;
  if (!checked.ok) return fail(checked.reason);
  const leaf = checked.certificate;
  const signed = checked.signedReferences.map((x) => parseXml(x).documentElement);
  const manifest = signed.find((e) => e.namespaceURI === NS.ds && e.localName === 'Manifest');
  const props = signed.find((e) => e.namespaceURI === NS.xades && e.localName === 'SignedProperties');
  if (!manifest || !props) return fail('the signed references are not a ds:Manifest and a XAdES SignedProperties');
  const [ssRef, ...docRefs] = manifestReferences(manifest);
  result.submissionSetUniqueId = ssRef?.uniqueId;
  result.documents = docRefs;
  result.signingTime = textOf(descendants(props, NS.xades, 'SigningTime')[0]) || undefined;
  result.purposeOfSignature = textOf(descendants(signature, NS.ds, 'SignatureProperty').find((p) => p.getAttribute('Id') === 'purposeOfSignature')) || undefined;

  const certDigest = textOf(descendants(props, NS.xades, 'CertDigest').flatMap((d) => descendants(d, NS.ds, 'DigestValue'))[0]);
  if (certDigest !== certificateSha1(leaf)) return fail('XAdES SigningCertificate does not match the KeyInfo certificate');
  const serial = textOf(descendants(props, NS.ds, 'X509SerialNumber')[0]);
  if (serial !== serialDecimal(leaf)) return fail('XAdES IssuerSerial does not match the KeyInfo certificate');
  if (!ssRef?.uri.startsWith('urn:oid:')) return fail('the first Manifest reference must be urn:oid:<SubmissionSet uniqueId>');
  if (expected.submissionSetUniqueId !== undefined && ssRef.uniqueId !== expected.submissionSetUniqueId) {
    return fail(`the Manifest names SubmissionSet ${ssRef.uniqueId}, not ${expected.submissionSetUniqueId}`);
  }
  if (expected.documents) {
    for (const d of expected.documents) {
      const ref = docRefs.find((r) => r.uniqueId === d.uniqueId);
      if (!ref) return fail(`document ${d.uniqueId} is not in the Manifest`);
      if (ref.digestMethod !== SHA1_DIGEST || ref.digest !== sha1Base64(d.content)) return fail(`document ${d.uniqueId}: Manifest digest does not match its bytes`);
    }
    const extra = docRefs.filter((r) => !expected.documents?.some((d) => d.uniqueId === r.uniqueId));
    if (extra.length > 0) return fail(`the Manifest names documents not in the submission: ${extra.map((r) => r.uniqueId).join(', ')}`);
  }
  return { ...result, ok: true };
}
