// A local stand-in for the DMP's XDS.b endpoints, strict enough that a submission it accepts has a fair chance with
// the real one: mutual TLS (client certificates from the configured CA only), SOAP 1.2 + WS-Addressing, a signed
// VIHF chaining to the configured trust, the XDS.b schemas when available, and the DMP metadata rules. For tests,
// the demo and `passerelle sandbox dmp`; never a production component.
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { buildMultipartRelated, parseContentType, parseMultipartRelated, type MimePart } from '../../connectors/dmp/mtom.js';
import { VIHF_ATTRIBUTE, verifyVihfAssertion } from '../../connectors/dmp/vihf.js';
import { ACTIONS, NS } from '../../connectors/dmp/xds-constants.js';
import { child, children } from '../../connectors/dmp/xml-dom.js';
import { insProblem } from './checks.js';
import type { PeerContext, TransactionRequest, TransactionResponse } from './context.js';
import { registryStoredQuery } from './iti18.js';
import { provideAndRegister } from './iti41.js';
import { retrieveDocumentSet } from './iti43.js';
import { registryResponse, type XdsErrorCode } from './registry-error.js';
import { faultEnvelope, readEnvelope, responseEnvelope, SoapFault, type SoapRequest } from './soap.js';
import { DmpPeerStore, type StoredDocument } from './store.js';
import { JDV_J61_HEALTHCARE_FACILITY_TYPE_CODE } from './value-sets.js';
import { XdsSchemas } from './xsd.js';

/** Paths of the real DMP (fr-interop §2.2): `repository` takes ITI-41 and ITI-43, `registry` takes ITI-18. */
export const REPOSITORY_PATH = '/si-dmp-server/v2/services/repository';
export const REGISTRY_PATH = '/si-dmp-server/v2/services/registry';

/** How old a VIHF may be, and how far ahead of the peer's clock (the sender's clock may run a little fast). */
const VIHF_MAX_AGE_MS = 10 * 60_000;
const CLOCK_SKEW_MS = 5 * 60_000;

/** Requests larger than this are refused (HTTP 413) before parsing. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

/**
 * TEST ONLY: what the peer does instead of answering the next request(s) normally, to exercise a client's retries.
 * - `http-status`: answers this HTTP status (e.g. 503, with Retry-After) without reading the request;
 * - `registry-error`: answers an rs:RegistryResponse Failure with this error (e.g. XDSRegistryBusy, a transient one),
 *   whatever the transaction;
 * - `soap-fault`: answers a SOAP fault (Receiver → HTTP 500);
 * - `drop`: closes the connection without answering;
 * - `lost-response`: processes the request (a submission is registered) and then closes the connection without
 *   answering, as when a response is lost on the way back.
 */
export type InjectedFailure =
  | { kind: 'http-status'; status: number; retryAfterSeconds?: number }
  | { kind: 'registry-error'; errorCode: XdsErrorCode; codeContext?: string }
  | { kind: 'soap-fault'; code?: 'Sender' | 'Receiver'; reason?: string }
  | { kind: 'drop' }
  | { kind: 'lost-response' };

export interface DmpPeerOptions {
  /** 0: a free port. */
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** PEM texts. `cert` may carry its chain; client certificates must chain to `ca`. */
  tls: { key: string; cert: string; ca: string };
  /** PEM bundle the VIHF (and XAdES) signing certificate must chain to. */
  vihfTrust: string;
  /** SQLite file; default in memory. */
  dataFile?: string;
  /** Directory of the XDS.b / ebRIM XSDs (IHE/, ebRS/, w3c/); without it the XSD check is skipped (logged once). */
  schemaDir?: string;
  /** uniqueId (OID) of this repository, answered in ITI-43 and written on registered entries. */
  repositoryUniqueId: string;
  /** Refuse submissions without a XAdES signature entry (default false: checked when present). */
  requireSubmissionSignature?: boolean;
  logger?: Logger;
  /** Clock of the certificate and signature checks (default: the system clock). */
  now?: () => Date;
}

export interface DmpPeer {
  /** https://127.0.0.1:<port> */
  url: string;
  port: number;
  iti41Url: string;
  iti18Url: string;
  iti43Url: string;
  repositoryUniqueId: string;
  /** Registered DocumentEntries, oldest first. */
  documents(): StoredDocument[];
  /** TEST ONLY: answer the next `count` requests with `failure` instead of normally. */
  failNext(failure: InjectedFailure, count?: number): void;
  close(): Promise<void>;
}

