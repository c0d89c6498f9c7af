// The registry's ordering rules, shared by its two write paths (one registration per call and bulk import batches,
// services/identity-registry.ts and services/identity-bulk.ts): status ranks, flag order, candidate order, key sets.
import type { IdentityFlag, IdentityStatus, MatchResult } from './types.js';

export const STATUS_RANK: Record<IdentityStatus, number> = { PROV: 0, RECUP: 1, VALI: 2, QUAL: 3 };
const FLAG_ORDER: readonly IdentityFlag[] = ['DPOT', 'DOUA', 'COLP', 'COLV', 'HOMD', 'HOMA', 'DOUT', 'FICT', 'DESA'];
/** Flags that only say "an open review item names this identity": recomputed from the queue. */
export const REVIEW_FLAGS: ReadonlySet<IdentityFlag> = new Set(['DPOT', 'COLP']);

export const sortFlags = (flags: Iterable<IdentityFlag>): IdentityFlag[] => FLAG_ORDER.filter((f) => new Set(flags).has(f));
export const byScore = (x: MatchResult, y: MatchResult): number => y.score - x.score || (x.federatedId < y.federatedId ? -1 : 1);
export const union = (a: readonly string[], b: readonly string[]): string[] => [...new Set([...a, ...b])];
/** Two key lists file an identity under the same keys. */
export const sameKeys = (a: readonly string[], b: readonly string[]): boolean => {
  const x = new Set(a);
  const y = new Set(b);
  return x.size === y.size && [...x].every((k) => y.has(k));
};
