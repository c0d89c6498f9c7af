// The matcher's inner loop, shared by the registry service and the benchmarks: the candidates the blocking index
// gives for a query, each dropped cheaply from its packed traits when it cannot reach review, the others compared in
// full and graded; then the twin guard across them. Pure: no I/O.
import { blockingKeys } from './blocking.js';
import { PackedTraitsView, type CandidateIndex, type IndexOverlay } from './candidate-index.js';
import { compareIdentities, isCertainlyNotPacked } from './compare.js';
import { guardTwins } from './decide.js';
import type { IdentityRules } from './rules.js';
import type { MatchResult, NormalisedIdentity } from './types.js';

export interface MatchCandidatesOptions {
  /** Candidates taken per blocking key (hot-block cap). */
  cap: number;
  /** The running transaction's index changes (its own writes are candidates too). */
  overlay?: IndexOverlay;
  /** Federated ids never proposed (the query's own identity, pairs humans decided). */
  exclude?: ReadonlySet<string>;
  /** `blockingKeys(n)`, when the caller already has them. */
  keys?: readonly string[];
}

export interface CandidateMatches {
  /** Candidates not graded `certainly-not`, twin guard applied, in candidate order. */
  results: MatchResult[];
  /** Candidates looked at. */
  candidates: number;
}

const view = new PackedTraitsView();

export function matchCandidates(index: CandidateIndex, n: NormalisedIdentity, rules: IdentityRules, options: MatchCandidatesOptions): CandidateMatches {
  const { overlay, exclude } = options;
  const { ids, packed } = index.lookup(options.keys ?? blockingKeys(n), options.cap, overlay);
  const out: MatchResult[] = [];
  let candidates = 0;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (exclude?.has(id)) continue;
    candidates++;
    const traits = packed[i];
    if (traits !== undefined && isCertainlyNotPacked(n, view.read(traits), rules)) continue;
    const e = index.get(id, overlay);
    if (!e) continue;
    const r = compareIdentities(n, { federatedId: id, identity: e.identity, flags: e.flags }, rules, { explain: false });
    if (r.grade !== 'certainly-not') out.push(r);
  }
  return { results: guardTwins(out), candidates };
}
