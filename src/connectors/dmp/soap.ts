// SOAP 1.2 envelopes for the DMP: WS-Addressing headers (Action with mustUnderstand, MessageID, To, ReplyTo
// anonymous), the VIHF in wsse:Security, and the reading side (root part of an MTOM answer, SOAP Faults).
import { NS, WSA_ANONYMOUS } from './xds-constants.js';
import { parseContentType, parseMultipartRelated, type MimePart } from './mtom.js';
import { child, children, descendants, firstElementChild, parseXml, textOf } from './xml-dom.js';

export interface SoapHeaders {
  action: string;
  to: string;
  /** `urn:uuid:…` */
  messageId: string;
  /** The signed VIHF assertion (XML, no declaration), put in wsse:Security as is so its signature still holds. */
  security?: string;
}

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] ?? c);
}

/** A message id as WS-Addressing wants it: `urn:uuid:` + the UUID (a bare UUID gets the prefix). */
export function messageIdUrn(id: string): string {
  return id.startsWith('urn:') ? id : `urn:uuid:${id}`;
}

/**
 * The SOAP 1.2 envelope, as text: the signed assertion and the body are spliced in verbatim (re-serialising them
 * through a DOM could change bytes an XML signature covers).
 */
export function soapEnvelope(headers: SoapHeaders, bodyXml: string): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<soap:Envelope xmlns:soap="${NS.soap12}" xmlns:wsa="${NS.wsa}">`,
    '<soap:Header>',
    `<wsa:Action soap:mustUnderstand="true">${escapeXml(headers.action)}</wsa:Action>`,
    `<wsa:MessageID>${escapeXml(messageIdUrn(headers.messageId))}</wsa:MessageID>`,
    `<wsa:ReplyTo><wsa:Address>${WSA_ANONYMOUS}</wsa:Address></wsa:ReplyTo>`,
    `<wsa:To>${escapeXml(headers.to)}</wsa:To>`,
    headers.security ? `<wsse:Security xmlns:wsse="${NS.wsse}">${headers.security}</wsse:Security>` : '',
    '</soap:Header>',
    `<soap:Body>${bodyXml}</soap:Body>`,
    '</soap:Envelope>',
  ].join('');
}

/** The Content-Type of a SOAP 1.2 message sent inline (no MTOM): the action travels as a media-type parameter. */
export function soapContentType(action: string): string {
  return `application/soap+xml; charset=UTF-8; action="${action}"`;
}

export interface SoapFault {
  /** `Sender`, `Receiver`, `MustUnderstand`, `VersionMismatch`, `DataEncodingUnknown` (prefix dropped). */
  code: string;
  /** Subcode values, outermost first (prefixes dropped). */
  subcodes: string[];
  reason: string;
}

const localPart = (qname: string): string => qname.slice(qname.indexOf(':') + 1);

export interface SoapMessage {
  /** The envelope as text (the root part when the message is MTOM). */
  envelope: string;
  doc: Document;
  /** First element child of soap:Body. */
  body?: Element;
  fault?: SoapFault;
  /** MTOM parts by Content-ID (empty for an inline message), for xop:Include in the body. */
  parts: ReadonlyMap<string, MimePart>;
}

/** Reads a SOAP 1.2 message (inline or MTOM) and its Fault if any. Throws when it is not a SOAP envelope. */
export function readSoapMessage(contentType: string, payload: Buffer): SoapMessage {
  const { mediaType } = parseContentType(contentType);
  let envelope: string;
  let parts: SoapMessage['parts'] = new Map();
  if (mediaType === 'multipart/related') {
    const multipart = parseMultipartRelated(contentType, payload);
    envelope = multipart.root.body.toString('utf8');
    parts = multipart.byContentId;
  } else {
    envelope = payload.toString('utf8');
  }
  const doc = parseXml(envelope);
  const root = doc.documentElement;
  if (root.namespaceURI !== NS.soap12 || root.localName !== 'Envelope') throw new Error(`not a SOAP 1.2 envelope (root ${root.localName ?? '?'} in ${root.namespaceURI ?? 'no namespace'})`);
  const body = firstElementChild(child(root, NS.soap12, 'Body'));
  let fault: SoapFault | undefined;
  if (body && body.namespaceURI === NS.soap12 && body.localName === 'Fault') {
    const code = child(body, NS.soap12, 'Code');
    const subcodes: string[] = [];
    for (let sub = code ? child(code, NS.soap12, 'Subcode') : undefined; sub; sub = child(sub, NS.soap12, 'Subcode')) {
      subcodes.push(localPart(textOf(child(sub, NS.soap12, 'Value'))));
    }
    const reason = children(child(body, NS.soap12, 'Reason') ?? body, NS.soap12, 'Text').map(textOf).join(' / ');
    const detail = descendants(body, NS.soap12, 'Detail').map(textOf).join(' ');
    fault = { code: localPart(textOf(code ? child(code, NS.soap12, 'Value') : undefined)), subcodes, reason: reason || detail || 'SOAP Fault without a reason' };
  }
  return { envelope, doc, ...(body ? { body } : {}), ...(fault ? { fault } : {}), parts };
}
