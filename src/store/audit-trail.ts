// The audit trail as both dialects keep it (table `audit`, SQLite migration 008 / PostgreSQL 007): who acted (filled
// from the request context when the caller gave only the actor), the hash chain that makes it tamper-evident, and the
// queries that read it back (FHIR AuditEvent search, `passerelle audit verify|export`).
//
// Hash chain: each row's `hash` = SHA-256 (hex) of the previous row's hash (by id; `AUDIT_GENESIS` before the first
// chained row), a newline, and `auditContent(row)` — a JSON array of every column but id and hash, in a fixed order.
// It is computed at insert, inside the writing transaction, from the last row as that transaction sees it: SQLite has
// one writer at a time; PostgreSQL takes a transaction-level advisory lock first (pg-store.ts), so concurrent
// processes append to one chain. Rows from before the migration have no hash ("unchained").
import { createHash } from 'node:crypto';
import { tenantKey, type Principal } from '../domain/access/model.js';
import { currentRequestContext } from '../observability/request-context.js';
import type { AuditEntry, AuditRecord } from './repository.js';
import { LIST_MAX, type ColumnStyle, type JsonOf, type RowDecoder, type Statement } from './sql-dialect.js';

/** The "previous hash" of the first chained row. */
export const AUDIT_GENESIS = '0'.repeat(64);

/** The who-fields of an audit row for a principal (ids only: no name, no INS). */
export function principalWho(principal: Principal): Pick<AuditEntry, 'actor' | 'person' | 'tenant'> {
  return {
    actor: principal.id,
    ...(principal.person ? { person: principal.person.rpps ? `rpps:${principal.person.rpps}` : `sub:${principal.person.sub}` } : {}),
    ...(principal.tenant ? { tenant: tenantKey(principal.tenant) } : {}),
  };
}

/**
 * The entry with what the caller left out taken from the request being served: person and tenant of its principal
 * (when the principal is the actor), the client address, the request id. One place, used by both dialects' insert.
 */
export function auditWho(entry: AuditEntry): AuditEntry {
  const ctx = currentRequestContext();
  if (!ctx) return entry;
  const who: Partial<AuditEntry> = ctx.principal && ctx.principal.id === entry.actor ? principalWho(ctx.principal) : {};
  return {
    ...entry,
    ...(entry.person === undefined && who.person ? { person: who.person } : {}),
    ...(entry.tenant === undefined && who.tenant ? { tenant: who.tenant } : {}),
    ...(entry.source === undefined && ctx.source ? { source: ctx.source } : {}),
    ...(entry.requestId === undefined ? { requestId: ctx.requestId } : {}),
  };
}

/** The content of a row the hash covers, in a fixed order; absent fields are null. */
export interface AuditContent {
  recorded: string;
  action: string;
  actor: string;
  person: string | null;
  tenant: string | null;
  source: string | null;
  entities: string[];
  outcome: string;
  detail: string | null;
  request_id: string | null;
}

export function contentOf(entry: AuditEntry, recorded: string): AuditContent {
  return {
    recorded,
    action: entry.action,
    actor: entry.actor,
    person: entry.person ?? null,
    tenant: entry.tenant ?? null,
    source: entry.source ?? null,
    entities: [...entry.entities],
    outcome: entry.outcome,
    detail: entry.detail ?? null,
    request_id: entry.requestId ?? null,
  };
}

/** Canonical serialisation: a JSON array (unambiguous: strings are quoted and escaped, null is not ""). */
export function auditContent(c: AuditContent): string {
  return JSON.stringify([c.recorded, c.action, c.actor, c.person, c.tenant, c.source, c.entities, c.outcome, c.detail, c.request_id]);
}

export function chainHash(previous: string, c: AuditContent): string {
  return createHash('sha256').update(previous, 'utf8').update('\n', 'utf8').update(auditContent(c), 'utf8').digest('hex');
}

/** The hash of the last row (by id), the previous hash of the next one: the genesis value when it has none. */
export const LAST_AUDIT_HASH = 'SELECT hash FROM audit ORDER BY id DESC LIMIT 1';

export function nextHash(last: { hash: string | null } | undefined, c: AuditContent): string {
  return chainHash(last?.hash ?? AUDIT_GENESIS, c);
}

/** Columns of an insert, in `INSERT_AUDIT_COLUMNS` order (entities as the dialect binds them). */
export const INSERT_AUDIT_COLUMNS = 'recorded, action, actor, person, tenant, source, entities, outcome, detail, request_id, hash';

export function insertValues(c: AuditContent, hash: string, entities: unknown): unknown[] {
  return [c.recorded, c.action, c.actor, c.person, c.tenant, c.source, entities, c.outcome, c.detail, c.request_id, hash];
}

// --- reading ---------------------------------------------------------------------------------------------

/** A row of `audit`. */
export interface AuditTrailRow<S extends ColumnStyle> {
  id: number;
  recorded: string;
  action: string;
  actor: string;
  person: string | null;
  tenant: string | null;
  source: string | null;
  entities: JsonOf<S, string[]>;
  outcome: 'success' | 'failure';
  detail: string | null;
  request_id: string | null;
  hash: string | null;
}

export function trailRecordOf<S extends ColumnStyle>(r: AuditTrailRow<S>, d: RowDecoder<S>): AuditRecord {
  return {
    id: r.id,
    recorded: r.recorded,
    action: r.action,
    actor: r.actor,
    ...(r.person !== null ? { person: r.person } : {}),
    ...(r.tenant !== null ? { tenant: r.tenant } : {}),
    ...(r.source !== null ? { source: r.source } : {}),
    entities: d.json<string[]>(r.entities),
    outcome: r.outcome,
    ...(r.detail !== null ? { detail: r.detail } : {}),
    ...(r.request_id !== null ? { requestId: r.request_id } : {}),
    ...(r.hash !== null ? { hash: r.hash } : {}),
  };
}

