// The SOAP 1.2 layer of the local DMP peer: reading a request envelope (WS-Addressing, mustUnderstand), and writing
// response envelopes and faults. HTTP status of a fault as the SOAP 1.2 HTTP binding sets it (part 2, §7.5.2.2):
// env:Sender → 400, every other fault code (Receiver, VersionMismatch, MustUnderstand) → 500.
import { randomUUID } from 'node:crypto';
import { escapeXml } from '../../connectors/dmp/soap.js';
import { child, firstElementChild, parseXml, textOf } from '../../connectors/dmp/xml-dom.js';
import { NS } from '../../connectors/dmp/xds-constants.js';
import { xmlPrescanProblem } from '../../fhir/xml-prescan.js';

const SOAP11_ENVELOPE = 'http://schemas.xmlsoap.org/soap/envelope/';

export type FaultCode = 'Sender' | 'Receiver' | 'VersionMismatch' | 'MustUnderstand';

/** A request the peer refuses before reading its payload: answered with a SOAP fault. */
export class SoapFault extends Error {
  constructor(
    readonly code: FaultCode,
    /** Qualified subcode, e.g. `wsse:InvalidSecurity`, `wsa:ActionNotSupported` (prefix declared in the fault). */
    readonly subcode: string | undefined,
    reason: string,
    /** HTTP status override (415 for an unsupported media type). */
    readonly httpStatus?: number,
  ) {
    super(reason);
  }

  get status(): number {
    return this.httpStatus ?? (this.code === 'Sender' ? 400 : 500);
  }
}

export interface SoapRequest {
  document: Document;
  envelope: Element;
  header: Element | undefined;
  /** The first element child of Body. */
  payload: Element;
  action: string;
  messageId: string | undefined;
}

const UNDERSTOOD_HEADERS = new Set([`${NS.wsa}|Action`, `${NS.wsa}|MessageID`, `${NS.wsa}|To`, `${NS.wsa}|ReplyTo`, `${NS.wsa}|From`, `${NS.wsse}|Security`]);

/**
 * How deeply elements may nest in an envelope. A DMP request nests about 15 levels (Envelope, Header, wsse:Security,
 * saml2:Assertion, ds:Signature…; Body, SubmitObjectsRequest, ExtrinsicObject, Slot, ValueList, Value); the XML
 * tree is walked recursively afterwards (signatures, descendants), so far deeper input would overflow the stack.
 */
export const MAX_ENVELOPE_DEPTH = 64;

/** Reads a SOAP 1.2 envelope; throws SoapFault for anything a SOAP node must refuse. */
export function readEnvelope(xml: string): SoapRequest {
  // SOAP 1.2 part 1 §5: an envelope MUST NOT contain a document type declaration. Checked, with the depth, on the text.
  const problem = xmlPrescanProblem(xml, MAX_ENVELOPE_DEPTH);
  if (problem) throw new SoapFault('Sender', undefined, `envelope: ${problem}`);
  let document: Document;
  try {
    document = parseXml(xml);
  } catch (err) {
    throw new SoapFault('Sender', undefined, `envelope: ${(err as Error).message}`);
  }
  const envelope = document.documentElement;
  if (envelope.localName !== 'Envelope') throw new SoapFault('Sender', undefined, `envelope: root element is ${envelope.localName}, not Envelope`);
  if (envelope.namespaceURI === SOAP11_ENVELOPE) throw new SoapFault('VersionMismatch', undefined, 'envelope: SOAP 1.1 is not accepted, use SOAP 1.2');
  if (envelope.namespaceURI !== NS.soap12) throw new SoapFault('VersionMismatch', undefined, `envelope: unknown envelope namespace ${envelope.namespaceURI ?? '(none)'}`);
  const header = child(envelope, NS.soap12, 'Header');
  const body = child(envelope, NS.soap12, 'Body');
  if (!body) throw new SoapFault('Sender', undefined, 'envelope: no soap:Body');
  const payload = firstElementChild(body);
  if (!payload) throw new SoapFault('Sender', undefined, 'envelope: empty soap:Body');

  if (header) {
    for (let n = header.firstChild; n; n = n.nextSibling) {
      if (n.nodeType !== 1) continue;
      const el = n as Element;
      const mu = el.getAttributeNS(NS.soap12, 'mustUnderstand');
      if ((mu === 'true' || mu === '1') && !UNDERSTOOD_HEADERS.has(`${el.namespaceURI ?? ''}|${el.localName}`)) {
        throw new SoapFault('MustUnderstand', undefined, `header ${el.namespaceURI ?? ''}:${el.localName} is mustUnderstand and not understood here`);
      }
    }
  }
  const action = header ? textOf(child(header, NS.wsa, 'Action')) : '';
  if (!action) throw new SoapFault('Sender', 'wsa:MessageAddressingHeaderRequired', 'header: wsa:Action is missing');
  const messageId = header ? textOf(child(header, NS.wsa, 'MessageID')) || undefined : undefined;
  if (!messageId) throw new SoapFault('Sender', 'wsa:MessageAddressingHeaderRequired', 'header: wsa:MessageID is missing (needed for RelatesTo)');
  return { document, envelope, header, payload, action, messageId };
}

/** A response envelope: WS-Addressing Action and RelatesTo, then `bodyXml` (which declares its own namespaces). */
export function responseEnvelope(action: string, relatesTo: string | undefined, bodyXml: string): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>` +
    `<soap:Envelope xmlns:soap="${NS.soap12}" xmlns:wsa="${NS.wsa}">` +
    `<soap:Header>` +
    `<wsa:Action soap:mustUnderstand="true">${escapeXml(action)}</wsa:Action>` +
    `<wsa:MessageID>urn:uuid:${randomUUID()}</wsa:MessageID>` +
    (relatesTo ? `<wsa:RelatesTo>${escapeXml(relatesTo)}</wsa:RelatesTo>` : '') +
    `</soap:Header>` +
    `<soap:Body>${bodyXml}</soap:Body>` +
    `</soap:Envelope>`
  );
}

/** A SOAP 1.2 fault envelope (WS-Addressing fault action). */
export function faultEnvelope(fault: SoapFault, relatesTo?: string): string {
  const subcode = fault.subcode
    ? `<soap:Subcode><soap:Value xmlns:wsa="${NS.wsa}" xmlns:wsse="${NS.wsse}">${escapeXml(fault.subcode)}</soap:Value></soap:Subcode>`
    : '';
  return responseEnvelope(
    'http://www.w3.org/2005/08/addressing/soap/fault',
    relatesTo,
    `<soap:Fault>` +
      `<soap:Code><soap:Value>soap:${fault.code}</soap:Value>${subcode}</soap:Code>` +
      `<soap:Reason><soap:Text xml:lang="en">${escapeXml(fault.message)}</soap:Text></soap:Reason>` +
      `</soap:Fault>`,
  );
}
