// The FHIR R4 narrative constraints on `Narrative.div` (https://hl7.org/fhir/R4/narrative.html), which the FHIRPath
// engine only stubs (`htmlChecks()` is always true there): txt-1, the div is XHTML with only the basic formatting
// elements and attributes (no script, form, frame, object, style or link element, no event attribute, no
// `javascript:` URL, no DOCTYPE), and txt-2, it has some content. Lists as the HL7 Java validator has them.
import { DOMParser } from '@xmldom/xmldom';
import { xmlPrescanProblem } from './xml-prescan.js';

const XHTML_NS = 'http://www.w3.org/1999/xhtml';

/** Far more than any narrative needs; the parser's cost grows with depth, and the div is walked afterwards. */
export const MAX_NARRATIVE_DEPTH = 64;
/** Problems reported per div: enough to fix it, not a flood. */
const MAX_PROBLEMS = 10;

const ELEMENTS = new Set([
  'p', 'br', 'div', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'a', 'span', 'b', 'em', 'i', 'strong', 'small', 'big', 'tt',
  'dfn', 'q', 'var', 'abbr', 'acronym', 'cite', 'blockquote', 'hr', 'address', 'bdo', 'kbd', 'sub', 'sup', 'ul', 'ol',
  'li', 'dl', 'dt', 'dd', 'pre', 'table', 'caption', 'colgroup', 'col', 'thead', 'tr', 'tfoot', 'tbody', 'th', 'td',
  'code', 'samp', 'img', 'map', 'area',
]);

/** Attributes any element may carry. */
const COMMON_ATTRIBUTES = new Set([
  'title', 'style', 'class', 'id', 'lang', 'xml:lang', 'dir', 'accesskey', 'tabindex',
  // tables
  'span', 'width', 'align', 'valign', 'char', 'charoff', 'abbr', 'axis', 'headers', 'scope', 'rowspan', 'colspan',
]);

/** `element.attribute` pairs allowed besides the common ones. */
const ELEMENT_ATTRIBUTES = new Set([
  'a.href', 'a.name', 'a.charset', 'a.type', 'a.hreflang', 'a.rel', 'a.rev', 'a.shape', 'a.coords',
  'img.src', 'img.alt', 'img.longdesc', 'img.height', 'img.width', 'img.usemap', 'img.ismap', 'img.border',
  'map.name', 'area.shape', 'area.coords', 'area.href', 'area.nohref', 'area.alt',
  'blockquote.cite', 'q.cite',
  'table.summary', 'table.width', 'table.border', 'table.frame', 'table.rules', 'table.cellspacing', 'table.cellpadding',
  'td.nowrap', 'th.nowrap',
]);

