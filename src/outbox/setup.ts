// Builds this process's dispatcher from the configuration: one connector per destination (HTTP for now; the DMP
// and MSSanté connectors plug in here), its retry policy, concurrency and circuit breaker, woken after every commit
// that enqueued a message.
import type { Logger } from 'pino';
import type { Metrics } from '../observability/metrics.js';
import type { ResourceStore } from '../store/repository.js';
import type { OutboxConfig } from './config.js';
import { Dispatcher, type DestinationSettings } from './dispatcher.js';
import { onEnqueued } from './events.js';
import { httpConnector } from './http-connector.js';

export interface RunningDispatcher {
  dispatcher: Dispatcher;
  /** Stop claiming, let in-flight deliveries finish (or release them after `graceMs`), stop listening. */
  stop(graceMs?: number): Promise<void>;
}

export function destinationsOf(config: OutboxConfig): Record<string, DestinationSettings> {
  const out: Record<string, DestinationSettings> = {};
  for (const [name, d] of Object.entries(config.destinations)) {
    out[name] = {
      connector: httpConnector({ url: d.url, timeoutMs: d.timeoutMs, ...(d.headers ? { headers: d.headers } : {}) }),
      retry: { baseMs: d.baseDelayMs, maxMs: d.maxDelayMs, maxAttempts: d.maxAttempts },
      concurrency: d.concurrency,
      circuit: d.circuit,
    };
  }
  return out;
}

export function startDispatcher(store: ResourceStore, config: OutboxConfig, options: { logger?: Logger; metrics?: Metrics } = {}): RunningDispatcher {
  const dispatcher = new Dispatcher({
    outbox: store.outbox,
    destinations: destinationsOf(config),
    leaseMs: config.leaseMs,
    pollMs: config.pollMs,
    batch: config.batch,
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.metrics ? { onAttempt: (d, outcome, s) => options.metrics?.attempt(d, outcome, s) } : {}),
  });
  const unsubscribe = onEnqueued(() => dispatcher.notify());
  dispatcher.start();
  return {
    dispatcher,
    async stop(graceMs) {
      unsubscribe();
      await dispatcher.stop(graceMs);
    },
  };
}
