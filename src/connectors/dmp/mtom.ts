// MTOM/XOP packaging (multipart/related, RFC 2387 + W3C XOP) as the DMP expects it (fr-interop §2.2): the SOAP
// envelope in part <0.1> typed application/xop+xml, each document in its own binary part <0.N>, referenced from
// the XML by <xop:Include href="cid:0.N"/>. No maintained npm package parses multipart/related (busboy and the like
// only do multipart/form-data), so this is a small parser of our own; it accepts CRLF and bare LF line ends.
import { NS } from './xds-constants.js';
import { descendants, parseXml, serializeXml } from './xml-dom.js';

export interface MimePart {
  /** Header names in lower case. */
  headers: Record<string, string>;
  /** Content-ID without its angle brackets. */
  contentId?: string;
  contentType?: string;
  /** Decoded body (Content-Transfer-Encoding applied). */
  body: Buffer;
}

export interface MultipartRelated {
  /** The root part: the one `start` names, else the first. */
  root: MimePart;
  parts: MimePart[];
  /** Parts by Content-ID (without angle brackets). */
  byContentId: Map<string, MimePart>;
}

/** A parsed Content-Type: lower-case media type and parameters (names lower case, values unquoted). */
export function parseContentType(value: string): { mediaType: string; params: Record<string, string> } {
  const semi = value.indexOf(';');
  const mediaType = (semi === -1 ? value : value.slice(0, semi)).trim().toLowerCase();
  const params: Record<string, string> = {};
  const re = /;\s*([^=\s;]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))/g;
  for (const m of value.slice(Math.max(semi, 0)).matchAll(re)) {
    params[m[1].toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3];
  }
  return { mediaType, params };
}

const quote = (s: string): string => `"${s.replace(/(["\\])/g, '\\$1')}"`;

export interface OutgoingPart {
  contentId: string;
  contentType: string;
  body: Buffer;
}

/**
 * Packs a root part and its attachments as multipart/related. `type`, `startInfo` and `action` go into the
 * Content-Type parameters, as DRIMbox sends them. Throws if the boundary occurs in a part (pick another).
 */
