// Identity service (issue 3), everything through the real IdentityService on a real SQLite file. Accuracy part: one
// by one (`registerBatch(…, { deferProjection: true })`, then `drainProjections()`); scale part: the bulk path
// `passerelle identity import` takes on SQLite (`openBulk`: same decisions, batches written on a worker thread).
// Accuracy (ACCURACY sources): generated French source identities registered in order, scored against the generator's
// ground truth; baseline in the same run: a weight-only Fellegi–Sunter matcher (same blocking keys and comparison
// vector, no RNIV guards). Also: the registry import rate, the time to write the FHIR Patients after it, and `match`
// latency (in process and over HTTP) against a full scan of every identity.
// Scale (SCALE sources, own process): the registry built by the same bulk registration, fresh file — THE import
// rate (whole run and per decile), decisions, RSS; the FHIR Patients are left pending. Then the restart cost (index
// load by a new service), `match` latency at that size against held-out queries (the true person judged from what the
// registrations returned), and TAIL live registrations on top.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { startServer, type AppDeps } from '../src/api/app.js';
import { configFrom } from '../src/config.js';
import { assertValid } from '../src/fhir/validate.js';
import { blockingKeys } from '../src/identity/blocking.js';
import { compareIdentities } from '../src/identity/compare.js';
import { normaliseIdentity } from '../src/identity/normalise.js';
import type { BulkRegistrar } from '../src/services/identity-bulk.js';
import { IdentityService, type RegistrationDecision, type RegistrationResult } from '../src/services/identity-registry.js';
import { DEFAULT_BULK_BATCH } from '../src/services/identity-import.js';
import { configureAccessAudit } from '../src/services/audit/access.js';
import { identityServiceFor } from '../src/services/patient-identity.js';
import { loadIdentityRules, type IdentityRules } from '../src/identity/rules.js';
import type { Candidate, MatchResult, NormalisedIdentity } from '../src/identity/types.js';
import type { ResourceStore } from '../src/store/repository.js';
import { openSqliteStore } from '../src/store/sqlite-store.js';
import {
  CORRUPTION_KINDS,
  iterateIdentities,
  toFhirPatient,
  type GeneratedIdentity,
  type HardCaseKind,
} from '../test/support/identity-generator.js';
import { machine, peakRssMiB } from './stats.js';