/** What a search of the trail selects; every field given must match. */
export interface AuditFilter {
  /** `recorded` ≥ (inclusive) / < (exclusive), ISO instants. */
  from?: string;
  before?: string;
  actor?: string;
  /** A reference the row touched (`Patient/123`), through audit_entities. */
  entity?: string;
  /** Exact action names (any of them). */
  actions?: string[];
  /** Action name patterns (SQL LIKE, any of them) / none of them. */
  actionLike?: string[];
  actionNotLike?: string[];
  outcome?: 'success' | 'failure';
  person?: string;
  /** Rows after this id (export paging). */
  afterId?: number;
  /** These rows only. */
  ids?: number[];
}

export interface AuditPage {
  filter: AuditFilter;
  /** 0…LIST_MAX. */
  count: number;
  offset: number;
  /** Newest first (FHIR search) or by id (export, verify). */
  order: 'desc' | 'asc';
  /** Count every selected row (default true; the export pages without). */
  total?: boolean;
}

function where(f: AuditFilter): { sql: string; params: unknown[]; join: string } {
  const conds: string[] = [];
  const params: unknown[] = [];
  let join = '';
  if (f.entity !== undefined) {
    join = ' JOIN audit_entities e ON e.audit_id = a.id AND e.entity = ?';
    params.push(f.entity);
  }
  const add = (cond: string, ...values: unknown[]): void => {
    conds.push(cond);
    params.push(...values);
  };
  if (f.from !== undefined) add('a.recorded >= ?', f.from);
  if (f.before !== undefined) add('a.recorded < ?', f.before);
  if (f.actor !== undefined) add('a.actor = ?', f.actor);
  if (f.person !== undefined) add('a.person = ?', f.person);
  if (f.outcome !== undefined) add('a.outcome = ?', f.outcome);
  if (f.actions !== undefined) add(`a.action IN (${f.actions.map(() => '?').join(', ') || 'NULL'})`, ...f.actions);
  if (f.actionLike?.length) add(`(${f.actionLike.map(() => 'a.action LIKE ?').join(' OR ')})`, ...f.actionLike);
  if (f.actionNotLike?.length) add(f.actionNotLike.map(() => 'a.action NOT LIKE ?').join(' AND '), ...f.actionNotLike);
  if (f.afterId !== undefined) add('a.id > ?', f.afterId);
  if (f.ids !== undefined) add(`a.id IN (${f.ids.map(() => '?').join(', ') || 'NULL'})`, ...f.ids);
  return { sql: conds.length ? ` WHERE ${conds.join(' AND ')}` : '', params, join };
}

/** A page of the trail and the count of every row the filter selects. */
export function auditSearchStatements(p: AuditPage): { page: Statement; count: Statement } {
  const w = where(p.filter);
  const count = Math.max(0, Math.min(Math.trunc(p.count), LIST_MAX));
  return {
    page: {
      sql: `SELECT a.* FROM audit a${w.join}${w.sql} ORDER BY a.id ${p.order === 'asc' ? 'ASC' : 'DESC'} LIMIT ? OFFSET ?`,
      params: [...w.params, count, Math.max(0, Math.trunc(p.offset))],
    },
    count: { sql: `SELECT count(*) AS n FROM audit a${w.join}${w.sql}`, params: w.params },
  };
}

export const AUDIT_BY_ID = 'SELECT * FROM audit WHERE id = ?';

/** Rows after `afterId`, by id, for walking the chain (`limit` rows at most). */
export const AUDIT_CHAIN_PAGE = 'SELECT * FROM audit WHERE id > ? ORDER BY id LIMIT ?';

/** The audit trail, read back (`ResourceStore.auditTrail`). */
export interface AuditTrail {
  search(page: AuditPage): Promise<{ records: AuditRecord[]; total?: number }>;
  get(id: number): Promise<AuditRecord | undefined>;
  /** Up to `limit` rows after `afterId` in id order, with their hashes (pages of `passerelle audit verify`). */
  chain(afterId: number, limit: number): Promise<AuditRecord[]>;
}

/** The trail over a dialect's reads (`all` binds `?` placeholders) and its row decoder. */
export function auditTrail<S extends ColumnStyle>(all: <R>(sql: string, params: readonly unknown[]) => Promise<R[]>, d: RowDecoder<S>): AuditTrail {
  const records = (rows: AuditTrailRow<S>[]): AuditRecord[] => rows.map((r) => trailRecordOf(r, d));
  return {
    async search(p) {
      const { page, count } = auditSearchStatements(p);
      const rows = p.count > 0 ? await all<AuditTrailRow<S>>(page.sql, page.params) : [];
      if (p.total === false) return { records: records(rows) };
      const [{ n }] = await all<{ n: number }>(count.sql, count.params);
      return { records: records(rows), total: Number(n) };
    },
    async get(id) {
      if (!Number.isSafeInteger(id) || id < 1) return undefined;
      return records(await all<AuditTrailRow<S>>(AUDIT_BY_ID, [id]))[0];
    },
    async chain(afterId, limit) {
      return records(await all<AuditTrailRow<S>>(AUDIT_CHAIN_PAGE, [afterId, Math.max(1, Math.min(limit, 10_000))]));
    },
  };
}
