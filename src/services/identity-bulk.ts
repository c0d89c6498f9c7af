// Bulk registration (`passerelle identity import`): the decisions of `IdentityService.registerIn` for new source
// identities, taken on the in-memory blocking index and written as row batches by the store's bulk writer — on
// SQLite, a worker thread with its own connection — while the next batch is matched. Each batch is one transaction.
//
// Same decisions, same rows as registering one by one (test/services/identity-bulk.test.ts holds the two paths to
// the same registry): the index is the registry's state (the store's write lock is held for the whole import, and a
// batch is refused if another process changed the registry since it was planned). What the planner does not handle
// goes through `registerIn`, in order, once the batches before it committed: a source seen before (re-registration),
// or a batch the writer refused (the index is then reloaded from the database and the rest of the import takes the
// one-by-one path).
import { blockingKeys } from '../identity/blocking.js';
import type { CandidateIndex } from '../identity/candidate-index.js';
import { matchCandidates } from '../identity/match-candidates.js';
import { matchTraits, normaliseIdentity } from '../identity/normalise.js';
import { byScore, sameKeys, sortFlags, STATUS_RANK, union } from '../identity/registry-policy.js';
import {
  autoLinkedResult,
  registrationAudit,
  separateIdentityResult,
  type IdentityContext,
  type RegistrationResult,
} from './identity-registration.js';
import type { IdentityRules } from '../identity/rules.js';
import type { SourceIdentity } from '../identity/types.js';
import { systemUri } from '../fhir/map-common.js';
import { metrics } from '../observability/metrics.js';
import type { BulkRegistryLease, StoreTransaction } from '../store/repository.js';
import type { IdentityAnomaly } from '../domain/identity-support.js';
import { anomalyRows, type AnomalySource } from '../store/identity-anomaly-repository.js';
import { emptyRegistryRows, type RegistryBatchWriter, type RegistryRows } from '../store/registry-batch.js';

/** What the bulk path needs of the identity service. */
export interface BulkHost {
  readonly rules: IdentityRules;
  /** Candidates per blocking key. */
  readonly cap: number;
  readonly maxReviews: number;
  newId(): string;
  /** The index, loaded and current with the database; `seq`: the change number it holds everything up to. */
  sync(): Promise<{ index: CandidateIndex; seq: number }>;
  /** The index now holds planned changes up to `seq` (committed or on their way). */
  advance(seq: number): void;
  /** The index holds changes that were never committed: drop it (reloaded from the database when next needed). */
  invalidate(): void;
  /** `registerIn` for each source, in order, in `tx`, FHIR Patients deferred. */
  registerEach(tx: StoreTransaction, sources: readonly SourceIdentity[], ctx: IdentityContext): Promise<RegistrationResult[]>;
  /** A store transaction (used when there is no lease: the store has no bulk writer, or the pipeline is off). */
  transaction<R>(fn: (tx: StoreTransaction) => Promise<R>): Promise<R>;
}

export interface BulkItem<T> {
  identity: SourceIdentity;
  /** What the sender declared and the traits did not support: recorded in the same transaction as the registration. */
  anomalies?: readonly IdentityAnomaly[];
  /** The caller's handle on the item (a line number). */
  tag: T;
}

export interface BulkOptions<T> {
  ctx: IdentityContext;
  /**
   * The establishment whose feed this is (a validated FINESS), recorded with every anomaly so that its conflict board
   * counts them even when the sender's system holds no FINESS arc; undefined: the anomalies name no establishment.
   */
  finess?: string;
  /** Source identities per transaction are those of each `add` call. Batches planned ahead of the writer (default 2). */
  depth?: number;
  /** Once a batch committed, in order of `add`: each item with its result. */
  onCommitted?: (items: readonly BulkItem<T>[], results: readonly RegistrationResult[]) => void;
  /** An item that could not be registered (the others of its batch were). */
  onFailure?: (item: BulkItem<T>, error: unknown) => void;
  /** The bulk path stopped (why): the rest of the import is registered batch by batch through `registerIn`. */
  onFallback?: (reason: string) => void;
}