const env = (name: string, fallback: number): number => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name}: expected a number ≥ 0`);
  return v;
};
const SEED = env('IDENTITY_BENCH_SEED', 20260303);
/** Source identities registered for the accuracy figures (0 skips the part). */
const ACCURACY = env('IDENTITY_BENCH_ACCURACY', 100_000);
/** Source identities registered for the scale figures (import rate, restart, latency; 0 skips the part). */
const SCALE = env('IDENTITY_BENCH_SCALE', 1_000_000);
/** Held-out corrupted copies used as `match` queries, at each size. */
const QUERIES = env('IDENTITY_BENCH_QUERIES', 1000);
/** Time box of the full-scan baseline (it costs ~linear in the registry size per query). */
const FULLSCAN_SECONDS = env('IDENTITY_BENCH_FULLSCAN_SECONDS', 15);
/** Live registrations (matching, registry, FHIR Patients, audit in the transaction) timed on top of the large registry. */
const TAIL = env('IDENTITY_BENCH_TAIL', 2000);
const BATCH = Math.max(1, env('IDENTITY_BENCH_BATCH', 1000));
/** Scale part: identities per transaction of the bulk path (`passerelle identity import`'s default on SQLite). */
const BULK_BATCH = Math.max(1, env('IDENTITY_BENCH_BULK_BATCH', DEFAULT_BULK_BATCH));
/** Scale part: write the pending FHIR Patients, then measure `$match` over HTTP on the large registry (0 skips it). */
const HTTP_AT_SCALE = env('IDENTITY_BENCH_HTTP_AT_SCALE', 1) > 0;
const DUPLICATE_RATE = 0.3;
const CTX = { actor: 'bench' };
const RESULTS = 10;

const rules = loadIdentityRules();
const here = fileURLToPath(new URL('.', import.meta.url));
const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const pct = (x: number, of: number, digits = 2): string => (of === 0 ? 'n/a' : `${((100 * x) / of).toFixed(digits)} %`);
const ms = (x: number): string => `${x.toFixed(3)} ms`;
const line = (label: string, figure: string, beside = ''): void => console.log(`${label.padEnd(46)}: ${figure}${beside ? `   ${beside}` : ''}`);
const rssMiB = (): number => process.memoryUsage().rss / 2 ** 20;
const choose2 = (n: number): number => (n * (n - 1)) / 2;

interface Percentiles {
  n: number;
  mean: number;
  p50: number;
  p99: number;
  max: number;
}
function percentiles(samples: readonly number[]): Percentiles {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
  return { n: s.length, mean: s.reduce((a, b) => a + b, 0) / Math.max(1, s.length), p50: at(0.5), p99: at(0.99), max: s[s.length - 1] ?? NaN };
}
const latency = (p: Percentiles): string => `p50 ${ms(p.p50)}  p99 ${ms(p.p99)}  (${int(p.n)} queries)`;

/**
 * Persons to generate so that the stream holds about `sources` identities (extra copies ~ duplicateRate). The end of
 * a stream is all late copies, so cutting it short lowers the duplicate share: `slack` > 1 only where that is harmless.
 */
const personsFor = (sources: number, slack = 1): number => Math.ceil(sources * (1 - DUPLICATE_RATE) * slack);

/** Every `step`-th corrupted extra copy is held out of the registry, as a `match` query, until `max` are taken. */
class HoldOut {
  readonly queries: GeneratedIdentity[] = [];
  private seen = 0;
  constructor(
    private readonly step: number,
    private readonly max: number,
  ) {}
  take(g: GeneratedIdentity): boolean {
    if (this.queries.length >= this.max || g.copy === 0 || g.corruptions.length === 0) return false;
    if (this.seen++ % this.step !== 0) return false;
    this.queries.push(g);
    return true;
  }
}
// About 12 % of a stream are corrupted extra copies (30 % copies × 40 % corrupted): spread the queries over it.
const holdOutStep = (sources: number): number => Math.max(1, Math.floor((sources * 0.1) / Math.max(1, QUERIES)));

// ---- accuracy ledger ----------------------------------------------------------------------------------------------

interface Tally {
  pairs: number;
  auto: number;
  covered: number;
}
const tally = (): Tally => ({ pairs: 0, auto: 0, covered: 0 });

interface RegisteredSource {
  federatedId: string;
  corruptions: readonly string[];
  identity: GeneratedIdentity['identity'];
}

/** Why a true pair was neither auto-linked nor proposed, judged on the two source identities themselves. */
type MissCause = 'no shared blocking key' | 'shared key, graded certainly-not' | 'shared key, graded possible or better';

interface PairFigures {
  truePairs: number;
  autoPairs: number;
  autoTrue: number;
  covered: number;
  closure: number;
  perKind: Map<string, Tally>;
  misses: Map<MissCause, Map<string, number>>;
  missWeights: number[];
}

/** Ground truth vs decisions: who is in which federated identity, which review items connect which. */
class Ledger {
  /** federated id → person id → number of its sources there. */
  readonly members = new Map<string, Map<string, number>>();
  /** person id → its registered sources, in order. */
  readonly sourcesOf = new Map<string, RegisteredSource[]>();
  readonly hardCases = new Map<string, { kind: HardCaseKind; of: string }>();
  /** Review edges between federated identities (`a\u001fb`, a < b). */
  readonly edges = new Set<string>();
  readonly decisions: Record<RegistrationDecision, number> = { 'auto-linked': 0, review: 0, new: 0, known: 0 };
  registrations = 0;
  extraCopies = 0;
  reviewItems = 0;
  reviewItemsRight = 0;
  /** Review items naming two different persons, by the comparison levels the matcher saw (signature → count). */
  readonly wrongBySignature = new Map<string, number>();
  /** Review items naming one person, by the same signature (to see what a rule on a signature would lose). */
  readonly rightBySignature = new Map<string, number>();
  /** Right review items by what damaged the pair: typo, damaged date, both, another corruption, none. */
  readonly rightByDamage = new Map<string, number>();
  /** Right review items by corruption kind (the two sides' kinds together; an item counts once per kind). */
  readonly rightByKind = new Map<string, number>();
  /** Wrong review items by hard case: twin, homonym, other (unrelated persons). */
  readonly wrongByKind: Record<HardCaseKind | 'other', number> = { twin: 0, homonym: 0, other: 0 };
  falseAutoLinks = 0;
  readonly falseByKind: Record<HardCaseKind | 'other', number> = { twin: 0, homonym: 0, other: 0 };
  readonly hard: Record<HardCaseKind, { n: number; falseAuto: number; reviewedWithPartner: number; review: number }> = {
    twin: { n: 0, falseAuto: 0, reviewedWithPartner: 0, review: 0 },
    homonym: { n: 0, falseAuto: 0, reviewedWithPartner: 0, review: 0 },
  };

  private pairKind(p: string, q: string): HardCaseKind | 'other' {
    const hp = this.hardCases.get(p);
    if (hp?.of === q) return hp.kind;
    const hq = this.hardCases.get(q);
    return hq?.of === p ? hq.kind : 'other';
  }

  /** One registration, in stream order; `candidates`: the review items it opened (candidate id and comparison). */
  record(g: GeneratedIdentity, r: RegistrationResult, candidates: readonly ReviewedCandidate[]): void {
    const p = g.personId;
    this.registrations++;
    this.decisions[r.decision]++;
    let own = this.sourcesOf.get(p);
    if (!own) this.sourcesOf.set(p, (own = []));
    else this.extraCopies++;
    own.push({ federatedId: r.federatedId, corruptions: g.corruptions, identity: g.identity });
    const hard = g.person.hardCase;
    if (hard) {
      this.hardCases.set(p, hard);
      this.hard[hard.kind].n++;
    }
    if (r.decision === 'auto-linked') {
      const m = this.members.get(r.federatedId);
      if (!m) throw new Error(`auto-linked to an unknown federated identity ${r.federatedId}`);
      const others = [...m.keys()].filter((q) => q !== p);
      if (others.length > 0) {
        this.falseAutoLinks++;
        this.falseByKind[this.pairKind(p, others[0])]++;
        if (hard) this.hard[hard.kind].falseAuto++;
      }
      m.set(p, (m.get(p) ?? 0) + 1);
      return;
    }
    if (r.decision === 'known') throw new Error('a generated source id was registered twice');
    this.members.set(r.federatedId, new Map([[p, 1]]));
    for (const { federatedId: c, comparison } of candidates) {
      this.edges.add(edgeKey(r.federatedId, c));
      this.reviewItems++;
      const sig = signature(comparison);
      const m = this.members.get(c);
      if (m?.has(p)) {
        this.reviewItemsRight++;
        bump(this.rightBySignature, sig);
        const kinds = new Set<string>(g.corruptions);
        for (const s of own) if (s.federatedId === c) for (const k of s.corruptions) kinds.add(k);
        const typo = kinds.has('typo');
        const date = [...kinds].some((k) => DATE_DAMAGE.has(k));
        bump(this.rightByDamage, typo && date ? 'typo and damaged date' : typo ? 'typo (date intact)' : date ? 'damaged date (no typo)' : kinds.size > 0 ? 'other corruptions only' : 'no corruption');
        for (const k of kinds.size === 0 ? ['(none)'] : kinds) bump(this.rightByKind, k);
      } else {
        bump(this.wrongBySignature, sig);
        this.wrongByKind[m ? this.pairKind(p, [...m.keys()][0]) : 'other']++;
      }
      if (hard && m?.has(hard.of)) this.hard[hard.kind].reviewedWithPartner++;
    }
    if (hard && r.decision === 'review') this.hard[hard.kind].review++;
  }

  /**
   * Pairwise figures over the true pairs (two sources of one person): auto-linked = same federated identity;
   * proposed = their federated identities are the two sides of a review item; closure = joined by review items whose
   * two sides share a person (what a referent who accepts every right proposal, and only those, ends up merging).
   */
  pairs(): PairFigures {
    let autoPairs = 0;
    for (const m of this.members.values()) {
      let size = 0;
      for (const c of m.values()) size += c;
      autoPairs += choose2(size);
    }
    const parent = new Map<string, string>();
    const find = (x: string): string => {
      let r = x;
      for (let up = parent.get(r); up !== undefined && up !== r; up = parent.get(r)) r = up;
      return r;
    };
    for (const e of this.edges) {
      const [a, b] = e.split('\u001f');
      const ma = this.members.get(a);
      const mb = this.members.get(b);
      if (!ma || !mb || ![...ma.keys()].some((p) => mb.has(p))) continue;
      const ra = find(a);
      const rb = find(b);
      if (ra !== rb) parent.set(ra, rb);
    }
    const out: PairFigures = { truePairs: 0, autoPairs, autoTrue: 0, covered: 0, closure: 0, perKind: new Map(), misses: new Map(), missWeights: [] };
    for (const sources of this.sourcesOf.values()) {
      for (let j = 1; j < sources.length; j++) {
        for (let i = 0; i < j; i++) {
          const a = sources[i];
          const b = sources[j];
          const auto = a.federatedId === b.federatedId;
          const covered = auto || this.edges.has(edgeKey(a.federatedId, b.federatedId));
          out.truePairs++;
          if (auto) out.autoTrue++;
          if (covered) out.covered++;
          if (find(a.federatedId) === find(b.federatedId)) out.closure++;
          const kinds = [...new Set([...a.corruptions, ...b.corruptions])].sort();
          for (const k of kinds.length === 0 ? ['(none)'] : kinds) {
            let t = out.perKind.get(k);
            if (!t) out.perKind.set(k, (t = tally()));
            t.pairs++;
            if (auto) t.auto++;
            if (covered) t.covered++;
          }
          if (!covered) this.diagnose(a, b, kinds, out);
        }
      }
    }
    return out;
  }

  private diagnose(a: RegisteredSource, b: RegisteredSource, kinds: readonly string[], out: PairFigures): void {
    const na = normaliseIdentity(a.identity);
    const nb = normaliseIdentity(b.identity);
    const keysA = new Set(blockingKeys(na));
    const shared = blockingKeys(nb).some((k) => keysA.has(k));
    const r = compareIdentities(nb, { federatedId: '', identity: na, flags: [] }, rules);
    const cause: MissCause = !shared ? 'no shared blocking key' : r.grade === 'certainly-not' ? 'shared key, graded certainly-not' : 'shared key, graded possible or better';
    if (r.grade === 'certainly-not') out.missWeights.push(r.weight);
    let byKinds = out.misses.get(cause);
    if (!byKinds) out.misses.set(cause, (byKinds = new Map()));
    const label = kinds.length === 0 ? '(none)' : kinds.join('+');
    byKinds.set(label, (byKinds.get(label) ?? 0) + 1);
  }
}

/** A review item as the bench reads it back: the candidate it names and the comparison stored with it. */
interface ReviewedCandidate {
  federatedId: string;
  comparison: MatchResult;
}
const DATE_DAMAGE: ReadonlySet<string> = new Set(['day-month-swap', 'partial-date', 'default-date']);
const bump = (m: Map<string, number>, k: string): void => {
  m.set(k, (m.get(k) ?? 0) + 1);
};
const SHORT: Record<string, string> = { ins: 'ins', birthName: 'name', givenName: 'given', birthDate: 'date', sex: 'sex', birthPlace: 'place' };
/** The comparison levels of a review item, e.g. `name exact · given exact · date different · sex different · place different · ins missing`. */
const signature = (r: MatchResult): string =>
  ['birthName', 'givenName', 'birthDate', 'sex', 'birthPlace', 'ins'].map((f) => `${SHORT[f]} ${r.comparisons.find((c) => c.field === f)?.level ?? '?'}`).join(' · ');

const edgeKey = (x: string, y: string): string => (x < y ? `${x}\u001f${y}` : `${y}\u001f${x}`);

/**
 * Baseline: a plain Fellegi–Sunter linker as most MPIs run it. Same blocking keys (100 per key), same comparison
 * vector and weights; each source is linked to the cluster of its best-weighted earlier source when the weight
 * reaches the `probable` threshold — no RNIV status, INS or homonym guard. In memory.
 */
class WeightOnlyLinker {
  private readonly byKey = new Map<string, number[]>();
  private readonly identities: NormalisedIdentity[] = [];
  private readonly cluster: number[] = [];
  private readonly persons: string[] = [];
  /** cluster → person → sources. */
  private readonly members = new Map<number, Map<string, number>>();
  falseAutoLinks = 0;
  autoLinks = 0;

  constructor(private readonly rules: IdentityRules) {}

  register(identity: GeneratedIdentity['identity'], personId: string): void {
    const n = normaliseIdentity(identity);
    const keys = blockingKeys(n);
    const seen = new Set<number>();
    let best = -1;
    let bestWeight = -Infinity;
    for (const k of keys) {
      for (const c of this.byKey.get(k) ?? []) {
        if (seen.has(c)) continue;
        seen.add(c);
        const w = compareIdentities(n, { federatedId: '', identity: this.identities[c], flags: [] }, this.rules).weight;
        if (w > bestWeight) [best, bestWeight] = [c, w];
      }
    }
    const i = this.identities.length;
    this.identities.push(n);
    this.persons.push(personId);
    for (const k of keys) {
      let block = this.byKey.get(k);
      if (!block) this.byKey.set(k, (block = []));
      if (block.length < 100) block.push(i);
    }
    let cl = i;
    if (best >= 0 && bestWeight >= this.rules.thresholds.probable) {
      cl = this.cluster[best];
      this.autoLinks++;
      const m = this.members.get(cl) as Map<string, number>;
      if ([...m.keys()].some((p) => p !== personId)) this.falseAutoLinks++;
    }
    this.cluster.push(cl);
    let m = this.members.get(cl);
    if (!m) this.members.set(cl, (m = new Map()));
    m.set(personId, (m.get(personId) ?? 0) + 1);
  }

  pairs(): { autoPairs: number; autoTrue: number } {
    let autoPairs = 0;
    let autoTrue = 0;
    for (const m of this.members.values()) {
      let size = 0;
      for (const c of m.values()) {
        size += c;
        autoTrue += choose2(c);
      }
      autoPairs += choose2(size);
    }
    return { autoPairs, autoTrue };
  }
}

// ---- matching helpers -------------------------------------------------------------------------------------------

const byScore = (x: MatchResult, y: MatchResult): number => y.score - x.score || (x.federatedId < y.federatedId ? -1 : 1);

/** The full-scan matcher: every active federated identity, normalised once and kept in memory, scored per query. */
async function loadAllCandidates(store: ResourceStore): Promise<Candidate[]> {
  const out: Candidate[] = [];
  for await (const f of store.identities.activeFederated()) out.push({ federatedId: f.id, identity: normaliseIdentity(f.traits), flags: f.flags });
  return out;
}

function fullScanMatch(query: GeneratedIdentity['identity'], candidates: readonly Candidate[]): MatchResult[] {
  const n = normaliseIdentity(query);
  const results: MatchResult[] = [];
  for (const c of candidates) {
    const r = compareIdentities(n, c, rules);
    if (r.grade !== 'certainly-not') results.push(r);
  }
  return results.sort(byScore).slice(0, RESULTS);
}

interface QueryRun {
  latencies: number[];
  found: number;
  /** Per query: the true person was among the results. */
  hits: boolean[];
}

/** Runs `match` for each query (after one untimed warm-up pass); `isSame(fedId, query)` checks the ground truth. */
async function runQueries(
  queries: readonly GeneratedIdentity[],
  match: (q: GeneratedIdentity) => Promise<readonly { federatedId: string }[]>,
  isSame: (federatedId: string, q: GeneratedIdentity) => boolean,
  warmup = true,
): Promise<QueryRun> {
  if (warmup) for (const q of queries) await match(q);
  const latencies: number[] = [];
  const hits: boolean[] = [];
  for (const q of queries) {
    const t0 = performance.now();
    const results = await match(q);
    latencies.push(performance.now() - t0);
    hits.push(results.some((r) => isSame(r.federatedId, q)));
  }
  return { latencies, found: hits.filter(Boolean).length, hits };
}

/** POST /fhir/Patient/$match over real HTTP, when the operation exists; otherwise says why it was skipped. */
async function httpMatch(
  store: ResourceStore,
  queries: readonly GeneratedIdentity[],
  isSame: (federatedId: string, q: GeneratedIdentity) => boolean,
  inProcess: Percentiles,
  /** Label suffix, e.g. the registry size. */
  at = '',
): Promise<void> {
  if (!existsSync(join(here, '../src/api/fhir-match-operation.ts'))) {
    line('$match over HTTP', 'skipped: src/api/fhir-match-operation.ts does not exist yet');
    return;
  }
  const config = configFrom({ port: 0, log: { level: 'silent' } });
  // As `passerelle serve`: the access rows of reads as configured (group commit by default, not one transaction each).
  configureAccessAudit(store, { mode: config.audit.reads });
  const deps: AppDeps = { store, config, logger: pino({ level: 'silent' }) };
  const server = await startServer(deps);
  try {
    const post = async (q: GeneratedIdentity): Promise<{ federatedId: string }[]> => {
      const body = { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: toFhirPatient(q.identity) }, { name: 'count', valueInteger: RESULTS }] };
      const res = await fetch(`${server.url}/fhir/Patient/$match`, {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json' },
        body: JSON.stringify(body),
      });
      const json = (await res.json()) as { resourceType?: string; entry?: { resource?: { id?: string } }[] };
      if (res.status !== 200 || json.resourceType !== 'Bundle') throw new Error(`HTTP ${res.status} ${JSON.stringify(json).slice(0, 200)}`);
      return (json.entry ?? []).flatMap((e) => (e.resource?.id ? [{ federatedId: e.resource.id }] : []));
    };
    try {
      await post(queries[0]);
    } catch (e) {
      line('$match over HTTP', `skipped: the endpoint does not answer a searchset yet (${(e as Error).message})`);
      return;
    }
    for (const q of queries.slice(0, 100)) await post(q);
    const run = await runQueries(queries, post, isSame, false);
    const p = percentiles(run.latencies);
    line(`POST /fhir/Patient/$match over HTTP${at ? ` ${at}` : ''}`, latency(p), `in process p50 ${ms(inProcess.p50)} p99 ${ms(inProcess.p99)}; true person returned ${pct(run.found, queries.length, 1)} (keep-alive, sequential)`);
  } finally {
    await server.close();
  }
}

// ---- part 1: accuracy on the real service -----------------------------------------------------------------------

interface AccuracyOutcome {
  store: ResourceStore;
  service: IdentityService;
  ledger: Ledger;
  queries: GeneratedIdentity[];
}

async function accuracy(dir: string): Promise<AccuracyOutcome> {
  const store = await openSqliteStore({ file: join(dir, 'accuracy.sqlite') });
  const service = new IdentityService(store);
  const ledger = new Ledger();
  const baseline = new WeightOnlyLinker(rules);
  const holdOut = new HoldOut(holdOutStep(ACCURACY), QUERIES);
  const chunkRates: string[] = [];
  let importSeconds = 0;
  let baselineSeconds = 0;
  let chunkStart = 0;
  let chunkSeconds = 0;
  const chunk = Math.max(BATCH, Math.round(ACCURACY / 5));

  let batch: GeneratedIdentity[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const t0 = performance.now();
    const results = await service.registerBatch(
      batch.map((g) => g.identity),
      CTX,
      { deferProjection: true },
    );
    const seconds = (performance.now() - t0) / 1000;
    importSeconds += seconds;
    chunkSeconds += seconds;
    for (let i = 0; i < batch.length; i++) {
      const r = results[i];
      const candidates: ReviewedCandidate[] = [];
      for (const id of r.reviewIds ?? []) {
        const review = await store.identities.getReview(id);
        if (review) candidates.push({ federatedId: review.candidateFederatedId, comparison: review.comparison });
      }
      ledger.record(batch[i], r, candidates);
    }
    const t1 = performance.now();
    for (const g of batch) baseline.register(g.identity, g.personId);
    baselineSeconds += (performance.now() - t1) / 1000;
    batch = [];
    if (ledger.registrations - chunkStart >= chunk) {
      chunkRates.push(`${int((ledger.registrations - chunkStart) / chunkSeconds)}/s`);
      chunkStart = ledger.registrations;
      chunkSeconds = 0;
    }
  };
  let warm = false;
  for (const g of iterateIdentities({ seed: SEED, persons: personsFor(ACCURACY + QUERIES), duplicateRate: DUPLICATE_RATE })) {
    if (!warm) {
      assertValid(toFhirPatient(g.identity)); // loads the FHIR definitions outside the timing, as a running gateway has
      warm = true;
    }
    if (ledger.registrations + batch.length >= ACCURACY) break;
    if (holdOut.take(g)) continue;
    batch.push(g);
    if (batch.length >= BATCH) await flush();
  }
  await flush();
  // The stream may end a little short of ACCURACY: the last fifth is then what is left.
  if (ledger.registrations > chunkStart) chunkRates.push(`${int((ledger.registrations - chunkStart) / chunkSeconds)}/s`);
  // The FHIR Patients of the registry, written after it (as `passerelle identity import` does).
  const t0 = performance.now();
  const projected = await service.drainProjections();
  const projectionSeconds = (performance.now() - t0) / 1000;
  const leftPending = await store.identities.countProjectionPending();

  const n = ledger.registrations;
  const persons = ledger.sourcesOf.size;
  const pairs = ledger.pairs();
  const base = baseline.pairs();
  console.log(`\n### accuracy: ${int(n)} source identities registered in order (seed ${SEED}, ${int(persons)} persons, ${int(ledger.extraCopies)} extra copies = ${pct(ledger.extraCopies, n, 1)})`);
  console.log(`real IdentityService.registerBatch (${BATCH} per transaction, deferProjection) on a SQLite file, then drainProjections; ${int(holdOut.queries.length)} more corrupted copies held out as match queries`);
  console.log(`baseline: weight-only Fellegi–Sunter linker (same keys, vector and weights; link at weight ≥ ${rules.thresholds.probable}, no RNIV guard), in memory`);
  line('false auto-links (target 0)', int(ledger.falseAutoLinks), `baseline ${int(baseline.falseAutoLinks)}`);
  line('  of which twins / homonyms / other', `${ledger.falseByKind.twin} / ${ledger.falseByKind.homonym} / ${ledger.falseByKind.other}`);
  line('auto-link pairwise precision', pct(pairs.autoTrue, pairs.autoPairs, 3), `baseline ${pct(base.autoTrue, base.autoPairs, 3)}`);
  line('auto-link pairwise recall', pct(pairs.autoTrue, pairs.truePairs), `baseline ${pct(base.autoTrue, pairs.truePairs)}  (${int(pairs.truePairs)} true pairs)`);
  line('decisions auto / review / new', `${int(ledger.decisions['auto-linked'])} / ${int(ledger.decisions.review)} / ${int(ledger.decisions.new)}`, `baseline auto ${int(baseline.autoLinks)}`);
  line('review rate (registrations sent to review)', pct(ledger.decisions.review, n), 'baseline 0 % (it never asks)');
  line('review items opened / naming the same person', `${int(ledger.reviewItems)} / ${int(ledger.reviewItemsRight)} (${pct(ledger.reviewItemsRight, ledger.reviewItems, 1)})`, `${(ledger.reviewItems / Math.max(1, ledger.decisions.review)).toFixed(2)} items per review registration`);
  const wrong = ledger.reviewItems - ledger.reviewItemsRight;
  line('  naming two different persons', `${int(wrong)} (${pct(wrong, ledger.reviewItems, 1)})`, `twins ${int(ledger.wrongByKind.twin)}, homonyms ${int(ledger.wrongByKind.homonym)}, unrelated ${int(ledger.wrongByKind.other)}`);
  const damage = (k: string): number => ledger.rightByDamage.get(k) ?? 0;
  const typoOrDate = damage('typo and damaged date') + damage('typo (date intact)') + damage('damaged date (no typo)');
  line('  naming one person, after a typo or damaged date', `${int(typoOrDate)} (${pct(typoOrDate, ledger.reviewItemsRight, 1)} of the right items)`, [...ledger.rightByDamage].sort((x, y) => y[1] - x[1]).map(([k, c]) => `${k} ${int(c)}`).join(', '));
  console.log('  right review items by corruption kind (either side; an item counts once per kind):');
  console.log(`    ${[...ledger.rightByKind].sort((x, y) => y[1] - x[1]).map(([k, c]) => `${k} ${int(c)}`).join(', ')}`);
  console.log('  wrong review items by comparison levels (commonest; right items with the same levels beside):');
  for (const [sig, c] of [...ledger.wrongBySignature].sort((x, y) => y[1] - x[1]).slice(0, 12)) {
    console.log(`    ${int(c).padStart(6)} wrong ${int(ledger.rightBySignature.get(sig) ?? 0).padStart(6)} right   ${sig}`);
  }
  line('auto+review pairwise recall (target ≥ 99.5 %)', pct(pairs.covered, pairs.truePairs), `baseline (auto only) ${pct(base.autoTrue, pairs.truePairs)}`);
  line('  after accepting every right proposal', pct(pairs.closure, pairs.truePairs), '(review items joining identities of one person, merged transitively)');
  console.log('per corruption kind (true pairs where either copy carries it; a copy may carry 2–3 kinds):');
  for (const k of ['(none)', ...CORRUPTION_KINDS]) {
    const t = pairs.perKind.get(k);
    if (!t) continue;
    line(`  ${k}`, `auto ${pct(t.auto, t.pairs, 1).padStart(8)}   auto+review ${pct(t.covered, t.pairs, 1).padStart(8)}`, `(${int(t.pairs)} pairs)`);
  }
  const missed = pairs.truePairs - pairs.covered;
  console.log(`missed true pairs (${int(missed)}), by cause on the two source identities, with their commonest corruption sets:`);
  for (const [cause, byKinds] of pairs.misses) {
    const total = [...byKinds.values()].reduce((x, y) => x + y, 0);
    const top = [...byKinds].sort((x, y) => y[1] - x[1]).slice(0, 4).map(([k, c]) => `${k} ${c}`).join(', ');
    line(`  ${cause}`, `${int(total)} (${pct(total, missed, 0)})`, top);
  }
  if (pairs.missWeights.length > 0) {
    const w = percentiles(pairs.missWeights);
    line('  weights of the certainly-not misses', `p50 ${w.p50.toFixed(1)}  p99 ${w.p99.toFixed(1)}  max ${w.max.toFixed(1)}`, `(possible threshold ${rules.thresholds.possible})`);
  }
  for (const kind of ['twin', 'homonym'] as const) {
    const h = ledger.hard[kind];
    line(`${kind}s: registrations / false auto-links`, `${int(h.n)} / ${int(h.falseAuto)}`, `sent to review ${int(h.review)}, ${int(h.reviewedWithPartner)} of them against the ${kind}`);
  }
  line('registry import rate (registerBatch, deferred)', `${int(n / importSeconds)} identities/s`, `${importSeconds.toFixed(1)} s; by fifths: ${chunkRates.join(' → ')}; baseline linker ${int(n / baselineSeconds)}/s (in memory, no writes)`);
  line(
    'FHIR Patients written after the registry',
    `${int(projected / projectionSeconds)} federated identities/s`,
    `drainProjections: ${int(projected)} federated Patients and their ${int(n)} source Patients in ${projectionSeconds.toFixed(1)} s; left pending ${int(leftPending)}`,
  );
  line('overall import rate (registry + Patients)', `${int(n / (importSeconds + projectionSeconds))} identities/s`, `${(importSeconds + projectionSeconds).toFixed(1)} s`);
  line('peak RSS (accuracy process)', `${peakRssMiB().toFixed(0)} MiB`, `(RSS now ${rssMiB().toFixed(0)} MiB, the ledger and the baseline linker included)`);
  return { store, service, ledger, queries: holdOut.queries };
}

