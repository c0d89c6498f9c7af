// The storage contract every dialect implements (SQLite now, PostgreSQL later). Services only see this
// interface; a submission is one `transaction()` call, so its resources and audit rows commit together.
import type { MssanteRepository, MssanteWriter } from './mssante-repository.js';
import type { PathwayLinkRepository, PathwayLinkWriter } from './pathway-link-repository.js';
import type { PathwayRepository, PathwayWriter } from './pathway-repository.js';
import type { IdentityAnomalyRepository, IdentityAnomalyWriter } from './identity-anomaly-repository.js';
import type { ReportRepository } from './report-repository.js';
import type { Resource } from '@medplum/fhirtypes';

// The query shape is defined beside the search parameters (fhir layer) so that layer does not import the
// store; it is re-exported here because this is where services meet it.
import type { SearchQuery } from '../fhir/search-params.js';
import type { IdentityRepository, IdentityWriter } from './identity-repository.js';
import type { OutboxRepository, OutboxWriter } from './outbox-repository.js';
import type { RegistryBatchWriter } from './registry-batch.js';
import type { AccessWriter, SecurityRepository } from './security-repository.js';
import type { DirectoryRepository } from './directory-repository.js';
import type { AuditTrail } from './audit-trail.js';
import type { ConflictBoardRepository } from './conflict-board-repository.js';
export type { SearchPredicate, SearchQuery } from '../fhir/search-params.js';

export interface SearchResult {
  resources: Resource[];
  total?: number;
}

/** A resource's type and id. */
export interface ResourceKey {
  type: string;
  id: string;
}

export interface StoredVersion {
  resource: Resource;
  /** True when this version is a deletion marker. */
  deleted: boolean;
}

export interface AuditEntry {
  /** e.g. `ppp.submit`, `ppp.link-ctm`, `ppp.unlink-ctm`, `fhir.create`. */
  action: string;
  /** Authenticated client id (`person:<sub>` for a person), or `anonymous` when authentication is off. */
  actor: string;
  /** The person behind the request, when one signed in: `rpps:<RPPS>` or `sub:<provider subject>`. */
  person?: string;
  /** The principal's tenant (`establishment:<FINESS>`…), when it has one. */
  tenant?: string;
  /** Where the request came from (client address). */
  source?: string;
  /** Resource references touched (`CarePlan/abc`). */
  entities: string[];
  outcome: 'success' | 'failure';
  detail?: string;
  requestId?: string;
}

export interface AuditRecord extends AuditEntry {
  id: number;
  recorded: string;
  /** Its link in the hash chain (src/store/audit-trail.ts); absent on rows older than the chain. */
  hash?: string;
}

export interface WriteOptions {
  /** Optimistic locking: the version the caller last read (from `If-Match: W/"n"`). */
  ifMatchVersion?: string;
}

/** What a transaction can do; handed to the callback of `ResourceStore.transaction()`. */
export interface StoreTransaction {
  read<T extends Resource = Resource>(resourceType: string, id: string): Promise<T | undefined>;
  /**
   * Create or update the resource under its `id` (required). Returns the stored resource with
   * `meta.versionId` and `meta.lastUpdated` set. When the content equals the current version
   * (ignoring meta), no new version is written and the current one is returned with `changed: false`.
   */
  put<T extends Resource>(resource: T, options?: WriteOptions): Promise<{ resource: T; created: boolean; changed: boolean }>;
  /**
   * `read` of many resources of one type at once (bulk writes: one statement on SQLite): the live ones, by id; an id
   * with no live version is absent from the map.
   */
  readMany<T extends Resource = Resource>(resourceType: string, ids: readonly string[]): Promise<Map<string, T>>;
  /**
   * `put` of each resource (no `If-Match`), in order: the same results, versions, index rows and observer calls as
   * that many `put`s, written with multi-row statements (the FHIR Patients of a bulk import). A resource may appear
   * only once per call.
   */
  putMany<T extends Resource>(resources: readonly T[]): Promise<{ resource: T; created: boolean; changed: boolean }[]>;
  delete(resourceType: string, id: string): Promise<boolean>;
  search(query: SearchQuery): Promise<SearchResult>;
  /**
   * The live resources with a literal reference to `targetType/targetId` (their `_ref` index rows, see
   * src/fhir/search-params.ts `REFERENCES_PARAM`), whatever their type: each once, ordered by type then id, at most
   * `limit`. One indexed query (search_index_ref).
   */
  referrers(targetType: string, targetId: string, limit: number): Promise<ResourceKey[]>;
  audit(entry: AuditEntry): Promise<void>;
  /** The identity registry (SRI), written in this same transaction. */
  identities: IdentityWriter;
  /** The transactional outbox: messages to deliver once this transaction commits (and only then). */
  outbox: OutboxWriter;
  /** Which tenant may see which patient, granted in this same transaction (src/domain/access/). */
  access: AccessWriter;
  /** MSSanté mail taken in and sent (dedupe of incoming Message-IDs, receipts of ours), in this same transaction. */
  mssante: MssanteWriter;
  /** Secure links of the pathway (issue 18), issued and revoked in this same transaction. */
  links: PathwayLinkWriter;
  /** The pathway's cases, due work and uploads (issue 18), in this same transaction. */
  pathway: PathwayWriter;
  /** What senders declared and their data did not support (identity-support.ts), with the registration. */
  identityAnomalies: IdentityAnomalyWriter;
  /**
   * Runs `fn` inside this transaction once the callback has returned, just before the commit (in registration
   * order; a hook may register more). A hook that throws rolls the transaction back.
   */
  beforeCommit(fn: () => Promise<void>): void;
  /** Runs `fn` after a successful commit (never after a rollback); errors are reported, not thrown. */
  afterCommit(fn: () => void): void;
}

