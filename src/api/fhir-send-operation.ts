// FHIR face of the PPP's send (docs/pathway.md "Sending the PPP"): `POST /fhir/CarePlan/{id}/$send`, with an optional
// Parameters body naming the recipients (`recipient`, valueCode MT or PHO), answering a Parameters resource: one `link`
// part per link (role, rpps, url, expires) and one `delivery` part per message.
import { allOk } from '@medplum/core';
import type { Parameters, ParametersParameter } from '@medplum/fhirtypes';
import type { LinkRole } from '../domain/pathway/link-token.js';
import { invalid } from '../fhir/outcome.js';
import { sendPpp, type SendResult } from '../services/pathway/send.js';
import type { FhirContext, FhirHandler } from './fhir-router.js';

/** The recipients a Parameters body names (none: the default). */
export function sendRecipientsFrom(body: unknown): LinkRole[] | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body !== 'object' || Array.isArray(body)) throw invalid('Expected a Parameters resource (or no body)', 'resourceType');
  const keys = Object.keys(body);
  if (keys.length === 0) return undefined;
  if ((body as { resourceType?: unknown }).resourceType !== 'Parameters') throw invalid('Expected a Parameters resource (or no body)', 'resourceType');
  const unknownKey = keys.find((k) => k !== 'resourceType' && k !== 'parameter' && k !== 'id' && k !== 'meta');
  if (unknownKey) throw invalid(`Parameters.${unknownKey} is not read by $send`, `Parameters.${unknownKey}`);
  const params = (body as Parameters).parameter;
  if (params === undefined) return undefined;
  if (!Array.isArray(params)) throw invalid('Parameters.parameter must be an array', 'Parameters.parameter');
  if (params.length > 2) throw invalid('At most two recipient parameters (MT, PHO)', 'Parameters.parameter');
  const out: LinkRole[] = [];
  params.forEach((p: unknown, i) => {
    const at = `Parameters.parameter[${i}]`;
    const part = p as ParametersParameter | null;
    if (typeof part !== 'object' || part === null || Array.isArray(part)) throw invalid('Expected a parameter object', at);
    if (part.name !== 'recipient') throw invalid(`Unknown parameter ${JSON.stringify(String(part.name).slice(0, 40))}: $send takes recipient (MT, PHO) only`, `${at}.name`);
    const extra = Object.keys(part).find((k) => k !== 'name' && k !== 'valueCode');
    if (extra) throw invalid(`recipient is a valueCode (MT or PHO), not ${extra.slice(0, 40)}`, `${at}.${extra.slice(0, 40)}`);
    if (part.valueCode !== 'MT' && part.valueCode !== 'PHO') throw invalid('recipient must be MT or PHO', `${at}.valueCode`);
    if (out.includes(part.valueCode)) throw invalid(`${part.valueCode} is named twice`, `${at}.valueCode`);
    out.push(part.valueCode);
  });
  return out.length > 0 ? out : undefined;
}

/** The send's answer as a Parameters resource. */
export function sendParameters(result: SendResult): Parameters {
  const str = (name: string, value: string | undefined): ParametersParameter[] => (value === undefined ? [] : [{ name, valueString: value }]);
  return {
    resourceType: 'Parameters',
    parameter: [
      ...result.links.map((l) => ({
        name: 'link',
        part: [
          { name: 'role', valueCode: l.role },
          { name: 'rpps', valueString: l.rpps },
          { name: 'url', valueUrl: l.url },
          { name: 'expires', valueInstant: l.expires },
        ],
      })),
      ...result.deliveries.map((d) => ({
        name: 'delivery',
        part: [
          { name: 'role', valueCode: d.role },
          { name: 'rpps', valueString: d.rpps },
          { name: 'channel', valueCode: d.channel },
          { name: 'state', valueCode: d.state },
          ...str('address', d.address),
          ...str('outboxId', d.outboxId),
          ...str('messageId', d.messageId),
          ...str('reason', d.reason),
        ],
      })),
    ],
  };
}

export function sendOperationHandler(ctx: FhirContext): FhirHandler {
  return async (req) => {
    const recipients = sendRecipientsFrom(req.body);
    const result = await sendPpp(
      ctx.store,
      req.params.id as string,
      { now: new Date(), actor: req.client.id, requestId: req.requestId, config: ctx.config, fhirBase: ctx.fhirBase, principal: req.client },
      recipients ? { recipients } : {},
    );
    return [allOk, sendParameters(result)];
  };
}
