// Identity registration without durable writes (issue 3's import target): the matcher's own cost per registration —
// normalise, blocking keys, index lookup, comparison of every candidate, RNIV guards, the decision and the index
// update — over a growing registry, by tenth. No SQL at all: this is the ceiling any import path built on this matcher
// can reach on this machine. In the same run, the real path (IdentityService.registerBatch on SQLite, FHIR Patients
// deferred, as `passerelle identity import` does) over the first FLOOR_BENCH_DURABLE identities of the same stream.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blockingKeys } from '../src/identity/blocking.js';
import { CandidateIndex } from '../src/identity/candidate-index.js';
import { compareIdentities } from '../src/identity/compare.js';
import { guardTwins } from '../src/identity/decide.js';
import { matchCandidates } from '../src/identity/match-candidates.js';
import { matchTraits, normaliseIdentity } from '../src/identity/normalise.js';
import { loadIdentityRules } from '../src/identity/rules.js';
import type { MatchResult, SourceIdentity } from '../src/identity/types.js';
import { DEFAULT_BULK_BATCH } from '../src/services/identity-import.js';
import { IdentityService } from '../src/services/identity-registry.js';
import { openSqliteStore } from '../src/store/sqlite-store.js';
import { iterateIdentities } from '../test/support/identity-generator.js';
import { machine } from './stats.js';

const N = Number(process.env.FLOOR_BENCH_IDENTITIES ?? 1_000_000);
const DURABLE = Math.min(N, Number(process.env.FLOOR_BENCH_DURABLE ?? 100_000));
const SEED = 20260303;
/** FLOOR_BENCH_BASELINE=0 skips the baseline run (every candidate compared in full). */
const WITH_BASELINE = process.env.FLOOR_BENCH_BASELINE !== '0';
const int = (n: number): string => Math.round(n).toLocaleString('en-US');

const rules = loadIdentityRules();

console.log(`machine: ${machine()}; ${int(N)} source identities (seed ${SEED}, 30 % duplicates), no durable writes`);
const identities: SourceIdentity[] = [];
for (const g of iterateIdentities({ seed: SEED, persons: Math.round(N / 1.3), duplicateRate: 0.3 })) {
  identities.push(g.identity);
  if (identities.length >= N) break;
}

/**
 * The registration decision of IdentityService.registerIn, on an in-memory index only: returns the decision and the
 * number of candidates looked at. `everyInFull`: every candidate compared in full (the loop before candidates were
 * dropped from their packed traits), the baseline.
 */
function register(index: CandidateIndex, identity: SourceIdentity, seq: number, everyInFull = false): { decision: 'auto' | 'review' | 'new'; candidates: number } {
  const n = normaliseIdentity(identity);
  const keys = blockingKeys(n);
  const cap = rules.blocking.maxCandidatesPerKey;
  let results: MatchResult[];
  let candidates: number;
  if (everyInFull) {
    const { ids } = index.lookup(keys, cap);
    const scored: MatchResult[] = [];
    for (const id of ids) {
      const e = index.get(id);
      if (!e) continue;
      const r = compareIdentities(n, { federatedId: id, identity: e.identity, flags: e.flags }, rules, { explain: false });
      if (r.grade !== 'certainly-not') scored.push(r);
    }
    results = guardTwins(scored);
    candidates = ids.length;
  } else {
    ({ results, candidates } = matchCandidates(index, n, rules, { cap, keys }));
  }
  const certain = results.filter((r) => r.grade === 'certain');
  const linked = certain.length === 1 ? index.get(certain[0].federatedId) : undefined;
  if (linked) {
    index.set({ ...linked, keys: [...new Set([...linked.keys, ...keys])], seq });
    return { decision: 'auto', candidates };
  }
  index.set({ id: `f${seq}`, identity: matchTraits(n), flags: [], keys, seq, ...(everyInFull ? {} : { derivedKeys: keys }) });
  return { decision: results.length > 0 ? 'review' : 'new', candidates };
}

