// IHE XDM media (ITI-32) as MSSanté carries it in `IHE_XDM.ZIP` (fr-interop §3.3): README.TXT, INDEX.HTM, and one
// subset IHE_XDM/SUBSET01 with METADATA.XML (the same ebRIM SubmitObjectsRequest as the DMP's ITI-41, each
// DocumentEntry naming its file with the `URI` slot) and the documents (DOC0001.XML = the CDA R2 N1 bytes the DMP route
// sends). The writer is deterministic for a given document and date; the reader treats every zip as hostile.
import { buffer } from 'node:stream/consumers';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { DOMParser } from '@xmldom/xmldom';
import yauzl from 'yauzl';
import yazl from 'yazl';
import { xmlPrescanProblem } from '../fhir/xml-prescan.js';
import { submitObjectsRequest } from './ebrim.js';
import type { XdsSubmission } from './model.js';
import type { BuiltDocument } from './pipeline.js';
import { NS, SLOT } from './xds-constants.js';

export const XDM_SUBSET = 'IHE_XDM/SUBSET01';
export const XDM_METADATA_PATH = `${XDM_SUBSET}/METADATA.XML`;

/** ISO-9660 level-1 style name of the n-th document (1-based) of the subset, as Mediboard and the ANS sample write. */
export function xdmDocumentName(n: number): string {
  return `DOC${String(n).padStart(4, '0')}.XML`;
}

export interface XdmSender {
  /** The person or service sending (e.g. the organisation's applicative mailbox owner). */
  name: string;
  organization: string;
  /** The sender's MSSanté address, when known. */
  address?: string;
}

export interface XdmSoftware {
  name: string;
  version: string;
  vendor: string;
}

export interface XdmPackageInput {
  /** The document as the pipeline built it for the DMP route: its submission (metadata + the exact CDA bytes). */
  built: Pick<BuiltDocument, 'header' | 'submission'>;
  sender: XdmSender;
  software: XdmSoftware;
  /** When the package is made: written in README.TXT and as every entry's modification time. */
  date: Date;
}

/** The submission as XDM media describes it: each DocumentEntry names its file (URI) and the size and hash of its bytes. */
export function xdmSubmission(sub: XdsSubmission): XdsSubmission {
  return {
    ...sub,
    documents: sub.documents.map((d, i) => ({
      content: d.content,
      entry: { ...d.entry, uri: xdmDocumentName(i + 1), hash: createHash('sha1').update(d.content).digest('hex'), size: d.content.length },
    })),
  };
}

/** METADATA.XML: the lcm:SubmitObjectsRequest of the DMP route, with its XML declaration. */
export function xdmMetadataXml(sub: XdsSubmission): string {
  return metadataText(xdmSubmission(sub));
}

const metadataText = (xdm: XdsSubmission): string => `<?xml version="1.0" encoding="UTF-8"?>\n${submitObjectsRequest(xdm)}\n`;

const crlf = (lines: readonly string[]): string => `${lines.join('\r\n')}\r\n`;

function readme(input: XdmPackageInput, names: readonly string[]): string {
  const { sender, software, date } = input;
  return crlf([
    'IHE XDM - MSSante',
    '',
    `Expediteur / Sender: ${sender.name}, ${sender.organization}${sender.address ? ` <${sender.address}>` : ''}`,
    `Logiciel / Software: ${software.name} ${software.version} (${software.vendor})`,
    `Date: ${date.toISOString()}`,
    '',
    'Ce support contient un document de sante au format IHE XDM. Ouvrir INDEX.HTM pour le consulter;',
    'les metadonnees XDS sont dans IHE_XDM/SUBSET01/METADATA.XML.',
    'This media holds a health document in IHE XDM format. Open INDEX.HTM to view it;',
    'the XDS metadata is in IHE_XDM/SUBSET01/METADATA.XML.',
    '',
    'README.TXT',
    'INDEX.HTM',
    'IHE_XDM/',
    '  SUBSET01/',
    '    METADATA.XML',
    ...names.map((n) => `    ${n}`),
  ]);
}

const escapeHtml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function indexHtm(input: XdmPackageInput, names: readonly string[]): string {
  const title = escapeHtml(input.built.header.title);
  return crlf([
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">',
    '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="fr" lang="fr">',
    `<head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8" /><title>${title}</title></head>`,
    '<body>',
    `<h1>${title}</h1>`,
    '<ul>',
    ...names.map((n) => `<li><a href="${XDM_SUBSET}/${n}">${n}</a> (CDA R2)</li>`),
    `<li><a href="${XDM_METADATA_PATH}">METADATA.XML</a></li>`,
    '<li><a href="README.TXT">README.TXT</a></li>',
    '</ul>',
    '</body>',
    '</html>',
  ]);
}

