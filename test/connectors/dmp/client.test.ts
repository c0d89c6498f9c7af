// The client against a real HTTPS server with mutual TLS (a stand-in for the DMP that answers what each test says).
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { queryIti18FindDocuments, retrieveIti43, sendIti41, type DmpTransport } from '../../../src/connectors/dmp/client.js';
import { buildIti41Request, readIti41Request, type Iti41Request } from '../../../src/connectors/dmp/iti41.js';
import { xdsSubmissionOf } from '../../../src/documents/xds-metadata.js';
import { buildMultipartRelated } from '../../../src/connectors/dmp/mtom.js';
import { readSoapMessage } from '../../../src/connectors/dmp/soap.js';
import { loadOrganisationCredentials, type OrganisationCredentials } from '../../../src/connectors/dmp/tls.js';
import { verifyVihfAssertion, VIHF_ATTRIBUTE, type VihfAttributes } from '../../../src/connectors/dmp/vihf.js';
import { NS } from '../../../src/connectors/dmp/xds-constants.js';
import { descendants } from '../../../src/connectors/dmp/xml-dom.js';
import { CDA_BYTES, headerFixture, SUBMISSION_OPTIONS } from './header-fixture.js';
import { pkcs12Of, throwawayPki, type ThrowawayPki } from './throwaway-pki.js';

type Answer = { status: number; contentType: string; body: Buffer | string } | 'hang';
interface Received {
  contentType: string;
  body: Buffer;
  clientCn?: string;
}

let pki: ThrowawayPki;
let server: Server;
let url: string;
let creds: OrganisationCredentials;
let answer: (r: Received) => Answer;
const received: Received[] = [];

const soap = (body: string) => `<?xml version="1.0"?><s:Envelope xmlns:s="${NS.soap12}"><s:Header/><s:Body>${body}</s:Body></s:Envelope>`;
const SOAP_XML = 'application/soap+xml; charset=UTF-8';
function registryResponse(status: 'Success' | 'Failure', errors: { code: string; context: string; severity?: 'Error' | 'Warning' }[] = []): Answer {
  const list = errors.length
    ? `<rs:RegistryErrorList>${errors.map((e) => `<rs:RegistryError errorCode="${e.code}" codeContext="${e.context}" severity="urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:${e.severity ?? 'Error'}"/>`).join('')}</rs:RegistryErrorList>`
    : '';
  return { status: 200, contentType: SOAP_XML, body: soap(`<rs:RegistryResponse xmlns:rs="${NS.rs}" status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:${status}">${list}</rs:RegistryResponse>`) };
}
function fault(code: 'Receiver' | 'Sender', reason: string): Answer {
  return { status: 500, contentType: SOAP_XML, body: soap(`<s:Fault><s:Code><s:Value>s:${code}</s:Value></s:Code><s:Reason><s:Text xml:lang="en">${reason}</s:Text></s:Reason></s:Fault>`) };
}

const VIHF: Omit<VihfAttributes, 'resourceId'> = {
  nameId: '810000000001',
  subjectId: 'Passerelle',
  roles: [{ code: 'AUTOMATE', codeSystem: '1.2.250.1.213.1.1.4.6' }],
  secteurActivite: 'SA33',
  identifiantStructure: '1990000010',
  lps: { id: 'passerelle', name: 'Passerelle', version: '0.1.0', homologation: 'TEST' },
};
const sub = () => xdsSubmissionOf(headerFixture(), CDA_BYTES, SUBMISSION_OPTIONS);
let iti41: Iti41Request;
const transport = (over: Partial<DmpTransport> = {}): DmpTransport => ({ url, credentials: creds, timeoutMs: 5000, ...over });

