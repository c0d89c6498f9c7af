// The identity registry (SRI): links each source identity (system + local id) to one federated identity,
// following the RNIV decision policy of the matcher — `certain` links, anything fuzzy gets a separate
// identity plus a review item — and applies the humans' decisions (merge, reject, separate). Every change
// is one store transaction: registry rows, the federated FHIR Patients and the audit row commit together.
import { randomFillSync } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import type { Patient } from '@medplum/fhirtypes';
import { mapPatient, systemUri } from '../fhir/map-common.js';
import { businessRule, conflict, invalid, notFound } from '../fhir/outcome.js';
import { assertValid } from '../fhir/validate.js';
import type {
  FederatedIdentityRecord,
  LinkRow,
  ReviewRecord,
  SourceDecision,
  SourceIdentityRecord,
} from '../identity/records.js';
import type { FederatedInput, IdentityReader, ReviewFilter, ReviewListQuery, ReviewStats } from '../store/identity-repository.js';
import type { ResourceStore, StoreTransaction } from '../store/repository.js';
import { blockingKeys } from '../identity/blocking.js';
import { CandidateIndex, IndexOverlay, type IndexEntry } from '../identity/candidate-index.js';
import { matchCandidates } from '../identity/match-candidates.js';
import { BulkRegistrar, type BulkHost, type BulkOptions } from './identity-bulk.js';
import { metrics } from '../observability/metrics.js';
import { federatedPatient, linkToFederated, refersTo, sourcePatientId } from '../fhir/federated-patient.js';
import { matchTraits, normaliseIdentity } from '../identity/normalise.js';
import { loadIdentityRules, type IdentityRules } from '../identity/rules.js';
import { byScore, REVIEW_FLAGS, sortFlags, STATUS_RANK, union } from '../identity/registry-policy.js';
import { changedStrictTraits, collisionComparison, isCollisionItem, STATUS_UNDER_COLLISION, type StrictTrait } from '../identity/collision.js';
import {
  autoLinkedResult,
  registrationAudit,
  separateIdentityResult,
  type IdentityContext,
  type RegistrationDecision,
  type RegistrationResult,
} from './identity-registration.js';

export type { IdentityContext, RegistrationDecision, RegistrationResult };
import type { MatchResult, MatchTraits, NormalisedIdentity, SourceIdentity } from '../identity/types.js';

export interface MatchOptions {
  /** Maximum number of results (default 10). */
  count?: number;
  /** FHIR `onlyCertainMatches`: the single certain match, or nothing. */
  onlyCertain?: boolean;
}

export interface ReviewDecisionInput {
  decision: 'same' | 'different';
  /** The person who decided (identitovigilance referent). */
  who: string;
  why: string;
}

export interface SeparateInput {
  who: string;
  why: string;
  /** The federated identity mixed two persons: flag it COLV (collision avérée). Default true. */
  collision?: boolean;
}

/** A federated identity with its source identities. */
export interface FederatedView extends FederatedIdentityRecord {
  sources: SourceIdentityRecord[];
}

export interface ReviewDetail {
  review: ReviewRecord;
  /** The source identity whose registration opened the item (absent only if it was deleted). */
  source?: SourceIdentityRecord;
  newIdentity: FederatedView;
  candidate: FederatedView;
}

export interface DecisionResult {
  review: ReviewRecord;
  /** `same`: the surviving federated identity; `different`: the review's new identity, confirmed separate. */
  federatedId: string;
  /** `same`: the federated identity merged (deactivated) into `federatedId`. */
  replaced?: string;
}

export interface SeparateResult {
  /** The new federated identity of the separated source. */
  federatedId: string;
  previousFederatedId: string;
}

/** What a human decision changed; handed to `onDecision` inside the decision's transaction. */
export interface IdentityDecisionEvent {
  /** `collision`: a COLP item on one identity (a source of a qualified identity changed a strict trait) was decided. */
  kind: 'merge' | 'different' | 'separate' | 'collision';
  reviewId?: string;
  /** Federated identities whose sources or status changed. */
  federatedIds: string[];
  /** Source identities whose link is now settled by a human. */
  sources: { system: string; localId: string; federatedId: string }[];
}

export interface IdentityServiceOptions {
  /** Matching rules; default: `loadIdentityRules()` (mappings/identity-rules.yaml). */
  rules?: IdentityRules;
  /** Candidates taken per blocking key (hot-block cap). Default: `blocking.maxCandidatesPerKey` of the rules. */
  perKeyCap?: number;
  /** Review items opened for one registration, best scores first. Default 5. */
  maxReviewsPerIdentity?: number;
  /**
   * Regional ids and review ids. Default: UUID version 7 (time-ordered: new rows land at the end of the id indexes
   * instead of scattering writes across them, which keeps a million-identity registry's inserts cheap).
   */
  newId?: () => string;
  /** Also store each source's own Patient (as the document mapping writes it), so seealso links resolve. Default true. */
  writeSourcePatients?: boolean;
  /** Called in the transaction of every human decision, e.g. to attach documents that waited for the identity. */
  onDecision?: (tx: StoreTransaction, event: IdentityDecisionEvent) => Promise<void>;
}

/** What the service keeps about one running transaction. */
interface TxState {
  /** Index changes of the transaction: seen by its own lookups, applied to the index after the commit. */
  overlay: IndexOverlay;
  /** Federated identities whose FHIR Patients are written (or filed as pending) just before the commit. */
  touched: Set<string>;
  /** Bulk mode: file the touched identities for `drainProjections` instead of writing their Patients now. */
  deferProjection: boolean;
  /** The registry lock is held (taken before the first catch-up or write of the transaction). */
  locked?: boolean;
  /** Change sequence numbers the transaction took (contiguous: writers are serialised). */
  firstSeq?: number;
  lastSeq?: number;
}

/** Random bytes for 256 ids at a time (one `randomFillSync` call instead of one per id). */
const RANDOM_POOL = Buffer.alloc(16 * 256);
let randomNext = 256;
function pooledRandom(): Uint8Array {
  if (randomNext === 256) {
    randomFillSync(RANDOM_POOL);
    randomNext = 0;
  }
  return RANDOM_POOL.subarray(16 * randomNext, 16 * ++randomNext);
}
/** A UUID version 7: time-ordered, random in its other 74 bits. */
export const timeOrderedId = (): string => uuidv7({ rng: pooledRandom });