/**
 * The DOS time of a zip entry is local time: the date is shifted so that its local reading is its UTC one, and the
 * zip is the same whatever the machine's time zone.
 */
function zipMtime(date: Date): Date {
  const local = new Date(date.getTime());
  return new Date(local.getTime() + local.getTimezoneOffset() * 60_000);
}

/** The IHE_XDM.ZIP of a built document. */
export function buildXdmPackage(input: XdmPackageInput): Promise<Buffer> {
  const sub = xdmSubmission(input.built.submission);
  const names = sub.documents.map((d) => d.entry.uri as string);
  const zip = new yazl.ZipFile();
  const options = { mtime: zipMtime(input.date), forceDosTimestamp: true, mode: 0o100644 };
  zip.addBuffer(Buffer.from(readme(input, names), 'utf8'), 'README.TXT', options);
  zip.addBuffer(Buffer.from(indexHtm(input, names), 'utf8'), 'INDEX.HTM', options);
  zip.addBuffer(Buffer.from(metadataText(sub), 'utf8'), XDM_METADATA_PATH, options);
  sub.documents.forEach((d, i) => zip.addBuffer(d.content, `${XDM_SUBSET}/${names[i]}`, options));
  zip.end();
  return buffer(zip.outputStream);
}

// ---------------------------------------------------------------------------------------------------------------------
// Reading

export type XdmRefusalReason =
  | 'not-a-zip'
  | 'unsafe-path'
  | 'duplicate-entry'
  | 'too-many-entries'
  | 'too-large'
  | 'compression-ratio'
  | 'encrypted'
  | 'corrupt-entry'
  | 'missing-metadata'
  | 'multiple-subsets'
  | 'metadata-dtd'
  | 'metadata-malformed'
  | 'metadata-invalid'
  | 'document-missing'
  | 'size-mismatch'
  | 'hash-mismatch';

/** A zip refused by `readXdmPackage`: the only error it throws. */
export class XdmRefused extends Error {
  override readonly name = 'XdmRefused';
  constructor(
    readonly reason: XdmRefusalReason,
    message: string,
    /** The zip entry (or metadata object) concerned, when there is one. */
    readonly entry?: string,
  ) {
    super(`IHE XDM refused (${reason}): ${message}`);
  }
}

export interface XdmReadLimits {
  /** Total bytes inflated, counted while inflating (headers are not trusted). Default 20 MiB. */
  maxUncompressedBytes?: number;
  /** Default 100. */
  maxEntries?: number;
  /** Inflated bytes per compressed byte of one entry. Default 100. */
  maxCompressionRatio?: number;
}

export const XDM_READ_DEFAULTS: Required<XdmReadLimits> = { maxUncompressedBytes: 20 * 1024 * 1024, maxEntries: 100, maxCompressionRatio: 100 };

export interface XdmContent {
  /** METADATA.XML as text. */
  metadata: string;
  /** The documents the DocumentEntries name, in metadata order; `path` is the zip path. */
  documents: { path: string; bytes: Buffer }[];
}

/**
 * Why a zip entry name must not be used, or undefined: an absolute path (`/…`, `C:…`), a `..` segment, a backslash,
 * a control character, or an empty or `.` segment. An accepted name stays inside any folder it is extracted to.
 */
export function unsafeEntryName(name: string): string | undefined {
  if (name.length === 0) return 'empty name';
  if (name.includes('\\')) return 'backslash';
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'control character';
  if (name.startsWith('/') || /^[a-zA-Z]:/.test(name)) return 'absolute path';
  const segments = name.split('/');
  // A directory entry ends with '/': its last (empty) segment is allowed.
  const inner = name.endsWith('/') ? segments.slice(0, -1) : segments;
  if (inner.includes('..')) return '".." segment';
  if (inner.some((s) => s === '' || s === '.')) return 'empty or "." segment';
  if (inner.some((s) => s.includes(':'))) return 'colon';
  return undefined;
}

function openZip(zip: Buffer): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    // decodeStrings off: names are decoded and checked here, strictly (yauzl would turn a backslash into a slash).
    // validateEntrySizes off: sizes are counted here while inflating, so that a lying header meets our limits first.
    yauzl.fromBuffer(zip, { lazyEntries: true, decodeStrings: false, validateEntrySizes: false, autoClose: false }, (err, zf) => {
      if (err || !zf) reject(new XdmRefused('not-a-zip', err?.message ?? 'unreadable'));
      else resolve(zf);
    });
  });
}

