// The Subscription rules as pure functions: the endpoint allow-list (no request forwarding), criteria, headers.
import type { OperationOutcomeIssue, Subscription } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { OperationOutcomeError } from '../../src/fhir/outcome.js';
import { channelHeaders, checkEndpoint, checkSubscription, parseCriteria, parseHeader } from '../../src/fhir/subscription.js';

const rules = { endpoints: ['https://dpi.chu.example/notify/'], maxHeaders: 2, maxHeaderLength: 100 };
const refused = (v: unknown): v is OperationOutcomeIssue => typeof v === 'object' && v !== null && 'severity' in v;

describe('endpoint allow-list', () => {
  it.each([
    ['https://dpi.chu.example/notify/a', true],
    ['https://dpi.chu.example/notify/', true],
    ['https://DPI.chu.example/notify/x', true],
    ['http://dpi.chu.example/notify/a', false],
    ['https://dpi.chu.example:8443/notify/a', false],
    ['https://dpi.chu.example/notifyx', false],
    ['https://dpi.chu.example/notify/../admin', false],
    ['https://dpi.chu.example/notify/%2e%2e/admin', false],
    ['https://dpi.chu.example.evil.example/notify/a', false],
    ['https://evil.example/https://dpi.chu.example/notify/', false],
    ['https://user@dpi.chu.example/notify/a', false],
    ['https://dpi.chu.example/notify/a#frag', false],
    ['javascript:alert(1)', false],
    ['file:///etc/passwd', false],
  ])('%s → %s', (endpoint, ok) => {
    expect(!refused(checkEndpoint(endpoint, rules))).toBe(ok);
  });

  it('no allowed prefix: every endpoint refused, saying so', () => {
    const r = checkEndpoint('https://dpi.chu.example/notify/a', { endpoints: [] });
    expect(refused(r) && r.details?.text).toContain('outbox.subscriptions.endpoints is empty');
  });
});

describe('criteria', () => {
  it('Task and CarePlan searches are accepted, with their predicates', () => {
    const c = parseCriteria('Task?code=https://fhir.passerelle.fr/CodeSystem/task-type|reco-validation&status=completed');
    expect(refused(c)).toBe(false);
    expect(!refused(c) && c.predicates.map((p) => p.param)).toEqual(['code', 'status']);
    expect(refused(parseCriteria('CarePlan'))).toBe(false);
    expect(refused(parseCriteria('CarePlan?_id=abc'))).toBe(false);
  });
  it.each(['Patient?name=x', 'Task?_include=Task:patient', 'Task?_sort=status', 'Task?patient.name=x', 'Task?_has:Provenance:target:agent=x', 'Task?nope=1', '?status=x', 'task?status=x'])('%s is refused', (c) => {
    expect(refused(parseCriteria(c))).toBe(true);
  });
});

describe('headers', () => {
  it('Name: value, printable ASCII, not reserved', () => {
    expect(parseHeader('Authorization: Bearer x', 'h')).toEqual(['Authorization', 'Bearer x']);
    expect(refused(parseHeader('X-A: é', 'h'))).toBe(true);
    expect(refused(parseHeader('X-A: a\nb', 'h'))).toBe(true);
    expect(refused(parseHeader('Content-Length: 1', 'h'))).toBe(true);
    expect(refused(parseHeader('Bad Name: 1', 'h'))).toBe(true);
  });
  it('channelHeaders sends what was accepted', () => {
    expect(channelHeaders({ channel: { type: 'rest-hook', header: ['A: 1', 'B: two'] } } as Subscription)).toEqual({ A: '1', B: 'two' });
  });
});

describe('checkSubscription', () => {
  const base = { resourceType: 'Subscription', status: 'requested', reason: 'r', criteria: 'Task?status=completed', channel: { type: 'rest-hook', endpoint: 'https://dpi.chu.example/notify/x' } } as Subscription;
  it('requested → active, error dropped, off kept', () => {
    expect(checkSubscription(base, rules).status).toBe('active');
    expect(checkSubscription({ ...base, status: 'active', error: 'old' }, rules).error).toBeUndefined();
    expect(checkSubscription({ ...base, status: 'off' }, rules).status).toBe('off');
  });
  it('lists every issue at once; a rule alone is 422, malformed input 400', () => {
    try {
      checkSubscription({ ...base, criteria: 'Patient?x=1', channel: { type: 'websocket', endpoint: 'https://evil.example/' } } as Subscription, rules);
      expect.unreachable();
    } catch (e) {
      const o = (e as OperationOutcomeError).outcome;
      expect(o.id).toBe('business-rule');
      expect(o.issue.flatMap((i) => i.expression)).toEqual(['Subscription.criteria', 'Subscription.channel.type', 'Subscription.channel.endpoint']);
    }
    try {
      checkSubscription({ ...base, reason: 7, channel: { type: 'websocket', endpoint: 'https://dpi.chu.example/notify/x' } } as unknown as Subscription, rules);
      expect.unreachable();
    } catch (e) {
      const o = (e as OperationOutcomeError).outcome;
      expect(o.id).toBeUndefined();
      expect(o.issue.flatMap((i) => i.expression)).toEqual(['Subscription.reason', 'Subscription.channel.type']);
    }
  });
});