/** Rows read per catch-up query. */
const CATCH_UP_PAGE = 5000;
/**
 * Pending projections written per transaction by `drainProjections`: on SQLite the commit (and the WAL checkpoint it
 * triggers) cost more than the rows when a transaction holds a few hundred identities, since the index pages they
 * touch are rewritten by every transaction.
 */
const PROJECTION_BATCH = 2500;

/** The traits that decide matching: a change of any of them re-runs the matcher for a known source. */
function identityKey(s: SourceIdentity): string {
  return JSON.stringify([
    s.status,
    s.ins?.matricule,
    s.ins?.oid,
    s.birthName,
    s.firstBirthGivenName,
    s.birthGivenNames,
    s.birthDate,
    s.sex,
    s.birthPlaceInsee,
    s.usedName,
  ]);
}

const isSourceOf = (traits: SourceIdentity, s: { system: string; localId: string }): boolean =>
  systemUri(traits.sourceId.system) === s.system && traits.sourceId.value === s.localId;


/** `n`: the reference traits already normalised (or the index's match traits, when they did not change). */
function entryOf(f: Pick<FederatedIdentityRecord, 'id' | 'traits' | 'flags' | 'blockingKeys'>, seq: number, n?: MatchTraits, derivedKeys?: readonly string[]): IndexEntry {
  const identity = n === undefined ? matchTraits(normaliseIdentity(f.traits)) : 'source' in n ? matchTraits(n as NormalisedIdentity) : n;
  const entry: IndexEntry = { id: f.id, identity, flags: f.flags, keys: [...new Set(f.blockingKeys)], seq };
  if (n !== undefined && derivedKeys !== undefined) entry.derivedKeys = derivedKeys;
  return entry;
}

export class IdentityService {
  private readonly maxReviews: number;
  private readonly newId: () => string;
  private readonly writeSourcePatients: boolean;
  private rulesValue: IdentityRules | undefined;
  /** The in-memory blocking index, once loaded; the database stays the truth. */
  private indexValue: CandidateIndex | undefined;
  private indexLoading: Promise<CandidateIndex> | undefined;
  /** Transactions committed while the index loads, applied once it is loaded. */
  private loadQueue: IndexOverlay[] | undefined;
  /** Change sequence number up to which the index holds every committed write. */
  private seenSeq = 0;
  private readonly txStates = new WeakMap<StoreTransaction, TxState>();

  constructor(
    private readonly store: ResourceStore,
    private readonly options: IdentityServiceOptions = {},
  ) {
    this.rulesValue = options.rules;
    this.maxReviews = Math.max(1, options.maxReviewsPerIdentity ?? 5);
    this.newId = options.newId ?? timeOrderedId;
    this.writeSourcePatients = options.writeSourcePatients ?? true;
    // A transaction of a SQLite group catches the index up through its own connection, so it can apply what an earlier
    // member of the group wrote; if that group is then lost, those identities never existed: reload from the database.
    store.onLostCommits?.((lost) => {
      // Not loaded yet (or loading: a load reads committed rows only, and no transaction catches up before it ends).
      if (!this.indexValue) return;
      process.emitWarning(`identity registry: ${lost} transaction(s) of a write group were not committed; the matcher's index is reloaded from the database`);
      this.dropIndex();
    });
  }

  /** Forgets the in-memory index: the next match loads it again from the database. */
  private dropIndex(): void {
    this.indexValue = undefined;
    this.indexLoading = undefined;
    this.seenSeq = 0;
  }

  private get rules(): IdentityRules {
    this.rulesValue ??= loadIdentityRules();
    return this.rulesValue;
  }

  // ---- registration ---------------------------------------------------------------------------------

  /** Registers one source identity in its own transaction. */
  register(source: SourceIdentity, ctx: IdentityContext): Promise<RegistrationResult> {
    return this.store.transaction((tx) => this.registerIn(tx, source, ctx));
  }

  /**
   * Registers identities in order in ONE transaction (bulk import batch): all are kept, or none. With
   * `deferProjection`, their FHIR Patients are filed for `drainProjections` instead of being written now.
   */
  registerBatch(sources: readonly SourceIdentity[], ctx: IdentityContext, options: { deferProjection?: boolean } = {}): Promise<RegistrationResult[]> {
    return this.store.transaction(async (tx) => {
      if (options.deferProjection) this.deferProjections(tx);
      return this.registerEachIn(tx, sources, ctx);
    });
  }

  private async registerEachIn(tx: StoreTransaction, sources: readonly SourceIdentity[], ctx: IdentityContext): Promise<RegistrationResult[]> {
    const out: RegistrationResult[] = [];
    for (const s of sources) out.push(await this.registerIn(tx, s, ctx));
    return out;
  }

  /**
   * Bulk registration (`passerelle identity import`), each batch one transaction, with the same decisions and rows as
   * `registerBatch`. With `pipeline` (default) on a store with a bulk writer (SQLite), batches are matched here while
   * the previous ones are written off the main thread, and the store's write lock is held until `finish()`;
   * otherwise (PostgreSQL, or `pipeline: false`) each batch goes through `registerIn`.
   */
  async openBulk<T>(options: BulkOptions<T> & { pipeline?: boolean }): Promise<BulkRegistrar<T>> {
    if (options.pipeline === false || !this.store.bulkRegistryLease) return new BulkRegistrar(this.bulkHost(), undefined, options);
    await this.warm();
    return new BulkRegistrar(this.bulkHost(), await this.store.bulkRegistryLease(), options);
  }

  private bulkHost(): BulkHost {
    return {
      rules: this.rules,
      cap: this.options.perKeyCap ?? this.rules.blocking.maxCandidatesPerKey,
      maxReviews: this.maxReviews,
      newId: this.newId,
      sync: async () => ({ index: await this.currentIndex(undefined), seq: this.seenSeq }),
      advance: (seq) => {
        this.seenSeq = seq;
      },
      invalidate: () => this.dropIndex(),
      transaction: (fn) => this.store.transaction(fn),
      registerEach: (tx, sources, ctx) => {
        this.deferProjections(tx);
        return this.registerEachIn(tx, sources, ctx);
      },
    };
  }

