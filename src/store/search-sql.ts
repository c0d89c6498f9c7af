// FHIR search → SQL, for both dialects. Each predicate backed by search_index (one row per parameter value of a
// resource) becomes an `EXISTS` on the resource's index rows (`NOT EXISTS` for :not), or, when SQLite's planning
// chose it as the *driver*, `r.id IN (…)` on the index rows of the type; `_id` and `_lastUpdated` read the resource
// row. The page is ordered newest first, then by id. What differs between the dialects is a `SearchDialect`:
//
// - SQLite has no statistics on our index values, so sqlite-store.ts plans each query (it counts the index rows of
//   each predicate, capped, and picks a driver) and pins every table access with INDEXED BY;
// - PostgreSQL's planner has statistics and chooses by itself; its index values are cut to a maximum length (see
//   pg-store.ts), so query values go through the same cut; its placeholders are numbered.
import {
  dateCriterion,
  getSearchParam,
  referenceCriterion,
  tokenCriterion,
  uriCriterion,
  type SearchParamDefinition,
  type SearchPredicate,
} from '../fhir/search-params.js';
import { invalid } from '../fhir/outcome.js';
import type { SearchQuery } from './repository.js';
import { numbered, placeholders, type Statement } from './sql-dialect.js';

/** Indexes of search_index and resources a dialect may pin an access to (the migrations create them). */
export type SearchTableIndex =
  | 'search_index_value'
  | 'search_index_date'
  | 'search_index_resource'
  | 'resources_key'
  | 'resources_live_by_updated';

export interface SearchDialect {
  /** The condition on `r` that keeps live resources (`deleted` false, as the dialect stores it). */
  readonly live: string;
  /** What follows a table alias to pin its access to an index: ` INDEXED BY <index>` on SQLite, else ''. */
  indexedBy(index: SearchTableIndex): string;
  /** Whether placeholders are numbered (`$1…$n`) rather than `?`. */
  readonly numberedPlaceholders: boolean;
  /** A token system / reference type as stored in search_index.system (and so as compared). */
  indexSystem(system: string): string;
  /** A code / id / uri as stored in search_index.value (and so as compared). */
  indexValue(value: string): string;
  /**
   * Several `system|code` alternatives get a leading `s.value IN (…)` (SQLite: without it, the OR of pairs is not
   * looked up on the value index).
   */
  readonly leadingValueIn: boolean;
}

export interface CompiledPredicate {
  /** SQL on `r` when the predicate reads resource columns; else undefined. */
  column?: string;
  /** A positive `_id` predicate: the query is fetched by key. */
  byId?: boolean;
  /** For index predicates: the condition on `s`, and the index that serves it across resources. */
  match?: string;
  index?: 'search_index_value' | 'search_index_date';
  param: string;
  negate: boolean;
  params: unknown[];
}

export interface CompiledSearch {
  type: string;
  /** The predicates with at least one value, in query order. */
  predicates: CompiledPredicate[];
  /** Whether a positive `_id` predicate fetches the query by key. */
  byId: boolean;
}

/**
 * Most alternatives (comma-separated values) one parameter may carry. Each becomes a term of an OR (or an IN list):
 * SQLite refuses an expression tree deeper than 1000 ("Expression tree is too large"), and a long OR is a slow
 * query on either dialect. Callers with more values split them (see `_revinclude` in src/api/fhir-search.ts).
 */
export const MAX_OR_VALUES = 100;

/** Checks paging and compiles every predicate (unknown parameters, bad values, too many alternatives are 400s). */
export function compileSearch(query: SearchQuery, dialect: SearchDialect): CompiledSearch {
  if (!Number.isSafeInteger(query.count) || query.count < 0) throw invalid(`_count: invalid value ${query.count}`, '_count');
  if (!Number.isSafeInteger(query.offset) || query.offset < 0) throw invalid(`_offset: invalid value ${query.offset}`, '_offset');
  const type = query.resourceType;
  const predicates: CompiledPredicate[] = [];
  for (const p of query.predicates) {
    const def = getSearchParam(type, p.param);
    if (!def) throw invalid(`Unknown search parameter "${p.param}" for ${type}`, p.param);
    if (p.values.length > MAX_OR_VALUES) {
      throw invalid(`${p.param}: ${p.values.length} comma-separated values; at most ${MAX_OR_VALUES} per parameter (split the search)`, p.param);
    }
    if (p.values.length > 0) predicates.push(compile(def, p, dialect));
  }
  return { type, predicates, byId: predicates.some((p) => p.byId) };
}

/**
 * How many index rows of the type match predicate `p`, counted up to `cap` (SQLite's planning: a predicate with few
 * rows drives the query). Only for index predicates (`p.match` set).
 */
export function indexRowCount(type: string, p: CompiledPredicate, cap: number, dialect: SearchDialect): Statement {
  return finish(
    `SELECT count(*) AS n FROM (SELECT 1 FROM search_index s${dialect.indexedBy(p.index as SearchTableIndex)} ` +
      `WHERE s.type = ? AND s.param = ? AND (${p.match}) LIMIT ${cap})`,
    [type, p.param, ...p.params],
    dialect,
  );
}

/**
 * The statements of a search: the page (unless `_count=0`) and the total (when asked). A `driver` (one of the index
 * predicates) is fetched by key: `r.id IN (…)`; the other index predicates are `EXISTS` filters.
 */
