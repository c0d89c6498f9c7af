// Rebuilding the report rows (issue 20, docs/reports.md "Rebuilding the report rows"): every case's rows rewritten
// from its stored document, one transaction per case, reading the case ids in pages — after a change of the counting
// rules, or to repair. Link uses are events, not derived from the document: they are kept as they are.
import type { ResourceStore } from '../../store/repository.js';

const PAGE = 500;

/**
 * Rewrites the report rows of every case (or, with `missingOnly`, of the cases that have none: what `serve` does at
 * start after an upgrade from a version without report rows); answers how many cases were rebuilt.
 */
export async function rebuildReports(
  store: Pick<ResourceStore, 'reports' | 'transaction'>,
  options: { onProgress?: (done: number) => void; missingOnly?: boolean } = {},
): Promise<number> {
  let after: string | undefined;
  let count = 0;
  for (;;) {
    const ids = await store.reports.caseIds(after, PAGE, { withoutRows: options.missingOnly === true });
    for (const id of ids) {
      if (await store.transaction((tx) => tx.pathway.refreshReport(id))) count += 1;
    }
    options.onProgress?.(count);
    if (ids.length < PAGE) return count;
    after = ids[ids.length - 1];
  }
}
