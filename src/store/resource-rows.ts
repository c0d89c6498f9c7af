// Resources, their search_index rows and the audit, as both dialects keep them: what a write does (validation,
// If-Match, content comparison, the next version), which index rows an update changes, and audit rows → records.
// The dialects run the statements; see sql-dialect.ts for how their rows differ.
import type { Resource } from '@medplum/fhirtypes';
import { conflict, invalid } from '../fhir/outcome.js';
import { indexFingerprint, isResourceType, R4_RESOURCE_TYPES, type IndexRow } from '../fhir/search-params.js';
import type { AuditRecord, WriteOptions } from './repository.js';
import { trailRecordOf, type AuditTrailRow } from './audit-trail.js';
import type { BoolOf, ColumnStyle, JsonOf, RowDecoder, Statement } from './sql-dialect.js';

const ID_RE = /^[A-Za-z0-9\-.]{1,64}$/;
const AUDIT_DEFAULT_LIMIT = 100;
const AUDIT_MAX_LIMIT = 1000;

// --- writes ----------------------------------------------------------------------------------------------

/** A row of `resources`. */
export interface ResourceRow<S extends ColumnStyle> {
  version: number;
  deleted: BoolOf<S>;
  json: JsonOf<S, Resource>;
}

/** The type and id of a resource to write; 400 when either is missing or invalid. */
export function resourceKeyOf(resource: Resource): { type: string; id: string } {
  const type = resource.resourceType;
  const id = resource.id;
  if (typeof type !== 'string' || !isResourceType(type)) throw invalid(`Unknown resource type "${String(type)}"`, 'resourceType');
  if (typeof id !== 'string' || !ID_RE.test(id)) throw invalid(`${type}: invalid or missing id "${String(id ?? '')}"`, `${type}.id`);
  return { type, id };
}

export interface WritePlan<T extends Resource> {
  /** What `put` answers. */
  result: { resource: T; created: boolean; changed: boolean };
  /** The version to write (absent when the content is unchanged); `replacing`: the resource has live index rows. */
  write?: { version: number; lastUpdated: string; json: string; replacing: boolean };
}

/**
 * What writing `resource` over its `current` row does: 409 when If-Match names another version; nothing when the
 * content equals the live version's (ignoring `meta.versionId` / `meta.lastUpdated`); else the next version.
 */
export function planWrite<T extends Resource, S extends ColumnStyle>(
  type: string,
  id: string,
  resource: T,
  current: ResourceRow<S> | undefined,
  d: RowDecoder<S>,
  options: WriteOptions | undefined,
  now: () => Date,
): WritePlan<T> {
  if (options?.ifMatchVersion !== undefined && String(current?.version) !== options.ifMatchVersion) {
    throw conflict(
      current
        ? `${type}/${id} is at version ${current.version}, not ${options.ifMatchVersion}`
        : `${type}/${id} does not exist (If-Match version ${options.ifMatchVersion})`,
    );
  }
  const live = current !== undefined && !d.bool(current.deleted);
  // Normalise as JSON (drops undefined, turns Dates into strings) before comparing and storing.
  const { resourceType: _t, id: _i, meta, ...rest } = JSON.parse(JSON.stringify(resource)) as T;
  if (live) {
    const previous = d.json<Resource>(current.json) as T;
    if (contentKey(previous) === contentKey({ resourceType: type, id, meta, ...rest } as T)) {
      return { result: { resource: previous, created: false, changed: false } };
    }
  }
  const version = (current?.version ?? 0) + 1;
  const lastUpdated = now().toISOString();
  const stored = {
    resourceType: type,
    id,
    meta: { ...meta, versionId: String(version), lastUpdated },
    ...rest,
  } as T;
  return {
    result: { resource: stored, created: !live, changed: true },
    // A deleted resource's rows were removed with it; a new one has none.
    write: { version, lastUpdated, json: JSON.stringify(stored), replacing: live },
  };
}

/** The deletion marker version to write over `current`; undefined when there is no live version. */
export function planDelete<S extends ColumnStyle>(
  type: string,
  id: string,
  current: ResourceRow<S> | undefined,
  d: RowDecoder<S>,
  now: () => Date,
): { version: number; lastUpdated: string; json: string } | undefined {
  if (!current || d.bool(current.deleted)) return undefined;
  const version = current.version + 1;
  const lastUpdated = now().toISOString();
  const json = JSON.stringify({ resourceType: type, id, meta: { versionId: String(version), lastUpdated } });
  return { version, lastUpdated, json };
}