export function searchStatements(
  search: CompiledSearch,
  query: SearchQuery,
  dialect: SearchDialect,
  driver?: CompiledPredicate,
): { page?: Statement; count?: Statement } {
  const parts = ['r.type = ?', dialect.live];
  const params: unknown[] = [search.type];
  for (const p of search.predicates) {
    if (p.column !== undefined) {
      parts.push(p.column);
    } else if (p === driver) {
      parts.push(
        `r.id IN (SELECT s.id FROM search_index s${dialect.indexedBy(p.index as SearchTableIndex)} ` +
          `WHERE s.type = ? AND s.param = ? AND (${p.match}))`,
      );
      params.push(search.type, p.param);
    } else {
      // INDEXED BY: without statistics SQLite would rather walk the value index, i.e. every matching row.
      parts.push(
        `${p.negate ? 'NOT EXISTS' : 'EXISTS'} (SELECT 1 FROM search_index s${dialect.indexedBy('search_index_resource')} ` +
          `WHERE s.type = r.type AND s.id = r.id AND s.param = ? AND (${p.match}))`,
      );
      params.push(p.param);
    }
    params.push(...p.params);
  }
  const where = parts.join(' AND ');
  // Driven: fetch by key, then sort the few rows. Otherwise: walk the type newest first.
  const from = `resources r${dialect.indexedBy(search.byId || driver ? 'resources_key' : 'resources_live_by_updated')}`;
  const statements: { page?: Statement; count?: Statement } = {};
  if (query.count > 0) {
    const sql = `SELECT r.json FROM ${from} WHERE ${where} ORDER BY r.last_updated DESC, r.id LIMIT ? OFFSET ?`;
    statements.page = finish(sql, [...params, query.count, query.offset], dialect);
  }
  if (query.total) statements.count = finish(`SELECT count(*) AS n FROM ${from} WHERE ${where}`, params, dialect);
  return statements;
}

function finish(sql: string, params: unknown[], dialect: SearchDialect): Statement {
  return { sql: dialect.numberedPlaceholders ? numbered(sql) : sql, params };
}

function compile(def: SearchParamDefinition, p: SearchPredicate, dialect: SearchDialect): CompiledPredicate {
  const params: unknown[] = [];
  const negate = p.prefix === 'ne';
  if (def.column === 'id') {
    params.push(...p.values);
    return {
      column: `r.id ${negate ? 'NOT IN' : 'IN'} (${placeholders(p.values.length)})`,
      byId: !negate,
      param: def.code,
      negate,
      params,
    };
  }
  if (def.column === 'lastUpdated') {
    const alternatives = p.values.map((v) => {
      const { start, end } = dateCriterion(def.code, v);
      switch (p.prefix) {
        case 'eq':
          params.push(start, end);
          return '(r.last_updated >= ? AND r.last_updated < ?)';
        case 'ne':
          params.push(start, end);
          return '(r.last_updated < ? OR r.last_updated >= ?)';
        case 'lt':
          params.push(start);
          return 'r.last_updated < ?';
        case 'le':
          params.push(end);
          return 'r.last_updated < ?';
        case 'gt':
          params.push(end);
          return 'r.last_updated >= ?';
        case 'ge':
          params.push(start);
          return 'r.last_updated >= ?';
      }
    });
    return { column: `(${alternatives.join(' OR ')})`, param: def.code, negate: false, params };
  }
  const alternatives: string[] = [];
  if (def.type === 'date') {
    for (const v of p.values) {
      const { start, end } = dateCriterion(def.code, v);
      switch (p.prefix) {
        case 'eq':
        case 'ne': // NOT EXISTS of the `eq` match
          alternatives.push('(s.date_start >= ? AND s.date_end <= ?)');
          params.push(start, end);
          break;
        case 'lt':
          alternatives.push('s.date_start < ?');
          params.push(start);
          break;
        case 'le':
          alternatives.push('s.date_start < ?');
          params.push(end);
          break;
        case 'gt':
          alternatives.push('s.date_end > ?');
          params.push(end);
          break;
        case 'ge':
          alternatives.push('s.date_end > ?');
          params.push(start);
          break;
      }
    }
    return {
      match: `s.date_start IS NOT NULL AND (${alternatives.join(' OR ')})`,
      index: 'search_index_date',
      param: def.code,
      negate,
      params,
    };
  }
  const codesOnly: string[] = [];
  const allCodes: string[] = [];
  for (const v of p.values) {
    let system: string | undefined;
    let code: string | undefined;
    if (def.type === 'reference') {
      const ref = referenceCriterion(def, v);
      system = ref.type;
      code = ref.id;
    } else if (def.type === 'uri') {
      code = uriCriterion(v);
    } else {
      ({ system, code } = tokenCriterion(v));
    }
    if (system !== undefined) system = dialect.indexSystem(system);
    if (code !== undefined) {
      code = dialect.indexValue(code);
      allCodes.push(code);
    }
    if (system !== undefined && code !== undefined) {
      alternatives.push('(s.value = ? AND s.system = ?)');
      params.push(code, system);
    } else if (code !== undefined) {
      codesOnly.push(code);
    } else {
      alternatives.push('s.system = ?');
      params.push(system);
    }
  }
  if (codesOnly.length > 0) {
    alternatives.push(codesOnly.length === 1 ? 's.value = ?' : `s.value IN (${placeholders(codesOnly.length)})`);
    params.push(...codesOnly);
  }
  let match = alternatives.join(' OR ');
  if (dialect.leadingValueIn && alternatives.length > 1 && allCodes.length === p.values.length) {
    // Several `system|code` alternatives: a leading IN on the value keeps the lookup on the index.
    match = `s.value IN (${placeholders(allCodes.length)}) AND (${match})`;
    params.unshift(...allCodes);
  }
  return { match, index: 'search_index_value', param: def.code, negate, params };
}
