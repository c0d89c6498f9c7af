// Storage of the local MSSanté directory (SQLite migration 009 / PostgreSQL 008): the mailboxes (BAL) read from the
// Annuaire Santé's extraction file, looked up by RPPS, by FINESS, by name.
//
// An import is a generation: `beginImport` opens one (state `loading`), `addBatch` writes its rows one transaction per
// batch, `finishImport` makes it `current` and deletes every other generation's rows in one transaction. Lookups read
// the `current` generation only, so they see the previous directory until the new one is complete, never a part of
// it; an import that stops half-way (`abortImport`, or a crash) leaves the previous directory in place, and its rows
// are deleted by the next `finishImport`. One import at a time: a second import finishing first makes the other fail.
//
// The statements are written once here with `?` placeholders; each dialect binds them to its connections
// (sqlite-store.ts, pg-store.ts) through a `SqlRunner` (security-repository.ts). In a write, every statement is issued
// before the first `await`, so on SQLite they all run inside the synchronous transaction.
import { nameKey } from '../identity/normalise.js';
import type { SqlRunner } from './security-repository.js';

/** One mailbox of the directory, as the extraction file describes it (optional fields absent when empty). */
export interface DirectoryEntry {
  address: string;
  /** PER, ORG, APP, CAB… ('' when the file does not say). */
  balType: string;
  ppId?: string;
  /** RPPS | ADELI | OTHER */
  ppIdKind?: string;
  family?: string;
  given?: string;
  profession?: string;
  specialty?: string;
  structureId?: string;
  /** FINESS | SIRET | SIREN | OTHER */
  structureIdKind?: string;
  structureName?: string;
  postcode?: string;
  city?: string;
}

/** An entry with its line in the imported file (unique within an import). */
export interface DirectoryRow extends DirectoryEntry {
  line: number;
}

export interface DirectoryImportInfo {
  generation: number;
  source: string;
  started: string;
  finished?: string;
  records: number;
}

export interface DirectoryRepository {
  /** Opens a new import generation (not visible to lookups until finished). */
  beginImport(source: string): Promise<number>;
  /** Writes a batch of rows of `generation` in one transaction. */
  addBatch(generation: number, rows: readonly DirectoryRow[]): Promise<void>;
  /** Makes `generation` the directory and deletes the others, atomically; the number of records now current. */
  finishImport(generation: number): Promise<number>;
  /** Drops an unfinished generation; the current directory stays. */
  abortImport(generation: number): Promise<void>;
  /** The current import, if any. */
  current(): Promise<DirectoryImportInfo | undefined>;
  /** The mailboxes of the person with this RPPS (11 digits). */
  byRpps(rpps: string): Promise<DirectoryEntry[]>;
  /** The mailboxes attached to the structure with this FINESS (9 characters). */
  byFiness(finess: string): Promise<DirectoryEntry[]>;
  /** The mailboxes of people so named: case, accents and separators ignored (`nameKey`). */
  byName(family: string, given?: string): Promise<DirectoryEntry[]>;
  /** Records in the current directory. */
  count(): Promise<number>;
}

const COLUMNS =
  'generation, line, address, bal_type, pp_id, pp_id_kind, family, given, family_key, given_key, profession, specialty, structure_id, structure_kind, structure_name, postcode, city';
const WIDTH = 17;
const SELECT =
  'SELECT address, bal_type, pp_id, pp_id_kind, family, given, profession, specialty, structure_id, structure_kind, structure_name, postcode, city FROM directory';
const CURRENT = "generation = (SELECT generation FROM directory_import WHERE state = 'current')";
/**
 * The statements after `makeCurrent` act only when it did (its generation is now current): on SQLite they run even
 * when it changed nothing, so they guard themselves (the same generation is bound again as the last parameter).
 */
const MADE_CURRENT = "EXISTS (SELECT 1 FROM directory_import d WHERE d.generation = ? AND d.state = 'current')";
/** Rows per INSERT statement (17 parameters each: well under SQLite's 32766 and PostgreSQL's 65535). */
const ROWS_PER_INSERT = 200;

export const DIRECTORY_SQL = {
  begin:
    "INSERT INTO directory_import (generation, source, started, state) SELECT COALESCE(MAX(generation), 0) + 1, ?, ?, 'loading' FROM directory_import",
  lastGeneration: 'SELECT MAX(generation) AS generation FROM directory_import',
  replaceCurrent: `UPDATE directory_import SET state = 'replaced' WHERE state = 'current' AND generation <> ? AND ${MADE_CURRENT}`,
  failOthers: `UPDATE directory_import SET state = 'failed', finished = ? WHERE state = 'loading' AND generation <> ? AND ${MADE_CURRENT}`,
  makeCurrent:
    "UPDATE directory_import SET state = 'current', finished = ?, records = (SELECT COUNT(*) FROM directory WHERE generation = ?) WHERE generation = ? AND state = 'loading'",
  deleteOthers: `DELETE FROM directory WHERE generation <> ? AND ${MADE_CURRENT}`,
  deleteGeneration: 'DELETE FROM directory WHERE generation = ?',
  abort: "UPDATE directory_import SET state = 'failed', finished = ? WHERE generation = ? AND state = 'loading'",
  current: "SELECT generation, source, started, finished, records FROM directory_import WHERE state = 'current'",
  byRpps: `${SELECT} WHERE ${CURRENT} AND pp_id = ? AND pp_id_kind = 'RPPS' ORDER BY line`,
  byFiness: `${SELECT} WHERE ${CURRENT} AND structure_id = ? AND structure_kind = 'FINESS' ORDER BY line`,
  byFamily: `${SELECT} WHERE ${CURRENT} AND family_key = ? ORDER BY line`,
  byFamilyGiven: `${SELECT} WHERE ${CURRENT} AND family_key = ? AND given_key = ? ORDER BY line`,
  count: `SELECT COUNT(*) AS n FROM directory WHERE ${CURRENT}`,
} as const;

