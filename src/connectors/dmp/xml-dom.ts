// Reading XML the DMP messages carry: strict parsing (malformed input is an error, not a partial tree) and
// namespace-aware element lookups, so a prefix chosen by the sender never matters.
import { DOMParser, XMLSerializer } from '@xmldom/xmldom';
import xpath from 'xpath';
import { xmlPrescanProblem } from '../../fhir/xml-prescan.js';

/**
 * Deepest element nesting parsed. SOAP answers, ebRIM metadata and CDA R2 N1 headers stay far below it; much of the
 * code walking the tree is recursive, so a hostile answer nested thousands deep must not reach it.
 */
export const MAX_XML_DEPTH = 256;

/** Parses XML, failing on malformed input instead of returning a partial document. */
export function parseXml(xml: string): Document {
  // Refused before parsing: a DOCTYPE (entities, external references) and nesting past MAX_XML_DEPTH.
  const problem = xmlPrescanProblem(xml, MAX_XML_DEPTH);
  if (problem) throw new Error(`malformed XML: ${problem}`);
  const errors: string[] = [];
  const doc = new DOMParser({
    onError: (level, message) => {
      if (level !== 'warning') errors.push(message);
    },
  }).parseFromString(xml, 'text/xml');
  if (errors.length > 0 || !doc.documentElement) throw new Error(`malformed XML: ${errors[0] ?? 'no root element'}`);
  // xmldom implements the DOM interfaces xpath and xml-crypto are typed against.
  return doc as unknown as Document;
}

const serializer = new XMLSerializer();

/** A node (a document, an element) as XML text. */
export function serializeXml(node: Node): string {
  // The DOM types and xmldom's own describe the same nodes.
  return serializer.serializeToString(node as unknown as Parameters<XMLSerializer['serializeToString']>[0]);
}

/** Element children of `parent` with this namespace and local name. */
export function children(parent: Node, ns: string, localName: string): Element[] {
  const out: Element[] = [];
  for (let n = parent.firstChild; n; n = n.nextSibling) {
    if (xpath.isElement(n) && n.namespaceURI === ns && n.localName === localName) out.push(n);
  }
  return out;
}

export function child(parent: Node, ns: string, localName: string): Element | undefined {
  return children(parent, ns, localName)[0];
}

/** The first element child of `parent` (e.g. the payload of a soap:Body), whatever its name. */
export function firstElementChild(parent: Node | undefined): Element | undefined {
  for (let n = parent?.firstChild; n; n = n.nextSibling) if (xpath.isElement(n)) return n;
  return undefined;
}

/** Descendant elements of `root` (itself included) with this namespace and local name, in document order. */
export function descendants(root: Node, ns: string, localName: string): Element[] {
  const out: Element[] = [];
  const walk = (n: Node): void => {
    if (xpath.isElement(n) && n.namespaceURI === ns && n.localName === localName) out.push(n);
    for (let c = n.firstChild; c; c = c.nextSibling) walk(c);
  };
  walk(root);
  return out;
}

export function textOf(node: Node | undefined): string {
  return (node?.textContent ?? '').trim();
}
