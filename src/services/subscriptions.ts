// FHIR R4 Subscriptions, back to the DPI (docs/pathway.md, "Subscriptions (back to the DPI)").
// - Writing one (`putSubscription`, from the FHIR write path): checked (src/fhir/subscription.ts), status made
//   `active` (or `off`), tagged with its owner (client id) and the tenant whose patients it may hear about.
// - Noticing a match (`installSubscriptions`): a write observer on the store, so every door is seen — FHIR
//   create/update/PATCH/Bundle, the decision page and services (`decideTask`, `tx.put` on the CarePlan), PPP
//   submissions, the scheduler. Inside the writing transaction, after each new version of a Task or CarePlan, each
//   active Subscription on that type whose tenant may read the resource has its criteria run by the store against
//   that one resource (`_id` + criteria, so the real search semantics); a match enqueues one outbox message for the
//   destination `rest-hook` (ordering key `Subscription/<id>`, idempotency key per version). It commits with the
//   write or not at all; an unchanged write writes no version and so notifies nothing.
// - Active Subscriptions are cached per store: a Subscription written in this process drops the cache once it
//   commits; others (another process on PostgreSQL) are seen within `reloadMs`. The connector reads the Subscription
//   again at delivery, so one turned off or deleted elsewhere sends nothing meanwhile.
// - The outcome of a delivery (`subscriptionOutcome`): dead → the Subscription goes `error` with the reason;
//   delivered while in `error` → `active` again.
import type { Resource, Subscription } from '@medplum/fhirtypes';
import { isPatientData, readFilter, type Principal } from '../domain/access/model.js';
import { MAX_COUNT, type SearchPredicate } from '../fhir/search-params.js';
import {
  checkSubscription,
  parseCriteria,
  SUBSCRIPTION_OWNER_SYSTEM,
  SUBSCRIPTION_TENANT_SYSTEM,
  tagOf,
  type Criteria,
} from '../fhir/subscription.js';
import { REST_HOOK_DESTINATION, type SubscriptionsConfig } from '../outbox/config.js';
import type { AttemptOutcome } from '../outbox/dispatcher.js';
import { notifyEnqueued } from '../outbox/events.js';
import { NOT_SENT, restHookPayloadOf, type RestHookPayload } from '../connectors/rest-hook/connector.js';
import type { OutboxMessage } from '../store/outbox-repository.js';
import type { ResourceStore, StoreTransaction, WriteOptions } from '../store/repository.js';
import { patientReferences } from './access/visibility.js';

/** Types whose writes are matched. */
const WATCHED = new Set(['Task', 'CarePlan']);
/** The `error` text kept on a Subscription, at most. */
const MAX_ERROR = 500;

interface ActiveSubscription {
  id: string;
  criteria: Criteria;
  tenant?: string;
  end?: number;
}

/** The Subscription as a client wrote it, stored: checked, status decided, owner and tenant tags set by the gateway. */
export async function putSubscription(
  tx: StoreTransaction,
  resource: Subscription,
  client: Principal,
  settings: SubscriptionsConfig,
  stored: Subscription | undefined,
  write?: WriteOptions,
): Promise<{ resource: Subscription; created: boolean; changed: boolean }> {
  const checked = checkSubscription(resource, settings);
  const owner = (stored && tagOf(stored, SUBSCRIPTION_OWNER_SYSTEM)) ?? client.id;
  const tenant = stored ? tagOf(stored, SUBSCRIPTION_TENANT_SYSTEM) : readFilter(client);
  const tags = (checked.meta?.tag ?? []).filter((t) => t.system !== SUBSCRIPTION_OWNER_SYSTEM && t.system !== SUBSCRIPTION_TENANT_SYSTEM);
  tags.push({ system: SUBSCRIPTION_OWNER_SYSTEM, code: owner });
  if (tenant !== undefined) tags.push({ system: SUBSCRIPTION_TENANT_SYSTEM, code: tenant });
  return tx.put<Subscription>({ ...checked, meta: { ...checked.meta, tag: tags } }, write);
}

/** The active Subscriptions of one store, loaded inside a transaction when stale. */
class ActiveCache {
  private list: ActiveSubscription[] | undefined;
  private loadedAt = 0;

  constructor(private readonly reloadMs: number) {}

  invalidate(): void {
    this.list = undefined;
  }

  /** Transactions that wrote a Subscription: what they see is not committed, so it is not kept for the others. */
  readonly dirty = new WeakSet<StoreTransaction>();

