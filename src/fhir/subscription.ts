// FHIR R4 Subscription as the gateway accepts it (docs/pathway.md, "Subscriptions (back to the DPI)"): the rest-hook
// channel only, criteria on Task or CarePlan only (a FHIR search the store runs against the one written resource), an
// endpoint under a configured prefix (no request forwarding: SSRF), bounded headers, payload empty or the resource
// in application/fhir+json. Pure checks: no clock but the one given, no I/O.
import type { OperationOutcomeIssue, Subscription } from '@medplum/fhirtypes';
import { characterProblem } from '../domain/name.js';
import { OperationOutcomeError, invalidIssues, issue, outcome } from './outcome.js';
import { parseSearchRequest, type SearchPredicate } from './search-params.js';

/** Resource types a Subscription's criteria may name. */
export const SUBSCRIPTION_TYPES = ['Task', 'CarePlan'] as const;
/** The only channel type served. */
export const REST_HOOK = 'rest-hook';
/** The only payload type served (beside none: a notification without body). */
export const FHIR_JSON = 'application/fhir+json';
/** Who created the Subscription (client id), and the tenant whose patients it may hear about (its read filter key). */
export const SUBSCRIPTION_OWNER_SYSTEM = 'https://fhir.passerelle.fr/CodeSystem/subscription-owner';
export const SUBSCRIPTION_TENANT_SYSTEM = 'https://fhir.passerelle.fr/CodeSystem/subscription-tenant';

export const MAX_CRITERIA_LENGTH = 2000;
export const MAX_ENDPOINT_LENGTH = 2048;
export const MAX_REASON_LENGTH = 1000;

export interface SubscriptionRules {
  /** Allowed endpoint prefixes (absolute URLs). */
  endpoints: readonly string[];
  maxHeaders: number;
  maxHeaderLength: number;
}

export interface Criteria {
  type: (typeof SUBSCRIPTION_TYPES)[number];
  predicates: SearchPredicate[];
}

/** Headers a Subscription may not set: the request's framing and the gateway's own. */
const RESERVED_HEADERS = new Set([
  'host', 'content-length', 'content-type', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer',
  'proxy-authorization', 'proxy-connection', 'expect', 'idempotency-key', 'x-request-id', 'cookie',
]);
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/;
/** Search parameters that shape a result page, meaningless when matching one resource. */
const RESULT_PARAMS = /^_(count|offset|total|sort|summary|elements|include|revinclude|contained|containedType|format|pretty)(:|$)/;

const strProblem = (s: string): string | undefined => {
  for (let i = 0; i < s.length; i++) {
    const p = characterProblem(s, i);
    if (p) return p;
  }
  return undefined;
};

/** Where a text may not go: control, bidirectional or zero-width characters, broken UTF-16, over `max` characters. */
function textIssue(value: unknown, at: string, max: number, required: boolean): OperationOutcomeIssue | undefined {
  if (value === undefined) return required ? issue('required', `${at} is required`, at) : undefined;
  if (typeof value !== 'string') return issue('invalid', `${at} must be a string`, at);
  if (required && value.trim() === '') return issue('required', `${at} is empty`, at);
  if (value.length > max) return issue('too-long', `${at} has at most ${max} characters (got ${value.length})`, at);
  const p = strProblem(value);
  return p ? issue('invalid', `${at} contains ${p}: no control, bidirectional formatting or zero-width character`, at) : undefined;
}

/** The criteria as the store runs it, or the issue saying why not. */
export function parseCriteria(criteria: string, at = 'Subscription.criteria'): Criteria | OperationOutcomeIssue {
  const q = criteria.indexOf('?');
  const type = q < 0 ? criteria : criteria.slice(0, q);
  if (!(SUBSCRIPTION_TYPES as readonly string[]).includes(type)) {
    return issue('not-supported', `criteria must search ${SUBSCRIPTION_TYPES.join(' or ')} (e.g. "Task?code=…&status=completed"), not "${type.slice(0, 40)}"`, at);
  }
  const params = new URLSearchParams(q < 0 ? '' : criteria.slice(q + 1));
  for (const name of params.keys()) {
    if (RESULT_PARAMS.test(name)) return issue('not-supported', `criteria: "${name.slice(0, 40)}" shapes a result page; a criteria only filters`, at);
  }
  try {
    const { query } = parseSearchRequest(type, params);
    if (query.predicates.some((p) => p.chain || p.has)) return issue('not-supported', 'criteria: chained parameters and _has are not supported', at);
    return { type: type as Criteria['type'], predicates: query.predicates };
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      const text = err.outcome.issue.map((i) => i.details?.text ?? i.code).join('; ');
      return issue('invalid', `criteria: ${text}`, at);
    }
    throw err;
  }
}