// ---- part 2: latency at the accuracy size, with the full-scan baseline at equal size -----------------------------

interface EqualSize {
  federated: number;
  blocked: Percentiles;
  fullPerQueryMs: number;
}

async function latencyAtAccuracySize(a: AccuracyOutcome): Promise<EqualSize> {
  const isSame = (f: string, q: GeneratedIdentity): boolean => a.ledger.members.get(f)?.has(q.personId) === true;
  const blockedRun = await runQueries(a.queries, (q) => a.service.match(q.identity, { count: RESULTS }), isSame);
  const blocked = percentiles(blockedRun.latencies);
  const t0 = performance.now();
  const all = await loadAllCandidates(a.store);
  const loadSeconds = (performance.now() - t0) / 1000;
  // The full scan, time-boxed: the first k queries, in the same order.
  const latencies: number[] = [];
  let found = 0;
  const deadline = performance.now() + FULLSCAN_SECONDS * 1000;
  for (const q of a.queries) {
    if (latencies.length > 0 && performance.now() > deadline) break;
    const s = performance.now();
    const results = fullScanMatch(q.identity, all);
    latencies.push(performance.now() - s);
    if (results.some((r) => isSame(r.federatedId, q))) found++;
  }
  const k = latencies.length;
  const full = percentiles(latencies);
  const blockedSame = percentiles(blockedRun.latencies.slice(0, k));
  console.log(`\n### match latency at ${int(a.ledger.registrations)} sources = ${int(all.length)} active federated identities (the accuracy registry), in process`);
  line('IdentityService.match (blocking index)', latency(blocked), `true person returned ${pct(blockedRun.found, a.queries.length, 1)}`);
  line(`baseline full scan (first ${k} queries, ${FULLSCAN_SECONDS}s box)`, latency(full), `true person returned ${pct(found, k, 1)}; ${int(all.length)} identities normalised in memory first (${loadSeconds.toFixed(1)} s, not counted)`);
  line('ratio full scan / blocking (same queries)', `p50 ${(full.p50 / blockedSame.p50).toFixed(0)}×  p99 ${(full.p99 / blockedSame.p99).toFixed(0)}×`, `(blocking on those ${k}: p50 ${ms(blockedSame.p50)} p99 ${ms(blockedSame.p99)}, true person ${pct(blockedRun.hits.slice(0, k).filter(Boolean).length, k, 1)})`);
  await httpMatch(a.store, a.queries, isSame, blocked);
  return { federated: all.length, blocked, fullPerQueryMs: full.mean };
}

