// FHIR search → SQL, for both dialects. Each predicate backed by search_index (one row per parameter value of a
// resource) becomes an `EXISTS` on the resource's index rows (`NOT EXISTS` for :not and :missing=true), or, when
// SQLite's planning chose it as the *driver*, `r.id IN (…)` on the index rows of the type; `_id` and `_lastUpdated`
// read the resource row. A chain (`patient.identifier=…`) is an `EXISTS` on the reference's rows joined to the
// target's rows; `_has` the same the other way round. The page is ordered by the `_sort` keys (a resource's smallest
// value ascending, largest descending, missing values last), else newest first, then by id. What differs between
// the dialects is a `SearchDialect`:
//
// - SQLite has no statistics on our index values, so sqlite-store.ts plans each query (it counts the index rows of
//   each predicate, capped, and picks a driver) and pins every table access with INDEXED BY;
// - PostgreSQL's planner has statistics and chooses by itself; its index values are cut to a maximum length (see
//   pg-store.ts), so query values go through the same cut; its placeholders are numbered.
//
// String parameters (`name`, `family`…) keep the normalised text in `value` and the text as written in `system`
// (src/fhir/search-params.ts). A prefix is the range [prefix, successor(prefix)) on `value`, which the value index
// (type, param, value, …) serves as a range scan on both dialects: text compares by code point on both (SQLite's
// BINARY collation, PostgreSQL's `COLLATE "C"` columns of migration 001), so the range holds exactly the values
// starting with the prefix. `LIKE 'x%'` would need case_sensitive_like on SQLite and text_pattern_ops on PostgreSQL.
import {
  dateCriterion,
  getSearchParam,
  ofTypeCriterion,
  ofTypeParam,
  referenceCriterion,
  stringCriterion,
  tokenCriterion,
  uriCriterion,
  REFERENCES_PARAM,
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
  | 'search_index_ref'
  | 'resources_key'
  | 'resources_live_by_updated';

export interface SearchDialect {
  /** The condition on the resource row `alias` that keeps live resources (`deleted` false, as the dialect stores it). */
  live(alias: string): string;
  /** What follows a table alias to pin its access to an index: ` INDEXED BY <index>` on SQLite, else ''. */
  indexedBy(index: SearchTableIndex): string;
  /** Whether placeholders are numbered (`$1…$n`) rather than `?`. */
  readonly numberedPlaceholders: boolean;
  /** A token system / reference type / string as written, as stored in search_index.system (and so as compared). */
  indexSystem(system: string): string;
  /** A code / id / uri / normalised string as stored in search_index.value (and so as compared). */
  indexValue(value: string): string;
  /**
   * Several `system|code` alternatives get a leading `s.value IN (…)` (SQLite: without it, the OR of pairs is not
   * looked up on the value index).
   */
  readonly leadingValueIn: boolean;
  /** Appended to a sort expression so that it orders by code point (PostgreSQL: ` COLLATE "C"`). */
  readonly sortCollation: string;
  /**
   * Whether `column` holds the text of the one `?` parameter (`:contains`): `instr` on SQLite, `strpos` on
   * PostgreSQL; not LIKE, whose patterns SQLite limits to 50 000 bytes and whose wildcards would need escaping.
   */
  contains(column: string): string;
}

/** SQL with its `?` parameters, in text order. */
export interface Fragment {
  sql: string;
  params: unknown[];
}

export interface CompiledPredicate {
  /** The parameter as written (`patient`, `_has`…), for messages. */
  param: string;
  /** The condition on the searched resource row `r`. */
  filter: Fragment;
  /** A positive `_id` predicate: the query is fetched by key. */
  byId?: boolean;
  /**
   * SQLite planning, for positive predicates backed by an index: `ids` selects the ids of the searched type that
   * match (as `id`); `probe(cap)` counts (up to `cap`) the index rows that back it — few rows make it the driver.
   * `live`: every id selected is a live resource (index rows exist only for live resources; `_has` selects the
   * targets of references, which may not exist).
   */
  driver?: { ids: Fragment; probe(cap: number): Fragment; live?: boolean };
}

export interface CompiledSearch {
  type: string;
  /** The predicates with at least one value, in query order. */
  predicates: CompiledPredicate[];
  /** Whether a positive `_id` predicate fetches the query by key. */
  byId: boolean;
  /** `ORDER BY` terms of the page (on `r`), with their parameters. */
  order: Fragment;
}

/**
 * Most alternatives (comma-separated values) one parameter may carry. Each becomes a term of an OR (or an IN list):
 * SQLite refuses an expression tree deeper than 1000 ("Expression tree is too large"), and a long OR is a slow
 * query on either dialect. Callers with more values split them (see `_revinclude` in src/api/fhir-search.ts).
 */
export const MAX_OR_VALUES = 100;

/** Checks paging and compiles every predicate and sort key (unknown parameters, bad values, too many alternatives are 400s). */
export function compileSearch(query: SearchQuery, dialect: SearchDialect): CompiledSearch {
  if (!Number.isSafeInteger(query.count) || query.count < 0) throw invalid(`_count: invalid value ${query.count}`, '_count');
  if (!Number.isSafeInteger(query.offset) || query.offset < 0) throw invalid(`_offset: invalid value ${query.offset}`, '_offset');
  const type = query.resourceType;
  const predicates: CompiledPredicate[] = [];
  for (const p of query.predicates) {
    const compiled = compilePredicate(type, p, dialect);
    if (compiled) predicates.push(compiled);
  }
  if (query.tenant !== undefined) predicates.push(accessPredicate(type, query.tenant, dialect));
  return { type, predicates, byId: predicates.some((p) => p.byId), order: orderBy(query, dialect) };
}

/**
 * `SearchQuery.tenant` as a predicate like the others: a filter on the row (`accessFilter`), and a driver for SQLite's
 * planning — the ids of the type that refer to the tenant's patients, from its grants (primary key of access_patient)
 * joined to the `_ref` rows of each patient (search_index_ref: system, value, type, id). A tenant with few patients
 * then fetches its few resources by key instead of walking the type; one with many walks it and probes each row.
 */
function accessPredicate(type: string, tenant: string, dialect: SearchDialect): CompiledPredicate {
  const filter = accessFilter(type, tenant, dialect);
  if (type === 'Patient') {
    const sql = 'FROM access_patient a WHERE a.tenant = ?';
    return {
      param: '_tenant',
      filter,
      // Grants may name Patients deleted since, or never stored here: not `live`.
      driver: {
        ids: { sql: `SELECT a.patient AS id ${sql}`, params: [tenant] },
        probe: (cap) => ({ sql: `SELECT count(*) AS n FROM (SELECT 1 ${sql} LIMIT ${cap}) x`, params: [tenant] }),
      },
    };
  }
  // CROSS JOIN: SQLite keeps the grants as the outer loop (a few rows of the tenant), each looked up in the index.
  const sql =
    `FROM access_patient a CROSS JOIN search_index t${dialect.indexedBy('search_index_ref')} ` +
    `WHERE a.tenant = ? AND t.param = '${REFERENCES_PARAM.code}' AND t.system = ? AND t.value = a.patient AND t.type = ?`;
  const params = [tenant, dialect.indexSystem('Patient'), type];
  return {
    param: '_tenant',
    filter,
    driver: {
      ids: { sql: `SELECT t.id AS id ${sql}`, params },
      probe: (cap) => ({ sql: `SELECT count(*) AS n FROM (SELECT 1 ${sql} LIMIT ${cap}) x`, params }),
      live: true,
    },
  };
}

/**
 * `SearchQuery.tenant`: the resource row `r` is a Patient the tenant may access, or holds a literal reference to one
 * (its `_ref` index rows of system `Patient`, joined to `access_patient` on its primary key (tenant, patient)). Both
 * lookups are on keys: the resource's own index rows (search_index_resource: type, id, param…) and the grant.
 */
export function accessFilter(type: string, tenant: string, dialect: SearchDialect): Fragment {
  if (type === 'Patient') {
    return { sql: 'EXISTS (SELECT 1 FROM access_patient a WHERE a.tenant = ? AND a.patient = r.id)', params: [tenant] };
  }
  return {
    sql:
      `EXISTS (SELECT 1 FROM search_index t${dialect.indexedBy('search_index_resource')} JOIN access_patient a ON a.tenant = ? AND a.patient = t.value ` +
      `WHERE t.type = r.type AND t.id = r.id AND t.param = '${REFERENCES_PARAM.code}' AND t.system = ?)`,
    params: [tenant, dialect.indexSystem('Patient')],
  };
}

/**
 * The statements of a search: the page (unless `_count=0`) and the total (when asked). A `driver` (one of the
 * predicates with `driver` set) is fetched by key: `r.id IN (…)`; the other predicates are filters. The count may have
 * its own driver (`countDriver`, default `driver`): it reads every match anyway, so even a predicate matching many
 * rows reads fewer of them than a walk of the whole type.
 */
export function searchStatements(
  search: CompiledSearch,
  query: SearchQuery,
  dialect: SearchDialect,
  driver?: CompiledPredicate,
  countDriver: CompiledPredicate | undefined = driver,
): { page?: Statement; count?: Statement } {
  const statements: { page?: Statement; count?: Statement } = {};
  if (query.count > 0) {
    const { from, where, params } = selection(search, dialect, driver);
    const sql = `SELECT r.json FROM ${from} WHERE ${where} ORDER BY ${search.order.sql} LIMIT ? OFFSET ?`;
    statements.page = finish(sql, [...params, ...search.order.params, query.count, query.offset], dialect);
  }
  if (query.total) {
    const only = search.predicates.length === 1 ? search.predicates[0] : undefined;
    if (only !== undefined && only === countDriver && only.driver?.live) {
      // `Patient?name=…`: count the matching ids on the index alone.
      const { ids } = only.driver;
      statements.count = finish(`SELECT count(DISTINCT x.id) AS n FROM (${ids.sql}) x`, ids.params, dialect);
    } else {
      const { from, where, params } = selection(search, dialect, countDriver);
      statements.count = finish(`SELECT count(*) AS n FROM ${from} WHERE ${where}`, params, dialect);
    }
  }
  return statements;
}

/** FROM and WHERE of a search, driven by `driver` when given. */
function selection(search: CompiledSearch, dialect: SearchDialect, driver?: CompiledPredicate): { from: string; where: string; params: unknown[] } {
  const parts = ['r.type = ?', dialect.live('r')];
  const params: unknown[] = [search.type];
  for (const p of search.predicates) {
    const f = p === driver && p.driver ? { sql: `r.id IN (${p.driver.ids.sql})`, params: p.driver.ids.params } : p.filter;
    parts.push(f.sql);
    params.push(...f.params);
  }
  // Driven: fetch by key, then sort the few rows. Otherwise: walk the type newest first.
  const from = `resources r${dialect.indexedBy(search.byId || driver ? 'resources_key' : 'resources_live_by_updated')}`;
  return { from, where: parts.join(' AND '), params };
}

/** A fragment as a statement of the dialect. */
export function finish(sql: string, params: unknown[], dialect: SearchDialect): Statement {
  return { sql: dialect.numberedPlaceholders ? numbered(sql) : sql, params };
}

/**
 * The live resources whose references point at `targetType/targetId` (`ResourceStore.referrers`): the `_ref` rows of
 * the target, in the partial index search_index_ref (system, value, type, id) WHERE param = '_ref' (migrations SQLite
 * 007, PostgreSQL 006), which lists them in (type, id) order, so DISTINCT, the order and the limit need no sort. The
 * `param` condition is a literal: a partial index serves only a query whose WHERE implies its own. Index rows exist
 * for live resources only; the key lookup on `resources` keeps the answer right should one outlive its resource.
 */
export function referrersStatement(targetType: string, targetId: string, limit: number, dialect: SearchDialect): Statement {
  const sql =
    `SELECT DISTINCT s.type, s.id FROM search_index s${dialect.indexedBy('search_index_ref')} ` +
    `WHERE s.param = '${REFERENCES_PARAM.code}' AND s.system = ? AND s.value = ? ` +
    `AND EXISTS (SELECT 1 FROM resources r${dialect.indexedBy('resources_key')} WHERE r.type = s.type AND r.id = s.id AND ${dialect.live('r')}) ` +
    'ORDER BY s.type, s.id LIMIT ?';
  const params = [dialect.indexSystem(targetType), dialect.indexValue(targetId), Math.max(0, Math.trunc(limit))];
  return finish(sql, params, dialect);
}

// --- predicates ------------------------------------------------------------------------------------------

/**
 * One predicate on one resource type, before it is placed: a condition on the resource row, a constant (`:missing`
 * of `_id`), or a match on the rows of one index param (`negate`: no row matches).
 */
type Atom =
  | { kind: 'column'; cond(r: string): Fragment; ids?: string[] }
  | { kind: 'constant'; value: boolean }
  | { kind: 'index'; param: string; negate: boolean; index: 'search_index_value' | 'search_index_date'; match(a: string): Fragment };

function definition(type: string, code: string, expression = code): SearchParamDefinition {
  const def = getSearchParam(type, code);
  if (!def) throw invalid(`Unknown search parameter "${code}" for ${type}`, expression);
  return def;
}

function compilePredicate(type: string, p: SearchPredicate, dialect: SearchDialect): CompiledPredicate | undefined {
  if (p.chain) {
    const ref = definition(type, p.param);
    if (ref.type !== 'reference') throw invalid(`${p.param} is not a reference parameter: it cannot be chained`, p.param);
    if (ref.target !== undefined && ref.target !== p.chain.type) throw invalid(`${p.param} refers to ${ref.target} only`, p.param);
    const inner = compileAtom(p.chain.type, p.chain.predicate, dialect);
    return inner && chained(type, p.param, p.chain.type, inner, dialect);
  }
  if (p.has) {
    const ref = definition(p.has.type, p.has.param, '_has');
    if (ref.type !== 'reference') throw invalid(`_has: ${p.has.type}.${p.has.param} is not a reference parameter`, '_has');
    const inner = compileAtom(p.has.type, p.has.predicate, dialect);
    return inner && reverseChained(type, p.has.type, p.has.param, inner, dialect);
  }
  const atom = compileAtom(type, p, dialect);
  if (!atom) return undefined;
  const filter = atomOnRow(atom, dialect);
  switch (atom.kind) {
    case 'column':
      return { param: p.param, filter, ...(atom.ids ? { byId: true } : {}) };
    case 'constant':
      return { param: p.param, filter };
    case 'index':
      return { param: p.param, filter, ...(atom.negate ? {} : { driver: atomDriver(type, atom, 's', dialect) }) };
  }
}

/** `ref.inner`: the searched resource has a `ref` to a live `target` matching `inner`. */
function chained(type: string, param: string, target: string, inner: Atom, dialect: SearchDialect): CompiledPredicate {
  const system = dialect.indexSystem(target);
  const onTarget = atomOnKey(inner, 'c.system', 'c.value', dialect);
  const filter = {
    sql:
      `EXISTS (SELECT 1 FROM search_index c${dialect.indexedBy('search_index_resource')} ` +
      `WHERE c.type = r.type AND c.id = r.id AND c.param = ? AND c.system = ? AND ${onTarget.sql})`,
    params: [param, system, ...onTarget.params],
  };
  const targets = atomDriver(target, inner, 't', dialect);
  if (!targets) return { param, filter };
  return {
    param,
    filter,
    driver: {
      ids: {
        sql:
          `SELECT c.id AS id FROM search_index c${dialect.indexedBy('search_index_value')} ` +
          `WHERE c.type = ? AND c.param = ? AND c.value IN (${targets.ids.sql}) AND c.system = ?${notRef('c')}`,
        params: [type, param, ...targets.ids.params, system],
      },
      // The targets' rows stand for the references to them (each is usually referred to a few times).
      probe: targets.probe,
      live: true,
    },
  };
}

/** `_has:source:ref:inner`: a live `source` resource matching `inner` refers to the searched one through `ref`. */
function reverseChained(type: string, source: string, ref: string, inner: Atom, dialect: SearchDialect): CompiledPredicate {
  const onSource = atomOnKey(inner, 'h.type', 'h.id', dialect);
  const filter = {
    sql:
      `EXISTS (SELECT 1 FROM search_index h${dialect.indexedBy('search_index_value')} ` +
      `WHERE h.type = ? AND h.param = ? AND h.value = r.id AND h.system = r.type${notRef('h')} AND ${onSource.sql})`,
    params: [source, ref, ...onSource.params],
  };
  const sources = atomDriver(source, inner, 't', dialect);
  if (!sources) return { param: '_has', filter };
  return {
    param: '_has',
    filter,
    driver: {
      ids: {
        sql:
          `SELECT h.value AS id FROM search_index h${dialect.indexedBy('search_index_resource')} ` +
          `WHERE h.type = ? AND h.id IN (${sources.ids.sql}) AND h.param = ? AND h.system = ?`,
        params: [source, ...sources.ids.params, ref, dialect.indexSystem(type)],
      },
      probe: sources.probe,
    },
  };
}

/** The atom as a condition on the resource row `r`. */
function atomOnRow(atom: Atom, dialect: SearchDialect): Fragment {
  switch (atom.kind) {
    case 'column':
      return atom.cond('r');
    case 'constant':
      return { sql: atom.value ? '1 = 1' : '1 = 0', params: [] };
    case 'index': {
      // INDEXED BY: without statistics SQLite would rather walk the value index, i.e. every matching row.
      const m = atom.match('s');
      return {
        sql:
          `${atom.negate ? 'NOT EXISTS' : 'EXISTS'} (SELECT 1 FROM search_index s${dialect.indexedBy('search_index_resource')} ` +
          `WHERE s.type = r.type AND s.id = r.id AND s.param = ? AND (${m.sql}))`,
        params: [atom.param, ...m.params],
      };
    }
  }
}

/** The atom as a condition on the live resource whose type and id are the SQL expressions `typeSql`, `idSql`. */
function atomOnKey(atom: Atom, typeSql: string, idSql: string, dialect: SearchDialect): Fragment {
  const exists = (cond?: Fragment): Fragment => ({
    sql:
      `EXISTS (SELECT 1 FROM resources r2${dialect.indexedBy('resources_key')} ` +
      `WHERE r2.type = ${typeSql} AND r2.id = ${idSql} AND ${dialect.live('r2')}${cond ? ` AND ${cond.sql}` : ''})`,
    params: cond ? cond.params : [],
  });
  switch (atom.kind) {
    case 'column':
      return exists(atom.cond('r2'));
    case 'constant':
      return atom.value ? exists() : { sql: '1 = 0', params: [] };
    case 'index': {
      const m = atom.match('t');
      const rows = {
        sql:
          `EXISTS (SELECT 1 FROM search_index t${dialect.indexedBy('search_index_resource')} ` +
          `WHERE t.type = ${typeSql} AND t.id = ${idSql} AND t.param = ? AND (${m.sql}))`,
        params: [atom.param, ...m.params],
      };
      // Index rows exist only for live resources; a resource without a matching row must still exist to match.
      if (!atom.negate) return rows;
      const live = exists();
      return { sql: `${live.sql} AND NOT ${rows.sql}`, params: [...live.params, ...rows.params] };
    }
  }
}

/**
 * The term every query through search_index_value carries: the index leaves the `_ref` rows out (SQLite migration
 * 016, PostgreSQL 015), and a partial index serves a query only when its condition appears in the query's own.
 */
function notRef(alias: string): string {
  return ` AND ${alias}.param <> '_ref'`;
}

/** Ids of the live resources of `type` matching a positive atom (by key or by index), for a driver; else undefined. */
function atomDriver(type: string, atom: Atom, alias: string, dialect: SearchDialect): CompiledPredicate['driver'] {
  if (atom.kind === 'column' && atom.ids) {
    const ids = atom.ids;
    const sql =
      `SELECT ${alias}.id AS id FROM resources ${alias}${dialect.indexedBy('resources_key')} ` +
      `WHERE ${alias}.type = ? AND ${alias}.id IN (${placeholders(ids.length)}) AND ${dialect.live(alias)}`;
    return {
      ids: { sql, params: [type, ...ids] },
      probe: (cap) => ({ sql: `SELECT count(*) AS n FROM (${sql} LIMIT ${cap}) x`, params: [type, ...ids] }),
      live: true,
    };
  }
  if (atom.kind !== 'index' || atom.negate) return undefined;
  const m = atom.match(alias);
  const sql = `FROM search_index ${alias}${dialect.indexedBy(atom.index)} WHERE ${alias}.type = ? AND ${alias}.param = ?${atom.index === 'search_index_value' ? notRef(alias) : ''} AND (${m.sql})`;
  const params = [type, atom.param, ...m.params];
  return {
    ids: { sql: `SELECT ${alias}.id AS id ${sql}`, params },
    probe: (cap) => ({ sql: `SELECT count(*) AS n FROM (SELECT 1 ${sql} LIMIT ${cap}) x`, params }),
    live: true,
  };
}

/** A predicate without chain on `type`, as an atom; undefined when it has no value. */
function compileAtom(type: string, p: SearchPredicate, dialect: SearchDialect): Atom | undefined {
  if (p.chain || p.has) throw invalid(`${p.param}: chains and _has go one level deep`, p.param);
  const def = definition(type, p.param);
  if (p.values.length > MAX_OR_VALUES) {
    throw invalid(`${p.param}: ${p.values.length} comma-separated values; at most ${MAX_OR_VALUES} per parameter (split the search)`, p.param);
  }
  if (p.values.length === 0) return undefined;
  if (p.modifier === 'missing') {
    if (p.values.length !== 1 || (p.values[0] !== 'true' && p.values[0] !== 'false')) {
      throw invalid(`${p.param}:missing: expected true or false`, p.param);
    }
    const missing = p.values[0] === 'true';
    // Every resource has an id and a lastUpdated.
    if (def.column) return { kind: 'constant', value: !missing };
    return { kind: 'index', param: def.code, negate: missing, index: 'search_index_value', match: () => ({ sql: '1 = 1', params: [] }) };
  }
  if (def.column === 'id') return idAtom(p);
  if (def.column === 'lastUpdated') return lastUpdatedAtom(def, p);
  if (def.type === 'date') return dateAtom(def, p);
  if (def.type === 'string') return stringAtom(def, p, dialect);
  if (p.modifier === 'of-type') return ofTypeAtom(def, p, dialect);
  if (p.modifier !== undefined) throw invalid(`Unsupported modifier ":${p.modifier}" on search parameter "${def.code}"`, def.code);
  return tokenAtom(def, p, dialect);
}

function idAtom(p: SearchPredicate): Atom {
  const negate = p.prefix === 'ne';
  const ids = p.values;
  return {
    kind: 'column',
    cond: (r) => ({ sql: `${r}.id ${negate ? 'NOT IN' : 'IN'} (${placeholders(ids.length)})`, params: [...ids] }),
    ...(negate ? {} : { ids }),
  };
}

function lastUpdatedAtom(def: SearchParamDefinition, p: SearchPredicate): Atom {
  const params: unknown[] = [];
  const alternatives = p.values.map((v) => {
    const { start, end } = dateCriterion(def.code, v);
    switch (p.prefix) {
      case 'eq':
        params.push(start, end);
        return '(R.last_updated >= ? AND R.last_updated < ?)';
      case 'ne':
        params.push(start, end);
        return '(R.last_updated < ? OR R.last_updated >= ?)';
      case 'lt':
        params.push(start);
        return 'R.last_updated < ?';
      case 'le':
        params.push(end);
        return 'R.last_updated < ?';
      case 'gt':
        params.push(end);
        return 'R.last_updated >= ?';
      case 'ge':
        params.push(start);
        return 'R.last_updated >= ?';
    }
  });
  const sql = `(${alternatives.join(' OR ')})`;
  return { kind: 'column', cond: (r) => ({ sql: sql.replace(/\bR\./g, `${r}.`), params: [...params] }) };
}

function dateAtom(def: SearchParamDefinition, p: SearchPredicate): Atom {
  const params: unknown[] = [];
  const alternatives: string[] = [];
  for (const v of p.values) {
    const { start, end } = dateCriterion(def.code, v);
    switch (p.prefix) {
      case 'eq':
      case 'ne': // NOT EXISTS of the `eq` match
        alternatives.push('(A.date_start >= ? AND A.date_end <= ?)');
        params.push(start, end);
        break;
      case 'lt':
        alternatives.push('A.date_start < ?');
        params.push(start);
        break;
      case 'le':
        alternatives.push('A.date_start < ?');
        params.push(end);
        break;
      case 'gt':
        alternatives.push('A.date_end > ?');
        params.push(end);
        break;
      case 'ge':
        alternatives.push('A.date_end > ?');
        params.push(start);
        break;
    }
  }
  return indexAtom(def.code, p.prefix === 'ne', 'search_index_date', `A.date_start IS NOT NULL AND (${alternatives.join(' OR ')})`, params);
}

/** Index atom whose SQL names its alias `A.`. */
function indexAtom(param: string, negate: boolean, index: 'search_index_value' | 'search_index_date', sql: string, params: unknown[]): Atom {
  return { kind: 'index', param, negate, index, match: (a) => ({ sql: sql.replace(/\bA\./g, `${a}.`), params: [...params] }) };
}

function stringAtom(def: SearchParamDefinition, p: SearchPredicate, dialect: SearchDialect): Atom {
  if (p.modifier !== undefined && p.modifier !== 'exact' && p.modifier !== 'contains') {
    throw invalid(`Unsupported modifier ":${p.modifier}" on search parameter "${def.code}"`, def.code);
  }
  const params: unknown[] = [];
  const alternatives = p.values.map((v) => {
    const { raw, normalised } = stringCriterion(def.code, v, p.modifier);
    const value = dialect.indexValue(normalised);
    if (p.modifier === 'exact') {
      params.push(value, dialect.indexSystem(raw));
      return '(A.value = ? AND A.system = ?)';
    }
    if (p.modifier === 'contains') {
      params.push(value);
      return dialect.contains('A.value');
    }
    const upper = successor(value);
    params.push(value);
    if (upper === undefined) return 'A.value >= ?';
    params.push(upper);
    return '(A.value >= ? AND A.value < ?)';
  });
  return indexAtom(def.code, false, 'search_index_value', alternatives.join(' OR '), params);
}

/**
 * The smallest string greater than every string starting with `prefix`, in code point order (= UTF-8 byte order, the
 * order of both dialects): the prefix with its last code point incremented. Undefined when there is none.
 */
export function successor(prefix: string): string | undefined {
  const points = [...prefix].map((c) => c.codePointAt(0) as number);
  while (points.length > 0) {
    let last = (points.pop() as number) + 1;
    if (last >= 0xd800 && last <= 0xdfff) last = 0xe000; // no surrogate code points in well-formed text
    if (last <= 0x10ffff) return String.fromCodePoint(...points, last);
  }
  return undefined;
}

function ofTypeAtom(def: SearchParamDefinition, p: SearchPredicate, dialect: SearchDialect): Atom {
  const params: unknown[] = [];
  const alternatives = p.values.map((v) => {
    const { typeKey, value } = ofTypeCriterion(def.code, v);
    params.push(dialect.indexValue(value), dialect.indexSystem(typeKey));
    return '(A.value = ? AND A.system = ?)';
  });
  return indexAtom(ofTypeParam(def.code), false, 'search_index_value', alternatives.join(' OR '), params);
}

function tokenAtom(def: SearchParamDefinition, p: SearchPredicate, dialect: SearchDialect): Atom {
  const params: unknown[] = [];
  const alternatives: string[] = [];
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
      alternatives.push('(A.value = ? AND A.system = ?)');
      params.push(code, system);
    } else if (code !== undefined) {
      codesOnly.push(code);
    } else {
      alternatives.push('A.system = ?');
      params.push(system);
    }
  }
  if (codesOnly.length > 0) {
    alternatives.push(codesOnly.length === 1 ? 'A.value = ?' : `A.value IN (${placeholders(codesOnly.length)})`);
    params.push(...codesOnly);
  }
  let match = alternatives.join(' OR ');
  if (dialect.leadingValueIn && alternatives.length > 1 && allCodes.length === p.values.length) {
    // Several `system|code` alternatives: a leading IN on the value keeps the lookup on the index.
    match = `A.value IN (${placeholders(allCodes.length)}) AND (${match})`;
    params.unshift(...allCodes);
  }
  return indexAtom(def.code, p.prefix === 'ne', 'search_index_value', match, params);
}

