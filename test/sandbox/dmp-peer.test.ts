// The local DMP peer over real mutual TLS on a random port, fed by the gateway's ITI-41 / ITI-18 / ITI-43 client:
// what it accepts comes back unchanged, and each rule a strict DMP applies refuses what breaks it, with an error
// naming the field.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryIti18FindDocuments, retrieveIti43, sendIti41, type DmpTransport } from '../../src/connectors/dmp/client.js';
import { loadOrganisationCredentials } from '../../src/connectors/dmp/tls.js';
import { readSoapMessage } from '../../src/connectors/dmp/soap.js';
import { descendants } from '../../src/connectors/dmp/xml-dom.js';
import { randomUUID } from 'node:crypto';
import { XMLSerializer } from '@xmldom/xmldom';
import { resolveXopIncludes } from '../../src/connectors/dmp/mtom.js';
import { escapeXml, soapContentType, soapEnvelope } from '../../src/connectors/dmp/soap.js';
import { buildVihfAssertion } from '../../src/connectors/dmp/vihf.js';
import { ACTIONS, AVAILABILITY_STATUS, NS, STORED_QUERY } from '../../src/connectors/dmp/xds-constants.js';
import { XdsSchemas } from '../../src/sandbox/dmp/xsd.js';
import { generateTestPki, type TestPki } from '../../src/sandbox/pki.js';
import { REGISTRY_PATH, startDmpPeer, type DmpPeer } from '../../src/sandbox/dmp/index.js';
import {
  OTHER_INS,
  OTHER_PATIENT_ID,
  PATIENT_ID,
  REPOSITORY_UNIQUE_ID,
  cdaN1,
  iti41,
  newOid,
  post,
  signingOf,
  submissionOf,
  tlsVerdict,
  vihfOf,
} from './dmp-support.js';
import { SHARED_STANDARDS, sharedFile } from '../support/shared.js';

const SCHEMAS = path.join(SHARED_STANDARDS, 'ihe-xds-ebrs-schemas');
const haveSchemas = sharedFile('ihe-xds-ebrs-schemas/IHE/XDS.b_DocumentRepository.xsd', 'the peer’s XSD test (the peer runs without XSD validation)');

let dir: string;
let pki: TestPki;
let peer: DmpPeer;
let transport: DmpTransport;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'dmp-peer-'));
  pki = await generateTestPki({ dir: path.join(dir, 'certs') });
  peer = await startDmpPeer({
    port: 0,
    tls: { key: pki.pem.serverKey, cert: pki.pem.server, ca: pki.pem.ca },
    vihfTrust: pki.pem.ca,
    dataFile: path.join(dir, 'dmp.sqlite'),
    ...(haveSchemas ? { schemaDir: SCHEMAS } : {}),
    repositoryUniqueId: REPOSITORY_UNIQUE_ID,
  });
  // The client's own loader reads the generated PKCS#12 and trust bundle, as the gateway does in production.
  const credentials = await loadOrganisationCredentials({ pkcs12Path: pki.files.orgP12, passphrase: pki.passphrase, caPath: pki.files.ca });
  transport = { url: peer.iti41Url, credentials };
});