// ---- part 3: the registry at scale -------------------------------------------------------------------------------

/**
 * Ground truth at scale, from what the registrations returned: the federated identity of each source, and for each
 * federated identity the person whose source created it ('new' or 'review') plus any other person an auto-link joined
 * to it. Federated ids are numbered in creation order so that the per-source and per-identity tables stay typed arrays.
 */
class ScaleTruth {
  private readonly numberOf = new Map<string, number>();
  /** Federated number → person number of the source that created it. */
  private creators = new Int32Array(1024);
  /** Federated number → other persons an auto-link joined to it (false auto-links only: rare). */
  private readonly joined = new Map<number, number[]>();
  /** Source index → federated number. */
  readonly federatedOf: Int32Array;
  readonly decisions: Record<RegistrationDecision, number> = { 'auto-linked': 0, review: 0, new: 0, known: 0 };
  registered = 0;
  falseAutoLinks = 0;
  /** The first false auto-links: the registered copy and the federated identity it was linked to. */
  readonly falseSamples: { federatedId: string; copy: GeneratedIdentity; score?: number }[] = [];

  constructor(sources: number) {
    this.federatedOf = new Int32Array(sources);
  }

  get federated(): number {
    return this.numberOf.size;
  }

  record(person: number, r: RegistrationResult, copy?: GeneratedIdentity): void {
    this.decisions[r.decision]++;
    let f = this.numberOf.get(r.federatedId);
    if (r.decision === 'auto-linked') {
      if (f === undefined) throw new Error(`auto-linked to an unknown federated identity ${r.federatedId}`);
      if (this.creators[f] !== person) {
        this.falseAutoLinks++;
        if (copy && this.falseSamples.length < 5) this.falseSamples.push({ federatedId: r.federatedId, copy, ...(r.score !== undefined ? { score: r.score } : {}) });
        const others = this.joined.get(f);
        if (!others) this.joined.set(f, [person]);
        else if (!others.includes(person)) others.push(person);
      }
    } else {
      if (r.decision === 'known') throw new Error('a generated source id was registered twice');
      if (f !== undefined) throw new Error(`a '${r.decision}' registration returned an existing federated identity ${r.federatedId}`);
      f = this.numberOf.size;
      this.numberOf.set(r.federatedId, f);
      if (f >= this.creators.length) {
        const grown = new Int32Array(this.creators.length * 2);
        grown.set(this.creators);
        this.creators = grown;
      }
      this.creators[f] = person;
    }
    this.federatedOf[this.registered++] = f;
  }