  /**
   * Bulk mode for `tx`: the FHIR Patients (federated and source) of the identities it touches are not written in
   * it but filed, durably, for `drainProjections`; the registry itself is written and committed as usual.
   */
  deferProjections(tx: StoreTransaction): void {
    this.stateOf(tx).deferProjection = true;
  }

  /** Registers inside a caller's transaction (e.g. with the PPP/CTM/BPM that names the patient). */
  async registerIn(tx: StoreTransaction, source: SourceIdentity, ctx: IdentityContext): Promise<RegistrationResult> {
    const ids = tx.identities;
    const system = systemUri(source.sourceId.system);
    const localId = source.sourceId.value;
    const state = this.stateOf(tx);
    if (this.writeSourcePatients && !state.deferProjection) await this.putValid(tx, mapPatient(source));
    const known = await ids.getSource(system, localId);
    if (known) return this.reRegister(tx, known, source, ctx);

    const n = normaliseIdentity(source);
    const keys = blockingKeys(n);
    const results = (await this.score(tx, n, new Set(), keys)).filter((r) => r.grade !== 'certainly-not').sort(byScore);
    const certain = results.filter((r) => r.grade === 'certain');

    if (certain.length === 1) {
      const best = certain[0];
      const fed = (await ids.getFederated(best.federatedId)) as FederatedIdentityRecord;
      await ids.putSource({ system, localId, federatedId: fed.id, traits: source, status: source.status, decision: 'auto', score: best.score });
      // A better-status source becomes the reference; a lower one never replaces it (a QUAL identity stays as qualified).
      // Nor does any while a collision is under review: a person decides which traits the identity has.
      const promoted = STATUS_RANK[source.status] > STATUS_RANK[fed.status] && !fed.flags.includes('COLP');
      const filed = { ...fed, blockingKeys: union(fed.blockingKeys, keys) };
      await this.refresh(tx, promoted ? { ...filed, traits: source, status: source.status } : filed, promoted ? n : undefined);
      const result = autoLinkedResult(fed.id, best);
      await this.auditRegistration(tx, ctx, system, localId, result, promoted ? 'reference traits promoted' : undefined);
      return result;
    }

    // Several certain matches on different identities: never pick one; a human decides.
    const reviewed = (certain.length > 1 ? certain : results).slice(0, this.maxReviews);
    const federatedId = this.newId();
    // Its review flags (DPOT / COLP) are those of the items opened below: written once, with them.
    const flags = sortFlags(reviewed.map((r) => r.flag ?? 'DPOT'));
    const created: FederatedInput = { id: federatedId, status: source.status, flags, active: true, traits: source, blockingKeys: keys };
    await this.writeFederated(tx, created, n, keys);
    await ids.putSource({
      system,
      localId,
      federatedId,
      traits: source,
      status: source.status,
      decision: reviewed.length > 0 ? 'review' : 'new',
      ...(reviewed.length > 0 ? { score: reviewed[0].score } : {}),
    });
    state.touched.add(federatedId);
    let reviewIds: string[] = [];
    if (reviewed.length > 0) {
      reviewIds = await this.openReviews(tx, { system, localId }, federatedId, reviewed);
    }
    const result = separateIdentityResult(federatedId, reviewed, reviewIds);
    await this.auditRegistration(tx, ctx, system, localId, result);
    return result;
  }

  /** A source seen before keeps its federated identity; changed traits are re-matched without moving it. */
  private async reRegister(tx: StoreTransaction, known: SourceIdentityRecord, source: SourceIdentity, ctx: IdentityContext): Promise<RegistrationResult> {
    const ids = tx.identities;
    const result: RegistrationResult = { federatedId: known.federatedId, decision: 'known', link: known.decision };
    const update = (): Promise<void> => ids.putSource({ ...known, traits: source, status: source.status });
    if (identityKey(known.traits) === identityKey(source)) {
      if (JSON.stringify(known.traits) !== JSON.stringify(source)) await update();
      return result;
    }
    const stored = (await ids.getFederated(known.federatedId)) as FederatedIdentityRecord;
    const audit = (detail: string): Promise<void> => this.auditRegistration(tx, ctx, known.system, known.localId, result, detail);
    const n = normaliseIdentity(source);
    // Filed under the new traits' keys too (the old ones stay: other sources may still carry them).
    const fed = { ...stored, blockingKeys: union(stored.blockingKeys, blockingKeys(n)) };
    if ((await ids.openReviewsOf(stored.id)).some(isCollisionItem)) {
      // A person is deciding which traits this identity has: record what the source sends, change nothing else.
      await update();
      await this.refresh(tx, fed);
      await audit('traits updated; a potential collision (COLP) of the identity is under review');
      return result;
    }
    if (stored.status === 'QUAL') {
      // Whatever the source's status or link: a qualified identity never takes or keeps contradicting traits silently.
      const changed = changedStrictTraits(matchTraits(normaliseIdentity(known.traits)), matchTraits(n), this.rules);
      if (changed.length > 0) return this.openCollision(tx, known, source, n, fed, changed, ctx);
    }
    await update();
    await this.refresh(tx, fed);
    if (known.decision === 'manual') {
      // A human settled this link; the matcher does not reopen it.
      await audit('traits updated; link set by a human kept');
      return result;
    }
    if (fed.status === 'QUAL' && source.status !== 'QUAL') {
      await audit('traits updated; the qualified reference traits were kept');
      return result;
    }
    const others = (await ids.sourcesOf(fed.id)).filter((s) => !(s.system === known.system && s.localId === known.localId));
    const wasReference = isSourceOf(fed.traits, known);
    if (others.length > 0 && !wasReference && STATUS_RANK[source.status] <= STATUS_RANK[fed.status]) {
      await audit('traits updated');
      return result;
    }
    // This source gives the reference traits: update them, then look for duplicates they now reveal.
    // Never move the source automatically (that would merge two identities): open review items instead.
    const updated = { ...fed, traits: source, status: source.status };
    const exclude = new Set<string>([fed.id]);
    for (const d of await ids.pairDecisionsOf(fed.id)) exclude.add(d.a === fed.id ? d.b : d.a);
    for (const r of await ids.openReviewsOf(fed.id)) exclude.add(r.newFederatedId === fed.id ? r.candidateFederatedId : r.newFederatedId);
    const reviewed = (await this.score(tx, n, exclude))
      .filter((r) => r.grade !== 'certainly-not')
      .sort(byScore)
      .slice(0, this.maxReviews);
    const reviewIds = await this.openReviews(tx, known, fed.id, reviewed);
    if (reviewIds.length > 0 && known.decision !== 'review') await ids.putSource({ ...known, traits: source, status: source.status, decision: 'review', score: reviewed[0].score });
    await this.refresh(tx, updated, n);
    if (reviewIds.length > 0) {
      Object.assign(result, { decision: 'review', link: 'review', grade: reviewed[0].grade, score: reviewed[0].score, reviewId: reviewIds[0], reviewIds });
    }
    await audit('reference traits updated');
    return result;
  }