/** Attributes holding a URL, and the schemes they may use (none: a relative URL or a `#fragment`). */
const URL_ATTRIBUTES = new Set(['href', 'src', 'cite', 'longdesc', 'usemap']);
const URL_SCHEMES = new Set(['http', 'https', 'mailto', 'tel', 'urn']);
/** Inline images only, and never SVG (it can carry script). */
const DATA_IMAGE = /^data:image\/(png|gif|jpeg|webp|bmp);/i;
/** What would run code or load a resource from a style attribute. */
const STYLE_FORBIDDEN = /expression\s*\(|javascript:|vbscript:|@import|behavior\s*:|-moz-binding|url\s*\(/i;

export interface NarrativeProblem {
  readonly key: 'txt-1' | 'txt-2';
  readonly text: string;
}

/** Parses the div; a problem when it is not well-formed XML or declares what a narrative may not. */
function parseDiv(div: string): Document | string {
  const refused = xmlPrescanProblem(div, MAX_NARRATIVE_DEPTH);
  if (refused) return refused;
  const errors: string[] = [];
  let doc: Document;
  try {
    // XHTML: the HTML named entities (&nbsp;, &eacute;…) are known; no DTD can declare others (refused above).
    doc = new DOMParser({
      onError: (level, message) => {
        if (level !== 'warning') errors.push(message);
      },
    }).parseFromString(div, 'application/xhtml+xml') as unknown as Document;
  } catch (err) {
    return `not well-formed XHTML: ${firstLine((err as Error).message)}`;
  }
  if (errors.length > 0 || !doc.documentElement) return `not well-formed XHTML: ${firstLine(errors[0] ?? 'no element')}`;
  return doc;
}

const firstLine = (s: string): string => s.split('\n')[0];

/** The scheme of a URL as a browser reads it (it drops tabs, newlines and leading spaces or controls), or undefined. */
function schemeOf(url: string): string | undefined {
  const cleaned = url.replace(/[\u0000-\u0020\u007f]/g, '');
  return /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(cleaned)?.[1].toLowerCase();
}

function urlProblem(element: string, attribute: string, value: string): string | undefined {
  const scheme = schemeOf(value);
  if (scheme === undefined || URL_SCHEMES.has(scheme)) return undefined;
  if (scheme === 'data' && element === 'img' && attribute === 'src' && DATA_IMAGE.test(value.trim())) return undefined;
  return `${element}/@${attribute}: the URL scheme "${scheme}:" is not allowed (use http, https, mailto, tel or a relative URL)`;
}

/** txt-1 and txt-2 problems of a narrative div (empty when it conforms). */
export function narrativeProblems(div: string): NarrativeProblem[] {
  const parsed = parseDiv(div);
  if (typeof parsed === 'string') return [{ key: 'txt-1', text: parsed }];
  const out: NarrativeProblem[] = [];
  const txt1 = (text: string): void => {
    if (out.length < MAX_PROBLEMS) out.push({ key: 'txt-1', text });
  };

  for (let n = parsed.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === 10) txt1('a DOCTYPE is not allowed');
    else if (n.nodeType === 7) txt1(`processing instruction <?${n.nodeName}?> is not allowed`);
  }
  const root = parsed.documentElement;
  // The parser puts elements of an XHTML document in the XHTML namespace by default: the declaration is checked too.
  if (root.localName !== 'div' || root.namespaceURI !== XHTML_NS || root.getAttribute('xmlns') !== XHTML_NS) {
    txt1(`the narrative must be one <div xmlns="${XHTML_NS}">, not <${root.nodeName}${root.hasAttribute('xmlns') ? ` xmlns="${root.getAttribute('xmlns') ?? ''}"` : ''}>`);
  }

  let content = false;
  // Depth-first over the tree with an explicit stack (depth is bounded by the prescan, but a stack costs nothing).
  const stack: Node[] = [root];
  for (let node = stack.pop(); node; node = stack.pop()) {
    if (node.nodeType === 3 || node.nodeType === 4) {
      if ((node.nodeValue ?? '').trim() !== '') content = true;
      continue;
    }
    if (node.nodeType === 7) {
      txt1(`processing instruction <?${node.nodeName}?> is not allowed`);
      continue;
    }
    if (node.nodeType !== 1) continue; // comments
    const el = node as Element;
    const name = el.localName ?? el.nodeName;
    if (el.namespaceURI !== XHTML_NS && el !== root) {
      txt1(`<${el.nodeName}> is not an XHTML element (namespace ${el.namespaceURI ?? 'none'})`);
      continue;
    } else if (!ELEMENTS.has(name)) {
      txt1(`<${name}> is not allowed in a narrative (only basic HTML formatting, tables, lists, links and images)`);
      continue; // its content is not looked at: the element is refused
    }
    if (name === 'img') content = true;
    for (let i = 0; i < el.attributes.length; i++) {
      const attr = el.attributes[i];
      const an = attr.name;
      if (an === 'xmlns' || an.startsWith('xmlns:')) continue;
      if (an.toLowerCase().startsWith('on')) {
        txt1(`<${name}> attribute ${an}: event attributes are not allowed`);
      } else if (!COMMON_ATTRIBUTES.has(an) && !ELEMENT_ATTRIBUTES.has(`${name}.${an}`)) {
        txt1(`<${name}> attribute ${an} is not allowed`);
      } else if (URL_ATTRIBUTES.has(an)) {
        const problem = urlProblem(name, an, attr.value);
        if (problem) txt1(problem);
      } else if (an === 'style' && STYLE_FORBIDDEN.test(attr.value)) {
        txt1(`<${name}> style: expression(), url(), @import, behavior and script URLs are not allowed`);
      }
    }
    for (let c = el.lastChild; c; c = c.previousSibling) stack.push(c);
  }
  if (!content) out.push({ key: 'txt-2', text: 'the narrative has no content (only whitespace)' });
  return out;
}