// --- order -----------------------------------------------------------------------------------------------

/**
 * `ORDER BY` of the page: each `_sort` key (a resource with several values sorts by its smallest ascending, its
 * largest descending; dates by their start ascending and their end descending; references as `Type/id`), missing
 * values last, then the id; without `_sort`, newest first.
 */
function orderBy(query: SearchQuery, dialect: SearchDialect): Fragment {
  if (!query.sort || query.sort.length === 0) return { sql: 'r.last_updated DESC, r.id', params: [] };
  const terms: string[] = [];
  const params: unknown[] = [];
  for (const key of query.sort) {
    const def = definition(query.resourceType, key.param, '_sort');
    const direction = key.descending ? 'DESC' : 'ASC';
    if (def.column) {
      terms.push(`r.${def.column === 'id' ? 'id' : 'last_updated'} ${direction}`);
      continue;
    }
    const aggregate = key.descending ? 'max' : 'min';
    const column = def.type === 'date' ? (key.descending ? 's.date_end' : 's.date_start') : def.type === 'reference' ? "s.system || '/' || s.value" : 's.value';
    terms.push(
      `(SELECT ${aggregate}(${column}) FROM search_index s${dialect.indexedBy('search_index_resource')} ` +
        `WHERE s.type = r.type AND s.id = r.id AND s.param = ?)${dialect.sortCollation} ${direction} NULLS LAST`,
    );
    params.push(def.code);
  }
  terms.push('r.id');
  return { sql: terms.join(', '), params };
}