  /**
   * A known source of a qualified identity changed a strict trait: one COLP item on the identity itself (new and
   * candidate are the same identity), the source's link is under review (its documents wait) and the identity is no
   * longer QUAL (`refresh` caps it while the item is open); its reference traits stay until a person decides.
   */
  private async openCollision(
    tx: StoreTransaction,
    known: SourceIdentityRecord,
    source: SourceIdentity,
    n: NormalisedIdentity,
    fed: FederatedIdentityRecord,
    changed: readonly StrictTrait[],
    ctx: IdentityContext,
  ): Promise<RegistrationResult> {
    const ids = tx.identities;
    const reference = { federatedId: fed.id, identity: matchTraits(normaliseIdentity(fed.traits)), flags: fed.flags };
    const comparison = collisionComparison(matchTraits(n), reference, changed, this.rules);
    await ids.putSource({ ...known, traits: source, status: source.status, decision: 'review', score: comparison.score });
    const reviewId = this.newId();
    await ids.insertReview({
      id: reviewId,
      sourceSystem: known.system,
      sourceId: known.localId,
      newFederatedId: fed.id,
      candidateFederatedId: fed.id,
      grade: comparison.grade,
      score: comparison.score,
      comparison,
      flag: 'COLP',
    });
    await this.refresh(tx, fed);
    const result: RegistrationResult = {
      federatedId: fed.id,
      decision: 'review',
      link: 'review',
      grade: comparison.grade,
      score: comparison.score,
      reviewId,
      reviewIds: [reviewId],
    };
    await this.auditRegistration(tx, ctx, known.system, known.localId, result, `strict traits of a qualified identity changed (${changed.join(', ')}): potential collision (COLP), identity ${STATUS_UNDER_COLLISION} until a person decides`);
    return result;
  }

  /** Opens one review item per result (new identity vs candidate); flags are set by `refresh`. */
  private async openReviews(
    tx: StoreTransaction,
    source: { system: string; localId: string },
    federatedId: string,
    results: readonly MatchResult[],
  ): Promise<string[]> {
    const out: string[] = [];
    for (const r of results) {
      const id = this.newId();
      await tx.identities.insertReview({
        id,
        sourceSystem: source.system,
        sourceId: source.localId,
        newFederatedId: federatedId,
        candidateFederatedId: r.federatedId,
        grade: r.grade,
        score: r.score,
        comparison: r,
        flag: r.flag ?? 'DPOT',
      });
      out.push(id);
      const candidate = await tx.identities.getFederated(r.federatedId);
      // Its review flags come from its open items: one more item with a flag it already shows changes nothing (and
      // re-reading every open item of a much-proposed identity made bulk imports slow down as the queue grew).
      if (candidate && !(candidate.active && candidate.flags.includes(r.flag ?? 'DPOT'))) await this.refresh(tx, candidate);
    }
    return out;
  }

  // ---- matching -------------------------------------------------------------------------------------

  /** Candidates for `source`, best first (no write): the `Patient/$match` answer. `certainly-not` is left out. */
  async match(source: SourceIdentity, options: MatchOptions = {}): Promise<MatchResult[]> {
    const results = (await this.score(undefined, normaliseIdentity(source), new Set()))
      .filter((r) => r.grade !== 'certainly-not')
      .sort(byScore);
    if (options.onlyCertain) {
      const certain = results.filter((r) => r.grade === 'certain');
      return certain.length === 1 ? certain : [];
    }
    return results.slice(0, Math.max(0, options.count ?? 10));
  }

  /**
   * Compares `n` with the candidates the blocking index gives, as `tx` sees them (outside a transaction: committed);
   * returns those not graded `certainly-not`.
   */
  private async score(tx: StoreTransaction | undefined, n: NormalisedIdentity, exclude: ReadonlySet<string>, keys?: readonly string[]): Promise<MatchResult[]> {
    const index = await this.currentIndex(tx);
    const overlay = tx ? this.stateOf(tx).overlay : undefined;
    const rules = this.rules;
    const cap = this.options.perKeyCap ?? rules.blocking.maxCandidatesPerKey;
    return matchCandidates(index, n, rules, { cap, exclude, ...(overlay ? { overlay } : {}), ...(keys ? { keys } : {}) }).results;
  }

  // ---- the in-memory index --------------------------------------------------------------------------

  /**
   * Loads the blocking index now (it is otherwise loaded by the first match): a server warms it at start.
   * Returns the number of active federated identities indexed.
   */
  async warm(): Promise<number> {
    return (await this.currentIndex(undefined)).size;
  }

  private stateOf(tx: StoreTransaction): TxState {
    let state = this.txStates.get(tx);
    if (!state) {
      const s: TxState = { overlay: new IndexOverlay(), touched: new Set(), deferProjection: false };
      this.txStates.set(tx, s);
      tx.beforeCommit(() => this.projectTouched(tx, s));
      tx.afterCommit(() => this.committed(s));
      state = s;
    }
    return state;
  }

  /** The index, loaded, and current with what other transactions (or processes) committed. */
  private async currentIndex(tx: StoreTransaction | undefined): Promise<CandidateIndex> {
    const index = this.indexValue ?? (await (this.indexLoading ??= this.loadIndex()));
    // In a transaction, only before it wrote the registry: its reads then see committed rows only (and no other
    // writer commits while it runs).
    if (!tx) await this.catchUp(index, this.store.identities);
    else {
      const state = await this.locked(tx);
      if (state.firstSeq === undefined) await this.catchUp(index, tx.identities);
    }
    return index;
  }

