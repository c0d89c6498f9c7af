// The DMP over the wire: HTTPS with the organisation's client certificate, one POST per XDS transaction, the
// answer read into a RegistryOutcome. ITI-41 sends documents; ITI-18 (FindDocuments) and ITI-43 (Retrieve) serve
// operations and tests, and carry their own VIHF since the DMP authorises every call.
import { randomUUID } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { create } from 'xmlbuilder2';
import { xopBytes } from './mtom.js';
import { noAnswer, outcomeOfHttpAnswer, type RegistryOutcome } from './registry-response.js';
import { messageIdUrn, soapContentType, soapEnvelope, type SoapMessage } from './soap.js';
import { buildVihfAssertion, type VihfAttributes } from './vihf.js';
import { ACTIONS, AVAILABILITY_STATUS, DOCUMENT_ENTRY_IDENTIFIER, NS, SLOT, STORED_QUERY } from './xds-constants.js';
import { child, children, descendants, textOf } from './xml-dom.js';
import type { SignatureAlgorithm, SigningCredentials } from './xmldsig.js';

/** Where and how to reach the DMP: endpoint, TLS client credentials, limits. */
export interface DmpTransport {
  url: string;
  /**
   * TLS client credentials and the CAs trusted for the server (`ca`; absent: Node's public CAs). Prefer the PEM form
   * (an `OrganisationCredentials` as is): given a `pfx`, Node also trusts the CA certificates inside the PKCS#12, so
   * `ca` is no longer the whole trust store.
   */
  credentials: ({ key: string; cert: string; chain?: readonly string[] } | { pfx: Buffer; passphrase: string }) & { ca?: string };
  /** Default 30 s for the whole exchange. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Largest answer read (default 64 MiB); a bigger one is cut off as an error. */
  maxResponseBytes?: number;
}

interface HttpAnswer {
  status: number;
  contentType: string;
  body: Buffer;
}