const insertSql = (rows: number): string =>
  `INSERT INTO directory (${COLUMNS}) VALUES ${Array.from({ length: rows }, () => `(${Array(WIDTH).fill('?').join(', ')})`).join(', ')}`;
const FULL_INSERT = insertSql(ROWS_PER_INSERT);

const keyOrNull = (s: string | undefined): string | null => {
  if (s === undefined) return null;
  const k = nameKey(s);
  return k === '' ? null : k;
};

function params(generation: number, r: DirectoryRow): unknown[] {
  return [
    generation,
    r.line,
    r.address,
    r.balType,
    r.ppId ?? null,
    r.ppIdKind ?? null,
    r.family ?? null,
    r.given ?? null,
    keyOrNull(r.family),
    keyOrNull(r.given),
    r.profession ?? null,
    r.specialty ?? null,
    r.structureId ?? null,
    r.structureIdKind ?? null,
    r.structureName ?? null,
    r.postcode ?? null,
    r.city ?? null,
  ];
}

interface EntryRow {
  address: string;
  bal_type: string;
  pp_id: string | null;
  pp_id_kind: string | null;
  family: string | null;
  given: string | null;
  profession: string | null;
  specialty: string | null;
  structure_id: string | null;
  structure_kind: string | null;
  structure_name: string | null;
  postcode: string | null;
  city: string | null;
}

function entry(r: EntryRow): DirectoryEntry {
  const e: DirectoryEntry = { address: r.address, balType: r.bal_type };
  const set = (k: keyof DirectoryEntry, v: string | null): void => {
    if (v !== null && v !== '') (e as unknown as Record<string, string>)[k] = v;
  };
  set('ppId', r.pp_id);
  set('ppIdKind', r.pp_id_kind);
  set('family', r.family);
  set('given', r.given);
  set('profession', r.profession);
  set('specialty', r.specialty);
  set('structureId', r.structure_id);
  set('structureIdKind', r.structure_kind);
  set('structureName', r.structure_name);
  set('postcode', r.postcode);
  set('city', r.city);
  return e;
}

/**
 * The repository over a dialect's runners: `read` for lookups, `write(fn)` runs `fn` inside one transaction.
 */
export function directoryRepository(read: SqlRunner, write: <T>(fn: (run: SqlRunner) => Promise<T>) => Promise<T>, now: () => Date): DirectoryRepository {
  const lookup = async (sql: string, p: unknown[]): Promise<DirectoryEntry[]> => (await read.all<EntryRow>(sql, p)).map(entry);
  return {
    beginImport: (source) =>
      write(async (run) => {
        const inserted = run.run(DIRECTORY_SQL.begin, [source, now().toISOString()]);
        const last = run.all<{ generation: number | string }>(DIRECTORY_SQL.lastGeneration, []);
        await inserted;
        return Number((await last)[0]!.generation);
      }),
    addBatch: async (generation, rows) => {
      if (rows.length === 0) return;
      await write(async (run) => {
        const pending: Promise<number>[] = [];
        for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
          const chunk = rows.slice(i, i + ROWS_PER_INSERT);
          pending.push(run.run(chunk.length === ROWS_PER_INSERT ? FULL_INSERT : insertSql(chunk.length), chunk.flatMap((r) => params(generation, r))));
        }
        await Promise.all(pending);
      });
    },
    finishImport: (generation) =>
      write(async (run) => {
        const at = now().toISOString();
        const made = run.run(DIRECTORY_SQL.makeCurrent, [at, generation, generation]);
        const replaced = run.run(DIRECTORY_SQL.replaceCurrent, [generation, generation]);
        const failed = run.run(DIRECTORY_SQL.failOthers, [at, generation, generation]);
        const deleted = run.run(DIRECTORY_SQL.deleteOthers, [generation, generation]);
        const current = run.all<{ generation: number | string; records: number | string }>(DIRECTORY_SQL.current, []);
        await Promise.all([made, replaced, failed, deleted]);
        const [row] = await current;
        if ((await made) !== 1 || !row || Number(row.generation) !== generation) {
          throw new Error(`directory import ${generation} is no longer loading (another import finished first?)`);
        }
        return Number(row.records);
      }),
    abortImport: async (generation) => {
      await write(async (run) => {
        await Promise.all([run.run(DIRECTORY_SQL.abort, [now().toISOString(), generation]), run.run(DIRECTORY_SQL.deleteGeneration, [generation])]);
      });
    },
    current: async () => {
      const [r] = await read.all<{ generation: number | string; source: string; started: string; finished: string | null; records: number | string }>(DIRECTORY_SQL.current, []);
      if (!r) return undefined;
      return { generation: Number(r.generation), source: r.source, started: r.started, ...(r.finished ? { finished: r.finished } : {}), records: Number(r.records) };
    },
    byRpps: (rpps) => lookup(DIRECTORY_SQL.byRpps, [rpps]),
    byFiness: (finess) => lookup(DIRECTORY_SQL.byFiness, [finess.toUpperCase()]),
    byName: (family, given) => {
      const f = nameKey(family);
      const g = given === undefined ? '' : nameKey(given);
      return g === '' ? lookup(DIRECTORY_SQL.byFamily, [f]) : lookup(DIRECTORY_SQL.byFamilyGiven, [f, g]);
    },
    count: async () => Number((await read.all<{ n: number | string }>(DIRECTORY_SQL.count, []))[0]?.n ?? 0),
  };
}