afterAll(async () => {
  await peer?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Sends an ITI-41 through the client and returns its outcome. */
async function submit(sub: ReturnType<typeof submissionOf>, options: Parameters<typeof iti41>[2] = {}) {
  return sendIti41(iti41(pki, sub, { to: peer.iti41Url, ...options }), transport);
}

/** Sends raw bytes (an altered request) and reads the registry answer or fault. */
async function submitRaw(contentType: string, body: string | Buffer) {
  const answer = await post(peer.iti41Url, contentType, body, pki);
  const message = readSoapMessage(answer.contentType, answer.body);
  const errors = message.body
    ? descendants(message.body, NS.rs, 'RegistryError').map((e) => ({ errorCode: e.getAttribute('errorCode'), codeContext: e.getAttribute('codeContext') ?? '' }))
    : [];
  return { answer, message, errors };
}

const callOptions = () => ({ ...transport, url: peer.iti18Url, signing: signingOf(pki), vihf: vihfOf(pki, PATIENT_ID) });

describe('mutual TLS', () => {
  it('accepts the organisation certificate issued by the configured CA', async () => {
    expect(await tlsVerdict(peer.port, pki, 'org')).toBe('accepted');
  });

  it('refuses a client certificate from another CA at the TLS layer, before any HTTP', async () => {
    // Node completes the handshake and then drops the unauthorised socket (no TLS alert): the client sees the
    // connection close (or reset) without a byte of HTTP.
    expect(await tlsVerdict(peer.port, pki, 'intruder')).toMatch(/^(closed|ECONNRESET|ERR_SSL_\w+)$/);
    await expect(post(peer.iti41Url, 'application/soap+xml', '<x/>', pki, 'intruder')).rejects.toThrow();
  });

  it('refuses a connection without a client certificate', async () => {
    expect(await tlsVerdict(peer.port, pki, 'none')).toMatch(/^(closed|ECONNRESET|ERR_SSL_\w+)$/);
    await expect(post(peer.iti41Url, 'application/soap+xml', '<x/>', pki, 'none')).rejects.toThrow();
  });
});

describe('ITI-41 accepted, then found (ITI-18) and retrieved (ITI-43) unchanged', () => {
  for (const encoding of ['mtom', 'inline'] as const) {
    it(`registers a well-formed submission sent ${encoding === 'mtom' ? 'as MTOM/XOP' : 'inline'}`, async () => {
      const uniqueId = newOid();
      const sub = submissionOf({ uniqueId });
      const outcome = await submit(sub, { encoding });
      expect(outcome.reason).toBeUndefined();
      expect(outcome).toMatchObject({ status: 'Success', disposition: 'success', httpStatus: 200 });

      const stored = peer.documents().find((d) => d.uniqueId === uniqueId);
      expect(stored).toMatchObject({ status: 'Approved', patientId: PATIENT_ID, entryUuid: sub.documents[0].entry.entryUuid });
      expect(stored?.content.equals(sub.documents[0].content)).toBe(true);

      const found = await queryIti18FindDocuments(PATIENT_ID, callOptions());
      expect(found.status).toBe('Success');
      const entry = found.documents.find((d) => d.uniqueId === uniqueId);
      expect(entry).toMatchObject({ status: AVAILABILITY_STATUS.approved, repositoryUniqueId: REPOSITORY_UNIQUE_ID, hash: sub.documents[0].entry.hash });

      const retrieved = await retrieveIti43(uniqueId, REPOSITORY_UNIQUE_ID, { ...callOptions(), url: peer.iti43Url });
      expect(retrieved.status).toBe('Success');
      expect(retrieved.documents).toHaveLength(1);
      expect(retrieved.documents[0].content.equals(sub.documents[0].content)).toBe(true);
    });
  }

  it('stores the XAdES signature entry next to the document', async () => {
    const uniqueId = newOid();
    const sub = submissionOf({ uniqueId });
    expect((await submit(sub)).status).toBe('Success');
    const set = peer.documents().filter((d) => d.submissionSetUniqueId === sub.submissionSet.uniqueId);
    expect(set.map((d) => d.uniqueId).sort()).toEqual([uniqueId, `${sub.submissionSet.uniqueId}.1`].sort());
  });

  it('answers an identical re-send with Success and keeps one copy', async () => {
    const sub = submissionOf({ uniqueId: newOid() });
    const request = iti41(pki, sub, { to: peer.iti41Url });
    expect((await sendIti41(request, transport)).status).toBe('Success');
    const count = peer.documents().length;
    expect((await sendIti41(request, transport)).status).toBe('Success');
    expect(peer.documents()).toHaveLength(count);
  });

  it('deprecates the replaced entry on RPLC', async () => {
    const v1 = newOid();
    expect((await submit(submissionOf({ uniqueId: v1 }))).status).toBe('Success');
    const v2 = newOid();
    const outcome = await submit(submissionOf({ uniqueId: v2, setId: `${v1}.0`, version: 2, replaces: v1, text: 'version 2' }));
    expect(outcome.reason).toBeUndefined();
    expect(peer.documents().find((d) => d.uniqueId === v1)?.status).toBe('Deprecated');
    expect(peer.documents().find((d) => d.uniqueId === v2)?.status).toBe('Approved');
    const approved = await queryIti18FindDocuments(PATIENT_ID, callOptions());
    expect(approved.documents.map((d) => d.uniqueId)).toContain(v2);
    expect(approved.documents.map((d) => d.uniqueId)).not.toContain(v1);
  });

  it('does not show another patient’s documents through a VIHF for this patient', async () => {
    const found = await queryIti18FindDocuments(PATIENT_ID, { ...callOptions(), vihf: vihfOf(pki, OTHER_PATIENT_ID) });
    expect(found.status).toBe('Failure');
    expect(found.errors[0].errorCode).toBe('XDSPatientIdDoesNotMatch');
  });
});

describe('answers the XDS.b schemas accept', () => {
  /** A SOAP request to the peer with a VIHF for PATIENT_ID; returns the body element of the answer, xop resolved. */
  async function call(url: string, action: string, bodyXml: string): Promise<string> {
    const assertion = buildVihfAssertion({ ...vihfOf(pki, PATIENT_ID), signing: signingOf(pki), now: new Date() });
    const envelope = soapEnvelope({ action, to: url, messageId: randomUUID(), security: assertion }, bodyXml);
    const answer = await post(url, soapContentType(action), envelope, pki);
    const message = readSoapMessage(answer.contentType, answer.body);
    return resolveXopIncludes(serialize(message.body), message.parts);
  }

  function serialize(element: Element | undefined): string {
    if (!element) throw new Error('no SOAP body');
    return new XMLSerializer().serializeToString(element as unknown as Parameters<XMLSerializer['serializeToString']>[0]);
  }

  it.skipIf(!haveSchemas)('RegistryResponse, AdhocQueryResponse and RetrieveDocumentSetResponse validate', async () => {
    const schemas = await XdsSchemas.load(SCHEMAS);
    const uniqueId = newOid();
    const request = iti41(pki, submissionOf({ uniqueId }), { to: peer.iti41Url });
    const answer = await post(peer.iti41Url, request.contentType, request.body, pki);
    const responses = [serialize(readSoapMessage(answer.contentType, answer.body).body)];
    responses.push(
      await call(
        peer.iti18Url,
        ACTIONS.iti18,
        `<query:AdhocQueryRequest xmlns:query="${NS.query}" xmlns:rim="${NS.rim}"><query:ResponseOption returnType="LeafClass" returnComposedObjects="true"/>` +
          `<rim:AdhocQuery id="${STORED_QUERY.findDocuments}">` +
          `<rim:Slot name="$XDSDocumentEntryPatientId"><rim:ValueList><rim:Value>'${escapeXml(PATIENT_ID)}'</rim:Value></rim:ValueList></rim:Slot>` +
          `<rim:Slot name="$XDSDocumentEntryStatus"><rim:ValueList><rim:Value>('${AVAILABILITY_STATUS.approved}')</rim:Value></rim:ValueList></rim:Slot>` +
          `</rim:AdhocQuery></query:AdhocQueryRequest>`,
      ),
    );
    responses.push(
      await call(
        peer.iti43Url,
        ACTIONS.iti43,
        `<xdsb:RetrieveDocumentSetRequest xmlns:xdsb="${NS.xdsb}"><xdsb:DocumentRequest><xdsb:RepositoryUniqueId>${REPOSITORY_UNIQUE_ID}</xdsb:RepositoryUniqueId>` +
          `<xdsb:DocumentUniqueId>${uniqueId}</xdsb:DocumentUniqueId></xdsb:DocumentRequest></xdsb:RetrieveDocumentSetRequest>`,
      ),
    );
    expect(responses.map((r) => r.slice(0, r.indexOf(' ')))).toEqual(['<rs:RegistryResponse', '<query:AdhocQueryResponse', '<xdsb:RetrieveDocumentSetResponse']);
    for (const r of responses) expect(await schemas.validate(r)).toEqual([]);
  });
});

describe('ITI-41 refused: registry errors naming the field', () => {
  it('XDSNonIdenticalHash: a uniqueId already registered with other bytes', async () => {
    const uniqueId = newOid();
    expect((await submit(submissionOf({ uniqueId }))).status).toBe('Success');
    const outcome = await submit(submissionOf({ uniqueId, text: 'other content' }));
    expect(outcome.disposition).toBe('permanent');
    expect(outcome.errors.map((e) => e.errorCode)).toEqual(['XDSNonIdenticalHash']);
    expect(outcome.errors[0].codeContext).toContain(uniqueId);
  });

  it('XDSRepositoryMetadataError: a hash that is not the SHA-1 of the bytes', async () => {
    const outcome = await submit(submissionOf({ uniqueId: newOid() }, { entry: { hash: '0'.repeat(40) } }));
    expect(outcome.errors.map((e) => e.errorCode)).toContain('XDSRepositoryMetadataError');
    expect(outcome.errors.find((e) => e.errorCode === 'XDSRepositoryMetadataError')?.codeContext).toMatch(/hash 0{40} is not the SHA-1/);
  });

  it('XDSRepositoryMetadataError: a size that is not the byte count', async () => {
    const outcome = await submit(submissionOf({ uniqueId: newOid() }, { entry: { size: 12 } }));
    expect(outcome.errors).toEqual([expect.objectContaining({ errorCode: 'XDSRepositoryMetadataError', codeContext: expect.stringMatching(/size 12 is not the size/) })]);
  });

  it('XDSRegistryMetadataError: a DocumentEntry without classCode', async () => {
    const sub = submissionOf({ uniqueId: newOid() });
    const request = iti41(pki, sub, { to: peer.iti41Url });
    const entryUuid = sub.documents[0].entry.entryUuid;
    const withoutClassCode = request.envelope.replace(
      new RegExp(`<rim:Classification [^>]*classificationScheme="urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a" classifiedObject="${entryUuid}"[\\s\\S]*?</rim:Classification>`),
      '',
    );
    expect(withoutClassCode).not.toBe(request.envelope);
    const { errors } = await submitRaw(request.contentType, withoutClassCode);
    expect(errors).toContainEqual({ errorCode: 'XDSRegistryMetadataError', codeContext: expect.stringContaining(`DocumentEntry ${entryUuid}: classCode is missing`) });
  });

  it('XDSRegistryMetadataError: a classCode that does not go with the typeCode (ASS_X16)', async () => {
    const outcome = await submit(submissionOf({ uniqueId: newOid() }, { entry: { classCode: { code: '10', codeSystem: '1.2.250.1.213.1.1.4.1', display: 'Compte rendu' } } }));
    expect(outcome.errors).toEqual([
      expect.objectContaining({ errorCode: 'XDSRegistryMetadataError', codeContext: expect.stringMatching(/classCode "10" does not match typeCode "56445-0", which ASS_X16 classes as "11"/) }),
    ]);
  });

  it('XDSRegistryMetadataError: a typeCode outside JDV_J66', async () => {
    const typeCode = { code: '11488-4', codeSystem: '2.16.840.1.113883.6.99', display: 'wrong system' };
    const uniqueId = newOid();
    const outcome = await submit(submissionOf({ uniqueId, typeCode }, { entry: { typeCode } }));
    expect(outcome.errors.some((e) => /typeCode "11488-4" \(codingScheme 2\.16\.840\.1\.113883\.6\.99\) is not in JDV_J66/.test(e.codeContext))).toBe(true);
  });

  it('XDSUnknownPatientId: a patientId that is not an INS', async () => {
    const notIns = '123456^^^&1.2.250.1.999.1&ISO^PI';
    const sub = submissionOf({ uniqueId: newOid() }, { entry: { patientId: notIns }, patientId: notIns });
    const outcome = await submit(sub, { resourceId: PATIENT_ID });
    expect(outcome.errors.map((e) => e.errorCode)).toContain('XDSUnknownPatientId');
    expect(outcome.errors.find((e) => e.errorCode === 'XDSUnknownPatientId')?.codeContext).toMatch(/patientId .* is not a CX|not an INS OID/);
  });

  it('XDSPatientIdDoesNotMatch: the CDA recordTarget names another patient than the metadata', async () => {
    const uniqueId = newOid();
    const outcome = await submit(submissionOf({ uniqueId }, { cda: cdaN1({ uniqueId, ins: OTHER_INS }) }));
    expect(outcome.errors).toEqual([expect.objectContaining({ errorCode: 'XDSPatientIdDoesNotMatch', codeContext: expect.stringContaining('CDA recordTarget INS') })]);
  });

  it('XDSPatientIdDoesNotMatch: the VIHF is for another patient', async () => {
    const outcome = await submit(submissionOf({ uniqueId: newOid() }), { resourceId: OTHER_PATIENT_ID });
    expect(outcome.errors).toEqual([expect.objectContaining({ errorCode: 'XDSPatientIdDoesNotMatch', codeContext: expect.stringContaining('VIHF resource-id') })]);
  });

  it('XDSRegistryError: an RPLC whose target is not registered', async () => {
    const outcome = await submit(submissionOf({ uniqueId: newOid(), replaces: newOid() }));
    expect(outcome.errors).toEqual([expect.objectContaining({ errorCode: 'XDSRegistryError', codeContext: expect.stringMatching(/RPLC target urn:uuid:.* is not in the registry/) })]);
  });

  it('XDSRegistryMetadataError: the XAdES Manifest does not match the document sent', async () => {
    const uniqueId = newOid();
    const signed = cdaN1({ uniqueId });
    const swapped = cdaN1({ uniqueId, text: 'not what was signed' });
    const sub = submissionOf({ uniqueId }, { cda: signed });
    const request = iti41(pki, sub, { to: peer.iti41Url });
    const entry = sub.documents[0].entry;
    const { entry: swappedEntry } = submissionOf({ uniqueId }, { cda: swapped }).documents[0];
    const altered = request.envelope
      .replace(signed.toString('base64'), swapped.toString('base64'))
      .replace(`<rim:Value>${entry.hash}</rim:Value>`, `<rim:Value>${swappedEntry.hash}</rim:Value>`)
      .replace(`<rim:Value>${entry.size}</rim:Value>`, `<rim:Value>${swappedEntry.size}</rim:Value>`);
    const { errors } = await submitRaw(request.contentType, altered);
    expect(errors).toEqual([{ errorCode: 'XDSRegistryMetadataError', codeContext: expect.stringMatching(/XAdES signature of the submission set: document .* Manifest digest does not match/) }]);
  });

  it.skipIf(!haveSchemas)('XDSRegistryMetadataError: a body the XDS.b schema rejects (a Slot after the Classifications)', async () => {
    const sub = submissionOf({ uniqueId: newOid() });
    const request = iti41(pki, sub, { to: peer.iti41Url });
    const lateSlot = '<rim:Slot name="URI"><rim:ValueList><rim:Value>DOC0001.XML</rim:Value></rim:ValueList></rim:Slot>';
    const misplaced = request.envelope.replace('</rim:ExtrinsicObject>', `${lateSlot}</rim:ExtrinsicObject>`);
    const { errors } = await submitRaw(request.contentType, misplaced);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => e.errorCode === 'XDSRegistryMetadataError' && e.codeContext.startsWith('XSD'))).toBe(true);
    expect(errors[0].codeContext).toContain('Slot');
  });

  it('registers nothing of a refused submission', async () => {
    const uniqueId = newOid();
    await submit(submissionOf({ uniqueId }, { entry: { size: 1 } }));
    expect(peer.documents().some((d) => d.uniqueId === uniqueId)).toBe(false);
  });
});

