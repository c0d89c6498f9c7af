// FHIR R4 Subscription notifications, rest-hook channel (docs/pathway.md, "Subscriptions (back to the DPI)"). One
// outbox message per (Subscription, resource version): `{subscription, resource, versionId}`. At delivery the
// Subscription is read again (so its endpoint and headers never sit in the outbox, and an `off` or deleted one sends
// nothing), the endpoint checked against the allow-list again, and the tenant's right to read the resource again.
// R4 (Subscription.channel.type "rest-hook"): without payload, a POST to the endpoint with no body; with a payload,
// the endpoint is a service base and the resource is sent by an update: PUT <endpoint>/<type>/<id>, in
// application/fhir+json. The channel's headers go with it, redirects are not followed (no forwarding).
import type { Resource, Subscription } from '@medplum/fhirtypes';
import { isPatientData } from '../../domain/access/model.js';
import { referencesOf } from '../../fhir/search-params.js';
import { channelHeaders, checkEndpoint, FHIR_JSON, SUBSCRIPTION_TENANT_SYSTEM, tagOf } from '../../fhir/subscription.js';
import { DeliveryError, isTransientStatus, type Connector } from '../../outbox/connector.js';
import type { OutboxMessage } from '../../store/outbox-repository.js';
import type { ResourceStore } from '../../store/repository.js';

/** What a rest-hook message carries: references only. */
export interface RestHookPayload {
  /** `Subscription/<id>`. */
  subscription: string;
  /** `Task/<id>` or `CarePlan/<id>`. */
  resource: string;
  versionId: string;
}

/** The start of the reason of a message not sent on purpose (the Subscription is off, gone…): not a delivery failure. */
export const NOT_SENT = 'not sent: ';

export interface RestHookOptions {
  store: ResourceStore;
  /** Allowed endpoint prefixes (outbox.subscriptions.endpoints), checked again at each delivery. */
  endpoints: readonly string[];
  timeoutMs?: number;
}

const REF = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/;

export function restHookPayloadOf(payload: unknown): RestHookPayload {
  const p = payload as Partial<RestHookPayload> | null;
  if (!p || typeof p.subscription !== 'string' || typeof p.resource !== 'string' || typeof p.versionId !== 'string' || !REF.test(p.subscription) || !REF.test(p.resource)) {
    throw new DeliveryError('not a rest-hook message (subscription, resource, versionId)', false);
  }
  return p as RestHookPayload;
}

const skip = (why: string): DeliveryError => new DeliveryError(`${NOT_SENT}${why}`, false);

/** Whether the tenant (its access key) may read `resource` now (its patients' grants, as the FHIR API checks them). */
async function visible(store: ResourceStore, tenant: string, resource: Resource): Promise<boolean> {
  if (!isPatientData(resource.resourceType)) return true;
  for (const key of referencesOf(resource, '_ref', 'Patient')) {
    if (await store.security.mayAccess(tenant, key.slice('Patient/'.length))) return true;
  }
  return false;
}

export function restHookConnector(options: RestHookOptions): Connector {
  const timeoutMs = options.timeoutMs ?? 10_000;
  return {
    async deliver(message: OutboxMessage, { signal }): Promise<void> {
      const p = restHookPayloadOf(message.payload);
      const [, , subId] = REF.exec(p.subscription) as RegExpExecArray;
      const [, type, id] = REF.exec(p.resource) as RegExpExecArray;
      const sub = await options.store.read<Subscription>('Subscription', subId);
      if (!sub) throw skip(`${p.subscription} no longer exists`);
      if (sub.status === 'off') throw skip(`${p.subscription} is off`);
      const url = checkEndpoint(sub.channel?.endpoint, { endpoints: options.endpoints });
      if (!(url instanceof URL)) throw skip(`${p.subscription}: ${url.details?.text ?? 'endpoint refused'}`);
      const version = await options.store.vread(type, id, p.versionId);
      if (!version || version.deleted) throw skip(`${p.resource}/_history/${p.versionId} does not exist`);
      const tenant = tagOf(sub, SUBSCRIPTION_TENANT_SYSTEM);
      if (tenant !== undefined && !(await visible(options.store, tenant, version.resource))) {
        throw skip(`${p.resource} is not data of a patient of the Subscription's tenant`);
      }
      const full = sub.channel.payload === FHIR_JSON;
      const target = full ? new URL(`${url.href.replace(/\/+$/, '')}/${type}/${id}`) : url;
      const headers: Record<string, string> = {
        ...channelHeaders(sub),
        'idempotency-key': message.idempotencyKey,
        ...(message.requestId ? { 'x-request-id': message.requestId } : {}),
        ...(full ? { 'content-type': FHIR_JSON } : {}),
      };
      let res: Response;
      try {
        res = await fetch(target, {
          method: full ? 'PUT' : 'POST',
          headers,
          ...(full ? { body: JSON.stringify(version.resource) } : {}),
          redirect: 'manual',
          signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
        });
      } catch (err) {
        throw new DeliveryError(`no answer from ${target.host}: ${(err as Error).message}`, true);
      }
      if (res.ok) {
        await res.body?.cancel();
        return;
      }
      await res.body?.cancel().catch(() => undefined);
      if (res.status >= 300 && res.status < 400) throw new DeliveryError(`HTTP ${res.status}: redirects are not followed`, false);
      // The receiver's body is not kept: it may quote the resource.
      throw new DeliveryError(`HTTP ${res.status} from ${target.host}`, isTransientStatus(res.status));
    },
  };
}