  private async loadIndex(): Promise<CandidateIndex> {
    const index = new CandidateIndex();
    this.loadQueue = [];
    try {
      const seq = await this.store.identities.identitySeq();
      for await (const f of this.store.identities.activeFederated()) index.set(entryOf(f, f.seq));
      for (const overlay of this.loadQueue) index.apply(overlay);
      this.seenSeq = seq;
      this.indexValue = index;
      return index;
    } catch (err) {
      this.indexLoading = undefined;
      throw err;
    } finally {
      this.loadQueue = undefined;
    }
  }

  /** Applies what was committed after `seenSeq` (by this or another process). */
  private async catchUp(index: CandidateIndex, reader: IdentityReader): Promise<void> {
    const target = await reader.identitySeq();
    while (this.seenSeq < target) {
      const rows = await reader.federatedChangedSince(this.seenSeq, CATCH_UP_PAGE);
      for (const f of rows) {
        if (f.active) index.set(entryOf(f, f.seq));
        else index.remove(f.id, f.seq);
        this.seenSeq = Math.max(this.seenSeq, f.seq);
      }
      if (rows.length < CATCH_UP_PAGE) this.seenSeq = Math.max(this.seenSeq, target);
    }
  }

  /** After a commit: the transaction's index changes become everyone's. */
  private committed(state: TxState): void {
    if (state.overlay.size === 0) return;
    if (this.indexValue) {
      this.indexValue.apply(state.overlay);
      // Nobody else wrote between the index's last change and this transaction: it is current up to our last.
      if (state.firstSeq !== undefined && state.lastSeq !== undefined && this.seenSeq === state.firstSeq - 1) this.seenSeq = state.lastSeq;
    } else {
      this.loadQueue?.push(state.overlay);
    }
  }

  /** The transaction's state, once it holds the registry lock (writers in order of their change numbers). */
  private async locked(tx: StoreTransaction): Promise<TxState> {
    const state = this.stateOf(tx);
    if (!state.locked) {
      await tx.identities.lockRegistry();
      state.locked = true;
    }
    return state;
  }

  /** Writes a federated identity and stages its index change for the transaction. */
  /** `derivedKeys`: `blockingKeys(n)`, when the caller has them. */
  private async writeFederated(tx: StoreTransaction, record: FederatedInput, n?: MatchTraits, derivedKeys?: readonly string[]): Promise<void> {
    const state = await this.locked(tx);
    const seq = await tx.identities.putFederated(record);
    state.firstSeq ??= seq;
    state.lastSeq = seq;
    if (record.active) state.overlay.set(entryOf(record, seq, n, derivedKeys));
    else state.overlay.remove(record.id, seq);
  }

  // ---- review queue ---------------------------------------------------------------------------------

  /** The queue, filtered and sorted (oldest first by default; docs/identity.md, "The review queue"). */
  listReviews(query: Partial<ReviewListQuery> = {}): Promise<{ items: ReviewRecord[]; total: number }> {
    return this.store.identities.listReviews({ ...query, limit: query.limit ?? 50, offset: query.offset ?? 0 });
  }

  /** Items matching `filter` by grade, and the oldest one's opening. */
  reviewStats(filter: ReviewFilter): Promise<ReviewStats> {
    return this.store.identities.reviewStats(filter);
  }

  /** Assigns a review item to a referent (`null`: to nobody), with its audit row; open items only. */
  async assign(id: string, assignee: string | null, ctx: IdentityContext): Promise<ReviewRecord> {
    return this.store.transaction(async (tx) => {
      const review = await tx.identities.getReview(id);
      if (!review) throw notFound(`Review item ${id} not found`);
      if (review.state !== 'open') throw conflict(`Review item ${id} is already decided (${review.decision ?? ''})`);
      await tx.identities.assignReview(id, assignee);
      await tx.audit({
        action: 'identity.review-assign',
        actor: ctx.actor,
        entities: [`Patient/${review.newFederatedId}`, `Patient/${review.candidateFederatedId}`],
        outcome: 'success',
        detail: JSON.stringify({ review: id, assignee, previous: review.assignee ?? null }),
        ...(ctx.requestId ? { requestId: ctx.requestId } : {}),
      });
      return (await tx.identities.getReview(id)) as ReviewRecord;
    });
  }

  async getReview(id: string): Promise<ReviewDetail | undefined> {
    const ids = this.store.identities;
    const review = await ids.getReview(id);
    if (!review) return undefined;
    const [source, newIdentity, candidate] = await Promise.all([
      ids.getSource(review.sourceSystem, review.sourceId),
      this.view(ids, review.newFederatedId),
      this.view(ids, review.candidateFederatedId),
    ]);
    return { review, ...(source ? { source } : {}), newIdentity, candidate };
  }

  async getFederated(id: string): Promise<FederatedView | undefined> {
    const f = await this.store.identities.getFederated(id);
    return f && { ...f, sources: await this.store.identities.sourcesOf(id) };
  }

  /** The federated identity a source identity is linked to, with how it was linked. */
  async linkOf(system: string, localId: string): Promise<SourceIdentityRecord | undefined> {
    return this.store.identities.getSource(systemUri(system), localId);
  }

  private async view(ids: IdentityReader, id: string): Promise<FederatedView> {
    const f = await ids.getFederated(id);
    if (!f) throw new Error(`identity registry: federated identity ${id} is missing`);
    return { ...f, sources: await ids.sourcesOf(id) };
  }

