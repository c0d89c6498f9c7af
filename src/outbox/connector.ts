// What a destination is for the dispatcher: something that delivers one message, passing its idempotency key on,
// and says whether a failure is worth retrying.
import type { OutboxMessage } from '../store/outbox-repository.js';

export interface DeliverOptions {
  signal: AbortSignal;
  /**
   * For a `staged` connector: call when the attempt really starts its work (after any queue of its own), so only
   * attempts that started count when a process dies during them. Never throws.
   */
  started?: () => Promise<void>;
}

export interface Connector {
  /** Resolves when the receiver has accepted the message; throws `DeliveryError` (or anything: transient) otherwise. */
  deliver(message: OutboxMessage, options: DeliverOptions): Promise<void>;
  /** True when the connector calls `started` itself; otherwise an attempt starts when it is claimed. */
  readonly staged?: boolean;
  /** Lets go of what the connector holds (connection pools) when the dispatcher stops. */
  close?(): Promise<void>;
}

const TRANSIENT_STATUSES: ReadonlySet<number> = new Set([408, 425, 429]);

/** Whether an HTTP error status is worth retrying: 408, 425, 429 and any 5xx. */
export function isTransientStatus(status: number): boolean {
  return status >= 500 || TRANSIENT_STATUSES.has(status);
}

/** A failed delivery: `transient` failures are retried (with backoff), others send the message dead at once. */
export class DeliveryError extends Error {
  override readonly name = 'DeliveryError';

  constructor(
    message: string,
    readonly transient: boolean,
  ) {
    super(message);
  }
}