interface InFlight<T> {
  items: BulkItem<T>[];
  results: RegistrationResult[];
  sourceKeys: string[];
  done: Promise<void>;
}

/** Where an item's anomalies come from: its sender's identifier, and the establishment of the feed when known. */
function anomalySource(identity: SourceIdentity, finess: string | undefined): AnomalySource {
  return { sourceSystem: systemUri(identity.sourceId.system), sourceId: identity.sourceId.value, ...(finess ? { finess } : {}) };
}

/** The anomalies of an item, in the transaction that registers it (the one-by-one path). */
async function recordAnomaliesIn(tx: StoreTransaction, item: BulkItem<unknown>, finess: string | undefined): Promise<void> {
  if (!item.anomalies || item.anomalies.length === 0) return;
  await tx.identityAnomalies.record(anomalySource(item.identity, finess), item.anomalies);
}

/** Once their transaction committed: the anomalies of these items, by code (metrics). */
function countAnomalies(items: readonly BulkItem<unknown>[]): void {
  for (const i of items) for (const a of i.anomalies ?? []) metrics.identityAnomalies.inc({ code: a.code });
}

const sourceKey = (system: string, localId: string): string => `${system}\u001f${localId}`;
/** Sources whose rows are sent to the writer at a time (rows of a whole batch would outlive the young generation). */
const PART_SIZE = 500;

export class BulkRegistrar<T> {
  private readonly inFlight: InFlight<T>[] = [];
  /** Sources of the batches planned but not yet committed. */
  private readonly planned = new Set<string>();
  private readonly depth: number;
  /** Seconds of this thread spent matching and planning batches, and waiting for the writer (back-pressure, settle). */
  readonly timings = { planning: 0, waiting: 0 };
  /** Without a lease from the start; else set once the writer refused a batch (or planning failed): the rest goes one by one. */
  private degraded: boolean;
  private finished = false;

  constructor(
    private readonly host: BulkHost,
    /** The store's bulk writer; undefined: every batch through `registerIn` (one transaction each). */
    private readonly lease: BulkRegistryLease | undefined,
    private readonly options: BulkOptions<T>,
  ) {
    this.depth = Math.max(1, Math.trunc(options.depth ?? 2));
    this.degraded = lease === undefined;
  }

  /** Batches are matched here while the previous ones are written by the store's bulk writer. */
  get pipelined(): boolean {
    return this.lease !== undefined;
  }

  /** Registers `items` in order, as one transaction; returns once they are planned (committed later, in order). */
  async add(items: readonly BulkItem<T>[]): Promise<void> {
    if (this.finished) throw new Error('bulk registration already finished');
    const batch = [...items];
    if (batch.length === 0) return;
    const lease = this.lease;
    if (this.degraded || !lease) return this.oneByOne(batch);
    const sources = batch.map((i) => ({ system: systemUri(i.identity.sourceId.system), localId: i.identity.sourceId.value }));
    const keys = sources.map((k) => sourceKey(k.system, k.localId));
    const registered = await lease.registeredSources(sources);
    const seen = new Set<string>();
    const fresh = keys.every((k, i) => !registered[i] && !this.planned.has(k) && !seen.has(k) && seen.add(k));
    if (!fresh) {
      // A source seen before: `registerIn` re-registers it, once everything before it committed.
      await this.drain();
      return this.oneByOne(batch);
    }
    const waited = performance.now();
    while (this.inFlight.length >= this.depth) await this.settleOldest();
    const started = performance.now();
    this.timings.waiting += (started - waited) / 1000;
    if (this.degraded) return this.oneByOne(batch);
    let planned: { results: RegistrationResult[]; done: Promise<void> };
    try {
      planned = await this.plan(batch, lease.writer);
      this.timings.planning += (performance.now() - started) / 1000;
    } catch (err) {
      // The index may hold part of the batch: it no longer mirrors the registry.
      this.degrade(err);
      await this.drain();
      return this.oneByOne(batch);
    }
    for (const k of keys) this.planned.add(k);
    planned.done.catch(() => undefined); // settled in order by settleOldest
    this.inFlight.push({ items: batch, results: planned.results, sourceKeys: keys, done: planned.done });
  }