/** Registers the whole stream into a fresh index: rate overall and by tenth, decisions, candidates per registration. */
function run(everyInFull: boolean): { rate: number; seconds: number; tenths: number[]; decisions: Record<'auto' | 'review' | 'new', number>; candidates: number } {
  const index = new CandidateIndex();
  const decisions = { auto: 0, review: 0, new: 0 };
  const tenths: number[] = [];
  let candidates = 0;
  const start = performance.now();
  let sliceStart = start;
  for (let i = 0; i < identities.length; i++) {
    const r = register(index, identities[i], i + 1, everyInFull);
    decisions[r.decision]++;
    candidates += r.candidates;
    if ((i + 1) % Math.ceil(N / 10) === 0 || i + 1 === identities.length) {
      const now = performance.now();
      tenths.push(Math.ceil(N / 10) / ((now - sliceStart) / 1000));
      sliceStart = now;
    }
  }
  const seconds = (performance.now() - start) / 1000;
  return { rate: identities.length / seconds, seconds, tenths, decisions, candidates: candidates / identities.length };
}

const fast = run(false);
const full = WITH_BASELINE ? run(true) : undefined;

// The real paths over the first DURABLE identities of the same stream: one by one (registerBatch, 1,000 per
// transaction) and the bulk path of `passerelle identity import` on SQLite (openBulk, writes on a worker thread).
const dir = mkdtempSync(join(tmpdir(), 'passerelle-floor-'));
let durableRate = 0;
let bulkRate = 0;
let floorAtDurable = 0;
try {
  const store = await openSqliteStore({ file: join(dir, 'registry.sqlite') });
  const service = new IdentityService(store);
  const t0 = performance.now();
  for (let i = 0; i < DURABLE; i += 1000) await service.registerBatch(identities.slice(i, Math.min(DURABLE, i + 1000)), { actor: 'bench' }, { deferProjection: true });
  durableRate = DURABLE / ((performance.now() - t0) / 1000);
  await store.close();
  const bulkStore = await openSqliteStore({ file: join(dir, 'bulk.sqlite') });
  const bulk = await new IdentityService(bulkStore).openBulk<number>({ ctx: { actor: 'bench' } });
  const t2 = performance.now();
  for (let i = 0; i < DURABLE; i += DEFAULT_BULK_BATCH) await bulk.add(identities.slice(i, Math.min(DURABLE, i + DEFAULT_BULK_BATCH)).map((identity, k) => ({ identity, tag: i + k })));
  await bulk.finish();
  bulkRate = DURABLE / ((performance.now() - t2) / 1000);
  await bulkStore.close();
  // The floor over the same first identities (a fresh index).
  const small = new CandidateIndex();
  const t1 = performance.now();
  for (let i = 0; i < DURABLE; i++) register(small, identities[i], i + 1);
  floorAtDurable = DURABLE / ((performance.now() - t1) / 1000);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const line = (label: string, figure: string, beside = ''): void => console.log(`${label.padEnd(50)}: ${figure}${beside ? `   ${beside}` : ''}`);
const describe = (label: string, r: ReturnType<typeof run>): void => {
  line(label, `${int(r.rate)} identities/s`, `(${r.seconds.toFixed(1)} s; target of issue 3: ≥ 20,000/s with the registry written)`);
  line('  by tenth of the registry', r.tenths.map((x) => `${int(x)}/s`).join(' → '));
  line('  candidates per registration', r.candidates.toFixed(1), `decisions: auto ${int(r.decisions.auto)}, review ${int(r.decisions.review)}, new ${int(r.decisions.new)}`);
};
describe(`matcher only, ${int(N)} identities`, fast);
if (full) {
  describe('  baseline: every candidate compared in full', full);
  line('  speed-up', `${(fast.rate / full.rate).toFixed(2)}×`, `last tenth ${(fast.tenths[fast.tenths.length - 1] / full.tenths[full.tenths.length - 1]).toFixed(2)}×`);
}
line(`real path (registerBatch, SQLite), first ${int(DURABLE)}`, `${int(durableRate)} identities/s`, `matcher only on the same ${int(DURABLE)}: ${int(floorAtDurable)}/s (${(floorAtDurable / durableRate).toFixed(1)}×)`);
line(`bulk path (openBulk, SQLite), first ${int(DURABLE)}`, `${int(bulkRate)} identities/s`, `${(bulkRate / durableRate).toFixed(2)}× registerBatch; ${((100 * bulkRate) / floorAtDurable).toFixed(0)} % of the matcher alone`);
