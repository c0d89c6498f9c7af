// A local PDSm (IHE MHD ITI-65) document recipient for tests and demos: HTTPS with client certificates from the test
// CA, `POST /fhir` taking a "Provide Document Bundle" and checking what a recipient must — a transaction Bundle with
// exactly one SubmissionSet List, each DocumentReference with its Binary, masterIdentifier an OID uniqueId, hash (SHA-1)
// and size matching the bytes, an INS subject, a replaced document that exists. It answers a transaction-response
// Bundle, or an OperationOutcome (422) naming the offending element.
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Binary, Bundle, DocumentReference, List, OperationOutcome } from '@medplum/fhirtypes';
import { INS_OIDS } from '../dmp/checks.js';

const INS_SYSTEMS: ReadonlySet<string> = new Set([...INS_OIDS].map((oid) => `urn:oid:${oid}`));
const OID_URN = /^urn:oid:[0-2](\.(0|[1-9]\d*))+$/;

export interface PdsmDocument {
  uniqueId: string;
  patient: string;
  status: 'current' | 'superseded';
  documentReference: DocumentReference;
  content: Buffer;
}

export interface PdsmPeer {
  url: string;
  /** FHIR base to configure as the destination url. */
  fhirBase: string;
  documents(): PdsmDocument[];
  close(): Promise<void>;
}

class Refused extends Error {
  constructor(
    readonly expression: string,
    message: string,
  ) {
    super(message);
  }
}

function check(condition: unknown, expression: string, message: string): asserts condition {
  if (!condition) throw new Refused(expression, message);
}

function outcome(expression: string, text: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid', details: { text }, expression: [expression] }] };
}

/** Checks one ITI-65 Bundle against the documents already held; returns the documents to store. */
function accept(bundle: Bundle, held: ReadonlyMap<string, PdsmDocument>): { documents: PdsmDocument[]; replaced: string[] } {
  check(bundle.resourceType === 'Bundle' && bundle.type === 'transaction', 'Bundle.type', 'an ITI-65 request is a transaction Bundle');
  const entries = bundle.entry ?? [];
  const lists = entries.filter((e) => e.resource?.resourceType === 'List');
  check(lists.length === 1, 'Bundle.entry', `exactly one SubmissionSet List (found ${lists.length})`);
  const list = lists[0].resource as List;
  check(list.code?.coding?.some((c) => c.code === 'submissionset'), 'List.code', 'the List is not a submissionset');
  check(list.identifier?.some((i) => i.use === 'usual' && OID_URN.test(i.value ?? '')), 'List.identifier', 'the SubmissionSet uniqueId (usual identifier) must be an urn:oid');
  const binaries = new Map(entries.filter((e) => e.resource?.resourceType === 'Binary').map((e) => [e.fullUrl, e.resource as Binary]));
  const documents: PdsmDocument[] = [];
  const replaced: string[] = [];
  entries.forEach((e, i) => {
    if (e.resource?.resourceType !== 'DocumentReference') return;
    const at = `Bundle.entry[${i}].resource`;
    const d = e.resource;
    check(OID_URN.test(d.masterIdentifier?.value ?? ''), `${at}.masterIdentifier`, 'masterIdentifier (XDS uniqueId) must be an urn:oid');
    const subject = d.subject?.identifier;
    check(subject && INS_SYSTEMS.has(subject.system ?? '') && /^[0-9AB]{15}$/.test(subject.value ?? ''), `${at}.subject`, 'the subject must be the patient INS (identifier with an INS OID)');
    check(d.type?.coding?.length && d.category?.length && d.securityLabel?.length, `${at}.type`, 'type, category and securityLabel are required');
    check(d.context?.facilityType && d.context.practiceSetting, `${at}.context`, 'facilityType and practiceSetting are required');
    const attachment = d.content?.[0]?.attachment;
    check(attachment?.url && attachment.size !== undefined && attachment.hash, `${at}.content[0].attachment`, 'url, size and hash are required');
    const binary = binaries.get(attachment.url);
    check(binary?.data, `${at}.content[0].attachment.url`, `no Binary ${attachment.url} in the Bundle`);
    const bytes = Buffer.from(binary.data, 'base64');
    check(bytes.length === attachment.size, `${at}.content[0].attachment.size`, `size ${attachment.size} but the Binary has ${bytes.length} bytes`);
    check(createHash('sha1').update(bytes).digest('base64') === attachment.hash, `${at}.content[0].attachment.hash`, 'hash is not the SHA-1 of the Binary');
    const uniqueId = (d.masterIdentifier?.value as string).slice('urn:oid:'.length);
    const previous = held.get(uniqueId);
    check(!previous || previous.content.equals(bytes), `${at}.masterIdentifier`, `uniqueId ${uniqueId} is already held with other content`);
    for (const r of d.relatesTo ?? []) {
      const target = r.target?.identifier?.value?.replace(/^urn:oid:/, '');
      check(r.code === 'replaces' && target && held.has(target), `${at}.relatesTo`, `replaces an unknown document ${target ?? ''}`);
      replaced.push(target);
    }
    documents.push({ uniqueId, patient: `${subject.system}|${subject.value}`, status: 'current', documentReference: d, content: bytes });
  });
  check(documents.length > 0, 'Bundle.entry', 'no DocumentReference');
  return { documents, replaced };
}

export async function startPdsmPeer(options: { port?: number; host?: string; tls: { key: string; cert: string; ca: string } }): Promise<PdsmPeer> {
  const held = new Map<string, PdsmDocument>();
  const server: Server = createServer({ key: options.tls.key, cert: options.tls.cert, ca: options.tls.ca, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/fhir+json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'POST' || (req.url ?? '').replace(/\/+$/, '') !== '/fhir') return send(404, outcome('request', `${req.method} ${req.url}: only POST /fhir (ITI-65)`));
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let bundle: Bundle;
      try {
        bundle = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Bundle;
      } catch {
        return send(400, outcome('Bundle', 'not JSON'));
      }
      try {
        const { documents, replaced } = accept(bundle, held);
        for (const r of replaced) (held.get(r) as PdsmDocument).status = 'superseded';
        for (const d of documents) if (!held.has(d.uniqueId)) held.set(d.uniqueId, d);
        const response: Bundle = {
          resourceType: 'Bundle',
          type: 'transaction-response',
          entry: (bundle.entry ?? []).map((e) => ({ response: { status: '201 Created', location: `${e.resource?.resourceType}/${randomUUID()}` } })),
        };
        send(200, response);
      } catch (err) {
        if (err instanceof Refused) return send(422, outcome(err.expression, err.message));
        send(500, outcome('Bundle', (err as Error).message));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `https://${host}:${address.port}`;
  return {
    url,
    fhirBase: `${url}/fhir`,
    documents: () => [...held.values()],
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
