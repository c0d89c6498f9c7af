// What every transaction handler of the local DMP peer gets: the request already through the SOAP and VIHF layers,
// the registry store, and the peer's settings.
import type { Logger } from 'pino';
import type { MimePart } from '../../connectors/dmp/mtom.js';
import type { VihfVerification } from '../../connectors/dmp/vihf.js';
import type { SoapRequest } from './soap.js';
import type { DmpPeerStore } from './store.js';
import type { XdsSchemas } from './xsd.js';

export interface PeerSettings {
  repositoryUniqueId: string;
  /** PEM bundle the VIHF and XAdES signing certificates must chain to. */
  signatureTrust: string;
  /** Refuse a submission without a XAdES signature entry (the DMP expects one; default false). */
  requireSubmissionSignature: boolean;
  schemas: XdsSchemas | undefined;
  logger: Logger;
  now: () => Date;
}

export interface TransactionRequest {
  soap: SoapRequest;
  /** MTOM parts by Content-ID (empty for an inline request). */
  parts: ReadonlyMap<string, MimePart>;
  /** The checked VIHF: its attributes come from the signed assertion. */
  vihf: VihfVerification;
  /** Whether the request came as MTOM (the response mirrors it). */
  mtom: boolean;
}

/** A transaction's answer: the SOAP body, and the binary parts it references with xop:Include (ITI-43). */
export interface TransactionResponse {
  action: string;
  bodyXml: string;
  attachments?: { contentId: string; contentType: string; body: Buffer }[];
  /** Error codes reported, for the log line. */
  errorCodes: string[];
}

export interface PeerContext extends PeerSettings {
  store: DmpPeerStore;
}
