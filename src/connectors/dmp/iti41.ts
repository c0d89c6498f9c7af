// ITI-41 Provide and Register Document Set-b as the DMP takes it: the submission signed (XAdES), the VIHF in the
// SOAP header, the metadata and documents in the body, sent as MTOM/XOP (what the DMP expects) or inline base64.
// The reading side (`readIti41Request`) is here too; only the tests use it (the local DMP peer reads requests itself).
import { createHash } from 'node:crypto';
import type { XdsSubmission } from '../../documents/model.js';
import { submitObjectsRequest } from './ebrim.js';
import { buildMultipartRelated, xopBytes } from './mtom.js';
import { escapeXml, messageIdUrn, readSoapMessage, soapContentType, soapEnvelope } from './soap.js';
import { buildVihfAssertion, type VihfAttributes } from './vihf.js';
import { signSubmissionSet, type SubmissionSignature } from './xades.js';
import { ACTIONS, NS } from './xds-constants.js';
import { children, descendants, textOf } from './xml-dom.js';
import type { SignatureAlgorithm, SigningCredentials } from './xmldsig.js';

export type Iti41Encoding = 'mtom' | 'inline';

export interface Iti41Options {
  /** Repository endpoint (WS-Addressing To). */
  to: string;
  encoding: Iti41Encoding;
  /** WS-Addressing MessageID (`urn:uuid:…`, or a bare UUID). */
  messageId: string;
  /** Signing time of the VIHF (and of the submission set unless `signingTime` is given). */
  now: Date;
  /** Signing time of the submission set (XAdES): a value fixed with the document keeps a re-send byte-identical. */
  signingTime?: Date;
  /** Default rsa-sha256, for both signatures. */
  algorithm?: SignatureAlgorithm;
  /**
   * uniqueId of the signature document. Default `<SubmissionSet uniqueId>.1`: a child of an OID belongs to the
   * OID's owner, so it is unique as long as SubmissionSet uniqueIds come from a branch of their own.
   */
  signatureUniqueId?: string;
}

/** The VIHF content; the patient (`resourceId`) defaults to the submission's patientId. */
export type Iti41Vihf = Omit<VihfAttributes, 'resourceId'> & { resourceId?: string };

export interface Iti41Request {
  /** HTTP Content-Type (multipart/related… for MTOM, application/soap+xml… inline). */
  contentType: string;
  body: Buffer;
  /** The SOAP envelope (for MTOM: the root part, with xop:Include elements). */
  envelope: string;
  messageId: string;
  /** The signature document added to the submission. */
  signature: SubmissionSignature;
}

/** Content-ID of the root (envelope) part; documents follow as 0.2, 0.3, … (DRIMbox numbering). */
const ROOT_CONTENT_ID = '0.1';

function documentElement(id: string, inner: string): string {
  return `<xdsb:Document id="${escapeXml(id)}">${inner}</xdsb:Document>`;
}

/** Builds the complete ITI-41 HTTP request (headers to set: Content-Type; method POST to `options.to`). */
export function buildIti41Request(sub: XdsSubmission, signing: SigningCredentials, vihf: Iti41Vihf, options: Iti41Options): Iti41Request {
  const algorithm = options.algorithm ?? 'rsa-sha256';
  const messageId = messageIdUrn(options.messageId);
  const signature = signSubmissionSet(sub, signing, {
    uniqueId: options.signatureUniqueId ?? `${sub.submissionSet.uniqueId}.1`,
    signingTime: options.signingTime ?? options.now,
    algorithm,
  });
  // The assertion ID is derived from the message id, so the same inputs give the same request bytes.
  const assertionId = `_${createHash('sha256').update(`vihf:${messageId}`).digest('hex').slice(0, 32)}`;
  const assertion = buildVihfAssertion({ ...vihf, resourceId: vihf.resourceId ?? sub.submissionSet.patientId, signing, now: options.now, algorithm, assertionId });
  const documents = [...sub.documents.map((d) => ({ id: d.entry.entryUuid, content: d.content })), { id: signature.entry.entryUuid, content: signature.content }];
  const mtom = options.encoding === 'mtom';
  const documentsXml = documents
    .map((d, i) => documentElement(d.id, mtom ? `<xop:Include xmlns:xop="${NS.xop}" href="cid:0.${i + 2}"/>` : d.content.toString('base64')))
    .join('');
  const body = `<xdsb:ProvideAndRegisterDocumentSetRequest xmlns:xdsb="${NS.xdsb}">${submitObjectsRequest(sub, signature)}${documentsXml}</xdsb:ProvideAndRegisterDocumentSetRequest>`;
  const envelope = soapEnvelope({ action: ACTIONS.iti41, to: options.to, messageId, security: assertion }, body);
  if (!mtom) return { contentType: soapContentType(ACTIONS.iti41), body: Buffer.from(envelope, 'utf8'), envelope, messageId, signature };

  // A boundary derived from the message id keeps the request reproducible; a clash with the content is refused.
  const boundary = `MIMEBoundary_${createHash('sha256').update(messageId).digest('hex').slice(0, 32)}`;
  const packed = buildMultipartRelated(
    { contentId: ROOT_CONTENT_ID, contentType: 'application/xop+xml; charset=UTF-8; type="application/soap+xml"', body: Buffer.from(envelope, 'utf8') },
    documents.map((d, i) => ({ contentId: `0.${i + 2}`, contentType: 'application/octet-stream', body: d.content })),
    { boundary, type: 'application/xop+xml', startInfo: 'application/soap+xml', action: ACTIONS.iti41 },
  );
  return { ...packed, envelope, messageId, signature };
}

export interface ReceivedIti41 {
  /** The envelope as received (for MTOM: the root part). */
  envelope: string;
  action?: string;
  /** The `lcm:SubmitObjectsRequest` element. */
  submitObjectsRequest?: Element;
  /** Document bytes by xdsb:Document/@id (the ExtrinsicObject id), from the MTOM part or the inline base64. */
  documents: Map<string, Buffer>;
}

/** Reads an ITI-41 HTTP request (MTOM or inline). Throws on a malformed message or a dangling xop:Include. */
export function readIti41Request(contentType: string, payload: Buffer): ReceivedIti41 {
  const message = readSoapMessage(contentType, payload);
  const request = message.body;
  if (!request || request.namespaceURI !== NS.xdsb || request.localName !== 'ProvideAndRegisterDocumentSetRequest') {
    throw new Error('the SOAP body is not an xdsb:ProvideAndRegisterDocumentSetRequest');
  }
  const header = children(message.doc.documentElement, NS.soap12, 'Header')[0];
  const action = header ? textOf(children(header, NS.wsa, 'Action')[0]) : '';
  const documents = new Map<string, Buffer>();
  for (const d of children(request, NS.xdsb, 'Document')) {
    const include = descendants(d, NS.xop, 'Include')[0];
    const bytes = include ? xopBytes(include.getAttribute('href') ?? '', message.parts) : Buffer.from(textOf(d), 'base64');
    documents.set(d.getAttribute('id') ?? '', bytes);
  }
  const submit = children(request, NS.lcm, 'SubmitObjectsRequest')[0];
  return { envelope: message.envelope, ...(action ? { action } : {}), ...(submit ? { submitObjectsRequest: submit } : {}), documents };
}
