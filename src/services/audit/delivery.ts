// One audit row per delivery attempt's outcome (delivered, retry, dead), whatever the destination: which message went
// where, the document reference for a clinical document (DMP, PDSm), the resource and patient it carries — ids only,
// never the receiver's error text (it may quote the document). Written by the dispatcher's `onOutcome` just before the
// outbox records the outcome; a failure to write it counts as a transient failure of the attempt (sent again).
import { documentMessageOf } from '../../documents/message.js';
import { documentReferenceId } from '../../fhir/document-reference.js';
import type { AttemptOutcome } from '../../outbox/dispatcher.js';
import type { OutboxMessage } from '../../store/outbox-repository.js';
import type { AuditEntry, ResourceStore } from '../../store/repository.js';

/** The dispatcher's actor in the audit trail. */
export const DELIVERY_ACTOR = 'outbox';

const REFERENCE = /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/;

/** The references a message's payload names: its DocumentReference (documents), resource and patient. */
export function deliveryEntities(payload: unknown): string[] {
  const out = new Set<string>();
  try {
    out.add(`DocumentReference/${documentReferenceId(documentMessageOf(payload).ids.id)}`);
  } catch {
    // not a document message
  }
  if (payload && typeof payload === 'object') {
    for (const key of ['resource', 'patient'] as const) {
      const v = (payload as Record<string, unknown>)[key];
      if (typeof v === 'string' && REFERENCE.test(v)) out.add(v);
    }
  }
  return [...out];
}

export function deliveryAudit(message: OutboxMessage, outcome: AttemptOutcome, kind: string): AuditEntry {
  const how = outcome.state === 'dead' ? (outcome.permanent ? 'refused by the receiver' : 'attempts exhausted') : undefined;
  return {
    action: `delivery.${outcome.state}`,
    actor: DELIVERY_ACTOR,
    entities: deliveryEntities(message.payload),
    outcome: outcome.state === 'delivered' ? 'success' : 'failure',
    detail: `${message.destination} (${kind}): ${outcome.state}${how ? `, ${how}` : ''}; attempt ${message.attempts}; message ${message.id}`,
    ...(message.requestId ? { requestId: message.requestId } : {}),
  };
}

/** `onOutcome` that records the audit row after `inner` (a document's delivery status), when there is one. */
export function auditedOutcome(
  store: ResourceStore,
  kind: string,
  inner?: (message: OutboxMessage, outcome: AttemptOutcome, owner: string) => Promise<void>,
): (message: OutboxMessage, outcome: AttemptOutcome, owner: string) => Promise<void> {
  return async (message, outcome, owner) => {
    if (inner) await inner(message, outcome, owner);
    await store.transaction(async (tx) => tx.audit(deliveryAudit(message, outcome, kind)));
  };
}
