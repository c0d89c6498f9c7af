// Events that send messages: a submission raises `<kind>.stored` in its transaction; each configured route for the
// event enqueues one message there (same transaction: no message without the document, no document without its
// messages). Once the transaction commits, the dispatchers of this process are woken.
import type { StoreTransaction } from '../store/repository.js';
import type { OutboxConfig, OutboxEvent } from './config.js';

const listeners = new Set<() => void>();

/** Called after the commit of a transaction that enqueued something; returns the unsubscribe function. */
export function onEnqueued(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export interface EventMessage {
  /** Messages of one key are delivered in order (e.g. `Patient/<federated id>`). */
  orderingKey: string;
  /** Unique per event occurrence (e.g. the resource version): a re-sent, unchanged document sends nothing new. */
  occurrence: string;
  payload: Record<string, unknown>;
  requestId?: string;
}

/** Enqueues the event's message for every route listening to it; returns how many new messages were written. */
export async function raiseEvent(
  tx: StoreTransaction,
  routes: OutboxConfig['routes'],
  event: OutboxEvent,
  message: EventMessage,
): Promise<number> {
  let created = 0;
  for (const route of routes) {
    if (route.on !== event) continue;
    const r = await tx.outbox.enqueue({
      destination: route.destination,
      orderingKey: message.orderingKey,
      idempotencyKey: `${event}:${message.occurrence}`,
      payload: { event, ...message.payload },
      ...(message.requestId ? { requestId: message.requestId } : {}),
    });
    if (r.created) created++;
  }
  if (created > 0) notifyEnqueued(tx);
  return created;
}

/** Wakes this process's dispatchers once `tx` commits (it enqueued something). */
export function notifyEnqueued(tx: StoreTransaction): void {
  tx.afterCommit(() => {
    for (const l of listeners) l();
  });
}