export function buildMultipartRelated(
  root: OutgoingPart,
  attachments: readonly OutgoingPart[],
  options: { boundary: string; type: string; startInfo?: string; action?: string },
): { contentType: string; body: Buffer } {
  const { boundary } = options;
  const delimiter = Buffer.from(`--${boundary}`);
  const chunks: Buffer[] = [];
  for (const part of [root, ...attachments]) {
    if (part.body.includes(delimiter)) throw new Error(`MIME boundary ${boundary} occurs in part <${part.contentId}>`);
    chunks.push(
      Buffer.from(`--${boundary}\r\nContent-Type: ${part.contentType}\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <${part.contentId}>\r\n\r\n`, 'utf8'),
      part.body,
      Buffer.from('\r\n'),
    );
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  const params = [
    `boundary=${quote(boundary)}`,
    `type=${quote(options.type)}`,
    `start=${quote(`<${root.contentId}>`)}`,
    ...(options.startInfo ? [`start-info=${quote(options.startInfo)}`] : []),
    ...(options.action ? [`action=${quote(options.action)}`] : []),
  ];
  return { contentType: `multipart/related; ${params.join('; ')}`, body: Buffer.concat(chunks) };
}

function parseHeaders(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  // Unfold continuation lines (RFC 5322 §2.2.3) before splitting name: value.
  for (const line of text.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return headers;
}

function decodeBody(body: Buffer, encoding: string | undefined, where: string): Buffer {
  const e = (encoding ?? 'binary').toLowerCase();
  if (e === 'binary' || e === '8bit' || e === '7bit') return body;
  if (e === 'base64') return Buffer.from(body.toString('ascii'), 'base64');
  throw new Error(`${where}: unsupported Content-Transfer-Encoding "${encoding}"`);
}

function parsePart(raw: Buffer, index: number): MimePart {
  const crlf = raw.indexOf('\r\n\r\n');
  const lf = raw.indexOf('\n\n');
  const [end, sep] = crlf !== -1 && (lf === -1 || crlf < lf) ? [crlf, 4] : lf !== -1 ? [lf, 2] : [-1, 0];
  if (end === -1) throw new Error(`multipart part ${index + 1}: no blank line after the headers`);
  const headers = parseHeaders(raw.subarray(0, end).toString('utf8'));
  const id = headers['content-id']?.replace(/^<|>$/g, '');
  return {
    headers,
    ...(id ? { contentId: id } : {}),
    ...(headers['content-type'] ? { contentType: headers['content-type'] } : {}),
    body: decodeBody(raw.subarray(end + sep), headers['content-transfer-encoding'], `multipart part ${id ?? index + 1}`),
  };
}

/** Parses a multipart/related message (MTOM) into its parts; the root is the part `start` names, else the first. */
export function parseMultipartRelated(contentType: string, body: Buffer): MultipartRelated {
  const { mediaType, params } = parseContentType(contentType);
  if (mediaType !== 'multipart/related') throw new Error(`expected multipart/related, got ${mediaType || 'no content type'}`);
  const boundary = params.boundary;
  if (!boundary) throw new Error('multipart/related without a boundary parameter');
  const delimiter = Buffer.from(`--${boundary}`);
  // A delimiter counts only at the start of a line (RFC 2046 §5.1.1).
  const starts: number[] = [];
  for (let i = body.indexOf(delimiter); i !== -1; i = body.indexOf(delimiter, i + delimiter.length)) {
    if (i === 0 || body[i - 1] === 0x0a) starts.push(i);
  }
  const parts: MimePart[] = [];
  let closed = false;
  for (let k = 0; k < starts.length; k += 1) {
    const afterDelimiter = starts[k] + delimiter.length;
    if (body.subarray(afterDelimiter, afterDelimiter + 2).toString() === '--') {
      closed = true;
      break;
    }
    if (k + 1 >= starts.length) break;
    const lineEnd = body.indexOf(0x0a, afterDelimiter);
    let end = starts[k + 1] - 1; // the LF before the next delimiter belongs to it
    if (end > 0 && body[end - 1] === 0x0d) end -= 1;
    parts.push(parsePart(body.subarray(lineEnd + 1, end), parts.length));
  }
  if (!closed) throw new Error('multipart/related: no closing delimiter (truncated message?)');
  if (parts.length === 0) throw new Error('multipart/related: no part');
  const byContentId = new Map(parts.filter((p) => p.contentId).map((p) => [p.contentId as string, p]));
  const start = params.start?.replace(/^<|>$/g, '');
  const root = start ? byContentId.get(start) : parts[0];
  if (!root) throw new Error(`multipart/related: the start part <${start}> is missing`);
  return { root, parts, byContentId };
}

/** The bytes an `xop:Include href="cid:…"` points to. */
export function xopBytes(href: string, parts: ReadonlyMap<string, Pick<MimePart, 'body'>>): Buffer {
  if (!href.startsWith('cid:')) throw new Error(`xop:Include href "${href}" is not a cid: URL`);
  // cid: URLs are %-encoded Content-IDs (RFC 2392).
  const id = decodeURIComponent(href.slice(4));
  const part = parts.get(id);
  if (!part) throw new Error(`xop:Include names part <${id}>, which the message does not have`);
  return part.body;
}

/** The XML with every xop:Include replaced by the base64 of the part it names (the XML-infoset view of XOP). */
export function resolveXopIncludes(xml: string, parts: ReadonlyMap<string, MimePart>): string {
  const doc = parseXml(xml);
  const includes = descendants(doc.documentElement, NS.xop, 'Include');
  if (includes.length === 0) return xml;
  for (const include of includes) {
    const text = doc.createTextNode(xopBytes(include.getAttribute('href') ?? '', parts).toString('base64'));
    include.parentNode?.replaceChild(text, include);
  }
  return serializeXml(doc);
}