  /** A human decision on a review item: `same` merges (the newer identity is deactivated), `different` is remembered. */
  async decide(id: string, input: ReviewDecisionInput, ctx?: IdentityContext): Promise<DecisionResult> {
    if (input.decision !== 'same' && input.decision !== 'different') throw invalid('decision: expected "same" or "different"', 'decision');
    checkWhoWhy(input);
    return this.store.transaction(async (tx) => {
      const ids = tx.identities;
      const review = await ids.getReview(id);
      if (!review) throw notFound(`Review item ${id} not found`);
      if (review.state !== 'open') throw conflict(`Review item ${id} is already decided (${review.decision ?? ''})`);
      const candidate = (await ids.getFederated(review.candidateFederatedId)) as FederatedIdentityRecord;
      const created = (await ids.getFederated(review.newFederatedId)) as FederatedIdentityRecord;
      if (!candidate.active || !created.active) throw conflict(`Review item ${id} names an inactive federated identity`);
      const decided = { decision: input.decision, decidedBy: input.who, reason: input.why };
      await ids.closeReview(id, decided);
      const collision = isCollisionItem(review);
      if (!collision) await ids.putPairDecision({ a: candidate.id, b: created.id, ...decided, reviewId: id });

      let result: Omit<DecisionResult, 'review'>;
      let event: IdentityDecisionEvent;
      if (collision) {
        ({ result, event } = await this.decideCollision(tx, review, created, input));
      } else if (input.decision === 'same') {
        // The older identity survives (the candidate, unless a merge retargeted the item).
        const [winner, loser] = created.created < candidate.created ? [created, candidate] : [candidate, created];
        const moved = await this.merge(tx, winner, loser, id, input);
        result = { federatedId: winner.id, replaced: loser.id };
        event = { kind: 'merge', reviewId: id, federatedIds: [winner.id, loser.id], sources: moved };
      } else {
        await this.refresh(tx, candidate);
        await this.refresh(tx, created);
        result = { federatedId: created.id };
        event = { kind: 'different', reviewId: id, federatedIds: [created.id, candidate.id], sources: [] };
      }
      const settled = await this.settleSource(tx, review.sourceSystem, review.sourceId);
      if (settled && !event.sources.some((s) => s.system === settled.system && s.localId === settled.localId)) event.sources.push(settled);
      await tx.audit({
        action: collision ? `identity.collision-${input.decision}` : input.decision === 'same' ? 'identity.merge' : 'identity.reject',
        actor: ctx?.actor ?? input.who,
        entities: [...event.federatedIds.map((f) => `Patient/${f}`), `Patient/${sourcePatientId(review.sourceSystem, review.sourceId)}`],
        outcome: 'success',
        detail: JSON.stringify({ review: id, decision: input.decision, who: input.who, why: input.why, ...result, moved: event.sources.map((s) => [s.system, s.localId]) }),
        ...(ctx?.requestId ? { requestId: ctx.requestId } : {}),
      });
      await this.options.onDecision?.(tx, event);
      return { review: (await ids.getReview(id)) as ReviewRecord, ...result };
    });
  }

  /**
   * A COLP item on one identity. `same`: the change is the person's (a correction): the best-status source gives the
   * reference traits and status again, the reviewed source first among equals — QUAL comes back when it is QUAL.
   * `different`: the source now names another person: it leaves for an identity of its own, never QUAL (the INS it
   * carries belongs to the other person; flag COLV on the old one), and the old identity takes its reference from its
   * remaining sources; a source that is the identity's only one cannot leave it: the identity stays
   * VALI, COLV, and its documents do not go to the DMP.
   */
  private async decideCollision(
    tx: StoreTransaction,
    review: ReviewRecord,
    fed: FederatedIdentityRecord,
    input: ReviewDecisionInput,
  ): Promise<{ result: Omit<DecisionResult, 'review'>; event: IdentityDecisionEvent }> {
    const ids = tx.identities;
    const sources = await ids.sourcesOf(fed.id);
    const reviewed = sources.find((s) => s.system === review.sourceSystem && s.localId === review.sourceId);
    const others = sources.filter((s) => s !== reviewed);
    const best = [...others].sort((x, y) => STATUS_RANK[y.status] - STATUS_RANK[x.status] || (x.created < y.created ? -1 : 1))[0] as SourceIdentityRecord | undefined;
    const base: Pick<IdentityDecisionEvent, 'kind' | 'reviewId'> = { kind: 'collision', reviewId: review.id };
    if (input.decision === 'same') {
      const ref = reviewed && (!best || STATUS_RANK[reviewed.status] >= STATUS_RANK[best.status]) ? reviewed : best;
      await this.refresh(tx, ref ? { ...fed, traits: ref.traits, status: ref.status } : fed);
      await this.rebuildKeys(tx, fed.id);
      return { result: { federatedId: fed.id }, event: { ...base, federatedIds: [fed.id], sources: [] } };
    }
    const colv = sortFlags([...fed.flags, 'COLV']);
    if (!reviewed || !best) {
      // Nothing to separate: the source already left (a separation), or it is the identity's only one.
      await this.refresh(tx, best ? { ...fed, traits: best.traits, status: best.status, flags: colv } : { ...fed, flags: colv });
      if (best) await this.rebuildKeys(tx, fed.id);
      return { result: { federatedId: fed.id }, event: { ...base, federatedIds: [fed.id], sources: [] } };
    }
    const federatedId = this.newId();
    const status = STATUS_RANK[reviewed.status] > STATUS_RANK[STATUS_UNDER_COLLISION] ? STATUS_UNDER_COLLISION : reviewed.status;
    const traits = { ...reviewed.traits, status };
    const n = normaliseIdentity(traits);
    await this.writeFederated(tx, { id: federatedId, status, flags: [], active: true, traits, blockingKeys: blockingKeys(n) }, n);
    await ids.putSource({ ...reviewed, federatedId, decision: 'manual' });
    await ids.putPairDecision({ a: fed.id, b: federatedId, decision: 'different', decidedBy: input.who, reason: input.why, reviewId: review.id });
    await this.refresh(tx, { ...fed, traits: best.traits, status: best.status, flags: colv });
    await this.rebuildKeys(tx, fed.id);
    await this.refresh(tx, (await ids.getFederated(federatedId)) as FederatedIdentityRecord);
    return {
      result: { federatedId },
      event: { ...base, federatedIds: [fed.id, federatedId], sources: [{ system: reviewed.system, localId: reviewed.localId, federatedId }] },
    };
  }