beforeAll(async () => {
  pki = throwawayPki();
  creds = await loadOrganisationCredentials({ pkcs12: pki.orgP12, passphrase: pki.passphrase });
  creds = { ...creds, ca: pki.ca.cert };
  iti41 = buildIti41Request(sub(), creds, VIHF, { to: 'https://localhost/repository', encoding: 'mtom', messageId: 'urn:uuid:6a1f8e5c-1111-4222-8333-444455556666', now: new Date() });
  server = createServer({ key: pki.server.key, cert: pki.server.cert, ca: pki.ca.cert, requestCert: true, rejectUnauthorized: true }, (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      const r: Received = { contentType: String(req.headers['content-type']), body: Buffer.concat(chunks), ...(peer.subject?.CN ? { clientCn: String(peer.subject.CN) } : {}) };
      received.push(r);
      const a = answer(r);
      if (a === 'hang') return;
      res.writeHead(a.status, { 'content-type': a.contentType }).end(a.body);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `https://localhost:${(server.address() as AddressInfo).port}/repository`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});
beforeEach(() => {
  received.length = 0;
});

describe('sendIti41 over mutual TLS', () => {
  it('delivers: the server sees the organisation certificate, a VIHF it can verify and the document bytes', async () => {
    answer = () => registryResponse('Success');
    const outcome = await sendIti41(iti41, transport());
    expect(outcome).toEqual({ status: 'Success', errors: [], disposition: 'success', httpStatus: 200 });
    expect(received[0].clientCn).toBe('TEST-PASSERELLE');
    const request = readIti41Request(received[0].contentType, received[0].body);
    expect(verifyVihfAssertion(request.envelope, pki.ca.cert).ok).toBe(true);
    expect(request.documents.get(sub().documents[0].entry.entryUuid)?.equals(CDA_BYTES)).toBe(true);
  });

  it('accepts a success with warnings', async () => {
    answer = () => registryResponse('Success', [{ code: 'XDSExtraMetadataNotSaved', context: 'slot ignored', severity: 'Warning' }]);
    expect((await sendIti41(iti41, transport())).disposition).toBe('success');
  });

  it('reports a metadata error as permanent, with a readable reason', async () => {
    answer = () => registryResponse('Failure', [{ code: 'XDSRegistryMetadataError', context: 'classCode inconnu' }]);
    const outcome = await sendIti41(iti41, transport());
    expect(outcome).toMatchObject({ status: 'Failure', disposition: 'permanent', reason: 'XDSRegistryMetadataError: classCode inconnu' });
    expect(outcome.errors).toEqual([{ errorCode: 'XDSRegistryMetadataError', codeContext: 'classCode inconnu', severity: 'Error' }]);
  });

  it.each(['XDSPatientIdDoesNotMatch', 'XDSNonIdenticalHash'])('reports %s as permanent', async (code) => {
    answer = () => registryResponse('Failure', [{ code, context: 'x' }]);
    expect((await sendIti41(iti41, transport())).disposition).toBe('permanent');
  });

  it('takes a duplicate uniqueId on a re-send as already registered', async () => {
    answer = () => registryResponse('Failure', [{ code: 'XDSDuplicateUniqueIdInRegistry', context: 'uniqueId déjà présent' }]);
    expect((await sendIti41(iti41, transport())).disposition).toBe('already-registered');
  });

  it.each(['XDSRegistryBusy', 'XDSRepositoryBusy', 'XDSRegistryOutOfResources'])('retries %s', async (code) => {
    answer = () => registryResponse('Failure', [{ code, context: 'busy' }]);
    expect((await sendIti41(iti41, transport())).disposition).toBe('transient');
  });

  it('retries a SOAP Receiver fault, not a Sender fault', async () => {
    answer = () => fault('Receiver', 'database down');
    expect(await sendIti41(iti41, transport())).toMatchObject({ disposition: 'transient', reason: 'SOAP Fault Receiver: database down', httpStatus: 500 });
    answer = () => fault('Sender', 'VIHF invalide');
    expect(await sendIti41(iti41, transport())).toMatchObject({ disposition: 'permanent', reason: 'SOAP Fault Sender: VIHF invalide' });
  });

  it('retries HTTP 5xx without a SOAP body, not a 404', async () => {
    answer = () => ({ status: 503, contentType: 'text/html', body: '<html>maintenance</html>' });
    expect(await sendIti41(iti41, transport())).toMatchObject({ disposition: 'transient', httpStatus: 503 });
    answer = () => ({ status: 404, contentType: 'text/plain', body: 'no such service' });
    expect(await sendIti41(iti41, transport())).toMatchObject({ disposition: 'permanent', httpStatus: 404 });
  });

  it('a hostile answer — nested 200,000 deep, or with a DOCTYPE and entities — is a failure, not a crash (issue 13)', async () => {
    const deep = `<?xml version="1.0"?><e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body>${'<x>'.repeat(200_000)}${'</x>'.repeat(200_000)}</e:Body></e:Envelope>`;
    answer = () => ({ status: 200, contentType: 'application/soap+xml', body: deep });
    const outcome = await sendIti41(iti41, transport());
    expect(outcome).toMatchObject({ status: 'Failure' });
    expect(outcome.reason).toMatch(/nested deeper than 256|too deep|256/);
    const bomb = `<?xml version="1.0"?><!DOCTYPE e [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body>&b;</e:Body></e:Envelope>`;
    answer = () => ({ status: 200, contentType: 'application/soap+xml', body: bomb });
    const refused = await sendIti41(iti41, transport());
    expect(refused).toMatchObject({ status: 'Failure' });
    expect(refused.reason).toMatch(/DOCTYPE/);
  });

  it('retries after a timeout', async () => {
    answer = () => 'hang';
    const outcome = await sendIti41(iti41, transport({ timeoutMs: 300 }));
    expect(outcome).toMatchObject({ status: 'Failure', disposition: 'transient' });
    expect(outcome.reason).toMatch(/no answer within 300 ms/);
  });

  it('is refused by the server with a certificate from another CA (mutual TLS)', async () => {
    answer = () => registryResponse('Success');
    const intruder = await loadOrganisationCredentials({ pkcs12: pkcs12Of(pki.intruder.key, [pki.intruder.cert], 'p'), passphrase: 'p' });
    const outcome = await sendIti41(iti41, transport({ credentials: { ...intruder, ca: pki.ca.cert } }));
    expect(outcome.disposition).toBe('transient');
    expect(outcome.reason).toMatch(/no answer from localhost/);
    expect(received).toHaveLength(0);
  });

  it('does not trust a server outside the configured CA', async () => {
    answer = () => registryResponse('Success');
    const outcome = await sendIti41(iti41, transport({ credentials: { ...creds, ca: pki.intruderCa.cert } }));
    expect(outcome.disposition).toBe('transient');
    expect(received).toHaveLength(0);
  });

  it('also takes the PKCS#12 itself (then Node trusts the CA certificates it holds as well)', async () => {
    answer = () => registryResponse('Success');
    const outcome = await sendIti41(iti41, transport({ credentials: { pfx: creds.pfx, passphrase: creds.passphrase } }));
    expect(outcome.disposition).toBe('success');
    expect(received[0].clientCn).toBe('TEST-PASSERELLE');
  });

  it('refuses plain http', async () => {
    const outcome = await sendIti41(iti41, transport({ url: url.replace('https:', 'http:') }));
    expect(outcome.reason).toMatch(/only reached over https/);
  });
});

describe('ITI-18 and ITI-43', () => {
  const patientId = '279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH';

  it('FindDocuments: sends the stored query with a VIHF for the patient and reads the entries', async () => {
    answer = () => ({
      status: 200,
      contentType: SOAP_XML,
      body: soap(
        `<query:AdhocQueryResponse xmlns:query="${NS.query}" xmlns:rim="${NS.rim}" status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"><rim:RegistryObjectList>` +
          `<rim:ExtrinsicObject id="urn:uuid:aaaaaaaa-0000-4000-8000-000000000001" mimeType="text/xml" status="urn:oasis:names:tc:ebxml-regrep:StatusType:Approved" objectType="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1">` +
          `<rim:Slot name="repositoryUniqueId"><rim:ValueList><rim:Value>1.2.250.1.213.1.1.9.1</rim:Value></rim:ValueList></rim:Slot>` +
          `<rim:Slot name="size"><rim:ValueList><rim:Value>186</rim:Value></rim:ValueList></rim:Slot>` +
          `<rim:Name><rim:LocalizedString value="Bilan partagé de médication"/></rim:Name>` +
          `<rim:ExternalIdentifier id="e1" registryObject="urn:uuid:aaaaaaaa-0000-4000-8000-000000000001" identificationScheme="urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427" value="${patientId.replace(/&/g, '&amp;')}"/>` +
          `<rim:ExternalIdentifier id="e2" registryObject="urn:uuid:aaaaaaaa-0000-4000-8000-000000000001" identificationScheme="urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab" value="1.2.250.1.999.42.1.1"/>` +
          `</rim:ExtrinsicObject></rim:RegistryObjectList></query:AdhocQueryResponse>`,
      ),
    });
    const outcome = await queryIti18FindDocuments(patientId, { ...transport(), signing: creds, vihf: VIHF });
    expect(outcome.disposition).toBe('success');
    expect(outcome.documents).toEqual([
      expect.objectContaining({
        entryUuid: 'urn:uuid:aaaaaaaa-0000-4000-8000-000000000001',
        uniqueId: '1.2.250.1.999.42.1.1',
        patientId,
        repositoryUniqueId: '1.2.250.1.213.1.1.9.1',
        size: 186,
        title: 'Bilan partagé de médication',
        status: 'urn:oasis:names:tc:ebxml-regrep:StatusType:Approved',
      }),
    ]);
    const sent = readSoapMessage(received[0].contentType, received[0].body);
    expect(received[0].contentType).toContain('action="urn:ihe:iti:2007:RegistryStoredQuery"');
    const values = descendants(sent.body as Element, NS.rim, 'Value').map((v) => v.textContent);
    expect(values).toEqual([`'${patientId}'`, "('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')"]);
    const vihf = verifyVihfAssertion(sent.envelope, pki.ca.cert);
    expect(vihf.ok).toBe(true);
    expect(vihf.attributes[VIHF_ATTRIBUTE.resourceId]).toEqual([patientId]);
  });

  it('Retrieve: reads the document from an MTOM answer', async () => {
    const pdfish = Buffer.from([0x25, 0x50, 0x44, 0x46, 0, 255, 13, 10]);
    answer = () => {
      const envelope = soap(
        `<xdsb:RetrieveDocumentSetResponse xmlns:xdsb="${NS.xdsb}"><rs:RegistryResponse xmlns:rs="${NS.rs}" status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"/>` +
          `<xdsb:DocumentResponse><xdsb:RepositoryUniqueId>1.2.250.1.213.1.1.9.1</xdsb:RepositoryUniqueId><xdsb:DocumentUniqueId>1.2.250.1.999.42.1.1</xdsb:DocumentUniqueId><xdsb:mimeType>text/xml</xdsb:mimeType>` +
          `<xdsb:Document><xop:Include xmlns:xop="${NS.xop}" href="cid:doc-1%40dmp"/></xdsb:Document></xdsb:DocumentResponse></xdsb:RetrieveDocumentSetResponse>`,
      );
      const packed = buildMultipartRelated(
        { contentId: 'root@dmp', contentType: 'application/xop+xml; charset=UTF-8; type="application/soap+xml"', body: Buffer.from(envelope) },
        [{ contentId: 'doc-1@dmp', contentType: 'application/octet-stream', body: pdfish }],
        { boundary: 'uuid:resp', type: 'application/xop+xml', startInfo: 'application/soap+xml' },
      );
      return { status: 200, ...packed };
    };
    const outcome = await retrieveIti43('1.2.250.1.999.42.1.1', '1.2.250.1.213.1.1.9.1', { ...transport(), signing: creds, vihf: { ...VIHF, resourceId: patientId } });
    expect(outcome.disposition).toBe('success');
    expect(outcome.documents).toHaveLength(1);
    expect(outcome.documents[0]).toMatchObject({ uniqueId: '1.2.250.1.999.42.1.1', repositoryUniqueId: '1.2.250.1.213.1.1.9.1', mimeType: 'text/xml' });
    expect(outcome.documents[0].content.equals(pdfish)).toBe(true);
    expect(received[0].contentType).toContain('action="urn:ihe:iti:2007:RetrieveDocumentSet"');
    const request = readIti41RetrieveIds(received[0]);
    expect(request).toEqual(['1.2.250.1.213.1.1.9.1', '1.2.250.1.999.42.1.1']);
  });
});

function readIti41RetrieveIds(r: Received): string[] {
  const sent = readSoapMessage(r.contentType, r.body);
  return [...descendants(sent.body as Element, NS.xdsb, 'RepositoryUniqueId'), ...descendants(sent.body as Element, NS.xdsb, 'DocumentUniqueId')].map((e) => e.textContent ?? '');
}
