// Builds this process's dispatcher from the configuration: one connector per destination (HTTP webhook, DMP ITI-41,
// PDSm ITI-65, MSSanté SMTP), its retry policy, concurrency and circuit breaker, woken after every commit
// that enqueued a message. A service, since it joins the outbox to the connectors (an outer layer than the outbox).
// Documents sent to a document destination are stored as FHIR resources with their delivery status
// (document-resources.ts): when built, and when the attempt's outcome is known.
import type { Logger } from 'pino';
import type { Metrics } from '../observability/metrics.js';
import type { ResourceStore } from '../store/repository.js';
import { dmpConnector, type DocumentConnectorDeps } from '../connectors/dmp/connector.js';
import { pdsmConnector } from '../connectors/pdsm/connector.js';
import { mssanteConnector } from '../connectors/mssante/connector.js';
import type { MssanteConfig } from '../connectors/mssante/config.js';
import type { MailSender } from '../connectors/mssante/transport.js';
import { isDocumentDestination, REST_HOOK_DESTINATION, type DestinationConfig, type OutboxConfig } from '../outbox/config.js';
import { restHookConnector } from '../connectors/rest-hook/connector.js';
import { installSubscriptions, subscriptionOutcome } from './subscriptions.js';
import { isolatedDocumentBuilder } from '../documents/isolated-build.js';
import type { Connector } from '../outbox/connector.js';
import { Dispatcher, type DestinationSettings } from '../outbox/dispatcher.js';
import { onEnqueued } from '../outbox/events.js';
import { httpConnector } from '../outbox/http-connector.js';
import { documentResources, type DocumentResources } from './document-resources.js';
import { auditedOutcome } from './audit/delivery.js';
import { mssanteOutcome } from './mssante-receipts.js';

export interface RunningDispatcher {
  dispatcher: Dispatcher;
  /** Stop claiming, let in-flight deliveries finish (or release them after `graceMs`), stop listening. */
  stop(graceMs?: number): Promise<void>;
}

/** What MSSanté destinations send through: the `mssante` section, and a sender of one's own (tests). */
export interface MssanteDispatch {
  config: MssanteConfig;
  sender?: MailSender;
}

/** A connector per destination kind. Document destinations (DMP, PDSm, MSSanté) need the document settings. */
function connectorOf(name: string, d: DestinationConfig, documents: DocumentConnectorDeps | undefined, mssante: MssanteDispatch | undefined): Connector {
  switch (d.kind) {
    case 'http':
      return httpConnector({ url: d.url, timeoutMs: d.timeoutMs, ...(d.headers ? { headers: d.headers } : {}) });
    case 'dmp':
    case 'pdsm':
      if (!documents) throw new Error(`outbox destination ${name} (${d.kind}) needs the document settings`);
      return d.kind === 'dmp' ? dmpConnector(d, documents) : pdsmConnector(d, documents);
    case 'mssante':
      if (!documents) throw new Error(`outbox destination ${name} (${d.kind}) needs the document settings`);
      if (!mssante) throw new Error(`outbox destination ${name} (mssante) needs the mssante section (the gateway's mailbox)`);
      return mssanteConnector(d, mssante.config, { ...documents, ...(mssante.sender ? { sender: mssante.sender } : {}) });
  }
}

/** Two outcome hooks, one after the other. */
const chained =
  (first: DestinationSettings['onOutcome'], second: DestinationSettings['onOutcome']): DestinationSettings['onOutcome'] =>
    !first ? second : !second ? first : async (message, outcome, owner) => {
      await first(message, outcome, owner);
      await second(message, outcome, owner);
    };

export function destinationsOf(
  config: OutboxConfig,
  documents?: DocumentConnectorDeps,
  resources?: DocumentResources,
  store?: ResourceStore,
  mssante?: MssanteDispatch,
): Record<string, DestinationSettings> {
  const out: Record<string, DestinationSettings> = {};
  for (const [name, d] of Object.entries(config.destinations)) {
    // The document's delivery status first; for MSSanté, then the message sent and its Communication.
    const inner = chained(resources && isDocumentDestination(d) ? resources.recordOutcome : undefined, store && d.kind === 'mssante' ? mssanteOutcome(store) : undefined);
    out[name] = {
      connector: connectorOf(name, d, documents, mssante),
      // Every attempt's outcome is an audit row (services/audit/delivery.ts), after the document's delivery status.
      ...(store ? { onOutcome: auditedOutcome(store, d.kind, inner) } : inner ? { onOutcome: inner } : {}),
      retry: { baseMs: d.baseDelayMs, maxMs: d.maxDelayMs, maxAttempts: d.maxAttempts },
      concurrency: d.concurrency,
      circuit: d.circuit,
    };
  }
  // FHIR Subscription notifications (src/services/subscriptions.ts): always delivered where the store is known.
  if (store) {
    const s = config.subscriptions;
    out[REST_HOOK_DESTINATION] = {
      connector: restHookConnector({ store, endpoints: s.endpoints, timeoutMs: s.timeoutMs }),
      onOutcome: auditedOutcome(store, REST_HOOK_DESTINATION, subscriptionOutcome(store)),
      retry: { baseMs: s.baseDelayMs, maxMs: s.maxDelayMs, maxAttempts: s.maxAttempts },
      concurrency: s.concurrency,
      circuit: s.circuit,
    };
  }
  return out;
}

export function startDispatcher(
  store: ResourceStore,
  config: OutboxConfig,
  options: { logger?: Logger; metrics?: Metrics; documents?: DocumentConnectorDeps; mssante?: MssanteDispatch } = {},
): RunningDispatcher {
  // Documents are built on worker threads (time and heap limits), unless the caller brings its own builder.
  const builder = options.documents && !options.documents.builder && Object.values(config.destinations).some(isDocumentDestination) ? isolatedDocumentBuilder(config.rendering) : undefined;
  // Every document built for delivery is stored (Binaries + DocumentReference) before it is sent, and its delivery
  // status follows each attempt's outcome.
  const resources = options.documents ? documentResources(store, { destinations: config.destinations, ...(options.logger ? { logger: options.logger } : {}) }) : undefined;
  const documents = options.documents && resources ? { ...options.documents, ...(builder ? { builder } : {}), onBuilt: options.documents.onBuilt ?? resources.recordBuilt } : undefined;
  const destinations = destinationsOf(config, documents, resources, store, options.mssante);
  // Writes of this process notify the matching Subscriptions (once per store; the API installs it too).
  installSubscriptions(store, config.subscriptions);
  const dispatcher = new Dispatcher({
    outbox: store.outbox,
    destinations,
    leaseMs: config.leaseMs,
    pollMs: config.pollMs,
    batch: config.batch,
    maxInterrupted: config.maxInterruptedAttempts,
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
      // Connectors holding connections (the MSSanté SMTP pool) let them go.
      await Promise.all(Object.values(destinations).map((d) => d.connector.close?.()));
      await builder?.close();
    },
  };
}
