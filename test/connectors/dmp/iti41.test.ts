import { XMLSerializer } from '@xmldom/xmldom';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildIti41Request, readIti41Request, type Iti41Request, type Iti41Vihf } from '../../../src/connectors/dmp/iti41.js';
import { xdsSubmissionOf } from '../../../src/documents/xds-metadata.js';
import { parseContentType, parseMultipartRelated, resolveXopIncludes } from '../../../src/connectors/dmp/mtom.js';
import { verifyVihfAssertion, VIHF_ATTRIBUTE } from '../../../src/connectors/dmp/vihf.js';
import { verifySubmissionSignature } from '../../../src/connectors/dmp/xades.js';
import { NS } from '../../../src/connectors/dmp/xds-constants.js';
import { child, children, parseXml } from '../../../src/connectors/dmp/xml-dom.js';
import type { XdsSubmission } from '../../../src/documents/model.js';
import { CDA_BYTES, headerFixture, SUBMISSION_OPTIONS } from './header-fixture.js';
import { throwawayPki, type ThrowawayPki } from './throwaway-pki.js';
import { haveShared, validateXds } from './xds-schemas.js';

const VIHF: Iti41Vihf = {
  nameId: '810000000001',
  subjectId: 'Passerelle',
  roles: [{ code: 'AUTOMATE', codeSystem: '1.2.250.1.213.1.1.4.6', display: 'Automate' }],
  secteurActivite: 'SA33',
  identifiantStructure: '1990000010',
  lps: { id: 'passerelle', name: 'Passerelle', version: '0.1.0', homologation: 'TEST-HOMOLOGATION' },
};
const TO = 'https://dmp.test/si-dmp-server/v2/services/repository';
const MESSAGE_ID = 'urn:uuid:0f1e2d3c-4b5a-4697-8877-665544332211';
const NOW = new Date('2025-03-01T10:45:12Z');

let pki: ThrowawayPki;
let sub: XdsSubmission;
const requests: Partial<Record<'mtom' | 'inline', Iti41Request>> = {};

function build(encoding: 'mtom' | 'inline'): Iti41Request {
  return buildIti41Request(sub, { key: pki.org.key, cert: pki.org.cert, chain: [] }, VIHF, { to: TO, encoding, messageId: MESSAGE_ID, now: NOW });
}

beforeAll(() => {
  pki = throwawayPki();
  sub = xdsSubmissionOf(headerFixture(), CDA_BYTES, SUBMISSION_OPTIONS);
  requests.mtom = build('mtom');
  requests.inline = build('inline');
});

/** The SOAP Body child, with xop:Include replaced by base64 (the XML infoset the XSD describes). */
function bodyChild(request: Iti41Request): string {
  const { mediaType } = parseContentType(request.contentType);
  const envelope = mediaType === 'multipart/related' ? resolveXopIncludes(request.envelope, parseMultipartRelated(request.contentType, request.body).byContentId) : request.envelope;
  const body = child(parseXml(envelope).documentElement, NS.soap12, 'Body') as Element;
  const first = children(body, NS.xdsb, 'ProvideAndRegisterDocumentSetRequest')[0];
  return new XMLSerializer().serializeToString(first as unknown as Parameters<XMLSerializer['serializeToString']>[0]);
}