  /** Merge `loser` into `winner`: DOUA + DESA, inactive, replaced-by; its sources, keys and rejections move. */
  private async merge(
    tx: StoreTransaction,
    winner: FederatedIdentityRecord,
    loser: FederatedIdentityRecord,
    reviewId: string,
    input: ReviewDecisionInput,
  ): Promise<IdentityDecisionEvent['sources']> {
    const ids = tx.identities;
    // "Not the same person as X" holds for everything merged into the winner.
    for (const d of await ids.pairDecisionsOf(loser.id)) {
      const other = d.a === loser.id ? d.b : d.a;
      if (d.decision !== 'different' || other === winner.id || (await ids.pairDecision(winner.id, other))) continue;
      await ids.putPairDecision({ a: winner.id, b: other, decision: 'different', decidedBy: d.decidedBy, reason: `carried over from ${loser.id} by the merge of review ${reviewId}`, reviewId });
    }
    // A COLP item on one identity stays open through a merge: only pair items the merge joined are resolved.
    const collisions = new Set([...(await ids.openReviewsOf(loser.id)), ...(await ids.openReviewsOf(winner.id))].filter(isCollisionItem).map((r) => r.id));
    const moved = await ids.moveSources(loser.id, winner.id, 'manual');
    await ids.retargetOpenReviews(loser.id, winner.id);
    for (const r of await ids.openReviewsOf(winner.id)) {
      if (r.newFederatedId === r.candidateFederatedId && !collisions.has(r.id)) {
        await ids.closeReview(r.id, { decision: 'same', decidedBy: input.who, reason: `resolved by the merge of review ${reviewId}` });
      }
    }
    await this.refresh(tx, {
      ...loser,
      blockingKeys: [],
      active: false,
      replacedBy: winner.id,
      flags: sortFlags([...loser.flags.filter((f) => !REVIEW_FLAGS.has(f)), 'DOUA', 'DESA']),
    });
    // The merged identity keeps the best-status reference traits; a QUAL reference is never replaced by a lower one.
    const reference = STATUS_RANK[loser.status] > STATUS_RANK[winner.status] ? { traits: loser.traits, status: loser.status } : {};
    await this.refresh(tx, { ...winner, ...reference });
    await this.rebuildKeys(tx, winner.id);
    return moved.map((s) => ({ system: s.system, localId: s.localId, federatedId: winner.id }));
  }

  /** Unmerge: detach a source identity into a new federated identity, remembered as a different person. */
  async separate(sourceSystem: string, sourceId: string, input: SeparateInput, ctx?: IdentityContext): Promise<SeparateResult> {
    checkWhoWhy(input);
    const system = systemUri(sourceSystem);
    return this.store.transaction(async (tx) => {
      const ids = tx.identities;
      const source = await ids.getSource(system, sourceId);
      if (!source) throw notFound(`Source identity ${system}|${sourceId} not found`);
      const old = (await ids.getFederated(source.federatedId)) as FederatedIdentityRecord;
      const others = (await ids.sourcesOf(old.id)).filter((s) => !(s.system === system && s.localId === sourceId));
      if (others.length === 0) throw businessRule(`Source identity ${system}|${sourceId} is the only source of ${old.id}: nothing to separate`);

      const federatedId = this.newId();
      const n = normaliseIdentity(source.traits);
      await this.writeFederated(tx, { id: federatedId, status: source.status, flags: [], active: true, traits: source.traits, blockingKeys: blockingKeys(n) }, n);
      await ids.putSource({ ...source, federatedId, decision: 'manual' });
      await ids.putPairDecision({ a: old.id, b: federatedId, decision: 'different', decidedBy: input.who, reason: input.why });

      // If the detached source gave the reference traits, the best remaining source (status, then age) does.
      let reference = { traits: old.traits, status: old.status };
      if (isSourceOf(old.traits, source)) {
        const best = [...others].sort((x, y) => STATUS_RANK[y.status] - STATUS_RANK[x.status] || (x.created < y.created ? -1 : 1))[0];
        reference = { traits: best.traits, status: best.status };
      }
      const flags = input.collision === false ? old.flags : sortFlags([...old.flags, 'COLV']);
      await this.refresh(tx, { ...old, ...reference, flags });
      await this.rebuildKeys(tx, old.id);
      await this.refresh(tx, (await ids.getFederated(federatedId)) as FederatedIdentityRecord);

      const event: IdentityDecisionEvent = { kind: 'separate', federatedIds: [old.id, federatedId], sources: [{ system, localId: sourceId, federatedId }] };
      await tx.audit({
        action: 'identity.separate',
        actor: ctx?.actor ?? input.who,
        entities: [`Patient/${old.id}`, `Patient/${federatedId}`, `Patient/${sourcePatientId(system, sourceId)}`],
        outcome: 'success',
        detail: JSON.stringify({ who: input.who, why: input.why, from: old.id, to: federatedId, collision: input.collision !== false }),
        ...(ctx?.requestId ? { requestId: ctx.requestId } : {}),
      });
      await this.options.onDecision?.(tx, event);
      return { federatedId, previousFederatedId: old.id };
    });
  }

  /** Every source identity with its link (`passerelle identity links`). */
  links(): AsyncIterable<LinkRow> {
    return this.store.identities.links();
  }

  // ---- internals ------------------------------------------------------------------------------------

  /** A `review` source with no open item of its own left is now settled by a human. */
  private async settleSource(tx: StoreTransaction, system: string, localId: string): Promise<IdentityDecisionEvent['sources'][number] | undefined> {
    const s = await tx.identities.getSource(system, localId);
    if (!s || s.decision !== 'review') return undefined;
    const own = (await tx.identities.openReviewsOf(s.federatedId)).filter((r) => r.sourceSystem === system && r.sourceId === localId);
    if (own.length > 0) return undefined;
    const decision: SourceDecision = 'manual';
    await tx.identities.putSource({ ...s, decision });
    return { system, localId, federatedId: s.federatedId };
  }

  /** Blocking keys of a federated identity = those of its reference traits and of every source. */
  private async rebuildKeys(tx: StoreTransaction, federatedId: string): Promise<void> {
    const f = (await tx.identities.getFederated(federatedId)) as FederatedIdentityRecord;
    const keys = new Set(blockingKeys(normaliseIdentity(f.traits)));
    for (const s of await tx.identities.sourcesOf(federatedId)) for (const k of blockingKeys(normaliseIdentity(s.traits))) keys.add(k);
    await this.refresh(tx, { ...f, blockingKeys: [...keys] });
  }

