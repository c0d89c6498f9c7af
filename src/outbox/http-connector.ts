// A generic HTTP destination (webhook): POSTs the message payload as JSON with `Idempotency-Key` (the receiver
// dedupes on it) and `X-Request-Id` (the submission's). 2xx: delivered; 408, 425, 429 and 5xx, or no answer:
// transient (retried); any other status: permanent (dead with the status and the start of the body).
import type { OutboxMessage } from '../store/outbox-repository.js';
import { DeliveryError, isTransientStatus, type Connector } from './connector.js';

export interface HttpConnectorOptions {
  url: string;
  /** Extra headers (e.g. an Authorization for the receiver). */
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export function httpConnector(options: HttpConnectorOptions): Connector {
  const timeoutMs = options.timeoutMs ?? 10_000;
  return {
    async deliver(message: OutboxMessage, { signal }): Promise<void> {
      let res: Response;
      try {
        res = await fetch(options.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'idempotency-key': message.idempotencyKey,
            ...(message.requestId ? { 'x-request-id': message.requestId } : {}),
            ...options.headers,
          },
          body: JSON.stringify(message.payload),
          signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
        });
      } catch (err) {
        throw new DeliveryError(`no answer from ${new URL(options.url).host}: ${(err as Error).message}`, true);
      }
      if (res.ok) {
        await res.body?.cancel();
        return;
      }
      const text = (await res.text().catch(() => '')).slice(0, 200);
      throw new DeliveryError(`HTTP ${res.status}${text ? `: ${text}` : ''}`, isTransientStatus(res.status));
    },
  };
}