  /** Waits until every batch added so far committed (or went through `registerIn`). */
  async settle(): Promise<void> {
    const waited = performance.now();
    await this.drain();
    this.timings.waiting += (performance.now() - waited) / 1000;
  }

  /** Waits for every batch, then releases the store. */
  async finish(): Promise<void> {
    if (this.finished) return;
    try {
      await this.drain();
    } finally {
      this.finished = true;
      await this.lease?.release();
    }
  }

  private async drain(): Promise<void> {
    while (this.inFlight.length > 0) await this.settleOldest();
  }

  private async settleOldest(): Promise<void> {
    const f = this.inFlight.shift() as InFlight<T>;
    try {
      await f.done;
    } catch (err) {
      // Refused (the registry changed under it, or a row could not be written): neither it nor any later batch was
      // written. The index is reloaded and the rest registered one by one.
      this.degrade(err);
      const rest = [f, ...this.inFlight.splice(0)];
      await Promise.allSettled(rest.map((r) => r.done));
      for (const r of rest) for (const k of r.sourceKeys) this.planned.delete(k);
      for (const r of rest) await this.oneByOne(r.items);
      return;
    }
    for (const k of f.sourceKeys) this.planned.delete(k);
    for (const r of f.results) metrics.identityDecisions.inc({ decision: r.decision, grade: r.grade ?? 'none' });
    countAnomalies(f.items);
    this.options.onCommitted?.(f.items, f.results);
  }

  private degrade(reason: unknown): void {
    if (this.degraded) return;
    this.degraded = true;
    this.host.invalidate();
    this.options.onFallback?.(reason instanceof Error ? reason.message : String(reason));
  }

  private transaction<R>(fn: (tx: StoreTransaction) => Promise<R>): Promise<R> {
    return this.lease ? this.lease.transaction(fn) : this.host.transaction(fn);
  }

  /** The batch in one transaction through `registerIn`; if it fails, each item alone to find the one(s) refused. */
  private async oneByOne(items: readonly BulkItem<T>[]): Promise<void> {
    const { ctx } = this.options;
    const registerAll = async (tx: StoreTransaction, all: readonly BulkItem<T>[]): Promise<RegistrationResult[]> => {
      const results = await this.host.registerEach(tx, all.map((i) => i.identity), ctx);
      for (const i of all) await recordAnomaliesIn(tx, i, this.options.finess);
      return results;
    };
    try {
      const results = await this.transaction((tx) => registerAll(tx, items));
      countAnomalies(items);
      this.options.onCommitted?.(items, results);
    } catch {
      for (const item of items) {
        try {
          const results = await this.transaction((tx) => registerAll(tx, [item]));
          countAnomalies([item]);
          this.options.onCommitted?.([item], results);
        } catch (err) {
          this.options.onFailure?.(item, err);
        }
      }
    }
  }

