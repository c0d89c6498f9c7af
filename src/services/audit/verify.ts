// `passerelle audit verify`: walks the audit chain in id order, page by page (millions of rows in constant memory),
// and recomputes each row's hash from the previous one (src/store/audit-trail.ts). The first row whose hash does not
// match — altered, inserted by hand, or following a deleted row — is reported with why. Rows from before the chain
// (no hash, all before the first chained row) are counted as unchained; a gap in the ids is not tampering (sequences
// skip the ids of rolled-back transactions): a deleted row shows as a mismatch on the row after it.
import { AUDIT_GENESIS, chainHash, contentOf } from '../../store/audit-trail.js';
import type { AuditRecord, ResourceStore } from '../../store/repository.js';

export interface BrokenRow {
  id: number;
  recorded: string;
  action: string;
  reason: 'hash mismatch' | 'missing hash';
  /** What the chain says the hash should be. */
  expected: string;
  /** What the row holds (absent for a missing hash). */
  found?: string;
}

export interface ChainReport {
  /** Rows read (up to the first broken one, included). */
  rows: number;
  /** Rows from before the chain (no hash). */
  unchained: number;
  firstId?: number;
  lastId?: number;
  /** The last row's hash: keep it elsewhere to detect a later truncation of the tail. */
  lastHash?: string;
  broken?: BrokenRow;
}

export const VERIFY_PAGE = 5000;

/** Verify the whole chain; stops at the first broken row. `onPage` reports progress (rows so far). */
export async function verifyAuditChain(store: Pick<ResourceStore, 'auditTrail'>, options: { pageSize?: number; onPage?: (rows: number) => void } = {}): Promise<ChainReport> {
  const report: ChainReport = { rows: 0, unchained: 0 };
  let previous: string | undefined; // undefined until the first chained row
  let afterId = 0;
  for (;;) {
    const page: AuditRecord[] = await store.auditTrail.chain(afterId, options.pageSize ?? VERIFY_PAGE);
    if (page.length === 0) break;
    for (const row of page) {
      report.rows++;
      report.firstId ??= row.id;
      report.lastId = row.id;
      if (row.hash === undefined) {
        if (previous === undefined) {
          report.unchained++;
          continue;
        }
        report.broken = { id: row.id, recorded: row.recorded, action: row.action, reason: 'missing hash', expected: chainHash(previous, contentOf(row, row.recorded)) };
        return report;
      }
      const expected = chainHash(previous ?? AUDIT_GENESIS, contentOf(row, row.recorded));
      if (expected !== row.hash) {
        report.broken = { id: row.id, recorded: row.recorded, action: row.action, reason: 'hash mismatch', expected, found: row.hash };
        return report;
      }
      previous = row.hash;
      report.lastHash = row.hash;
    }
    afterId = page[page.length - 1].id;
    options.onPage?.(report.rows);
  }
  return report;
}

/** One line for people: the summary, or the first broken row and why. */
export function chainReportText(r: ChainReport): string {
  if (r.broken) {
    const b = r.broken;
    const why =
      b.reason === 'missing hash'
        ? 'it has no hash although rows before it are chained'
        : 'its hash does not match its content and the previous row (it was altered or inserted by hand, or the row before it was deleted)';
    return `audit chain BROKEN at row ${b.id} (recorded ${b.recorded}, action ${b.action}): ${b.reason}: ${why}`;
  }
  if (r.rows === 0) return 'audit chain: empty (no rows)';
  const chained = r.rows - r.unchained;
  return (
    `audit chain intact: ${r.rows} rows (ids ${r.firstId}–${r.lastId}), ${chained} chained` +
    (r.unchained ? `, ${r.unchained} unchained (written before the chain existed)` : '') +
    (r.lastHash ? `; last hash ${r.lastHash}` : '')
  );
}