/** A new version written by `tx.put` (never an unchanged write), as a write observer sees it. */
export interface ObservedWrite {
  resource: Resource;
  created: boolean;
}

/**
 * Called inside the transaction right after each `tx.put` that wrote a new version (whoever called it: the FHIR API,
 * a domain service, the decision page, the scheduler), before `put` returns: what it writes (e.g. `tx.outbox`) commits
 * with the write or not at all. A throw fails the `put` (and so the transaction). Registered by an outer layer
 * (src/services/subscriptions.ts) so the store imports none of it.
 */
export type WriteObserver = (tx: StoreTransaction, write: ObservedWrite) => Promise<void>;

export interface ResourceStore extends Omit<StoreTransaction, 'put' | 'readMany' | 'putMany' | 'delete' | 'audit' | 'identities' | 'outbox' | 'access' | 'mssante' | 'links' | 'pathway' | 'identityAnomalies' | 'beforeCommit' | 'afterCommit'> {
  /** OAuth2 assertion ids, tenants' access to patients, people's sessions. */
  readonly security: SecurityRepository;
  /** The local MSSanté directory (Annuaire Santé extraction): imports by generation, lookups. */
  readonly directory: DirectoryRepository;
  /** MSSanté mail taken in and sent, outside transactions (reads, receipts). */
  readonly mssante: MssanteRepository;
  /** Secure links of the pathway outside transactions (lookups, uses, revocations). */
  readonly links: PathwayLinkRepository;
  /** The pathway's cases, the scheduler's due work (claims) and uploads, outside transactions. */
  readonly pathway: PathwayRepository;
  /** Identity anomalies by sender, establishment and kind (the conflict board); written through `tx.identityAnomalies`. */
  readonly identityAnomalies: IdentityAnomalyRepository;
  /** The conflict board's reads by establishment: open review items and COLV identities with their source systems. */
  readonly conflictBoard: ConflictBoardRepository;
  /** The reports' aggregates (issue 20): billing, activity, active professionals. */
  readonly reports: ReportRepository;
  /** Dispatchers and operations on the outbox (claims, outcomes, listing); enqueue through `tx.outbox`. */
  readonly outbox: OutboxRepository;
  /** The identity registry, read outside transactions; write it through `transaction()` (`tx.identities`). */
  readonly identities: IdentityRepository;
  /** Run `fn` in one database transaction: everything it writes commits together or not at all. */
  transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T>;
  /**
   * The current versions of `ids` (of `resourceType`) as the JSON text they are stored as, by id; missing and deleted
   * ones are absent. One query, and no parse: for answers that splice the resources whole into a Bundle ($match).
   */
  readJson(resourceType: string, ids: readonly string[]): Promise<Map<string, string>>;
  vread(resourceType: string, id: string, versionId: string): Promise<StoredVersion | undefined>;
  /** Versions newest first. */
  history(resourceType: string, id: string): Promise<StoredVersion[]>;
  auditLog(filter?: { entity?: string; limit?: number }): Promise<AuditRecord[]>;
  /** The audit trail read back: searches (FHIR AuditEvent), single rows, the chain in id order (verify, export). */
  readonly auditTrail: AuditTrail;
  /** Bulk registry writing (SQLite only; see `BulkRegistryLease`). */
  bulkRegistryLease?(): Promise<BulkRegistryLease>;
  /**
   * Registers `listener` for transactions that completed and were then not committed after all (SQLite group commit:
   * the group's COMMIT failed, or SQLite rolled the whole group back for a later member's I/O error): each such
   * transaction is rejected, and anything an in-memory cache learned from inside the group — where a member reads what
   * an earlier member wrote — is void. `lost` counts them. Returns the function that removes the listener. Stores
   * without group commit (PostgreSQL: one database transaction per `transaction()`) do not implement it.
   */
  onLostCommits?(listener: (lost: number) => void): () => void;
  /**
   * Registers `observer` for every new version written through this store's transactions; returns the function that
   * removes it. Deletions are not observed.
   */
  observeWrites(observer: WriteObserver): () => void;
  /** Reachability check for readiness probes. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The store's write lock, held for a bulk import of identities: registry batches are written by `writer` (off the
 * main thread on a database file) while the caller plans the next ones; the store's other writes wait until `release`.
 */
export interface BulkRegistryLease {
  readonly writer: RegistryBatchWriter;
  /** For each key, whether that source identity is registered (committed rows only). */
  registeredSources(keys: readonly { system: string; localId: string }[]): Promise<boolean[]>;
  /** A transaction under the lease (the writer must be idle: every batch written has settled). */
  transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T>;
  /** Waits for the queued batches, stops the writer and lets the store's other writes run. */
  release(): Promise<void>;
}
