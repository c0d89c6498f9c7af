// Who refers to a resource: the reverse lookup behind the referential integrity of FHIR deletes. Every literal
// reference of a stored resource is an index row of the internal parameter `_ref` (src/fhir/search-params.ts), so
// the current resources pointing at `Type/id` are found whatever element holds the reference.
import { R4_RESOURCE_TYPES, REFERENCES_PARAM } from '../fhir/search-params.js';
import type { StoreTransaction } from '../store/repository.js';

/** Referrers listed at most (the answer is a 409 naming them, not a report). */
export const MAX_REFERRERS = 100;
/** Referrers read per resource type and query. */
const PER_TYPE = 20;

/**
 * The current resources whose references point at `Type/id` (`Type/id` keys), at most `limit`, the resource itself
 * and the keys `ignore` says to skip excepted. The index leads with the referring type, so the lookup is one indexed
 * query per resource type.
 */
export async function findReferrers(
  tx: Pick<StoreTransaction, 'search'>,
  resourceType: string,
  id: string,
  ignore: (key: string) => boolean = () => false,
  limit = MAX_REFERRERS,
): Promise<string[]> {
  const self = `${resourceType}/${id}`;
  const found: string[] = [];
  for (const type of R4_RESOURCE_TYPES) {
    let offset = 0;
    for (;;) {
      const page = await tx.search({
        resourceType: type,
        predicates: [{ param: REFERENCES_PARAM.code, prefix: 'eq', values: [self] }],
        count: PER_TYPE,
        offset,
      });
      for (const r of page.resources) {
        const key = `${r.resourceType}/${r.id}`;
        if (key === self || ignore(key)) continue;
        found.push(key);
        if (found.length >= limit) return found;
      }
      if (page.resources.length < PER_TYPE) break;
      offset += PER_TYPE;
    }
  }
  return found;
}