type Transaction = (ctx: PeerContext, req: TransactionRequest) => TransactionResponse | Promise<TransactionResponse>;

const ROUTES: Readonly<Record<string, Readonly<Record<string, Transaction>>>> = {
  [REPOSITORY_PATH]: { [ACTIONS.iti41]: provideAndRegister, [ACTIONS.iti43]: retrieveDocumentSet },
  [REGISTRY_PATH]: { [ACTIONS.iti18]: registryStoredQuery },
};

const ROOT_CONTENT_ID = '0.1';
const XOP_ROOT_TYPE = 'application/xop+xml; charset=UTF-8; type="application/soap+xml"';

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        resolve(undefined);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** The envelope text and MTOM parts of a request, with the media-type rules of SOAP 1.2 and MTOM. */
function unpack(contentType: string, body: Buffer): { envelope: string; parts: ReadonlyMap<string, MimePart>; mtom: boolean; actionParam?: string } {
  const { mediaType, params } = parseContentType(contentType);
  if (mediaType === 'application/soap+xml') return { envelope: body.toString('utf8'), parts: new Map(), mtom: false, actionParam: params.action };
  if (mediaType !== 'multipart/related') {
    throw new SoapFault('Sender', undefined, `Content-Type ${mediaType || '(none)'}: expected application/soap+xml or multipart/related (MTOM)`, 415);
  }
  if (params.type?.toLowerCase() !== 'application/xop+xml') {
    throw new SoapFault('Sender', undefined, `multipart/related type="${params.type ?? ''}": MTOM needs type="application/xop+xml"`, 415);
  }
  if (params['start-info'] !== undefined && params['start-info'].toLowerCase() !== 'application/soap+xml') {
    throw new SoapFault('Sender', undefined, `multipart/related start-info="${params['start-info']}": expected application/soap+xml`, 415);
  }
  let multipart;
  try {
    multipart = parseMultipartRelated(contentType, body);
  } catch (err) {
    throw new SoapFault('Sender', undefined, `MTOM: ${(err as Error).message}`);
  }
  const root = parseContentType(multipart.root.contentType ?? '');
  if (root.mediaType !== 'application/xop+xml' || root.params.type?.toLowerCase() !== 'application/soap+xml') {
    throw new SoapFault('Sender', undefined, `MTOM root part Content-Type "${multipart.root.contentType ?? ''}": expected application/xop+xml; type="application/soap+xml"`);
  }
  return { envelope: multipart.root.body.toString('utf8'), parts: multipart.byContentId, mtom: true, actionParam: params.action };
}

/**
 * The VIHF: a signed SAML assertion in wsse:Security, chaining to the trusted CA, with the attributes the DMP needs
 * and values it can read. Any problem is a Sender fault (wsse subcodes of WS-Security 1.1).
 */
