// Identity anomalies (migration 014 / pg 013, docs/identity.md "Statuses the data does not support"): what a sender
// declared and its data did not support, one row per fault, written in the transaction that registers the identity
// (`tx.identityAnomalies`), read by sender, establishment and kind (`store.identityAnomalies`, the conflict board).
// Shared by both dialects through a `SqlRunner`; the bulk import writes the same rows (sqlite-registry-batch.ts).
import { randomUUID } from 'node:crypto';
import type { IdentityAnomaly } from '../domain/identity-support.js';
import type { SqlRunner } from './security-repository.js';

/** One anomaly as stored. */
export interface StoredIdentityAnomaly extends IdentityAnomaly {
  id: string;
  /** The sender's identifier system, as the registry keeps it (URI). */
  sourceSystem: string;
  sourceId: string;
  /** The sending establishment, when the door knows it (documents). */
  finess?: string;
  created: string;
}

/** Where the anomalies of one registration come from. */
export interface AnomalySource {
  sourceSystem: string;
  sourceId: string;
  finess?: string;
}

export interface AnomalyFilter {
  sourceSystem?: string;
  finess?: string;
  /**
   * The establishment's own feed: anomalies recorded with this FINESS, or from a sender whose system holds it as a
   * whole OID arc (as the review queue's `establishment`).
   */
  establishment?: string;
  code?: string;
  /** Newest first; default 100, at most 1000. */
  limit?: number;
}

/** Written in a transaction (`tx.identityAnomalies`). */
export interface IdentityAnomalyWriter {
  /** Records the anomalies of one registration (nothing for an empty list). */
  record(source: AnomalySource, anomalies: readonly IdentityAnomaly[]): Promise<void>;
}

/** Read outside transactions (`store.identityAnomalies`). */
export interface IdentityAnomalyRepository {
  list(filter?: AnomalyFilter): Promise<StoredIdentityAnomaly[]>;
  /** Anomalies by code, for a sender or an establishment (or all). */
  countsByCode(filter?: Omit<AnomalyFilter, 'code' | 'limit'>): Promise<Record<string, number>>;
}

export const ANOMALY_COLUMNS = 'id, source_system, source_id, finess, code, field, received, kept, created';
/** A row for the bulk writer: the columns of ANOMALY_COLUMNS but `created` (the batch's timestamp). */
export type AnomalyInsertRow = [id: string, sourceSystem: string, sourceId: string, finess: string | null, code: string, field: string, received: string, kept: string];

export function anomalyRows(source: AnomalySource, anomalies: readonly IdentityAnomaly[]): AnomalyInsertRow[] {
  return anomalies.map((a) => [randomUUID(), source.sourceSystem, source.sourceId, source.finess ?? null, a.code, a.field, a.received, a.kept]);
}

interface Row {
  id: string;
  source_system: string;
  source_id: string;
  finess: string | null;
  code: string;
  field: string;
  received: string;
  kept: string;
  created: string;
}

function where(filter: AnomalyFilter): { sql: string; params: unknown[] } {
  const parts: string[] = [];
  const params: unknown[] = [];
  if (filter.sourceSystem !== undefined) (parts.push('source_system = ?'), params.push(filter.sourceSystem));
  if (filter.finess !== undefined) (parts.push('finess = ?'), params.push(filter.finess));
  if (filter.establishment !== undefined) {
    if (!/^\d{9}$/.test(filter.establishment)) throw new Error('identity anomalies: establishment is a 9-digit FINESS');
    parts.push("(finess = ? OR ('.' || source_system || '.') LIKE ?)");
    params.push(filter.establishment, `%.${filter.establishment}.%`);
  }
  if (filter.code !== undefined) (parts.push('code = ?'), params.push(filter.code));
  return { sql: parts.length > 0 ? ` WHERE ${parts.join(' AND ')}` : '', params };
}

export function identityAnomalyWriter(run: SqlRunner, now: () => Date): IdentityAnomalyWriter {
  return {
    async record(source, anomalies) {
      const rows = anomalyRows(source, anomalies);
      if (rows.length === 0) return;
      const created = now().toISOString();
      await run.run(
        `INSERT INTO identity_anomaly (${ANOMALY_COLUMNS}) VALUES ${rows.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
        rows.flatMap((r) => [...r, created]),
      );
    },
  };
}

export function identityAnomalyRepository(read: SqlRunner): IdentityAnomalyRepository {
  return {
    async list(filter = {}) {
      const limit = Math.min(Math.max(1, Math.trunc(filter.limit ?? 100)), 1000);
      const w = where(filter);
      const rows = await read.all<Row>(`SELECT ${ANOMALY_COLUMNS} FROM identity_anomaly${w.sql} ORDER BY created DESC, id LIMIT ?`, [...w.params, limit]);
      return rows.map((r) => ({
        id: r.id,
        sourceSystem: r.source_system,
        sourceId: r.source_id,
        ...(r.finess !== null ? { finess: r.finess } : {}),
        code: r.code as IdentityAnomaly['code'],
        field: r.field as IdentityAnomaly['field'],
        received: r.received,
        kept: r.kept,
        created: r.created,
      }));
    },
    async countsByCode(filter = {}) {
      const w = where(filter);
      const rows = await read.all<{ code: string; n: number | string }>(`SELECT code, COUNT(*) AS n FROM identity_anomaly${w.sql} GROUP BY code ORDER BY code`, w.params);
      return Object.fromEntries(rows.map((r) => [r.code, Number(r.n)]));
    },
  };
}
