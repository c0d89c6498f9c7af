// The audit trail as services write it: who (client, person, tenant, address) from a principal, and one audit row
// for an access that is not part of a write transaction (a read, a search, an authentication failure). Rows written
// inside a submission go through `tx.audit()`; both take the person, tenant, address and request id of the request
// being served when the caller gives only the actor (src/store/audit-trail.ts `auditWho`).
import type { Principal } from '../../domain/access/model.js';
import { principalWho } from '../../store/audit-trail.js';
import type { AuditEntry, ResourceStore } from '../../store/repository.js';

export { accessAuditor, configureAccessAudit, type AccessAuditor, type AccessAuditMode } from './access.js';

/** The who-fields of an audit row for a principal (no name, no INS: ids only). */
export function whoOf(principal: Principal, source?: string): Pick<AuditEntry, 'actor' | 'person' | 'tenant' | 'source'> {
  return { ...principalWho(principal), ...(source ? { source } : {}) };
}

/** Record one access (read, search, authentication failure…) in its own transaction. */
export async function recordAccess(store: ResourceStore, entry: AuditEntry): Promise<void> {
  await store.transaction(async (tx) => tx.audit(entry));
}
