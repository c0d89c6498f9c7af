// The audit trail as services write it: who (client, person, tenant, address) from a principal, and one audit row
// for an access that is not part of a write transaction (a read, a search, an authentication failure). Rows written
// inside a submission go through `tx.audit()` with the same `whoOf()` fields, so they commit with the submission.
import { tenantKey, type Principal } from '../../domain/access/model.js';
import type { AuditEntry, ResourceStore } from '../../store/repository.js';

/** The who-fields of an audit row for a principal (no name, no INS: ids only). */
export function whoOf(principal: Principal, source?: string): Pick<AuditEntry, 'actor' | 'person' | 'tenant' | 'source'> {
  return {
    actor: principal.id,
    ...(principal.person ? { person: principal.person.rpps ? `rpps:${principal.person.rpps}` : `sub:${principal.person.sub}` } : {}),
    ...(principal.tenant ? { tenant: tenantKey(principal.tenant) } : {}),
    ...(source ? { source } : {}),
  };
}

/** Record one access (read, search, authentication failure…) in its own transaction. */
export async function recordAccess(store: ResourceStore, entry: AuditEntry): Promise<void> {
  await store.transaction(async (tx) => tx.audit(entry));
}