  async get(tx: StoreTransaction): Promise<ActiveSubscription[]> {
    if (!this.dirty.has(tx) && this.list && Date.now() - this.loadedAt < this.reloadMs) return this.list;
    const started = Date.now();
    const out: ActiveSubscription[] = [];
    const status: SearchPredicate = { param: 'status', prefix: 'eq', values: ['active'] };
    for (let offset = 0; ; offset += MAX_COUNT) {
      const page = await tx.search({ resourceType: 'Subscription', predicates: [status], count: MAX_COUNT, offset, sort: [{ param: '_id', descending: false }] });
      for (const r of page.resources as Subscription[]) {
        const criteria = typeof r.criteria === 'string' ? parseCriteria(r.criteria) : undefined;
        if (!r.id || !criteria || 'severity' in criteria) continue;
        const tenant = tagOf(r, SUBSCRIPTION_TENANT_SYSTEM);
        out.push({ id: r.id, criteria, ...(tenant !== undefined ? { tenant } : {}), ...(r.end ? { end: Date.parse(r.end) } : {}) });
      }
      if (page.resources.length < MAX_COUNT) break;
    }
    if (!this.dirty.has(tx)) {
      this.list = out;
      this.loadedAt = started;
    }
    return out;
  }
}

/** Whether the tenant (its access key) may read `resource` (as the FHIR API decides for a tenant-bound client). */
async function tenantMayRead(tx: StoreTransaction, tenant: string, resource: Resource): Promise<boolean> {
  if (!isPatientData(resource.resourceType)) return true;
  for (const id of patientReferences(resource)) if ((await tx.access.tenantsOf(id)).includes(tenant)) return true;
  return false;
}

const installed = new WeakMap<ResourceStore, { cache: ActiveCache; uninstall: () => void }>();

/**
 * Makes every new version of a Task or CarePlan written through `store` notify the matching Subscriptions (through
 * the outbox). Once per store: a second call returns the first installation's uninstall.
 */
export function installSubscriptions(store: ResourceStore, settings: Pick<SubscriptionsConfig, 'reloadMs'>): () => void {
  const existing = installed.get(store);
  if (existing) return existing.uninstall;
  const cache = new ActiveCache(settings.reloadMs);
  const remove = store.observeWrites(async (tx, { resource }) => {
    const type = resource.resourceType;
    if (type === 'Subscription') {
      cache.dirty.add(tx);
      cache.invalidate();
      tx.afterCommit(() => cache.invalidate());
      return;
    }
    if (!WATCHED.has(type) || !resource.id) return;
    const subs = (await cache.get(tx)).filter((s) => s.criteria.type === type && (s.end === undefined || s.end > Date.now()));
    let created = 0;
    for (const s of subs) {
      if (s.tenant !== undefined && !(await tenantMayRead(tx, s.tenant, resource))) continue;
      const match = await tx.search({
        resourceType: type,
        predicates: [...s.criteria.predicates, { param: '_id', prefix: 'eq', values: [resource.id] }],
        count: 1,
        offset: 0,
      });
      if (match.resources.length === 0) continue;
      const payload: RestHookPayload = { subscription: `Subscription/${s.id}`, resource: `${type}/${resource.id}`, versionId: resource.meta?.versionId ?? '' };
      const r = await tx.outbox.enqueue({
        destination: REST_HOOK_DESTINATION,
        orderingKey: payload.subscription,
        idempotencyKey: `${payload.subscription}:${payload.resource}/_history/${payload.versionId}`,
        payload,
      });
      if (r.created) created++;
    }
    if (created > 0) notifyEnqueued(tx);
  });
  const uninstall = (): void => {
    remove();
    installed.delete(store);
  };
  installed.set(store, { cache, uninstall });
  return uninstall;
}

/**
 * The dispatcher's `onOutcome` of the rest-hook destination: a message gone dead (for a reason other than "not sent")
 * puts its active Subscription in `error` with the reason; a delivery to a Subscription in `error` makes it `active`.
 */
export function subscriptionOutcome(store: ResourceStore): (message: OutboxMessage, outcome: AttemptOutcome) => Promise<void> {
  return async (message, outcome) => {
    if (outcome.state === 'retry') return;
    let id: string;
    try {
      id = restHookPayloadOf(message.payload).subscription.slice('Subscription/'.length);
    } catch {
      return;
    }
    await store.transaction(async (tx) => {
      const sub = await tx.read<Subscription>('Subscription', id);
      if (!sub) return;
      if (outcome.state === 'dead' && sub.status === 'active' && !outcome.error.startsWith(NOT_SENT)) {
        const why = `notification ${message.id} failed for good after ${message.attempts} attempt(s): ${outcome.error}`;
        await tx.put<Subscription>({ ...sub, status: 'error', error: why.slice(0, MAX_ERROR) });
      } else if (outcome.state === 'delivered' && sub.status === 'error') {
        const { error: _error, ...rest } = sub;
        await tx.put<Subscription>({ ...rest, status: 'active' });
      }
    });
  };
}
