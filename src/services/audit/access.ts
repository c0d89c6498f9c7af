// How access rows (reads, searches) reach the audit table: each in its own write transaction, committed before the
// response is sent. One writer per store (`accessAuditor(store)`), so a later change of strategy (group commit of
// pending rows) stays in this file.
import type { AuditEntry, ResourceStore } from '../../store/repository.js';

export interface AccessAuditor {
  /** Resolves once the row is committed; rejects when it could not be (the caller must not serve the data then). */
  record(entry: AuditEntry): Promise<void>;
}

const auditors = new WeakMap<ResourceStore, AccessAuditor>();

export function accessAuditor(store: ResourceStore): AccessAuditor {
  let a = auditors.get(store);
  if (!a) {
    a = { record: (entry) => store.transaction(async (tx) => tx.audit(entry)) };
    auditors.set(store, a);
  }
  return a;
}