function openStream(zf: yauzl.ZipFile, entry: yauzl.Entry): Promise<Readable> {
  return new Promise((resolve, reject) => {
    zf.openReadStream(entry, (err, stream) => {
      if (err || !stream) reject(err ?? new Error('no stream'));
      else resolve(stream);
    });
  });
}

/**
 * Inflates one entry, counting as it goes: stops at the total budget or the ratio limit, whatever the headers say;
 * then the bytes must be as many as the central directory declares, with its CRC-32 (yauzl checks neither here).
 */
async function inflate(zf: yauzl.ZipFile, entry: yauzl.Entry, name: string, budget: { left: number }, limits: Required<XdmReadLimits>): Promise<Buffer> {
  const stream = await openStream(zf, entry).catch((err: Error) => {
    throw new XdmRefused('corrupt-entry', `entry ${JSON.stringify(name)} cannot be read: ${err.message}`, name);
  });
  const maxForRatio = Math.max(entry.compressedSize, 1) * limits.maxCompressionRatio;
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > budget.left) throw new XdmRefused('too-large', `more than ${limits.maxUncompressedBytes} bytes uncompressed`, name);
      if (size > maxForRatio) throw new XdmRefused('compression-ratio', `entry inflates more than ${limits.maxCompressionRatio} times its compressed size`, name);
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof XdmRefused) throw err;
    throw new XdmRefused('corrupt-entry', `entry ${JSON.stringify(name)} does not inflate: ${(err as Error).message}`, name);
  } finally {
    stream.destroy();
  }
  budget.left -= size;
  const bytes = Buffer.concat(chunks, size);
  if (size !== entry.uncompressedSize) throw new XdmRefused('corrupt-entry', `entry ${JSON.stringify(name)} inflates to ${size} bytes, its header says ${entry.uncompressedSize}`, name);
  if (crc32(bytes) !== entry.crc32) throw new XdmRefused('corrupt-entry', `entry ${JSON.stringify(name)} fails its CRC-32`, name);
  return bytes;
}

/** Every file entry of the zip, checked and inflated. */
async function readEntries(zip: Buffer, limits: Required<XdmReadLimits>): Promise<Map<string, Buffer>> {
  const zf = await openZip(zip);
  try {
    if (zf.entryCount > limits.maxEntries) throw new XdmRefused('too-many-entries', `${zf.entryCount} entries, at most ${limits.maxEntries}`);
    const files = new Map<string, Buffer>();
    const seen = new Set<string>();
    const budget = { left: limits.maxUncompressedBytes };
    await new Promise<void>((resolve, reject) => {
      const fail = (err: unknown): void => {
        reject(err);
      };
      zf.on('error', fail);
      zf.on('end', () => resolve());
      zf.on('entry', (entry: yauzl.Entry) => {
        void (async () => {
          const raw = entry.fileName as unknown as Buffer;
          const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, raw, entry.extraFields, true);
          const unsafe = unsafeEntryName(name);
          if (unsafe) throw new XdmRefused('unsafe-path', `entry name ${JSON.stringify(name)}: ${unsafe}`, name);
          const key = name.toUpperCase();
          if (seen.has(key)) throw new XdmRefused('duplicate-entry', `entry ${JSON.stringify(name)} occurs twice`, name);
          seen.add(key);
          if (entry.isEncrypted()) throw new XdmRefused('encrypted', `entry ${JSON.stringify(name)} is encrypted`, name);
          if (entry.uncompressedSize > budget.left) throw new XdmRefused('too-large', `more than ${limits.maxUncompressedBytes} bytes uncompressed`, name);
          if (entry.uncompressedSize > Math.max(entry.compressedSize, 1) * limits.maxCompressionRatio) {
            throw new XdmRefused('compression-ratio', `entry declares more than ${limits.maxCompressionRatio} times its compressed size`, name);
          }
          if (!name.endsWith('/')) files.set(name, await inflate(zf, entry, name, budget, limits));
          zf.readEntry();
        })().catch(fail);
      });
      zf.readEntry();
    });
    return files;
  } finally {
    zf.close();
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

function parseMetadata(bytes: Buffer): { text: string; doc: Document } {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new XdmRefused('metadata-malformed', 'METADATA.XML is not UTF-8', XDM_METADATA_PATH);
  }
  const problem = xmlPrescanProblem(text, 256);
  if (problem) {
    const dtd = problem.includes('DOCTYPE') || problem.includes('markup declaration');
    throw new XdmRefused(dtd ? 'metadata-dtd' : 'metadata-malformed', `METADATA.XML: ${problem}`, XDM_METADATA_PATH);
  }
  const errors: string[] = [];
  const doc = new DOMParser({
    onError: (level, message) => {
      if (level !== 'warning') errors.push(message);
    },
  }).parseFromString(text, 'text/xml');
  if (errors.length > 0 || !doc.documentElement) {
    throw new XdmRefused('metadata-malformed', `METADATA.XML: ${errors[0] ?? 'no root element'}`, XDM_METADATA_PATH);
  }
  return { text, doc: doc as unknown as Document };
}