  /** Sources in the largest federated identity (a runaway cluster would show here). */
  largest(): number {
    const sizes = new Int32Array(this.federated);
    let max = 0;
    for (let i = 0; i < this.registered; i++) max = Math.max(max, ++sizes[this.federatedOf[i]]);
    return max;
  }

  /** The federated identity holds a source of `person`. */
  holds(federatedId: string, person: number): boolean {
    const f = this.numberOf.get(federatedId);
    return f !== undefined && (this.creators[f] === person || this.joined.get(f)?.includes(person) === true);
  }
}

/** Registration rates of consecutive slices of a run (identities/s on registerBatch time only). */
class SliceRates {
  readonly rates: number[] = [];
  private count = 0;
  private seconds = 0;
  constructor(readonly size: number) {}
  add(registered: number, seconds: number): void {
    this.count += registered;
    this.seconds += seconds;
    if (this.count >= this.size) this.close();
  }
  close(): void {
    if (this.count > 0) this.rates.push(this.count / this.seconds);
    this.count = 0;
    this.seconds = 0;
  }
}

async function scale(dir: string, equal: EqualSize | undefined): Promise<void> {
  const store = await openSqliteStore({ file: join(dir, 'scale.sqlite') });
  try {
    const holdOut = new HoldOut(holdOutStep(SCALE), QUERIES);
    const persons = personsFor(SCALE + QUERIES + TAIL, 1.02);
    const personNumber = (g: GeneratedIdentity): number => Number(g.personId.slice(1));
    const truth = new ScaleTruth(SCALE);
    const deciles = new SliceRates(Math.ceil(SCALE / 10));
    const tail: GeneratedIdentity[] = [];
    let importer: IdentityService | undefined = new IdentityService(store);
    let registrySeconds = 0;
    const rssBefore = rssMiB();
    // As `passerelle identity import` on SQLite: the bulk path, BULK_BATCH per transaction, the next batch matched
    // while the previous one is written on the writer thread.
    const committed: [readonly { tag: GeneratedIdentity }[], readonly RegistrationResult[]][] = [];
    let bulk: BulkRegistrar<GeneratedIdentity> | undefined = await importer.openBulk<GeneratedIdentity>({ ctx: CTX, onCommitted: (items, results) => committed.push([items, results]), onFallback: (why) => console.log(`bulk path stopped: ${why}`) });
    let decile: GeneratedIdentity[] = [];
    /** Registers a decile generated beforehand: timed from the first batch to the commit of the last. */
    const flush = async (): Promise<void> => {
      if (decile.length === 0 || !bulk) return;
      const t0 = performance.now();
      for (let i = 0; i < decile.length; i += BULK_BATCH) await bulk.add(decile.slice(i, i + BULK_BATCH).map((g) => ({ identity: g.identity, tag: g })));
      await bulk.settle();
      const seconds = (performance.now() - t0) / 1000;
      registrySeconds += seconds;
      deciles.add(decile.length, seconds);
      for (const [items, results] of committed.splice(0)) for (let i = 0; i < items.length; i++) truth.record(personNumber(items[i].tag), results[i], items[i].tag);
      decile = [];
    };
    const wall = performance.now();
    // The tail (live registrations timed on top of the registry) is a sample of the stream, like the queries.
    const tailStep = Math.max(1, Math.floor(SCALE / Math.max(1, TAIL)));
    let streamed = 0;
    let taken = 0;
    for (const g of iterateIdentities({ seed: SEED + 1, persons, duplicateRate: DUPLICATE_RATE })) {
      if (taken >= SCALE && tail.length >= TAIL) break;
      if (holdOut.take(g)) continue;
      if (tail.length < TAIL && (streamed++ % tailStep === 0 || taken >= SCALE)) {
        tail.push(g);
        continue;
      }
      if (taken >= SCALE) continue;
      taken++;
      decile.push(g);
      if (taken % deciles.size === 0) await flush();
    }
    await flush();
    await bulk.finish();
    const { planning, waiting } = bulk.timings;
    bulk = undefined;
    deciles.close();
    const wallSeconds = (performance.now() - wall) / 1000;
    const n = truth.registered;
    const queries = holdOut.queries;
    const pending = await store.identities.countProjectionPending();
    const d = truth.decisions;
    console.log(`\n### registry at scale: ${int(n)} source identities (seed ${SEED + 1}) in ${int(truth.federated)} federated identities, fresh SQLite file`);
    console.log(`real IdentityService.openBulk (${BULK_BATCH} per transaction, FHIR Patients deferred; each decile generated first, then timed until its last batch committed): matching, registry rows, review items, audit`);
    line('import rate (registry, whole run)', `${int(n / registrySeconds)} identities/s (target ≥ 20,000/s)`, `${registrySeconds.toFixed(1)} s matching and writing; wall ${wallSeconds.toFixed(1)} s with generation and ground truth`);
    line('  main thread: matching and planning / waiting for the writer', `${planning.toFixed(1)} s / ${waiting.toFixed(1)} s`, '(the writer thread inserts while the main thread matches the next batch)');
    const rates = deciles.rates.map((r) => int(r));
    line(`  by decile (${int(Math.ceil(n / 10))} each)`, `first ${rates[0] ?? 'n/a'}/s, last ${rates[rates.length - 1] ?? 'n/a'}/s`, rates.join(' → '));
    line('decisions auto / review / new', `${int(d['auto-linked'])} / ${int(d.review)} / ${int(d.new)}`, `false auto-links ${int(truth.falseAutoLinks)} (by the generator's ground truth); largest federated identity ${truth.largest()} sources`);
    for (const f of truth.falseSamples) {
      // Synthetic identities only: printing them shows what the policy let through.
      const fed = await store.identities.getFederated(f.federatedId);
      const t = (x: GeneratedIdentity['identity'] | undefined): string =>
        x ? `${x.status} ${x.birthName} ${x.firstBirthGivenName} [${(x.birthGivenNames ?? []).join(', ')}] ${x.birthDate} ${x.sex} ${x.birthPlaceInsee ?? '-'} ins ${x.ins?.matricule ?? '-'}` : '?';
      console.log(`  false auto-link: copy of ${f.copy.personId} (${f.copy.corruptions.join('+') || 'no corruption'}${f.copy.person.hardCase ? `, ${f.copy.person.hardCase.kind}` : ''}) ${t(f.copy.identity)}  →  ${t(fed?.traits)} score ${f.score?.toFixed(3)}`);
    }
    line('FHIR Patients left pending', int(pending), HTTP_AT_SCALE ? '(written below, before $match over HTTP)' : '(written by drainProjections / at the next server start; not drained here)');
    line('RSS after the import (scale process)', `${rssMiB().toFixed(0)} MiB`, `(before ${rssBefore.toFixed(0)} MiB; peak so far ${peakRssMiB().toFixed(0)} MiB; the bench's ground truth included)`);

    // Restart: a new service on the same store loads its index from the database.
    importer = undefined;
    const heapMiB = (): number => process.memoryUsage().heapUsed / 2 ** 20;
    globalThis.gc?.();
    const heapBefore = heapMiB();
    const service = new IdentityService(store);
    const t0 = performance.now();
    const indexed = await service.warm();
    const warmSeconds = (performance.now() - t0) / 1000;
    line('restart: IdentityService.warm() (index load)', `${warmSeconds.toFixed(2)} s`, `${int(indexed)} active federated identities indexed from the database by a new service (${int(indexed / warmSeconds)}/s)`);
    if (globalThis.gc) {
      globalThis.gc();
      line('  index heap / RSS after the load', `~${(heapMiB() - heapBefore).toFixed(0)} MiB / ${rssMiB().toFixed(0)} MiB`, '(heap used after a full GC, minus before the load; the import service dropped)');
    }

    const run = await runQueries(queries, (q) => service.match(q.identity, { count: RESULTS }), (f, q) => truth.holds(f, personNumber(q)));
    const p = percentiles(run.latencies);
    line(`IdentityService.match at ${int(indexed)} (in process)`, latency(p), `true person returned ${pct(run.found, queries.length, 1)}; target p99 < 5 ms`);
    if (equal) {
      const extrapolated = (equal.fullPerQueryMs * indexed) / equal.federated;
      line(
        'baseline full scan at this size (extrapolated)',
        `~${int(extrapolated)} ms per query`,
        `linear from the measured mean ${ms(equal.fullPerQueryMs)} at ${int(equal.federated)}; ratio ~${int(extrapolated / p.p50)}× at p50`,
      );
      line('ratio p50 at this size / at accuracy size', `${(p.p50 / equal.blocked.p50).toFixed(2)}`, `(${ms(equal.blocked.p50)} at ${int(equal.federated)})`);
    }

    // Live registrations (matching, registry rows, FHIR Patients, audit, in the transaction) on top of the registry.
    if (tail.length > 0) {
      assertValid(toFhirPatient(tail[0].identity)); // loads the FHIR definitions outside the timing, as a running gateway has
      let seconds = 0;
      const decisions: Record<string, number> = {};
      for (let i = 0; i < tail.length; i += BATCH) {
        const t1 = performance.now();
        const results = await service.registerBatch(
          tail.slice(i, i + BATCH).map((g) => g.identity),
          CTX,
        );
        seconds += (performance.now() - t1) / 1000;
        for (const r of results) decisions[r.decision] = (decisions[r.decision] ?? 0) + 1;
      }
      line(
        `live registrations on top of ${int(n)}`,
        `${int(tail.length / seconds)} identities/s`,
        `${int(tail.length)} registerBatch registrations sampled from the stream, Patients written in the transaction: ${Object.entries(decisions).map(([k, v]) => `${k} ${v}`).join(', ')}`,
      );
    }
    line('peak RSS (scale process)', `${peakRssMiB().toFixed(0)} MiB`, `RSS now ${rssMiB().toFixed(0)} MiB`);

    // $match over HTTP returns the federated Patients: write the ones the import left pending first, as the gateway
    // does at its next start, then query through the gateway's own service (its index loaded from the database).
    if (HTTP_AT_SCALE && queries.length > 0) {
      const gateway = identityServiceFor(store);
      const t2 = performance.now();
      const projected = await gateway.drainProjections();
      const drainSeconds = (performance.now() - t2) / 1000;
      line('FHIR Patients written after the import (drain)', `${int(projected)} federated identities in ${drainSeconds.toFixed(0)} s`, `${int(projected / drainSeconds)}/s, with their source Patients`);
      await gateway.warm();
      await httpMatch(store, queries, (f, q) => truth.holds(f, personNumber(q)), p, `at ${int(indexed)}`);
    }
  } finally {
    await store.close();
  }
}