/** One HTTPS POST with the client certificate; rejects on network, TLS, timeout or abort. */
function post(transport: DmpTransport, contentType: string, body: Buffer): Promise<HttpAnswer> {
  const url = new URL(transport.url);
  if (url.protocol !== 'https:') return Promise.reject(new Error(`${transport.url}: the DMP is only reached over https`));
  const timeoutMs = transport.timeoutMs ?? 30_000;
  const maxBytes = transport.maxResponseBytes ?? 64 * 1024 * 1024;
  const signal = transport.signal ? AbortSignal.any([transport.signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        method: 'POST',
        ...('key' in transport.credentials
          ? { key: transport.credentials.key, cert: [transport.credentials.cert, ...(transport.credentials.chain ?? [])].join('\n') }
          : { pfx: transport.credentials.pfx, passphrase: transport.credentials.passphrase }),
        ...(transport.credentials.ca ? { ca: transport.credentials.ca } : {}),
        minVersion: 'TLSv1.2',
        headers: { 'content-type': contentType, 'content-length': body.length, accept: 'multipart/related, application/soap+xml' },
        signal,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            res.destroy(new Error(`answer larger than ${maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', (err) => reject(signal.aborted && signal.reason instanceof Error && signal.reason.name === 'TimeoutError' ? new Error(`no answer within ${timeoutMs} ms`) : err));
    req.end(body);
  });
}

async function exchange(transport: DmpTransport, contentType: string, body: Buffer): Promise<RegistryOutcome & { message?: SoapMessage }> {
  let answer: HttpAnswer;
  try {
    answer = await post(transport, contentType, body);
  } catch (err) {
    return noAnswer(`no answer from ${new URL(transport.url).host}: ${(err as Error).message}`);
  }
  return outcomeOfHttpAnswer(answer.status, answer.contentType, answer.body);
}

/**
 * Sends a built ITI-41 request (`buildIti41Request`). Never throws for a DMP-side failure: the outcome says whether
 * it was accepted, already registered (a re-send after a lost answer), or failed transiently or for good.
 */
export async function sendIti41(request: { contentType: string; body: Buffer }, transport: DmpTransport): Promise<RegistryOutcome> {
  const { message: _message, ...outcome } = await exchange(transport, request.contentType, request.body);
  return outcome;
}

/** VIHF and signing for the calls the gateway makes itself (query, retrieve). */
export interface DmpCallOptions extends DmpTransport {
  signing: SigningCredentials;
  vihf: VihfAttributes;
  algorithm?: SignatureAlgorithm;
  /** Default: a random UUID. */
  messageId?: string;
  /** Default: the current time. */
  now?: Date;
}

function envelopeFor(action: string, body: string, o: DmpCallOptions): Buffer {
  const now = o.now ?? new Date();
  const assertion = buildVihfAssertion({ ...o.vihf, signing: o.signing, now, ...(o.algorithm ? { algorithm: o.algorithm } : {}) });
  return Buffer.from(soapEnvelope({ action, to: o.url, messageId: messageIdUrn(o.messageId ?? randomUUID()), security: assertion }, body), 'utf8');
}

export interface FoundDocument {
  entryUuid: string;
  uniqueId: string;
  patientId: string;
  repositoryUniqueId?: string;
  mimeType?: string;
  title?: string;
  /** availabilityStatus (Approved, Deprecated, or the DMP's Archived / Deleted). */
  status?: string;
  hash?: string;
  size?: number;
  creationTime?: string;
  /** Every Slot, by name. */
  slots: Record<string, string[]>;
}

export interface FindDocumentsOptions extends Omit<DmpCallOptions, 'vihf'> {
  /** VIHF; its resource-id defaults to the queried patient. */
  vihf: Omit<VihfAttributes, 'resourceId'> & { resourceId?: string };
  /** availabilityStatus values to return; default Approved only. */
  statuses?: readonly string[];
}

/** A stored-query parameter value: quoted, with quotes doubled (ITI TF-2a 3.18.4.1.2.3.5). */
const quoted = (v: string): string => `'${v.replace(/'/g, "''")}'`;

function findDocumentsBody(patientIdCx: string, statuses: readonly string[]): string {
  const q = create().ele(NS.query, 'query:AdhocQueryRequest', { 'xmlns:query': NS.query, 'xmlns:rim': NS.rim });
  q.ele(NS.query, 'query:ResponseOption', { returnComposedObjects: 'true', returnType: 'LeafClass' });
  const adhoc = q.ele(NS.rim, 'rim:AdhocQuery', { id: STORED_QUERY.findDocuments });
  const slot = (name: string, value: string) => adhoc.ele(NS.rim, 'rim:Slot', { name }).ele(NS.rim, 'rim:ValueList').ele(NS.rim, 'rim:Value').txt(value);
  slot('$XDSDocumentEntryPatientId', quoted(patientIdCx));
  slot('$XDSDocumentEntryStatus', `(${statuses.map(quoted).join(',')})`);
  return q.end({ headless: true });
}

function foundDocumentOf(eo: Element): FoundDocument {
  const slots: Record<string, string[]> = {};
  for (const s of children(eo, NS.rim, 'Slot')) slots[s.getAttribute('name') ?? ''] = descendants(s, NS.rim, 'Value').map(textOf);
  const identifier = (scheme: string) => children(eo, NS.rim, 'ExternalIdentifier').find((e) => e.getAttribute('identificationScheme') === scheme)?.getAttribute('value') ?? '';
  const title = descendants(child(eo, NS.rim, 'Name') ?? eo, NS.rim, 'LocalizedString')[0]?.getAttribute('value');
  const size = slots[SLOT.size]?.[0];
  return {
    entryUuid: eo.getAttribute('id') ?? '',
    uniqueId: identifier(DOCUMENT_ENTRY_IDENTIFIER.uniqueId),
    patientId: identifier(DOCUMENT_ENTRY_IDENTIFIER.patientId),
    ...(slots[SLOT.repositoryUniqueId]?.[0] ? { repositoryUniqueId: slots[SLOT.repositoryUniqueId][0] } : {}),
    ...(eo.getAttribute('mimeType') ? { mimeType: eo.getAttribute('mimeType') as string } : {}),
    ...(title ? { title } : {}),
    ...(eo.getAttribute('status') ? { status: eo.getAttribute('status') as string } : {}),
    ...(slots[SLOT.hash]?.[0] ? { hash: slots[SLOT.hash][0] } : {}),
    ...(size && /^\d+$/.test(size) ? { size: Number(size) } : {}),
    ...(slots[SLOT.creationTime]?.[0] ? { creationTime: slots[SLOT.creationTime][0] } : {}),
    slots,
  };
}

/** ITI-18 Registry Stored Query FindDocuments (LeafClass) for one patient (CX `…^^^&<INS OID>&ISO^NH`). */
export async function queryIti18FindDocuments(patientIdCx: string, options: FindDocumentsOptions): Promise<RegistryOutcome & { documents: FoundDocument[] }> {
  const body = findDocumentsBody(patientIdCx, options.statuses ?? [AVAILABILITY_STATUS.approved]);
  const call: DmpCallOptions = { ...options, vihf: { ...options.vihf, resourceId: options.vihf.resourceId ?? patientIdCx } };
  const { message, ...outcome } = await exchange(options, soapContentType(ACTIONS.iti18), envelopeFor(ACTIONS.iti18, body, call));
  const documents = message?.body ? descendants(message.body, NS.rim, 'ExtrinsicObject').map(foundDocumentOf) : [];
  return { ...outcome, documents };
}

export interface RetrievedDocument {
  uniqueId: string;
  repositoryUniqueId: string;
  mimeType?: string;
  content: Buffer;
}

function retrieveBody(uniqueId: string, repositoryUniqueId: string): string {
  const r = create().ele(NS.xdsb, 'xdsb:RetrieveDocumentSetRequest', { 'xmlns:xdsb': NS.xdsb });
  const d = r.ele(NS.xdsb, 'xdsb:DocumentRequest');
  d.ele(NS.xdsb, 'xdsb:RepositoryUniqueId').txt(repositoryUniqueId);
  d.ele(NS.xdsb, 'xdsb:DocumentUniqueId').txt(uniqueId);
  return r.end({ headless: true });
}

/** ITI-43 Retrieve Document Set for one document; the answer may be MTOM or inline base64. */
export async function retrieveIti43(uniqueId: string, repositoryUniqueId: string, options: DmpCallOptions): Promise<RegistryOutcome & { documents: RetrievedDocument[] }> {
  const { message, ...outcome } = await exchange(options, soapContentType(ACTIONS.iti43), envelopeFor(ACTIONS.iti43, retrieveBody(uniqueId, repositoryUniqueId), options));
  const documents: RetrievedDocument[] = [];
  try {
    for (const d of message?.body ? descendants(message.body, NS.xdsb, 'DocumentResponse') : []) {
      const doc = child(d, NS.xdsb, 'Document');
      if (!doc) continue;
      const include = descendants(doc, NS.xop, 'Include')[0];
      const mimeType = textOf(child(d, NS.xdsb, 'mimeType'));
      documents.push({
        uniqueId: textOf(child(d, NS.xdsb, 'DocumentUniqueId')),
        repositoryUniqueId: textOf(child(d, NS.xdsb, 'RepositoryUniqueId')),
        ...(mimeType ? { mimeType } : {}),
        content: include && message ? xopBytes(include.getAttribute('href') ?? '', message.parts) : Buffer.from(textOf(doc), 'base64'),
      });
    }
  } catch (err) {
    return { ...outcome, status: 'Failure', disposition: 'permanent', reason: `malformed ITI-43 answer: ${(err as Error).message}`, documents: [] };
  }
  return { ...outcome, documents };
}
