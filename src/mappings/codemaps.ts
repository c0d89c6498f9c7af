// Code maps (issue 19, docs/mappings.md "Code maps"): `mappings/codemaps/<name>.yaml|csv`, local code → target code.
//
// YAML: { name, title?, source: <system URI>, target: <system URI>, unmapped?: error|warning (default error),
//         entries: [{ source, target, display? }] }
// CSV:  a header row `source;target;display` (display optional) and the metadata (name, title, source, target,
//       unmapped) in a sibling `<name>.meta.yaml`; delimiter `;`, BOM removed, values trimmed, empty lines skipped.
//
// The name is the file's base name (a `name` in the file must equal it); `version` is the sha256 of the file (for a
// CSV, of the CSV and its .meta.yaml); `url` is `https://fhir.passerelle.fr/ConceptMap/<name>`. A file that does not
// load is a problem of the set (file + line/field), never an exception.
import { createHash } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { isMap, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { CANONICAL_BASE } from '../fhir/canonical.js';
import type { CodeMap, CodeMapEntry } from './model.js';

export const CODEMAP_URL_BASE = `${CANONICAL_BASE}/ConceptMap/`;
/** Largest code-map file read (bytes). */
export const MAX_CODEMAP_BYTES = 5 * 1024 * 1024;
/** Most entries in one map. */
export const MAX_CODEMAP_ENTRIES = 100_000;
const MAX_CODE_LENGTH = 256;
const MAX_DISPLAY_LENGTH = 1024;

const NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;
// Control characters (C0, DEL, C1) and bidi/invisible formatting characters.
// eslint-disable-next-line no-control-regex
const BAD_CHARS = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/;
const URI = /^(https?:\/\/[^\s]+|urn:(oid|uuid):[^\s]+|urn:[a-z0-9][a-z0-9-]{0,31}:[^\s]+)$/i;

export type CodeMapProblem = { file: string; message: string };

export async function loadCodeMaps(dir: string): Promise<{ codeMaps: Map<string, CodeMap>; problems: CodeMapProblem[] }> {
  const codeMaps = new Map<string, CodeMap>();
  const problems: CodeMapProblem[] = [];
  const folder = path.join(dir, 'codemaps');
  let files: string[];
  try {
    files = (await readdir(folder)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') problems.push({ file: folder, message: `cannot read the folder: ${(err as Error).message}` });
    return { codeMaps, problems };
  }
  const metas = new Set(files.filter((f) => f.endsWith('.meta.yaml')));
  for (const f of files) {
    const file = path.join(folder, f);
    let result: CodeMap | CodeMapProblem[];
    if (f.endsWith('.meta.yaml')) {
      if (!files.includes(`${f.slice(0, -'.meta.yaml'.length)}.csv`)) problems.push({ file, message: `metadata without its CSV (${f.slice(0, -'.meta.yaml'.length)}.csv)` });
      continue;
    } else if (f.endsWith('.yaml') || f.endsWith('.yml')) {
      result = await loadYamlMap(file);
    } else if (f.endsWith('.csv')) {
      const meta = `${f.slice(0, -4)}.meta.yaml`;
      result = metas.has(meta) ? await loadCsvMap(file, path.join(folder, meta)) : [{ file, message: `the metadata file ${meta} is missing (name, source, target, unmapped)` }];
    } else {
      if (!f.startsWith('.') && f !== 'README.md') problems.push({ file, message: 'not a code map (expected <name>.yaml, or <name>.csv with <name>.meta.yaml)' });
      continue;
    }
    if (Array.isArray(result)) {
      problems.push(...result);
      continue;
    }
    const other = codeMaps.get(result.name);
    if (other) problems.push({ file, message: `code map "${result.name}" is already defined by ${other.file}` });
    else codeMaps.set(result.name, result);
  }
  return { codeMaps, problems };
}

async function readBounded(file: string): Promise<Buffer | string> {
  try {
    const s = await stat(file);
    if (!s.isFile()) return 'not a regular file';
    if (s.size > MAX_CODEMAP_BYTES) return `too large: ${s.size} bytes (at most ${MAX_CODEMAP_BYTES})`;
    return await readFile(file);
  } catch (err) {
    return `cannot read: ${(err as Error).message}`;
  }
}

const baseName = (file: string, ext: string): string => path.basename(file).slice(0, -ext.length);

interface Meta {
  title?: string;
  sourceSystem: string;
  targetSystem: string;
  unmapped: 'error' | 'warning';
}

const META_KEYS = new Set(['name', 'title', 'description', 'source', 'target', 'unmapped']);

/** Checks the metadata fields of a map (a YAML map's top level or a .meta.yaml). */
function checkMeta(doc: Record<string, unknown>, name: string, where: (field: string) => string, extraKeys: readonly string[]): { meta?: Meta; errors: string[] } {
  const errors: string[] = [];
  for (const k of Object.keys(doc)) if (!META_KEYS.has(k) && !extraKeys.includes(k)) errors.push(`${where(k)}: unknown field "${k}"`);
  if (doc.name !== undefined && doc.name !== name) errors.push(`${where('name')}: "${String(doc.name)}" differs from the file name "${name}"`);
  if (!NAME.test(name)) errors.push(`${where('name')}: the file name "${name}" is not a code-map name (lower case letters, digits, -; at most 64)`);
  if (doc.title !== undefined && (typeof doc.title !== 'string' || doc.title.length > 500 || BAD_CHARS.test(doc.title))) errors.push(`${where('title')}: expected a string of at most 500 printable characters`);
  if (doc.description !== undefined && typeof doc.description !== 'string') errors.push(`${where('description')}: expected a string`);
  for (const k of ['source', 'target'] as const) {
    const v = doc[k];
    if (typeof v !== 'string' || !URI.test(v) || v.length > 500) errors.push(`${where(k)}: expected a system URI (http(s)://…, urn:oid:…), got ${JSON.stringify(v) ?? 'nothing'}`);
  }
  const unmapped = doc.unmapped ?? 'error';
  if (unmapped !== 'error' && unmapped !== 'warning') errors.push(`${where('unmapped')}: expected error or warning, got ${JSON.stringify(unmapped)}`);
  if (errors.length) return { errors };
  return {
    errors,
    meta: {
      ...(typeof doc.title === 'string' ? { title: doc.title } : {}),
      sourceSystem: doc.source as string,
      targetSystem: doc.target as string,
      unmapped: unmapped as 'error' | 'warning',
    },
  };
}

/** Checks one entry; returns the problems (strings without location). */
function checkEntry(source: unknown, target: unknown, display: unknown): string[] {
  const errors: string[] = [];
  const code = (field: string, v: unknown): void => {
    if (typeof v !== 'string' || v === '') errors.push(`${field}: expected a non-empty string (quote numeric codes), got ${JSON.stringify(v) ?? 'nothing'}`);
    else if (v.length > MAX_CODE_LENGTH) errors.push(`${field}: longer than ${MAX_CODE_LENGTH} characters`);
    else if (BAD_CHARS.test(v)) errors.push(`${field}: contains a control or bidirectional formatting character`);
    else if (v !== v.trim()) errors.push(`${field}: leading or trailing spaces`);
  };
  code('source', source);
  code('target', target);
  if (display !== undefined && display !== null && display !== '') {
    if (typeof display !== 'string' || display.length > MAX_DISPLAY_LENGTH || BAD_CHARS.test(display)) errors.push(`display: expected a string of at most ${MAX_DISPLAY_LENGTH} printable characters`);
  }
  return errors;
}

function build(name: string, file: string, version: string, meta: Meta, entries: CodeMapEntry[]): CodeMap {
  const index = new Map(entries.map((e) => [e.source, e]));
  return {
    name,
    url: `${CODEMAP_URL_BASE}${name}`,
    version,
    ...(meta.title !== undefined ? { title: meta.title } : {}),
    sourceSystem: meta.sourceSystem,
    targetSystem: meta.targetSystem,
    unmapped: meta.unmapped,
    entries: Object.freeze(entries),
    lookup: (code: string) => (typeof code === 'string' ? index.get(code) : undefined),
    file,
  };
}

function parseYaml(text: string): { value?: unknown; doc?: ReturnType<typeof parseDocument>; lines: LineCounter; error?: string } {
  const lines = new LineCounter();
  try {
    const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
    if (doc.errors.length) {
      const e = doc.errors[0];
      const at = lines.linePos(e.pos[0]);
      return { lines, error: `line ${at.line}: ${e.message.split('\n')[0]}` };
    }
    return { value: doc.toJS({ maxAliasCount: 0 }), doc, lines };
  } catch (err) {
    return { lines, error: (err as Error).message.split('\n')[0] };
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

async function loadYamlMap(file: string): Promise<CodeMap | CodeMapProblem[]> {
  const ext = file.endsWith('.yml') ? '.yml' : '.yaml';
  const name = baseName(file, ext);
  const bytes = await readBounded(file);
  if (typeof bytes === 'string') return [{ file, message: bytes }];
  const text = bytes.toString('utf8').replace(/^\uFEFF/, '');
  const parsed = parseYaml(text);
  if (parsed.error) return [{ file, message: parsed.error }];
  const doc = parsed.value;
  if (!isRecord(doc)) return [{ file, message: 'expected a mapping (name, source, target, unmapped, entries)' }];
  const lineOf = (pathParts: (string | number)[]): string => {
    const node = parsed.doc?.getIn(pathParts, true) as YamlNode | undefined;
    const pair = node?.range ? node : (parsed.doc?.getIn(pathParts.slice(0, -1), true) as YamlNode | undefined);
    return pair?.range ? `line ${parsed.lines.linePos(pair.range[0]).line}` : '';
  };
  const where = (field: string): string => [lineOf([field]), `field ${field}`].filter(Boolean).join(', ');
  const { meta, errors } = checkMeta(doc, name, where, ['entries']);
  const problems = errors.map((message) => ({ file, message }));
  const entriesNode = parsed.doc?.get('entries', true);
  if (!Array.isArray(doc.entries) || !isSeq(entriesNode)) {
    problems.push({ file, message: `${where('entries')}: expected a list of { source, target, display? }` });
    return problems;
  }
  if (doc.entries.length > MAX_CODEMAP_ENTRIES) return [...problems, { file, message: `${where('entries')}: ${doc.entries.length} entries (at most ${MAX_CODEMAP_ENTRIES})` }];
  const entries: CodeMapEntry[] = [];
  const seen = new Map<string, string>();
  doc.entries.forEach((e: unknown, i: number) => {
    const at = `${lineOf(['entries', i])}, entries[${i}]`.replace(/^, /, '');
    const node = entriesNode.items[i];
    if (!isRecord(e) || !isMap(node)) {
      problems.push({ file, message: `${at}: expected { source, target, display? }` });
      return;
    }
    const unknown = Object.keys(e).filter((k) => k !== 'source' && k !== 'target' && k !== 'display');
    for (const k of unknown) problems.push({ file, message: `${at}: unknown field "${k}"` });
    const errs = checkEntry(e.source, e.target, e.display);
    for (const m of errs) problems.push({ file, message: `${at}.${m}` });
    if (errs.length || unknown.length) return;
    const source = e.source as string;
    const first = seen.get(source);
    if (first) {
      problems.push({ file, message: `${at}.source: duplicate source code "${source}" (first at ${first})` });
      return;
    }
    seen.set(source, at);
    entries.push({ source, target: e.target as string, ...(typeof e.display === 'string' && e.display !== '' ? { display: e.display } : {}) });
  });
  if (problems.length || !meta) return problems;
  return build(name, file, sha256(bytes), meta, entries);
}

async function loadCsvMap(file: string, metaFile: string): Promise<CodeMap | CodeMapProblem[]> {
  const name = baseName(file, '.csv');
  const [bytes, metaBytes] = [await readBounded(file), await readBounded(metaFile)];
  if (typeof bytes === 'string') return [{ file, message: bytes }];
  if (typeof metaBytes === 'string') return [{ file: metaFile, message: metaBytes }];
  const parsed = parseYaml(metaBytes.toString('utf8').replace(/^\uFEFF/, ''));
  if (parsed.error) return [{ file: metaFile, message: parsed.error }];
  if (!isRecord(parsed.value)) return [{ file: metaFile, message: 'expected a mapping (name, title, source, target, unmapped)' }];
  const where = (field: string): string => {
    const node = parsed.doc?.get(field, true) as YamlNode | undefined;
    return node?.range ? `line ${parsed.lines.linePos(node.range[0]).line}, field ${field}` : `field ${field}`;
  };
  const { meta, errors } = checkMeta(parsed.value, name, where, []);
  const problems: CodeMapProblem[] = errors.map((message) => ({ file: metaFile, message }));
  let rows: string[][];
  try {
    rows = parseCsv(bytes, { delimiter: ';', bom: true, trim: true, skip_empty_lines: true, relax_column_count: false, info: false }) as string[][];
  } catch (err) {
    return [...problems, { file, message: (err as Error).message.split('\n')[0] }];
  }
  const header = rows[0]?.map((h) => h.toLowerCase());
  if (!header || header[0] !== 'source' || header[1] !== 'target' || (header.length === 3 && header[2] !== 'display') || header.length > 3) {
    return [...problems, { file, message: 'line 1: the header must be source;target or source;target;display' }];
  }
  if (rows.length - 1 > MAX_CODEMAP_ENTRIES) return [...problems, { file, message: `${rows.length - 1} entries (at most ${MAX_CODEMAP_ENTRIES})` }];
  // Line numbers: csv-parse skips empty lines, so count them from the text.
  const lineNumbers = csvLineNumbers(bytes.toString('utf8'));
  const entries: CodeMapEntry[] = [];
  const seen = new Map<string, number>();
  for (let i = 1; i < rows.length; i++) {
    const [source, target, display] = rows[i];
    const line = lineNumbers[i] ?? i + 1;
    const errs = checkEntry(source, target, display);
    for (const m of errs) problems.push({ file, message: `line ${line}, column ${m}` });
    if (errs.length) continue;
    const first = seen.get(source);
    if (first !== undefined) {
      problems.push({ file, message: `line ${line}, column source: duplicate source code "${source}" (first at line ${first})` });
      continue;
    }
    seen.set(source, line);
    entries.push({ source, target, ...(display ? { display } : {}) });
  }
  if (problems.length || !meta) return problems;
  const version = createHash('sha256').update(bytes).update('\0').update(metaBytes).digest('hex');
  return build(name, file, version, meta, entries);
}

/** The 1-based line of each non-empty record (records with quoted newlines are rare in code maps: approximate). */
function csvLineNumbers(text: string): number[] {
  const out: number[] = [];
  text.split(/\r?\n/).forEach((l, i) => {
    if (l.trim() !== '') out.push(i + 1);
  });
  return out;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