/** Resource content without `meta.versionId` / `meta.lastUpdated`, with sorted keys: equal content ⇔ equal key. */
export function contentKey(resource: Resource): string {
  const { meta, ...rest } = resource;
  let kept: Record<string, unknown> | undefined;
  if (meta) {
    const { versionId: _v, lastUpdated: _l, ...others } = meta;
    if (Object.keys(others).length > 0) kept = others;
  }
  return canonicalJson(kept ? { ...rest, meta: kept } : rest);
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

// --- search_index ----------------------------------------------------------------------------------------

/** A search_index row as read back, with the dialect's physical row id `rid` (SQLite rowid, PostgreSQL ctid). */
export interface StoredIndexRow<R> {
  rid: R;
  param: string;
  system: string;
  value: string | null;
  date_start: string | null;
  date_end: string | null;
}

/**
 * What makes a resource's index rows `wanted`: the `stale` rows to delete and the `missing` ones to insert. Rows
 * equal in every column are kept (an update usually keeps most); duplicates are counted.
 */
export function indexChanges<R, W extends IndexRow>(existing: readonly StoredIndexRow<R>[], wanted: readonly W[]): { stale: R[]; missing: W[] } {
  const keyOf = (param: string, system: string, value: string | null, start: string | null, end: string | null): string =>
    JSON.stringify([param, system, value, start, end]);
  const current = new Map<string, R[]>();
  for (const r of existing) {
    const k = keyOf(r.param, r.system, r.value, r.date_start, r.date_end);
    const list = current.get(k);
    if (list) list.push(r.rid);
    else current.set(k, [r.rid]);
  }
  const missing: W[] = [];
  for (const row of wanted) {
    const list = current.get(keyOf(row.param, row.system, row.value, row.start, row.end));
    if (list && list.length > 0) list.pop();
    else missing.push(row);
  }
  return { stale: [...current.values()].flat(), missing };
}

// --- index rebuild ------------------------------------------------------------------------------------------
//
// search_index_state (SQLite migration 006, PostgreSQL 005) records, per type, the fingerprint of the way its rows were
// computed. When the parameters or the extraction change (a new parameter, a new normalisation), the fingerprint of the
// type changes and the store rebuilds the rows of its live resources at open, in batches by id.

/** Resources rebuilt per transaction. */
export const REINDEX_BATCH = 500;

/** The fingerprint of every type, computed once. */
let fingerprints: ReadonlyMap<string, string> | undefined;
export function indexFingerprints(): ReadonlyMap<string, string> {
  fingerprints ??= new Map([...R4_RESOURCE_TYPES].map((t) => [t, indexFingerprint(t)]));
  return fingerprints;
}

/** The types whose rows were computed otherwise than today (or never recorded), given the rows of search_index_state. */
export function staleIndexTypes(stored: readonly { type: string; fingerprint: string }[]): string[] {
  const known = new Map(stored.map((r) => [r.type, r.fingerprint]));
  return [...indexFingerprints()].filter(([type, fp]) => known.get(type) !== fp).map(([type]) => type);
}

/** The next batch of live resources of a type, by id after `?` (`live`: the dialect's condition on `resources`). */
export function reindexBatch(live: string): string {
  return `SELECT id, json FROM resources WHERE type = ? AND ${live} AND id > ? ORDER BY id LIMIT ${REINDEX_BATCH}`;
}

/** Records the fingerprint of a type (`?`: type, fingerprint, indexed_at). */
export const RECORD_INDEX_STATE =
  'INSERT INTO search_index_state (type, fingerprint, indexed_at) VALUES (?, ?, ?) ' +
  'ON CONFLICT (type) DO UPDATE SET fingerprint = excluded.fingerprint, indexed_at = excluded.indexed_at';

// --- audit -----------------------------------------------------------------------------------------------

/** A row of `audit` (src/store/audit-trail.ts). */
export type AuditRow<S extends ColumnStyle> = AuditTrailRow<S>;

/** The newest audit rows, of one entity when named (`limit` defaults to 100, at most 1000). */
export function auditQuery(filter: { entity?: string; limit?: number }): Statement {
  const wanted = Number.isFinite(filter.limit) ? Math.trunc(filter.limit as number) : AUDIT_DEFAULT_LIMIT;
  const limit = Math.max(1, Math.min(wanted, AUDIT_MAX_LIMIT));
  return filter.entity === undefined
    ? { sql: 'SELECT * FROM audit ORDER BY id DESC LIMIT ?', params: [limit] }
    : {
        sql: 'SELECT a.* FROM audit_entities e JOIN audit a ON a.id = e.audit_id WHERE e.entity = ? ORDER BY a.id DESC LIMIT ?',
        params: [filter.entity, limit],
      };
}

export function auditRecordOf<S extends ColumnStyle>(r: AuditRow<S>, d: RowDecoder<S>): AuditRecord {
  return trailRecordOf(r, d);
}