describe('ITI-41 refused at the SOAP / VIHF layer: SOAP 1.2 Sender faults, HTTP 400', () => {
  it('a VIHF altered after signing', async () => {
    const request = iti41(pki, submissionOf({ uniqueId: newOid() }), { to: peer.iti41Url });
    const tampered = request.envelope.replace('<saml2:AttributeValue>Passerelle (tests)</saml2:AttributeValue>', '<saml2:AttributeValue>Someone else</saml2:AttributeValue>');
    expect(tampered).not.toBe(request.envelope);
    const { answer, message } = await submitRaw(request.contentType, tampered);
    expect(answer.status).toBe(400);
    expect(message.fault).toMatchObject({ code: 'Sender', subcodes: ['FailedAuthentication'] });
    expect(message.fault?.reason).toMatch(/VIHF: signature digest mismatch/);
  });

  it('a VIHF signed by a certificate from an untrusted CA', async () => {
    const outcome = await submit(submissionOf({ uniqueId: newOid() }), { signer: 'intruder' });
    expect(outcome).toMatchObject({ httpStatus: 400, disposition: 'permanent' });
    expect(outcome.reason).toMatch(/SOAP Fault Sender\/FailedAuthentication: VIHF: signing certificate not trusted/);
  });

  it('a VIHF issued too long ago (a replay) or in the future', async () => {
    for (const offsetMs of [-2 * 3600_000, 3600_000]) {
      const request = iti41(pki, submissionOf({ uniqueId: newOid() }), { to: peer.iti41Url, now: new Date(Date.now() + offsetMs) });
      const { answer, message } = await submitRaw(request.contentType, request.envelope);
      expect(answer.status).toBe(400);
      expect(message.fault).toMatchObject({ code: 'Sender', subcodes: ['MessageExpired'] });
      expect(message.fault?.reason).toMatch(/VIHF: issued at .* outside \[now − 10 min, now \+ 5 min\]/);
    }
  });

  it('no VIHF at all', async () => {
    const request = iti41(pki, submissionOf({ uniqueId: newOid() }), { to: peer.iti41Url });
    const bare = request.envelope.replace(/<wsse:Security[\s\S]*<\/wsse:Security>/, '');
    const { answer, message } = await submitRaw(request.contentType, bare);
    expect(answer.status).toBe(400);
    expect(message.fault).toMatchObject({ code: 'Sender', subcodes: ['InvalidSecurity'] });
  });

  it('an action the endpoint does not serve', async () => {
    const request = iti41(pki, submissionOf({ uniqueId: newOid() }), { to: peer.iti41Url });
    const answer = await post(`${peer.url}${REGISTRY_PATH}`, request.contentType, request.body, pki);
    expect(answer.status).toBe(400);
    expect(readSoapMessage(answer.contentType, answer.body).fault).toMatchObject({ code: 'Sender', subcodes: ['ActionNotSupported'] });
  });

  it('a body that is not XML', async () => {
    const answer = await post(peer.iti41Url, 'application/soap+xml; charset=UTF-8', 'not xml', pki);
    expect(answer.status).toBe(400);
    expect(readSoapMessage(answer.contentType, answer.body).fault?.code).toBe('Sender');
  });

  it('a SOAP 1.1 media type', async () => {
    const answer = await post(peer.iti41Url, 'text/xml; charset=UTF-8', '<x/>', pki);
    expect(answer.status).toBe(415);
  });
});

describe('failure injection (tests only)', () => {
  it('answers 503 the next time, then normally', async () => {
    peer.failNext({ kind: 'http-status', status: 503 });
    const sub = submissionOf({ uniqueId: newOid() });
    const first = await submit(sub);
    expect(first).toMatchObject({ httpStatus: 503, disposition: 'transient' });
    expect((await submit(sub)).status).toBe('Success');
  });

  it('answers a transient registry error', async () => {
    peer.failNext({ kind: 'registry-error', errorCode: 'XDSRegistryBusy' });
    const outcome = await submit(submissionOf({ uniqueId: newOid() }));
    expect(outcome).toMatchObject({ disposition: 'transient', errors: [expect.objectContaining({ errorCode: 'XDSRegistryBusy' })] });
  });

  it('loses the answer of a registered submission; the re-send is a Success', async () => {
    peer.failNext({ kind: 'lost-response' });
    const uniqueId = newOid();
    const request = iti41(pki, submissionOf({ uniqueId }), { to: peer.iti41Url });
    expect((await sendIti41(request, transport)).disposition).toBe('transient');
    expect(peer.documents().some((d) => d.uniqueId === uniqueId)).toBe(true);
    expect((await sendIti41(request, transport)).status).toBe('Success');
  });
});