function slotValues(object: Element, name: string): string[] {
  for (let n = object.firstChild; n; n = n.nextSibling) {
    const el = n as Element;
    if (n.nodeType === 1 && el.namespaceURI === NS.rim && el.localName === 'Slot' && el.getAttribute('name') === name) {
      return Array.from(el.getElementsByTagNameNS(NS.rim, 'Value')).map((v) => (v.textContent ?? '').trim());
    }
  }
  return [];
}

/** Checks every DocumentEntry against the bytes its URI names. */
function referencedDocuments(doc: Document, subset: string, files: Map<string, Buffer>): XdmContent['documents'] {
  const entries = Array.from(doc.getElementsByTagNameNS(NS.rim, 'ExtrinsicObject'));
  if (entries.length === 0) throw new XdmRefused('metadata-invalid', 'METADATA.XML holds no DocumentEntry', XDM_METADATA_PATH);
  return entries.map((eo) => {
    const id = eo.getAttribute('id') ?? '?';
    const [uri, ...moreUris] = slotValues(eo, SLOT.uri);
    const [hash] = slotValues(eo, SLOT.hash);
    const [size] = slotValues(eo, SLOT.size);
    if (!uri || moreUris.length > 0 || !hash || !size) {
      throw new XdmRefused('metadata-invalid', `DocumentEntry ${id} needs one URI, hash and size`, id);
    }
    const unsafe = unsafeEntryName(uri);
    if (unsafe || uri.endsWith('/')) throw new XdmRefused('unsafe-path', `DocumentEntry ${id} URI ${JSON.stringify(uri)}: ${unsafe ?? 'a folder'}`, uri);
    const path = `${subset}/${uri}`;
    const bytes = files.get(path);
    if (!bytes) throw new XdmRefused('document-missing', `DocumentEntry ${id} names ${path}, absent from the zip`, path);
    if (String(bytes.length) !== size) throw new XdmRefused('size-mismatch', `${path} is ${bytes.length} bytes, the metadata says ${size}`, path);
    const actual = createHash('sha1').update(bytes).digest('hex');
    if (actual !== hash.toLowerCase()) throw new XdmRefused('hash-mismatch', `${path} has SHA-1 ${actual}, the metadata says ${hash}`, path);
    return { path, bytes };
  });
}

/**
 * Reads an IHE_XDM.ZIP received from anyone: refuses (with `XdmRefused` only) unsafe names, too many entries, too
 * many bytes inflated, bomb-like ratios, encryption, a METADATA.XML that is missing, carries a DTD or is malformed,
 * and documents whose size or SHA-1 differ from their DocumentEntry.
 */
export async function readXdmPackage(zip: Buffer, limits: XdmReadLimits = {}): Promise<XdmContent> {
  const l: Required<XdmReadLimits> = { ...XDM_READ_DEFAULTS, ...limits };
  let files: Map<string, Buffer>;
  try {
    files = await readEntries(zip, l);
  } catch (err) {
    if (err instanceof XdmRefused) throw err;
    throw new XdmRefused('not-a-zip', `unreadable zip: ${(err as Error).message}`);
  }
  const metadataPaths = [...files.keys()].filter((p) => /^IHE_XDM\/[^/]+\/METADATA\.XML$/i.test(p));
  if (metadataPaths.length === 0) throw new XdmRefused('missing-metadata', 'no IHE_XDM/<subset>/METADATA.XML');
  if (metadataPaths.length > 1) throw new XdmRefused('multiple-subsets', `${metadataPaths.length} subsets; one is read`);
  const metadataPath = metadataPaths[0];
  const subset = metadataPath.slice(0, metadataPath.lastIndexOf('/'));
  try {
    const { text, doc } = parseMetadata(files.get(metadataPath) as Buffer);
    return { metadata: text, documents: referencedDocuments(doc, subset, files) };
  } catch (err) {
    if (err instanceof XdmRefused) throw err;
    throw new XdmRefused('metadata-malformed', `METADATA.XML: ${(err as Error).message}`, metadataPath);
  }
}
