// The Annuaire Santé's public "extraction correspondance MSSanté" file (data.gouv.fr, ANS): one MSSanté mailbox (BAL)
// per line, pipe-separated, UTF-8, a header row naming the columns, no quoting. Columns are found by their header name
// (accents, case and spacing ignored), so a reordered or extended file still reads. Names confirmed by the public
// loader cardio75/adressesmssante (creer_bd_mssante.py): `Adresse BAL`, `Nom d'exercice`, `Prénom d'exercice`,
// `Raison Sociale structure BAL`, `Code postal structure BAL`, `L6LIGNEACHEMINEMENT structure BAL`,
// `Libellé savoir-faire`. The others (`Type BAL`, `Type identifiant PP`, `Identifiant PP`,
// `Identification nationale PP`, `Type identifiant structure`, `Identification Structure`, `Libellé profession`) are
// the ANS names as remembered, unconfirmed: see docs/annuaire.md. Only `Adresse BAL` is required.
//
// Each bad line becomes a `LineError` (line number, reason); the reading never throws on content. A line longer than
// `maxLineBytes` is cut out before parsing (csv-parse would stop the whole stream on its max_record_size).
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { parse } from 'csv-parse';
import { nameCharacterProblem } from '../../domain/name.js';

export type IdentifierKind = 'RPPS' | 'ADELI' | 'FINESS' | 'SIRET' | 'SIREN' | 'OTHER';

export interface DirectoryRecord {
  /** 1-based line number in the file (the header is line 1). */
  line: number;
  /** The MSSanté address (BAL), lower-cased. */
  address: string;
  /** PER (personal), ORG (organisational), APP (applicative), CAB (practice)… as given, upper-cased; '' when absent. */
  balType: string;
  /** The person's identifier without its national prefix, and its kind (RPPS 11 digits, ADELI 9). */
  ppId?: string;
  ppIdKind?: IdentifierKind;
  family?: string;
  given?: string;
  profession?: string;
  specialty?: string;
  /** The structure's identifier without its national prefix, and its kind (FINESS 9 characters, SIRET 14 digits…). */
  structureId?: string;
  structureIdKind?: IdentifierKind;
  structureName?: string;
  postcode?: string;
  city?: string;
}

export interface LineError {
  line: number;
  reason: string;
}

export type ExtractionItem = { record: DirectoryRecord } | { error: LineError };

export interface ExtractionOptions {
  /** Longer lines are reported and skipped (default 64 KiB; real lines are under 1 KiB). */
  maxLineBytes?: number;
  /** Called with the bytes read so far (for a progress bar). */
  onBytes?: (bytes: number) => void;
}

