// Vendor bytes → the parsed input a JSONata expression sees (conventions in model.ts, docs/mappings.md § Reference).
// Every failure is a MappingFailure with a diagnostic (`parse-error`, `doctype-refused`, `input-too-large`), never
// another exception.
import { parse as parseCsv } from 'csv-parse/sync';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { type InputFormat, type MappingDiagnostic, MappingFailure } from './model.js';

export interface ParseOptions {
  mapping: string;
  input: InputFormat;
  maxInputBytes: number;
  xmlArrays?: readonly string[];
  csvDelimiter?: string;
}

/** Deepest nesting accepted in JSON and XML inputs. */
export const MAX_DEPTH = 64;

function fail(mapping: string, code: string, message: string, status: 400 | 413 = 400, inputPath?: string): never {
  const d: MappingDiagnostic = { severity: 'error', code, message, mapping, ...(inputPath ? { inputPath } : {}) };
  throw new MappingFailure(mapping, [d], status);
}

function decode(mapping: string, input: Buffer | string): string {
  if (typeof input === 'string') return input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(input);
  } catch {
    return fail(mapping, 'parse-error', 'the input is not valid UTF-8');
  }
}

/** Nesting depth of JSON text outside strings, stopping as soon as it exceeds `max`. */
function jsonTooDeep(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

function lineCol(text: string, index: number): string {
  const before = text.slice(0, index);
  const line = before.split('\n').length;
  return `line ${line}, column ${index - before.lastIndexOf('\n')}`;
}

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** The five predefined XML entities and character references (`&#233;`, `&#xE9;`); nothing else (no DTD). */
export function decodeXmlText(v: string): string {
  if (!v.includes('&')) return v;
  return v.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-z]{2,4});/g, (all, ref: string) => {
    if (ref[0] === '#') {
      const cp = ref[1] === 'x' ? Number.parseInt(ref.slice(2), 16) : Number.parseInt(ref.slice(1), 10);
      return cp > 0 && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff) ? String.fromCodePoint(cp) : all;
    }
    return PREDEFINED[ref] ?? all;
  });
}

function parseXml(o: ParseOptions, text: string): unknown {
  const doctype = /<!DOCTYPE|<!ENTITY/i.exec(text);
  if (doctype) fail(o.mapping, 'doctype-refused', `XML with a DOCTYPE or entity declaration is refused (${lineCol(text, doctype.index)})`, 400, lineCol(text, doctype.index));
  const valid = XMLValidator.validate(text, { allowBooleanAttributes: false });
  if (valid !== true) {
    const where = `line ${valid.err.line}, column ${valid.err.col}`;
    fail(o.mapping, 'parse-error', `XML is not well-formed: ${valid.err.msg} (${where})`, 400, where);
  }
  const arrays = new Set(o.xmlArrays ?? []);
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@',
    textNodeName: '#text',
    parseTagValue: false,
    parseAttributeValue: false,
    processEntities: false,
    htmlEntities: false,
    ignoreDeclaration: true,
    ignorePiTags: true,
    trimValues: true,
    maxNestedTags: MAX_DEPTH,
    tagValueProcessor: (_name, value) => decodeXmlText(value),
    attributeValueProcessor: (_name, value) => decodeXmlText(value),
    isArray: (_name, jpath, _leaf, isAttribute) => !isAttribute && arrays.has(String(jpath)),
  });
  try {
    return parser.parse(text) as unknown;
  } catch (err) {
    return fail(o.mapping, 'parse-error', `XML could not be parsed: ${String((err as Error)?.message ?? err).slice(0, 300)}`);
  }
}

function parseCsvText(o: ParseOptions, text: string): unknown {
  try {
    return parseCsv(text, { columns: true, delimiter: o.csvDelimiter ?? ';', bom: true, trim: true, skip_empty_lines: true, cast: false }) as unknown;
  } catch (err) {
    const e = err as { message?: string; lines?: number; code?: string };
    const where = typeof e.lines === 'number' ? `line ${e.lines}` : undefined;
    return fail(o.mapping, 'parse-error', `CSV could not be parsed${where ? ` at ${where}` : ''}: ${String(e.message ?? err).slice(0, 300)}`, 400, where);
  }
}

/** Parse `input` as `o.input`; throws MappingFailure (413 when over `maxInputBytes`, 400 otherwise). */
export function parseInput(o: ParseOptions, input: Buffer | string): unknown {
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.length;
  if (size > o.maxInputBytes) fail(o.mapping, 'input-too-large', `the input is ${size} bytes, over the limit of ${o.maxInputBytes}`, 413);
  const text = decode(o.mapping, input);
  switch (o.input) {
    case 'json': {
      if (jsonTooDeep(text, MAX_DEPTH)) fail(o.mapping, 'parse-error', `JSON nested deeper than ${MAX_DEPTH} levels`);
      try {
        return JSON.parse(text) as unknown;
      } catch (err) {
        return fail(o.mapping, 'parse-error', `JSON could not be parsed: ${(err as Error).message.slice(0, 300)}`);
      }
    }
    case 'xml':
      return parseXml(o, text);
    case 'csv':
      return parseCsvText(o, text);
    default:
      return fail(o.mapping, 'parse-error', `unknown input format ${String(o.input)}`);
  }
}
