// What the SQLite and PostgreSQL dialects write and read differently, for the code they share (search-sql.ts,
// resource-rows.ts, identity-rows.ts, outbox-rows.ts):
// - placeholders: shared statements are written with `?` (SQLite's style); PostgreSQL numbers them (`numbered`);
// - columns: SQLite returns JSON as text and booleans as 0/1; PostgreSQL parses json and text[] columns and returns
//   booleans. Row types are written once, generic in the style (`JsonOf`, `BoolOf`), and read through a `RowDecoder`.

/** A statement and its parameters, with `?` placeholders. */
export interface Statement {
  sql: string;
  params: unknown[];
}

/** `?, ?, …` (n of them). */
export const placeholders = (n: number): string => Array.from({ length: n }, () => '?').join(', ');

/** `?` placeholders → `$1…$n` (the shared SQL has no `?` of its own: values are always parameters). */
export function numbered(sql: string): string {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
}

/** How a dialect returns JSON and boolean columns: `text` (SQLite) or `native` (PostgreSQL). */
export type ColumnStyle = 'text' | 'native';

/** A JSON column holding a `T`, as the dialect returns it. */
export type JsonOf<S extends ColumnStyle, T> = S extends 'text' ? string : T;

/** A boolean column, as the dialect returns it. */
export type BoolOf<S extends ColumnStyle> = S extends 'text' ? number : boolean;

/** Reads the columns of a row of style `S`. */
export interface RowDecoder<S extends ColumnStyle> {
  json<T>(value: JsonOf<S, T>): T;
  bool(value: BoolOf<S>): boolean;
}

/** SQLite: JSON text, 0/1. */
export const textColumns: RowDecoder<'text'> = {
  json: (value) => JSON.parse(value),
  bool: (value) => value === 1,
};

/** PostgreSQL: json and text[] columns arrive parsed, booleans as booleans (and bigint as numbers, see pg-store.ts). */
export const nativeColumns: RowDecoder<'native'> = {
  json: (value) => value,
  bool: (value) => value,
};

/** A limit of at least 1. */
export const positive = (n: number): number => Math.max(1, Math.trunc(n));

/** Rows a listing returns at most per page. */
export const LIST_MAX = 1000;

/**
 * A page of a listing (`SELECT *` of `table`, rows matching every filter given, i.e. not undefined or '') and the
 * count of all its rows; `limit` is clamped to 0…LIST_MAX.
 */
export function listStatements(
  table: string,
  filters: Readonly<Record<string, string | undefined>>,
  orderBy: string,
  query: { limit: number; offset: number },
): { page: Statement; count: Statement } {
  const where: string[] = [];
  const params: unknown[] = [];
  for (const [column, value] of Object.entries(filters)) {
    if (!value) continue;
    where.push(`${column} = ?`);
    params.push(value);
  }
  const w = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
  const limit = Math.max(0, Math.min(Math.trunc(query.limit), LIST_MAX));
  const offset = Math.max(0, Math.trunc(query.offset));
  return {
    page: { sql: `SELECT * FROM ${table} ${w} ORDER BY ${orderBy} LIMIT ? OFFSET ?`, params: [...params, limit, offset] },
    count: { sql: `SELECT count(*) AS n FROM ${table} ${w}`, params },
  };
}