  /**
   * The rows `registerIn` would write for each (new) source, in order, and its result; the index takes each change
   * as it is planned, so a source is matched against the ones before it in the same batch. The rows go to the writer
   * every PART_SIZE sources (they are not kept here until the batch ends); `done` settles when the batch committed.
   */
  private async plan(items: readonly BulkItem<T>[], writer: RegistryBatchWriter): Promise<{ results: RegistrationResult[]; done: Promise<void> }> {
    const { index, seq: seqBefore } = await this.host.sync();
    const { rules, cap, maxReviews } = this.host;
    const { ctx, finess } = this.options;
    const writing = writer.open({ seqBefore, now: new Date().toISOString() });
    let batch: RegistryRows = emptyRegistryRows();
    const touched = new Set<string>();
    const results: RegistrationResult[] = [];
    let seq = seqBefore;
    try {
      for (const { identity: source, anomalies } of items) {
        if (results.length % PART_SIZE === 0 && results.length > 0) {
          writing.send(batch);
          batch = emptyRegistryRows();
        }
        const system = systemUri(source.sourceId.system);
        const localId = source.sourceId.value;
        if (anomalies && anomalies.length > 0) batch.anomalies.push(...anomalyRows({ sourceSystem: system, sourceId: localId, ...(finess ? { finess } : {}) }, anomalies));
        const traits = JSON.stringify(source);
        const n = normaliseIdentity(source);
        const keys = blockingKeys(n);
        const matched = matchCandidates(index, n, rules, { cap, keys }).results.filter((r) => r.grade !== 'certainly-not').sort(byScore);
        const certain = matched.filter((r) => r.grade === 'certain');

        if (certain.length === 1) {
          const best = certain[0];
          const fed = index.get(best.federatedId);
          if (!fed) throw new Error(`identity registry: candidate ${best.federatedId} left the index`);
          batch.sources.push([system, localId, fed.id, traits, source.status, 'auto', best.score]);
          // A better-status source becomes the reference; a lower one never replaces it, nor any under a collision review.
          const promoted = STATUS_RANK[source.status] > STATUS_RANK[fed.identity.status] && !fed.flags.includes('COLP');
          const filedUnder = union(fed.keys, keys);
          if (promoted || !sameKeys(filedUnder, fed.keys)) {
            seq++;
            const status = promoted ? source.status : fed.identity.status;
            batch.federatedUpdates.push([fed.id, status, JSON.stringify(fed.flags), promoted ? traits : null, JSON.stringify(filedUnder), seq]);
            index.set({ id: fed.id, identity: promoted ? matchTraits(n) : fed.identity, flags: fed.flags, keys: filedUnder, seq });
          }
          touched.add(fed.id);
          const result = autoLinkedResult(fed.id, best);
          const audit = registrationAudit(ctx, system, localId, result, promoted ? 'reference traits promoted' : undefined);
          batch.audits.push([audit.action, audit.actor, audit.entities, audit.detail, audit.requestId ?? null]);
          results.push(result);
          continue;
        }

        // Several certain matches on different identities: never pick one; a human decides.
        const reviewed = (certain.length > 1 ? certain : matched).slice(0, maxReviews);
        const federatedId = this.host.newId();
        const flags = sortFlags(reviewed.map((r) => r.flag ?? 'DPOT'));
        const filedUnder = [...new Set(keys)];
        seq++;
        batch.federatedInserts.push([federatedId, source.status, JSON.stringify(flags), traits, JSON.stringify(filedUnder), seq]);
        index.set({ id: federatedId, identity: matchTraits(n), flags, keys: filedUnder, seq, derivedKeys: keys });
        batch.sources.push([system, localId, federatedId, traits, source.status, reviewed.length > 0 ? 'review' : 'new', reviewed.length > 0 ? reviewed[0].score : null]);
        touched.add(federatedId);
        const reviewIds: string[] = [];
        for (const r of reviewed) {
          const id = this.host.newId();
          const flag = r.flag ?? 'DPOT';
          batch.reviews.push([id, system, localId, federatedId, r.federatedId, r.grade, r.score, JSON.stringify(r), flag]);
          reviewIds.push(id);
          // Its review flags are those of its open items (the index holds them): one more item adds its flag.
          if (index.flagsOf(r.federatedId)?.includes(flag)) continue;
          const candidate = index.get(r.federatedId);
          if (!candidate) throw new Error(`identity registry: candidate ${r.federatedId} left the index`);
          const candidateFlags = sortFlags([...candidate.flags, flag]);
          seq++;
          batch.federatedUpdates.push([candidate.id, candidate.identity.status, JSON.stringify(candidateFlags), null, JSON.stringify(candidate.keys), seq]);
          index.set({ id: candidate.id, identity: candidate.identity, flags: candidateFlags, keys: candidate.keys, seq });
          touched.add(candidate.id);
        }
        const result = separateIdentityResult(federatedId, reviewed, reviewIds);
        const audit = registrationAudit(ctx, system, localId, result);
        batch.audits.push([audit.action, audit.actor, audit.entities, audit.detail, audit.requestId ?? null]);
        results.push(result);
      }
    } catch (err) {
      writing.abort();
      throw err;
    }
    writing.send(batch);
    this.host.advance(seq);
    return { results, done: writing.commit({ seqAfter: seq, projectionPending: [...touched] }) };
  }
}