const key = (h: string): string =>
  h
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[’`]/g, "'")
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .trim();

/** Field → accepted header names (compared with `key`). */
const COLUMNS = {
  balType: ['type bal'],
  address: ['adresse bal'],
  ppIdType: ['type identifiant pp', "type d'identifiant pp"],
  ppId: ['identifiant pp'],
  ppNational: ['identification nationale pp'],
  structureIdType: ['type identifiant structure', "type d'identifiant structure"],
  structureId: ['identification structure', 'identifiant structure', 'identification nationale structure'],
  family: ["nom d'exercice"],
  given: ["prenom d'exercice"],
  profession: ['libelle profession'],
  specialty: ['libelle savoir-faire'],
  structureName: ['raison sociale structure bal'],
  postcode: ['code postal structure bal'],
  city: ['l6ligneacheminement structure bal', 'commune structure bal'],
} as const;
type Field = keyof typeof COLUMNS;

const OVERSIZE = '\u0000oversize';
const EMAIL = /^[a-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;

/**
 * Splits bytes into lines, `\n` or `\r\n`; a line over `max` bytes is replaced by a marker (its bytes are dropped as
 * they come, so a 1 GB line costs no memory) and reported by the parser with its number.
 */
class LineGuard extends Transform {
  private parts: Buffer[] = [];
  private size = 0;
  private oversize = false;
  private bytes = 0;
  constructor(
    private readonly max: number,
    private readonly onBytes?: (n: number) => void,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    let start = 0;
    const out: Buffer[] = [];
    for (let nl = chunk.indexOf(0x0a, start); ; nl = chunk.indexOf(0x0a, start)) {
      const end = nl < 0 ? chunk.length : nl;
      if (!this.oversize) {
        if (this.size + (end - start) > this.max) {
          this.oversize = true;
          this.parts = [];
          this.size = 0;
        } else if (end > start) {
          this.parts.push(chunk.subarray(start, end));
          this.size += end - start;
        }
      }
      if (nl < 0) break;
      out.push(this.line(), Buffer.from('\n'));
      start = nl + 1;
    }
    if (out.length > 0) this.push(Buffer.concat(out));
    this.onBytes?.(this.bytes);
    done();
  }
  override _flush(done: TransformCallback): void {
    if (this.size > 0 || this.oversize) this.push(this.line());
    done();
  }
  private line(): Buffer {
    let b = this.oversize ? Buffer.from(OVERSIZE) : Buffer.concat(this.parts, this.size);
    if (b.length > 0 && b[b.length - 1] === 0x0d) b = b.subarray(0, b.length - 1);
    this.parts = [];
    this.size = 0;
    this.oversize = false;
    return b;
  }
}

const digits = (n: number) => new RegExp(`^\\d{${n}}$`);

/** The person's identifier: from `Identifiant PP` with its type (8 RPPS, 0 ADELI), else the national form (prefix + id). */
function personId(type: string, id: string, national: string): { id?: string; kind?: IdentifierKind; error?: string } {
  if (id === '' && national === '') return {};
  let kind: IdentifierKind | undefined = type === '8' || /^rpps$/i.test(type) ? 'RPPS' : type === '0' || /^adeli$/i.test(type) ? 'ADELI' : undefined;
  let value = id;
  if (value === '') {
    if (national.length === 12 && national[0] === '8') [kind, value] = ['RPPS', national.slice(1)];
    else if (national.length === 10 && national[0] === '0') [kind, value] = ['ADELI', national.slice(1)];
    else return { error: `identification nationale PP "${national}" is neither 8 + RPPS (12 digits) nor 0 + ADELI (10)` };
  }
  kind ??= value.length === 11 ? 'RPPS' : value.length === 9 ? 'ADELI' : 'OTHER';
  if (kind === 'RPPS' && !digits(11).test(value)) return { error: `RPPS "${value}" is not 11 digits` };
  if (kind === 'ADELI' && !/^\d[\dAB]\d{7}$/.test(value)) return { error: `ADELI "${value}" is not 9 characters` };
  return { id: value, kind };
}

/** The structure's identifier: type 1 FINESS, 2 SIREN, 3 SIRET (the national form is the type followed by the id). */
function structureId(type: string, id: string): { id?: string; kind?: IdentifierKind; error?: string } {
  if (id === '') return {};
  let kind: IdentifierKind = type === '1' || /^finess$/i.test(type) ? 'FINESS' : type === '2' ? 'SIREN' : type === '3' ? 'SIRET' : 'OTHER';
  let value = id;
  // A national form prefixed with its type.
  if (/^[123]/.test(value) && ((value[0] === '1' && value.length === 10) || (value[0] === '3' && value.length === 15) || (value[0] === '2' && value.length === 10))) {
    if (type === '' || type === value[0]) [kind, value] = [value[0] === '1' ? 'FINESS' : value[0] === '2' ? 'SIREN' : 'SIRET', value.slice(1)];
  }
  if (kind === 'OTHER' && type === '' && /^\d[\dAB]\d{7}$/.test(value)) kind = 'FINESS';
  if (kind === 'FINESS' && !/^\d[\dAB]\d{7}$/.test(value)) return { error: `FINESS "${value}" is not 9 characters (digits, 2A/2B)` };
  if (kind === 'SIRET' && !digits(14).test(value)) return { error: `SIRET "${value}" is not 14 digits` };
  if (kind === 'SIREN' && !digits(9).test(value)) return { error: `SIREN "${value}" is not 9 digits` };
  return { id: value, kind };
}

/** Reads the extraction file; yields each line's record or error, in order. */
export async function* readExtraction(input: Readable, options: ExtractionOptions = {}): AsyncGenerator<ExtractionItem> {
  const parser = input.pipe(new LineGuard(options.maxLineBytes ?? 64 * 1024, options.onBytes)).pipe(
    parse({ delimiter: '|', quote: false, relax_column_count: true, bom: true, skip_empty_lines: true, info: true, encoding: 'utf8' }),
  );
  input.on('error', (e) => parser.destroy(e));
  let index: Partial<Record<Field, number>> | undefined;
  let width = 0;
  for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
    const line = info.lines;
    if (record.length === 1 && record[0] === OVERSIZE) {
      if (!index) throw new Error(`line ${line}: the header is longer than ${options.maxLineBytes ?? 64 * 1024} bytes: not an extraction correspondance MSSanté file`);
      yield { error: { line, reason: `line longer than ${options.maxLineBytes ?? 64 * 1024} bytes` } };
      continue;
    }
    if (!index) {
      const keys = record.map(key);
      index = {};
      for (const [field, names] of Object.entries(COLUMNS) as [Field, readonly string[]][]) {
        const i = keys.findIndex((k) => names.includes(k));
        if (i >= 0) index[field] = i;
      }
      width = record.length;
      if (index.address === undefined) throw new Error(`line ${line}: no "Adresse BAL" column in the header: not an extraction correspondance MSSanté file`);
      continue;
    }
    const item = readLine(record, line, index, width);
    yield item.error ? { error: item.error } : { record: item.record! };
  }
}

function readLine(record: string[], line: number, index: Partial<Record<Field, number>>, width: number): { record?: DirectoryRecord; error?: LineError } {
  const fail = (reason: string) => ({ error: { line, reason } });
  if (record.length !== width) return fail(`${record.length} columns, the header has ${width}`);
  for (let i = 0; i < record.length; i++) {
    const problem = nameCharacterProblem(record[i]!.replace(/\t/g, ' '));
    if (problem) return fail(`column ${i + 1} contains ${problem}`);
  }
  const get = (f: Field): string => (index[f] === undefined ? '' : record[index[f]!]!.trim());
  const address = get('address').toLowerCase();
  if (address === '') return fail('no address (Adresse BAL is empty)');
  if (address.length > 254 || !EMAIL.test(address)) return fail(`address "${address.slice(0, 80)}" is not an e-mail address`);
  const pp = personId(get('ppIdType'), get('ppId'), get('ppNational'));
  if (pp.error) return fail(pp.error);
  const st = structureId(get('structureIdType'), get('structureId'));
  if (st.error) return fail(st.error);
  const out: DirectoryRecord = { line, address, balType: get('balType').toUpperCase() };
  const set = <K extends keyof DirectoryRecord>(k: K, v: DirectoryRecord[K] | undefined | ''): void => {
    if (v !== undefined && v !== '') out[k] = v;
  };
  set('ppId', pp.id);
  set('ppIdKind', pp.kind);
  set('family', get('family'));
  set('given', get('given'));
  set('profession', get('profession'));
  set('specialty', get('specialty'));
  set('structureId', st.id);
  set('structureIdKind', st.kind);
  set('structureName', get('structureName'));
  set('postcode', get('postcode'));
  set('city', get('city'));
  return { record: out };
}