/** `Name: value` as sent, or the issue. */
export function parseHeader(header: string, at: string): [string, string] | OperationOutcomeIssue {
  const colon = header.indexOf(':');
  if (colon < 1) return issue('invalid', `${at}: expected "Name: value"`, at);
  const name = header.slice(0, colon).trim();
  const value = header.slice(colon + 1).trim();
  if (!HEADER_NAME.test(name)) return issue('invalid', `${at}: "${name.slice(0, 40)}" is not a header name`, at);
  if (RESERVED_HEADERS.has(name.toLowerCase())) return issue('business-rule', `${at}: the header ${name} is set by the gateway, not by a Subscription`, at);
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || c > 0x7e) return issue('invalid', `${at}: a header value holds printable ASCII only`, at);
  }
  return [name, value];
}

/** Whether `url` is under one of the allowed prefixes: same scheme, host and port, and its path starts with theirs. */
export function endpointAllowed(url: URL, allowed: readonly string[]): boolean {
  return allowed.some((prefix) => {
    let p: URL;
    try {
      p = new URL(prefix);
    } catch {
      return false;
    }
    return p.protocol === url.protocol && p.host === url.host && url.pathname.startsWith(p.pathname);
  });
}

/** Why `endpoint` is refused, or its parsed URL. */
export function checkEndpoint(endpoint: unknown, rules: Pick<SubscriptionRules, 'endpoints'>, at = 'Subscription.channel.endpoint'): URL | OperationOutcomeIssue {
  const text = textIssue(endpoint, at, MAX_ENDPOINT_LENGTH, true);
  if (text) return text;
  let url: URL;
  try {
    url = new URL(endpoint as string);
  } catch {
    return issue('invalid', `${at} must be an absolute http(s) URL`, at);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return issue('invalid', `${at} must be an absolute http(s) URL`, at);
  if (url.username || url.password) return issue('invalid', `${at} may not carry credentials (use channel.header)`, at);
  if (url.hash) return issue('invalid', `${at} may not carry a fragment`, at);
  if (!endpointAllowed(url, rules.endpoints)) {
    return issue(
      'business-rule',
      rules.endpoints.length === 0
        ? `${at}: this gateway sends notifications to no endpoint (outbox.subscriptions.endpoints is empty)`
        : `${at} is not under an endpoint this gateway may notify (outbox.subscriptions.endpoints)`,
      at,
    );
  }
  return url;
}

/**
 * The Subscription as stored: checked field by field (every issue listed), the status a client asks for (`requested`
 * or `active`, or `off`) made `active` or `off`, `error` cleared (the server sets it). Throws 400 (malformed) or 422
 * (a rule: channel type, criteria type, endpoint not allowed).
 */
export function checkSubscription(input: Subscription, rules: SubscriptionRules): Subscription {
  const issues: OperationOutcomeIssue[] = [];
  const add = (i: OperationOutcomeIssue | undefined): void => {
    if (i) issues.push(i);
  };
  const s = input as unknown as Record<string, unknown>;
  const status = s.status;
  if (status === undefined) add(issue('required', 'Subscription.status is required (requested, active or off)', 'Subscription.status'));
  else if (status === 'error') add(issue('business-rule', 'Subscription.status "error" is set by the gateway; send "active" to resume or "off" to stop', 'Subscription.status'));
  else if (status !== 'requested' && status !== 'active' && status !== 'off') add(issue('invalid', 'Subscription.status must be requested, active or off', 'Subscription.status'));
  add(textIssue(s.reason, 'Subscription.reason', MAX_REASON_LENGTH, true));
  const criteriaIssue = textIssue(s.criteria, 'Subscription.criteria', MAX_CRITERIA_LENGTH, true);
  add(criteriaIssue);
  if (!criteriaIssue) {
    const c = parseCriteria(s.criteria as string);
    if ('severity' in c) add(c);
  }
  if (s.end !== undefined && (typeof s.end !== 'string' || Number.isNaN(Date.parse(s.end)))) add(issue('invalid', 'Subscription.end must be an instant', 'Subscription.end'));
  const channel = s.channel;
  if (channel === undefined) add(issue('required', 'Subscription.channel is required', 'Subscription.channel'));
  else if (typeof channel !== 'object' || channel === null || Array.isArray(channel)) add(issue('invalid', 'Subscription.channel must be an object', 'Subscription.channel'));
  else {
    const ch = channel as Record<string, unknown>;
    if (ch.type === undefined) add(issue('required', 'Subscription.channel.type is required (rest-hook)', 'Subscription.channel.type'));
    else if (typeof ch.type !== 'string') add(issue('invalid', 'Subscription.channel.type must be a code', 'Subscription.channel.type'));
    else if (ch.type !== REST_HOOK) add(issue('not-supported', `Subscription.channel.type "${ch.type.slice(0, 40)}" is not served: this gateway notifies through rest-hook only`, 'Subscription.channel.type'));
    const e = checkEndpoint(ch.endpoint, rules);
    if (!(e instanceof URL)) add(e);
    if (ch.payload !== undefined) {
      if (typeof ch.payload !== 'string') add(issue('invalid', 'Subscription.channel.payload must be a mime type', 'Subscription.channel.payload'));
      else if (ch.payload !== FHIR_JSON) add(issue('not-supported', `Subscription.channel.payload: only ${FHIR_JSON} (the resource) or none (no body) is served`, 'Subscription.channel.payload'));
    }
    if (ch.header !== undefined) {
      if (!Array.isArray(ch.header)) add(issue('invalid', 'Subscription.channel.header must be an array of strings', 'Subscription.channel.header'));
      else if (ch.header.length > rules.maxHeaders) add(issue('too-long', `Subscription.channel.header has at most ${rules.maxHeaders} entries (got ${ch.header.length})`, 'Subscription.channel.header'));
      else {
        const seen = new Set<string>();
        ch.header.forEach((h, i) => {
          const at = `Subscription.channel.header[${i}]`;
          if (typeof h !== 'string') return add(issue('invalid', `${at} must be a string`, at));
          if (h.length > rules.maxHeaderLength) return add(issue('too-long', `${at} has at most ${rules.maxHeaderLength} characters`, at));
          const parsed = parseHeader(h, at);
          if (!Array.isArray(parsed)) return add(parsed);
          if (seen.has(parsed[0].toLowerCase())) return add(issue('invalid', `${at}: the header ${parsed[0]} is given twice`, at));
          seen.add(parsed[0].toLowerCase());
        });
      }
    }
  }
  if (issues.length > 0) {
    // A rule refused (422) only when nothing is malformed; malformed input is 400.
    const malformed = issues.some((i) => i.code !== 'business-rule' && i.code !== 'not-supported');
    throw malformed ? invalidIssues(issues) : new OperationOutcomeError(outcome(issues, 'business-rule'));
  }
  const { error: _error, ...rest } = input;
  return { ...rest, status: status === 'off' ? 'off' : 'active' } as Subscription;
}

/** The headers of a stored Subscription's channel, as sent. */
export function channelHeaders(sub: Subscription): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [i, h] of (sub.channel.header ?? []).entries()) {
    const parsed = parseHeader(h, `Subscription.channel.header[${i}]`);
    if (Array.isArray(parsed)) out[parsed[0]] = parsed[1];
  }
  return out;
}

/** The tag of `system` on a resource, if any. */
export function tagOf(sub: { meta?: { tag?: { system?: string; code?: string }[] } }, system: string): string | undefined {
  return sub.meta?.tag?.find((t) => t.system === system)?.code;
}