function checkVihf(envelopeXml: string, soap: SoapRequest, trust: string, now: Date): TransactionRequest['vihf'] {
  const security = soap.header ? child(soap.header, NS.wsse, 'Security') : undefined;
  if (!security) throw new SoapFault('Sender', 'wsse:InvalidSecurity', 'VIHF: no wsse:Security header');
  if (children(security, NS.saml2, 'Assertion').length !== 1) throw new SoapFault('Sender', 'wsse:InvalidSecurity', 'VIHF: wsse:Security must hold exactly one saml2:Assertion');
  const vihf = verifyVihfAssertion(envelopeXml, trust, { now });
  if (!vihf.ok) throw new SoapFault('Sender', 'wsse:FailedAuthentication', `VIHF: ${vihf.reason ?? 'invalid assertion'}`);
  // A VIHF is made for the request it travels with: an old (replayed) or future-dated one is refused. The signature
  // covers the Assertion element, IssueInstant included.
  const issued = Date.parse(children(security, NS.saml2, 'Assertion')[0].getAttribute('IssueInstant') ?? '');
  if (Number.isNaN(issued)) throw new SoapFault('Sender', 'wsse:InvalidSecurityToken', 'VIHF: IssueInstant is missing or not a date');
  if (issued < now.getTime() - VIHF_MAX_AGE_MS || issued > now.getTime() + CLOCK_SKEW_MS) {
    throw new SoapFault('Sender', 'wsse:MessageExpired', `VIHF: issued at ${new Date(issued).toISOString()}, outside [now − ${VIHF_MAX_AGE_MS / 60_000} min, now + ${CLOCK_SKEW_MS / 60_000} min]`);
  }
  const one = (name: string): string => vihf.attributes[name]?.[0] ?? '';
  const problems: string[] = [];
  if (one(VIHF_ATTRIBUTE.ressourceUrn) !== 'urn:dmp') problems.push(`Ressource_URN "${one(VIHF_ATTRIBUTE.ressourceUrn)}" is not urn:dmp`);
  const mode = one(VIHF_ATTRIBUTE.authenticationMode);
  if (mode !== 'INDIRECTE' && mode !== 'DIRECTE') problems.push(`Authentification_Mode "${mode}" is not INDIRECTE or DIRECTE`);
  const [secteur, secteurSystem] = one(VIHF_ATTRIBUTE.secteurActivite).split('^');
  if (!JDV_J61_HEALTHCARE_FACILITY_TYPE_CODE.codes[secteurSystem ?? '']?.includes(secteur)) {
    problems.push(`Secteur_Activite "${one(VIHF_ATTRIBUTE.secteurActivite)}" is not <code>^<system> from ${JDV_J61_HEALTHCARE_FACILITY_TYPE_CODE.id}`);
  }
  const patient = insProblem(one(VIHF_ATTRIBUTE.resourceId));
  if (patient) problems.push(`resource-id: ${patient}`);
  if (!/^[^^]+\^1\.2\.250\.1\.213\.1\.1\.4\.248$/.test(one(VIHF_ATTRIBUTE.purposeOfUse))) {
    problems.push(`purposeofuse "${one(VIHF_ATTRIBUTE.purposeOfUse)}" is not a code of 1.2.250.1.213.1.1.4.248`);
  }
  if (!/^[^^]+\^\S+$/.test(one(VIHF_ATTRIBUTE.role))) problems.push(`role "${one(VIHF_ATTRIBUTE.role)}" is not a coded Role`);
  if (problems.length > 0) throw new SoapFault('Sender', 'wsse:InvalidSecurityToken', `VIHF: ${problems.join('; ')}`);
  return vihf;
}

