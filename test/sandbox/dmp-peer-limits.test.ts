// The local DMP peer against hostile envelopes (issue 13, point 5): a DOCTYPE (SOAP 1.2 forbids one) and a document
// nested far too deep are SOAP 1.2 Sender faults with HTTP 400, decided before the XML is parsed, and nothing is
// registered.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSoapMessage } from '../../src/connectors/dmp/soap.js';
import { MAX_ENVELOPE_DEPTH } from '../../src/sandbox/dmp/soap.js';
import type { DmpPeer } from '../../src/sandbox/dmp/index.js';
import { generateTestPki, type TestPki } from '../../src/sandbox/pki.js';
import { REPOSITORY_UNIQUE_ID, iti41, newOid, post, startTestPeer, submissionOf } from './dmp-support.js';

let dir: string;
let pki: TestPki;
let peer: DmpPeer;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'dmp-peer-limits-'));
  pki = await generateTestPki({ dir: path.join(dir, 'certs') });
  peer = await startTestPeer(pki, { repositoryUniqueId: REPOSITORY_UNIQUE_ID });
});

afterAll(async () => {
  await peer?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A well-formed, signed ITI-41 request, altered by `alter`, and the peer's answer. */
async function send(alter: (envelope: string) => string, encoding: 'inline' | 'mtom' = 'inline') {
  const request = iti41(pki, submissionOf({ uniqueId: newOid() }), { to: peer.iti41Url, encoding });
  const before = peer.documents().length;
  const body = encoding === 'inline' ? alter(request.envelope) : Buffer.from(alter(request.body.toString('latin1')), 'latin1');
  const answer = await post(peer.iti41Url, request.contentType, body, pki);
  expect(peer.documents()).toHaveLength(before);
  return { answer, fault: readSoapMessage(answer.contentType, answer.body).fault };
}

describe('envelopes the peer refuses before parsing', () => {
  it('the unaltered request is accepted (the alterations below are what is refused)', async () => {
    const request = iti41(pki, submissionOf({ uniqueId: newOid() }), { to: peer.iti41Url });
    const answer = await post(peer.iti41Url, request.contentType, request.envelope, pki);
    expect(answer.status).toBe(200);
  });

  for (const encoding of ['inline', 'mtom'] as const) {
    it(`a wsse:Security header nested 200,000 deep (${encoding}): Sender fault, HTTP 400`, async () => {
      const n = 200_000;
      const { answer, fault } = await send(
        (e) => e.replace(/(<wsse:Security[^>]*>)/, `$1${'<wsse:Nested>'.repeat(n)}${'</wsse:Nested>'.repeat(n)}`),
        encoding,
      );
      expect(answer.status).toBe(400);
      expect(fault).toMatchObject({ code: 'Sender' });
      expect(fault?.reason).toContain(`more than ${MAX_ENVELOPE_DEPTH} levels`);
    });
  }

  it(`${MAX_ENVELOPE_DEPTH + 1} levels are already too deep`, async () => {
    const n = MAX_ENVELOPE_DEPTH;
    const { answer, fault } = await send((e) => e.replace(/(<wsse:Security[^>]*>)/, `$1${'<x:n xmlns:x="urn:x">'.repeat(n)}${'</x:n>'.repeat(n)}`));
    expect(answer.status).toBe(400);
    expect(fault?.reason).toContain(`more than ${MAX_ENVELOPE_DEPTH} levels`);
  });

  it('a DOCTYPE, even without entities: Sender fault, HTTP 400', async () => {
    for (const doctype of ['<!DOCTYPE soap:Envelope>', '<!DOCTYPE x [<!ENTITY boom "boom">]>']) {
      const { answer, fault } = await send((e) => e.replace(/<soap:Envelope/, `${doctype}<soap:Envelope`));
      expect(answer.status).toBe(400);
      expect(fault).toMatchObject({ code: 'Sender' });
      expect(fault?.reason).toMatch(/DOCTYPE/);
    }
  });

  it('a DOCTYPE after the XML declaration, or an entity declaration inside the document', async () => {
    const declared = await send((e) => e.replace(/(<\?xml[^>]*\?>)?\s*<soap:Envelope/, '<?xml version="1.0"?>\n<!DOCTYPE soap:Envelope SYSTEM "http://127.0.0.1:9/x.dtd">\n<soap:Envelope'));
    expect(declared.answer.status).toBe(400);
    expect(declared.fault?.reason).toMatch(/DOCTYPE/);
  });

  it('markup inside comments, CDATA and attribute values is not mistaken for a DOCTYPE or nesting', async () => {
    const request = iti41(pki, submissionOf({ uniqueId: newOid() }), { to: peer.iti41Url });
    const deepText = '<a>'.repeat(MAX_ENVELOPE_DEPTH + 5);
    const altered = request.envelope.replace(/(<soap:Body>)/, `$1<!-- <!DOCTYPE x> ${deepText} --><![CDATA[]]>`);
    const answer = await post(peer.iti41Url, request.contentType, altered, pki);
    expect(answer.status).toBe(200);
  });
});
