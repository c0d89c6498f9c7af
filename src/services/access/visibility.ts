// What a principal sees of the store: reads and searches of patient data filtered to its tenant's patients
// (docs/security.md, "Tenants and roles"). The rules are src/domain/access/model.ts; the store filters searches in the
// query itself (`SearchQuery.tenant`, src/store/search-sql.ts), so totals and pages count only what is visible.
import type { Resource } from '@medplum/fhirtypes';
import { isPatientData, maySeeFederated, readFilter, type Principal } from '../../domain/access/model.js';
import { REGIONAL_ID_SYSTEM } from '../../fhir/federated-patient.js';
import { referencesOf, type SearchQuery } from '../../fhir/search-params.js';
import type { ResourceStore, SearchResult, StoreTransaction } from '../../store/repository.js';
import { isFederatedPatient } from '../fhir-ownership.js';
import { SUBSCRIPTION_TENANT_SYSTEM, tagOf } from '../../fhir/subscription.js';

/** What handlers read through: a store or a transaction. */
export type Reader = Pick<StoreTransaction, 'search' | 'read'>;

/** Grants lookup: the store's security repository, or (inside a transaction) what the transaction sees. */
export interface GrantLookup {
  mayAccess(tenant: string, patient: string): Promise<boolean>;
}

/** Whether a principal's reads need any filtering at all (false when authentication is off: plain reads stay plain). */
export const isFiltered = (p: Principal): boolean => readFilter(p) !== undefined || !maySeeFederated(p);

/** The Patient ids a resource refers to (its literal references, wherever they sit). */
export const patientReferences = (r: Resource): string[] => referencesOf(r, '_ref', 'Patient').map((k) => k.slice('Patient/'.length));

/**
 * Whether `principal` may see `resource`: shared data always; a federated Patient only with identity.review; a
 * Patient when its tenant has a grant on it; any other resource when it refers to such a Patient.
 */
export async function mayRead(grants: GrantLookup, principal: Principal, resource: Resource): Promise<boolean> {
  const type = resource.resourceType;
  if (type === 'Patient' && !maySeeFederated(principal) && isFederatedPatient(resource)) return false;
  const tenant = readFilter(principal);
  if (tenant === undefined || !isPatientData(type)) return true;
  // A Subscription is its tenant's (src/services/subscriptions.ts tags it when written).
  if (type === 'Subscription') return tagOf(resource, SUBSCRIPTION_TENANT_SYSTEM) === tenant;
  if (type === 'Patient') return grants.mayAccess(tenant, resource.id as string);
  for (const id of patientReferences(resource)) if (await grants.mayAccess(tenant, id)) return true;
  return false;
}

/** The query as `principal` may run it: tenant filter for patient data, federated Patients left out. */
export function scopeQuery(principal: Principal, query: SearchQuery): SearchQuery {
  let q = query;
  if (q.resourceType === 'Patient' && !maySeeFederated(principal)) {
    q = { ...q, predicates: [...q.predicates, { param: 'identifier', prefix: 'ne', values: [`${REGIONAL_ID_SYSTEM.replace(/\|/g, '\\|')}|`] }] };
  }
  const tenant = readFilter(principal);
  if (tenant !== undefined && q.resourceType === 'Subscription') {
    return { ...q, predicates: [...q.predicates, { param: '_tag', prefix: 'eq', values: [`${SUBSCRIPTION_TENANT_SYSTEM}|${tenant}`] }] };
  }
  if (tenant !== undefined && isPatientData(q.resourceType)) q = { ...q, tenant };
  return q;
}

/**
 * A reader that sees what `principal` may see: searches filtered in the query, reads of anything else answer
 * undefined (as a missing resource). When nothing is filtered (authentication off), the reader itself.
 */
export function scopedReader<R extends Reader>(reader: R, principal: Principal, grants: GrantLookup): R {
  if (!isFiltered(principal)) return reader;
  return Object.assign(Object.create(reader) as R, {
    search: (query: SearchQuery): Promise<SearchResult> => reader.search(scopeQuery(principal, query)),
    read: async <T extends Resource = Resource>(type: string, id: string): Promise<T | undefined> => {
      const r = await reader.read<T>(type, id);
      return r && (await mayRead(grants, principal, r)) ? r : undefined;
    },
  });
}

/** The store as `principal` sees it (reads and searches; writes go through their own checks). */
export function storeFor(store: ResourceStore, principal: Principal): Reader {
  return scopedReader<Reader>({ search: (q) => store.search(q), read: (t, i) => store.read(t, i) }, principal, store.security);
}

/** Grants as a transaction sees them (a grant written earlier in the same transaction counts). */
export function transactionGrants(tx: StoreTransaction): GrantLookup {
  return { mayAccess: async (tenant, patient) => (await tx.access.tenantsOf(patient)).includes(tenant) };
}


/**
 * Whether `principal` may see the resource `type/id` whatever its state: its current version, or for a deleted one
 * its last live version (so a 410 Gone does not reveal another tenant's resource either).
 */
export async function mayReadKey(store: ResourceStore, principal: Principal, type: string, id: string): Promise<boolean> {
  if (!isFiltered(principal)) return true;
  const current = await store.read(type, id);
  if (current) return mayRead(store.security, principal, current);
  const last = (await store.history(type, id)).find((v) => !v.deleted);
  return last !== undefined && mayRead(store.security, principal, last.resource);
}