// ---- run --------------------------------------------------------------------------------------------------------

// The scale part runs in a child process of its own: its peak RSS and GC pauses are the large registry's, not the
// accuracy ledger's. The figures it compares with (at the accuracy size) travel in IDENTITY_BENCH_EQUAL.
const PHASE = process.env.IDENTITY_BENCH_PHASE;
const started = performance.now();
if (PHASE === 'scale') {
  const dir = mkdtempSync(join(tmpdir(), 'passerelle-identity-bench-'));
  try {
    const equal = process.env.IDENTITY_BENCH_EQUAL ? (JSON.parse(process.env.IDENTITY_BENCH_EQUAL) as EqualSize) : undefined;
    await scale(dir, equal);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
} else {
  console.log(`machine: ${machine()}`);
  console.log(`rules: ${rules.source}`);
  let equal: EqualSize | undefined;
  if (ACCURACY > 0) {
    const dir = mkdtempSync(join(tmpdir(), 'passerelle-identity-bench-'));
    try {
      const a = await accuracy(dir);
      try {
        if (a.queries.length > 0) equal = await latencyAtAccuracySize(a);
      } finally {
        await a.store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  let failed = false;
  if (SCALE > 0) {
    // --expose-gc: the RSS after the restart's index load is measured after a collection (the import service dropped).
    const child = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url)], {
      stdio: 'inherit',
      env: { ...process.env, IDENTITY_BENCH_PHASE: 'scale', ...(equal ? { IDENTITY_BENCH_EQUAL: JSON.stringify(equal) } : {}) },
    });
    failed = child.status !== 0;
  }
  console.log(`\nbench wall time: ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (failed) process.exitCode = 1;
}