export async function startDmpPeer(options: DmpPeerOptions): Promise<DmpPeer> {
  const logger = options.logger ?? pino({ level: 'silent' });
  let schemas: XdsSchemas | undefined;
  if (options.schemaDir) schemas = await XdsSchemas.load(options.schemaDir);
  else logger.warn('DMP sandbox: no schema directory given, the XDS.b XSD check is skipped');
  const store = new DmpPeerStore(options.dataFile ?? ':memory:');
  const ctx: PeerContext = {
    repositoryUniqueId: options.repositoryUniqueId,
    signatureTrust: options.vihfTrust,
    requireSubmissionSignature: options.requireSubmissionSignature ?? false,
    schemas,
    logger,
    now: options.now ?? (() => new Date()),
    store,
  };
  const failures: InjectedFailure[] = [];

  const send = (res: ServerResponse, status: number, contentType: string, body: Buffer | string, extra: Record<string, string> = {}): void => {
    res.writeHead(status, { 'Content-Type': contentType, ...extra });
    res.end(body);
  };
  const sendFault = (res: ServerResponse, fault: SoapFault, relatesTo?: string): void =>
    send(res, fault.status, 'application/soap+xml; charset=UTF-8', faultEnvelope(fault, relatesTo));

  const sendResponse = (res: ServerResponse, out: TransactionResponse, relatesTo: string | undefined, mtom: boolean): void => {
    const envelope = responseEnvelope(out.action, relatesTo, out.bodyXml);
    if (!mtom && !out.attachments?.length) {
      send(res, 200, `application/soap+xml; charset=UTF-8; action="${out.action}"`, envelope);
      return;
    }
    const packed = buildMultipartRelated(
      { contentId: ROOT_CONTENT_ID, contentType: XOP_ROOT_TYPE, body: Buffer.from(envelope, 'utf8') },
      out.attachments ?? [],
      { boundary: `MIMEBoundary_${randomUUID().replace(/-/g, '')}`, type: 'application/xop+xml', startInfo: 'application/soap+xml', action: out.action },
    );
    send(res, 200, packed.contentType, packed.body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '').split('?')[0];
    const routes = ROUTES[path];
    if (!routes) return send(res, 404, 'text/plain; charset=UTF-8', `no DMP service at ${path}\n`);
    if (req.method !== 'POST') return send(res, 405, 'text/plain; charset=UTF-8', 'POST a SOAP 1.2 request\n', { Allow: 'POST' });
    const failure = failures.shift();
    if (failure?.kind === 'http-status') {
      req.resume();
      return send(res, failure.status, 'text/plain; charset=UTF-8', `injected failure: HTTP ${failure.status}\n`, { 'Retry-After': String(failure.retryAfterSeconds ?? 1) });
    }
    if (failure?.kind === 'drop') {
      req.socket.destroy();
      return;
    }
    const body = await readBody(req);
    if (!body) return send(res, 413, 'text/plain; charset=UTF-8', `request larger than ${MAX_BODY_BYTES} bytes\n`);

    let soap: SoapRequest | undefined;
    try {
      const unpacked = unpack(req.headers['content-type'] ?? '', body);
      soap = readEnvelope(unpacked.envelope);
      if (unpacked.actionParam !== undefined && unpacked.actionParam !== soap.action) {
        throw new SoapFault('Sender', undefined, `Content-Type action "${unpacked.actionParam}" differs from wsa:Action "${soap.action}"`);
      }
      const transaction = routes[soap.action];
      if (!transaction) throw new SoapFault('Sender', 'wsa:ActionNotSupported', `wsa:Action ${soap.action} is not served at ${path}`);
      if (failure?.kind === 'soap-fault') throw new SoapFault(failure.code ?? 'Receiver', undefined, failure.reason ?? 'injected failure');
      const vihf = checkVihf(unpacked.envelope, soap, ctx.signatureTrust, ctx.now());
      const txRequest: TransactionRequest = { soap, parts: unpacked.parts, vihf, mtom: unpacked.mtom };
      let out: TransactionResponse;
      if (failure?.kind === 'registry-error') {
        const action = soap.action === ACTIONS.iti41 ? ACTIONS.iti41Response : soap.action === ACTIONS.iti18 ? ACTIONS.iti18Response : ACTIONS.iti43Response;
        out = { action, bodyXml: registryResponse([{ errorCode: failure.errorCode, codeContext: failure.codeContext ?? 'injected failure' }]), errorCodes: [failure.errorCode] };
      } else {
        out = await transaction(ctx, txRequest);
      }
      logger.info({ action: soap.action, messageId: soap.messageId, errors: out.errorCodes }, out.errorCodes.length ? 'DMP sandbox: request refused' : 'DMP sandbox: request served');
      if (failure?.kind === 'lost-response') {
        req.socket.destroy();
        return;
      }
      sendResponse(res, out, soap.messageId, unpacked.mtom);
    } catch (err) {
      if (!(err instanceof SoapFault)) throw err;
      // The reason may quote an INS (VIHF resource-id): debug level only.
      logger.info({ action: soap?.action, messageId: soap?.messageId, fault: err.code, subcode: err.subcode }, 'DMP sandbox: SOAP fault');
      logger.debug({ messageId: soap?.messageId, reason: err.message }, 'DMP sandbox: SOAP fault reason');
      sendFault(res, err, soap?.messageId);
    }
  };

  const server: Server = createServer(
    {
      key: options.tls.key,
      cert: options.tls.cert,
      ca: options.tls.ca,
      // Mutual TLS as the DMP requires. Without a client certificate OpenSSL ends the handshake with an alert; with one
      // from another CA, Node completes the handshake and drops the socket before reading any HTTP.
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
    },
    (req, res) => {
      handle(req, res).catch((err: unknown) => {
        logger.error({ err }, 'DMP sandbox: internal error');
        if (!res.headersSent) sendFault(res, new SoapFault('Receiver', undefined, `internal error: ${(err as Error).message}`));
        else res.destroy();
      });
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `https://${host}:${address.port}`;
  return {
    url,
    port: address.port,
    iti41Url: `${url}${REPOSITORY_PATH}`,
    iti43Url: `${url}${REPOSITORY_PATH}`,
    iti18Url: `${url}${REGISTRY_PATH}`,
    repositoryUniqueId: options.repositoryUniqueId,
    documents: () => store.all(),
    failNext: (failure, count = 1) => {
      for (let i = 0; i < count; i += 1) failures.push(failure);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => {
          store.close();
          if (err) reject(err);
          else resolve();
        });
        server.closeAllConnections();
      }),
  };
}