  /**
   * Stores the federated identity (review flags recomputed from the open queue) when it changed, and marks its
   * Patient for writing before the commit. An inactive identity has no blocking keys. `n`: its normalised
   * reference traits, when the caller has them.
   */
  private async refresh(tx: StoreTransaction, f: FederatedIdentityRecord, n?: NormalisedIdentity): Promise<void> {
    const ids = tx.identities;
    const open = f.active ? await ids.openReviewsOf(f.id) : [];
    const flags = sortFlags([...f.flags.filter((x) => !REVIEW_FLAGS.has(x)), ...open.map((r) => r.flag)]);
    // Never QUAL while a COLP item on the identity itself is open (whatever wrote it: a merge, a promotion).
    if (f.status === 'QUAL' && open.some(isCollisionItem)) {
      f = { ...f, status: STATUS_UNDER_COLLISION, traits: { ...f.traits, status: STATUS_UNDER_COLLISION } };
      if (n) n = { ...n, source: f.traits, status: STATUS_UNDER_COLLISION };
    }
    const { created: _c, updated: _u, seq: _s, ...record } = { ...f, flags, blockingKeys: f.active ? f.blockingKeys : [] };
    const stored = await ids.getFederated(f.id);
    if (!stored || stateKey(stored) !== stateKey(record)) {
      // Same reference traits as stored: the index's normalised form still holds (no need to normalise again).
      const known = n ?? (stored && JSON.stringify(stored.traits) === JSON.stringify(record.traits) ? this.indexValue?.get(f.id, this.stateOf(tx).overlay)?.identity : undefined);
      await this.writeFederated(tx, record, known);
    }
    this.stateOf(tx).touched.add(f.id);
  }

  /** Before the commit: the touched identities' Patients are written, or filed as pending in bulk mode. */
  private async projectTouched(tx: StoreTransaction, state: TxState): Promise<void> {
    if (state.touched.size === 0) return;
    const ids = [...state.touched];
    state.touched.clear();
    if (state.deferProjection) await tx.identities.markProjectionPending(ids);
    else for (const id of ids) await this.project(tx, id);
  }

  /** Writes the FHIR Patient of a federated identity (not its sources' Patients: `registerSource` writes those). */
  private async project(tx: StoreTransaction, federatedId: string): Promise<void> {
    const ids = tx.identities;
    const f = await ids.getFederated(federatedId);
    if (!f) return;
    const [sources, replaces] = await Promise.all([ids.sourcesOf(f.id), ids.mergedInto(f.id)]);
    await this.putValid(tx, federatedPatient({ identity: f, sources, replaces }));
  }

  /**
   * Writes the FHIR Patients of federated identities a bulk import left pending: each one's Patient, then each of its
   * sources' Patients that is missing or does not point at it. The registry is read and the Patients written a whole
   * batch at a time (`sourcesAndMergedOf`, `readMany`, `putMany`): the same Patients, in the same order, as writing
   * them one by one.
   */
  private async projectPending(tx: StoreTransaction, federatedIds: readonly string[]): Promise<void> {
    const ids = tx.identities;
    const [federated, related] = await Promise.all([ids.getFederatedMany(federatedIds), ids.sourcesAndMergedOf(federatedIds)]);
    const sourcePatientIds: string[] = [];
    for (const f of federated) for (const s of related.get(f.id)?.sources ?? []) sourcePatientIds.push(sourcePatientId(s.system, s.localId));
    const current = await tx.readMany<Patient>('Patient', sourcePatientIds);
    const patients: Patient[] = [];
    for (const f of federated) {
      const { sources, replaces } = related.get(f.id) ?? { sources: [], replaces: [] };
      patients.push(federatedPatient({ identity: f, sources, replaces }));
      for (const s of sources) {
        const existing = current.get(sourcePatientId(s.system, s.localId));
        if (existing && refersTo(existing, f.id)) continue;
        patients.push(linkToFederated(existing ?? mapPatient(s.traits), f.id));
      }
    }
    for (const p of patients) assertValid(p);
    await tx.putMany(patients);
  }

  /**
   * Writes the FHIR Patients a bulk import left pending, a transaction per batch, until none is left (also after a
   * crash: the pending list is durable, and a batch leaves it in the transaction that writes its Patients). Returns
   * how many federated identities were projected; `onProgress` after each batch, and once before the first, with the
   * pending count at the start (`total`, never below `done`).
   */
  async drainProjections(options: { batchSize?: number; onProgress?: (p: { done: number; total: number }) => void } = {}): Promise<number> {
    const size = Math.max(1, Math.trunc(options.batchSize ?? PROJECTION_BATCH));
    const pending = options.onProgress ? await this.store.identities.countProjectionPending() : 0;
    if (pending > 0) options.onProgress?.({ done: 0, total: pending });
    let done = 0;
    for (;;) {
      const n = await this.store.transaction(async (tx) => {
        const ids = await tx.identities.takeProjectionPending(size);
        await this.projectPending(tx, ids);
        return ids.length;
      });
      done += n;
      if (n > 0) options.onProgress?.({ done, total: Math.max(pending, done) });
      if (n < size) return done;
    }
  }

  private async putValid(tx: StoreTransaction, patient: Patient): Promise<void> {
    assertValid(patient);
    await tx.put(patient);
  }

  private async auditRegistration(
    tx: StoreTransaction,
    ctx: IdentityContext,
    system: string,
    localId: string,
    result: RegistrationResult,
    note?: string,
  ): Promise<void> {
    tx.afterCommit(() => metrics.identityDecisions.inc({ decision: result.decision, grade: result.grade ?? 'none' }));
    await tx.audit(registrationAudit(ctx, system, localId, result, note));
  }
}

const stateKey = (f: FederatedInput): string =>
  JSON.stringify([f.status, f.flags, f.active, f.replacedBy ?? null, f.traits, [...new Set(f.blockingKeys)].sort()]);

function checkWhoWhy(input: { who: string; why: string }): void {
  if (typeof input.who !== 'string' || input.who.trim() === '') throw invalid('who: the person deciding is required', 'who');
  if (typeof input.why !== 'string' || input.why.trim() === '') throw invalid('why: a reason is required', 'why');
}
