// Who refers to a resource: the reverse lookup behind the referential integrity of FHIR deletes. Every literal
// reference of a stored resource is an index row of the internal parameter `_ref` (src/fhir/search-params.ts), so
// the current resources pointing at `Type/id` are found whatever element holds the reference, in one indexed query
// (`StoreTransaction.referrers`).
import type { StoreTransaction } from '../store/repository.js';

/** Referrers listed at most (the answer is a 409 naming them, not a report). */
export const MAX_REFERRERS = 100;

/**
 * The current resources whose references point at `Type/id` (`Type/id` keys), at most `limit`, the resource itself
 * and the keys `ignore` says to skip excepted. Skipped keys take places in a page, so pages are read (each larger than
 * the last) until `limit` are kept or the referrers run out.
 */
export async function findReferrers(
  tx: Pick<StoreTransaction, 'referrers'>,
  resourceType: string,
  id: string,
  ignore: (key: string) => boolean = () => false,
  limit = MAX_REFERRERS,
): Promise<string[]> {
  if (limit <= 0) return [];
  const self = `${resourceType}/${id}`;
  // The resource itself may be among them: one place more.
  let ask = limit + 1;
  for (;;) {
    const rows = await tx.referrers(resourceType, id, ask);
    const found: string[] = [];
    for (const r of rows) {
      const key = `${r.type}/${r.id}`;
      if (key === self || ignore(key)) continue;
      found.push(key);
      if (found.length >= limit) return found;
    }
    if (rows.length < ask) return found;
    // Skipped keys took places of the page (those a Bundle deletes or rewrites): read a larger one.
    ask *= 2;
  }
}