describe.each(['mtom', 'inline'] as const)('ITI-41 request, %s', (encoding) => {
  const request = () => requests[encoding] as Iti41Request;

  it.skipIf(!haveShared)('has a SOAP body that validates against XDS.b_DocumentRepository.xsd', async () => {
    const result = await validateXds(bodyChild(request()));
    expect(result.errors.map((e) => e.rawMessage)).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('carries the WS-Addressing headers and the VIHF in wsse:Security', () => {
    const header = child(parseXml(request().envelope).documentElement, NS.soap12, 'Header') as Element;
    const action = child(header, NS.wsa, 'Action') as Element;
    expect(action.textContent).toBe('urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b');
    expect(action.getAttributeNS(NS.soap12, 'mustUnderstand')).toBe('true');
    expect(child(header, NS.wsa, 'MessageID')?.textContent).toBe(MESSAGE_ID);
    expect(child(header, NS.wsa, 'To')?.textContent).toBe(TO);
    expect(child(child(header, NS.wsa, 'ReplyTo') as Element, NS.wsa, 'Address')?.textContent).toBe('http://www.w3.org/2005/08/addressing/anonymous');
    expect(children(child(header, NS.wsse, 'Security') as Element, NS.saml2, 'Assertion')).toHaveLength(1);
  });

  it('reads back: same document bytes, a VIHF that verifies in place, a signature over those bytes', () => {
    const received = readIti41Request(request().contentType, request().body);
    expect(received.action).toBe('urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b');
    const entry = sub.documents[0].entry;
    expect(received.documents.get(entry.entryUuid)?.equals(CDA_BYTES)).toBe(true);
    const signatureBytes = received.documents.get(request().signature.entry.entryUuid) as Buffer;
    expect(signatureBytes.equals(request().signature.content)).toBe(true);

    const vihf = verifyVihfAssertion(received.envelope, pki.ca.cert);
    expect(vihf.reason).toBeUndefined();
    expect(vihf.attributes[VIHF_ATTRIBUTE.resourceId]).toEqual([sub.submissionSet.patientId]);

    const signature = verifySubmissionSignature(signatureBytes, pki.ca.cert, {
      submissionSetUniqueId: sub.submissionSet.uniqueId,
      documents: [{ uniqueId: entry.uniqueId, content: received.documents.get(entry.entryUuid) as Buffer }],
    });
    expect(signature.reason).toBeUndefined();
  });

  it('is reproducible: the same inputs give the same bytes', () => {
    expect(build(encoding).body.equals(request().body)).toBe(true);
  });
});

describe('ITI-41 packaging', () => {
  it('MTOM: envelope in <0.1> as application/xop+xml, documents as application/octet-stream parts cid:0.2, cid:0.3', () => {
    const r = requests.mtom as Iti41Request;
    const { mediaType, params } = parseContentType(r.contentType);
    expect(mediaType).toBe('multipart/related');
    expect(params).toMatchObject({ type: 'application/xop+xml', start: '<0.1>', 'start-info': 'application/soap+xml', action: 'urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b' });
    const parsed = parseMultipartRelated(r.contentType, r.body);
    expect(parsed.root.contentId).toBe('0.1');
    expect(parsed.root.contentType).toBe('application/xop+xml; charset=UTF-8; type="application/soap+xml"');
    expect(parsed.parts.slice(1).map((p) => [p.contentId, p.contentType])).toEqual([
      ['0.2', 'application/octet-stream'],
      ['0.3', 'application/octet-stream'],
    ]);
    expect(r.envelope).toContain(`<xdsb:Document id="${sub.documents[0].entry.entryUuid}"><xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:0.2"/></xdsb:Document>`);
    expect(r.envelope).toContain(`<xdsb:Document id="${r.signature.entry.entryUuid}"><xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:0.3"/></xdsb:Document>`);
  });

  it('inline: one SOAP 1.2 document with the action in the Content-Type', () => {
    const r = requests.inline as Iti41Request;
    expect(r.contentType).toBe('application/soap+xml; charset=UTF-8; action="urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"');
    expect(r.body.toString('utf8')).toBe(r.envelope);
    expect(r.envelope).toContain(`<xdsb:Document id="${sub.documents[0].entry.entryUuid}">${CDA_BYTES.toString('base64')}</xdsb:Document>`);
  });

  it('names the signature document <SubmissionSet uniqueId>.1 unless told otherwise', () => {
    expect((requests.mtom as Iti41Request).signature.entry.uniqueId).toBe(`${SUBMISSION_OPTIONS.submissionSetUniqueId}.1`);
    const other = buildIti41Request(sub, { key: pki.org.key, cert: pki.org.cert, chain: [] }, VIHF, { to: TO, encoding: 'inline', messageId: MESSAGE_ID, now: NOW, signatureUniqueId: '1.2.3.4.5' });
    expect(other.signature.entry.uniqueId).toBe('1.2.3.4.5');
  });
});
