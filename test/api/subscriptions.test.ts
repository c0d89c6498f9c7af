// FHIR R4 Subscriptions (rest-hook), issue 18 point 8: a real gateway (HTTP, dev tokens of tenant-bound DPI clients),
// a real dispatcher, a real receiver on loopback, on a SQLite file and on PostgreSQL. What is checked: every bad
// input refused with an OperationOutcome naming the field and nothing written; a decision through PUT /fhir/Task, a
// PPP sent again (the CarePlan) and a service's own tx.put notify (payload full and empty, headers passed); a
// rolled-back or unchanged write does not; a failing endpoint is retried, then dead and the Subscription `error`; a
// tenant-bound subscriber hears nothing of another establishment's resources.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Bundle, CarePlan, OperationOutcome, Subscription, Task } from '@medplum/fhirtypes';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/api/app.js';
import { mountDomainRoutes } from '../../src/api/domain-routes.js';
import { configFrom } from '../../src/config.js';
import { CS } from '../../src/fhir/canonical.js';
import { DEFAULT_SUBSCRIPTIONS } from '../../src/outbox/config.js';
import { startDispatcher, type RunningDispatcher } from '../../src/services/outbox-dispatch.js';
import { installSubscriptions, putSubscription } from '../../src/services/subscriptions.js';
import { openPgStore } from '../../src/store/pg-store.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { dropPgSchema, PG_TEST_URL, pgUnreachable } from '../support/pg.js';
import { available } from '../support/shared.js';
import { fixture, type Reply } from './server.js';
import { FINESS } from './tenancy-support.js';

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** The DPI's receiver: records every request; answers `status(url)` (default 200). */
class Receiver {
  readonly received: Received[] = [];
  status: (url: string) => number = () => 200;
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = req.url ?? '';
        this.received.push({ method: req.method ?? '', url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.statusCode = this.status(url);
        res.end();
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  at(prefix: string): Received[] {
    return this.received.filter((r) => r.url.startsWith(prefix));
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

const token = (id: string): string => `dev-token-${id}-0123456789abcdef`;
const CLIENTS = [
  { id: 'dpi-a', roles: ['dpi'], tenant: `establishment:${FINESS.A}`, token: token('dpi-a') },
  { id: 'dpi-c', roles: ['dpi'], tenant: `establishment:${FINESS.C}`, token: token('dpi-c') },
  { id: 'lgo-p', roles: ['lgo'], tenant: `pharmacy:${FINESS.P}`, token: token('lgo-p') },
  { id: 'admin', roles: ['admin'], token: token('admin') },
];
const RECO = `${CS.taskType}|reco-validation`;
type Outcome = OperationOutcome;

const until = async <T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 10_000): Promise<T> => {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};
const expressions = (o: Outcome): string[] => o.issue.flatMap((i) => i.expression ?? []);

function suite(dialect: 'sqlite' | 'pg'): void {
  describe(`FHIR Subscription, rest-hook (${dialect})`, () => {
    const schema = `subs_${process.pid}_${Date.now().toString(36)}`;
    const receiver = new Receiver();
    let dir: string;
    let store: ResourceStore;
    let running: RunningServer;
    let dispatcher: RunningDispatcher;
    let carePlanA: CarePlan;
    let carePlanC: CarePlan;

    const as = async <T = Record<string, unknown>>(client: string, p: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Reply<T>> => {
      const res = await fetch(`${running.url}${p}`, {
        method: init.method ?? (init.body !== undefined ? 'POST' : 'GET'),
        headers: { authorization: `Bearer ${token(client)}`, ...(init.body !== undefined ? { 'content-type': 'application/fhir+json' } : {}), ...init.headers },
        ...(init.body !== undefined ? { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) } : {}),
      });
      const text = await res.text();
      return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as T };
    };
    const subscription = (over: Record<string, unknown> = {}, channel: Record<string, unknown> = {}): Record<string, unknown> => ({
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'Décisions du MT et du PHO',
      criteria: `Task?code=${RECO}&status=completed`,
      channel: { type: 'rest-hook', endpoint: `${receiver.url}/hook/default`, ...channel },
      ...over,
    });
    const subscribe = async (client: string, over: Record<string, unknown> = {}, channel: Record<string, unknown> = {}): Promise<Subscription> => {
      const r = await as<Subscription>(client, '/fhir/Subscription', { body: subscription(over, channel) });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      return r.body;
    };
    const subscriptionCount = async (): Promise<number> => (await store.search({ resourceType: 'Subscription', predicates: [], count: 0, offset: 0, total: true })).total ?? -1;
    const restHookMessages = async (): Promise<number> => (await store.outbox.list({ destination: 'rest-hook', limit: 1000, offset: 0 })).total;
    const tasksOf = async (client: string, carePlan: CarePlan): Promise<Task[]> => {
      const r = await as<Bundle>(client, `/fhir/Task?code=${encodeURIComponent(RECO)}&based-on=CarePlan/${carePlan.id}&status=requested&_count=50`);
      return (r.body.entry ?? []).map((e) => e.resource as Task);
    };
    const decide = (task: Task): Task =>
      ({
        ...task,
        status: 'completed',
        output: [{ type: { text: 'decision' }, valueCodeableConcept: { coding: [{ system: CS.pppDecision, code: 'retenu', display: 'Retenu' }] } }],
      }) as Task;

    beforeAll(async () => {
      await receiver.start();
      dir = mkdtempSync(path.join(tmpdir(), 'passerelle-subs-'));
      const config = configFrom({
        port: 0,
        host: '127.0.0.1',
        dataDir: dir,
        log: { level: 'silent' },
        auth: { enabled: true, devTokens: true, clients: CLIENTS, rateLimit: { authentication: { windowMs: 60_000, max: 1_000_000 }, expensive: { windowMs: 60_000, max: 1_000_000 } } },
        outbox: {
          pollMs: 20,
          subscriptions: { endpoints: [`${receiver.url}/hook/`], maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 20, timeoutMs: 2000, maxHeaders: 3, maxHeaderLength: 200, reloadMs: 300 },
        },
      });
      store = dialect === 'sqlite' ? await openSqliteStore({ file: config.database }) : await openPgStore({ url: PG_TEST_URL, schema, poolSize: 4 });
      running = await startServer({ store, config, logger: pino({ level: 'silent' }), mounts: [mountDomainRoutes] });
      dispatcher = startDispatcher(store, config.outbox);
      const submit = async (client: string, file: string): Promise<CarePlan> => {
        const r = await as<Bundle>(client, '/ppp', { body: fixture(file), headers: { 'content-type': 'application/json' } });
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        return r.body.entry?.map((e) => e.resource).find((x) => x?.resourceType === 'CarePlan') as CarePlan;
      };
      carePlanA = await submit('dpi-a', 'ppp/ppp-12-medicines.json');
      carePlanC = await submit('dpi-c', 'ppp/town-async-rcp.json');
    }, 60_000);

    afterAll(async () => {
      await dispatcher?.stop(1000);
      await running?.close();
      await store?.close();
      await receiver.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
      if (dialect === 'pg') await dropPgSchema(schema);
    });

    describe('bad input: 4xx naming the field, nothing written', () => {
      const cases: { what: string; body: () => unknown; status: number; expression?: string }[] = [
        { what: 'channel type websocket', body: () => subscription({}, { type: 'websocket' }), status: 422, expression: 'Subscription.channel.type' },
        { what: 'channel type email', body: () => subscription({}, { type: 'email', endpoint: 'mailto:a@b.fr' }), status: 400, expression: 'Subscription.channel.type' },
        { what: 'channel type not a string', body: () => subscription({}, { type: 7 }), status: 400, expression: 'Subscription.channel.type' },
        { what: 'no channel', body: () => ({ ...subscription(), channel: undefined }), status: 400, expression: 'Subscription.channel' },
        { what: 'criteria on Patient', body: () => subscription({ criteria: 'Patient?name=Dupont' }), status: 422, expression: 'Subscription.criteria' },
        { what: 'criteria on an unknown type', body: () => subscription({ criteria: 'Nothing?x=1' }), status: 422, expression: 'Subscription.criteria' },
        { what: 'criteria with an unknown parameter', body: () => subscription({ criteria: 'Task?colour=blue' }), status: 400, expression: 'Subscription.criteria' },
        { what: 'criteria with a result parameter', body: () => subscription({ criteria: 'Task?status=completed&_count=5' }), status: 422, expression: 'Subscription.criteria' },
        { what: 'criteria with a chain', body: () => subscription({ criteria: 'Task?patient.name=Dupont' }), status: 422, expression: 'Subscription.criteria' },
        { what: 'criteria not a string', body: () => subscription({ criteria: { deep: 'Task' } }), status: 400, expression: 'Subscription.criteria' },
        { what: 'criteria huge', body: () => subscription({ criteria: `Task?status=${'x'.repeat(5000)}` }), status: 400, expression: 'Subscription.criteria' },
        { what: 'criteria with a bidi character', body: () => subscription({ criteria: 'Task?status=completed\u202e' }), status: 400, expression: 'Subscription.criteria' },
        { what: 'endpoint not allowed (SSRF)', body: () => subscription({}, { endpoint: 'http://169.254.169.254/latest/meta-data' }), status: 422, expression: 'Subscription.channel.endpoint' },
        { what: 'endpoint on the allowed host but another path', body: () => subscription({}, { endpoint: `${receiver.url}/admin/outbox` }), status: 422, expression: 'Subscription.channel.endpoint' },
        { what: 'endpoint relative', body: () => subscription({}, { endpoint: '/hook/x' }), status: 400, expression: 'Subscription.channel.endpoint' },
        { what: 'endpoint ftp', body: () => subscription({}, { endpoint: 'ftp://127.0.0.1/hook/' }), status: 400, expression: 'Subscription.channel.endpoint' },
        { what: 'endpoint with credentials', body: () => subscription({}, { endpoint: `${receiver.url.replace('http://', 'http://u:p@')}/hook/x` }), status: 400, expression: 'Subscription.channel.endpoint' },
        { what: 'endpoint with a control character', body: () => subscription({}, { endpoint: `${receiver.url}/hook/a\u0000b` }), status: 400, expression: 'Subscription.channel.endpoint' },
        { what: 'endpoint huge', body: () => subscription({}, { endpoint: `${receiver.url}/hook/${'a'.repeat(3000)}` }), status: 400, expression: 'Subscription.channel.endpoint' },
        { what: 'payload XML', body: () => subscription({}, { payload: 'application/fhir+xml' }), status: 422, expression: 'Subscription.channel.payload' },
        { what: 'payload not a string', body: () => subscription({}, { payload: ['application/fhir+json'] }), status: 400, expression: 'Subscription.channel.payload' },
        { what: 'too many headers', body: () => subscription({}, { header: ['A: 1', 'B: 2', 'C: 3', 'D: 4'] }), status: 400, expression: 'Subscription.channel.header' },
        { what: 'a header too long', body: () => subscription({}, { header: [`Authorization: Bearer ${'x'.repeat(300)}`] }), status: 400, expression: 'Subscription.channel.header[0]' },
        { what: 'a header with CRLF (injection)', body: () => subscription({}, { header: ['X-A: 1\r\nX-Evil: 2'] }), status: 400, expression: 'Subscription.channel.header[0]' },
        { what: 'a header without a name', body: () => subscription({}, { header: [': value'] }), status: 400, expression: 'Subscription.channel.header[0]' },
        { what: 'a reserved header (Host)', body: () => subscription({}, { header: ['Host: evil.example'] }), status: 422, expression: 'Subscription.channel.header[0]' },
        { what: 'a header not a string', body: () => subscription({}, { header: [{ name: 'A' }] }), status: 400, expression: 'Subscription.channel.header[0]' },
        { what: 'headers not an array', body: () => subscription({}, { header: 'A: 1' }), status: 400, expression: 'Subscription.channel.header' },
        { what: 'status error from the client', body: () => subscription({ status: 'error' }), status: 422, expression: 'Subscription.status' },
        { what: 'status unknown', body: () => subscription({ status: 'on' }), status: 400, expression: 'Subscription.status' },
        { what: 'no reason', body: () => ({ ...subscription(), reason: undefined }), status: 400, expression: 'Subscription.reason' },
        { what: 'reason with a zero-width joiner... bidi override', body: () => subscription({ reason: 'ok\u2066x' }), status: 400, expression: 'Subscription.reason' },
        { what: 'end not an instant', body: () => subscription({ end: 'tomorrow' }), status: 400, expression: 'Subscription.end' },
      ];
      for (const c of cases) {
        it(c.what, async () => {
          const before = await subscriptionCount();
          const r = await as<Outcome>('dpi-a', '/fhir/Subscription', { body: c.body() });
          expect(r.status, JSON.stringify(r.body)).toBe(c.status);
          expect(r.body.resourceType).toBe('OperationOutcome');
          if (c.expression) expect(expressions(r.body)).toContain(c.expression);
          expect(await subscriptionCount()).toBe(before);
        });
      }

      it('deep nesting and a huge body: 4xx, never 5xx', async () => {
        let deep: unknown = 'x';
        for (let i = 0; i < 200; i++) deep = { a: deep };
        const nested = await as<Outcome>('dpi-a', '/fhir/Subscription', { body: subscription({ contact: [{ system: 'email', value: 'a@b.fr', extension: [{ url: 'x', valueString: 'y' }] }], _status: deep }) });
        expect(nested.status).toBeGreaterThanOrEqual(400);
        expect(nested.status).toBeLessThan(500);
        const huge = await as<Outcome>('dpi-a', '/fhir/Subscription', { body: subscription({ reason: 'r'.repeat(5_000_000) }) });
        expect(huge.status).toBeGreaterThanOrEqual(400);
        expect(huge.status).toBeLessThan(500);
        const notJson = await as<Outcome>('dpi-a', '/fhir/Subscription', { body: '{"resourceType":"Subscription",' });
        expect(notJson.status).toBe(400);
      });

      it('through PATCH and in a transaction Bundle: the same checks, nothing written', async () => {
        const s = await subscribe('dpi-a');
        const patch = await as<Outcome>('dpi-a', `/fhir/Subscription/${s.id}`, {
          method: 'PATCH',
          body: [{ op: 'replace', path: '/channel/endpoint', value: 'http://10.0.0.1/internal' }],
          headers: { 'content-type': 'application/json-patch+json' },
        });
        expect(patch.status).toBe(422);
        expect(expressions(patch.body)).toContain('Subscription.channel.endpoint');
        expect((await as<Subscription>('dpi-a', `/fhir/Subscription/${s.id}`)).body.meta?.versionId).toBe(s.meta?.versionId);
        const before = await subscriptionCount();
        const bundle = await as<Outcome>('dpi-a', '/fhir', {
          body: {
            resourceType: 'Bundle',
            type: 'transaction',
            entry: [
              { resource: subscription(), request: { method: 'POST', url: 'Subscription' } },
              { resource: subscription({}, { type: 'websocket' }), request: { method: 'POST', url: 'Subscription' } },
            ],
          },
        });
        expect(bundle.status).toBeGreaterThanOrEqual(400);
        expect(bundle.status).toBeLessThan(500);
        expect(await subscriptionCount()).toBe(before);
        await as('dpi-a', `/fhir/Subscription/${s.id}`, { method: 'DELETE' });
      });

      it('a client without fhir.write (LGO) may not create one; nothing is written', async () => {
        const before = await subscriptionCount();
        const r = await as<Outcome>('lgo-p', '/fhir/Subscription', { body: subscription() });
        expect(r.status).toBe(403);
        expect(await subscriptionCount()).toBe(before);
      });
    });

    describe('accepted, read, searched, owned', () => {
      it('requested becomes active; owner and tenant tagged; another tenant neither sees nor changes it', async () => {
        const s = await subscribe('dpi-a', { meta: { tag: [{ system: 'https://fhir.passerelle.fr/CodeSystem/subscription-tenant', code: 'finess:140000787' }] } });
        expect(s.status).toBe('active');
        expect(s.meta?.tag).toEqual(
          expect.arrayContaining([
            { system: 'https://fhir.passerelle.fr/CodeSystem/subscription-owner', code: 'dpi-a' },
            { system: 'https://fhir.passerelle.fr/CodeSystem/subscription-tenant', code: `finess:${FINESS.A}` },
          ]),
        );
        expect(s.meta?.tag?.filter((t) => t.system?.endsWith('subscription-tenant'))).toHaveLength(1);
        expect((await as('dpi-a', `/fhir/Subscription/${s.id}`)).status).toBe(200);
        expect((await as('dpi-c', `/fhir/Subscription/${s.id}`)).status).toBe(404);
        const mine = await as<Bundle>('dpi-a', '/fhir/Subscription?status=active&type=rest-hook');
        expect(mine.body.entry?.map((e) => e.resource?.id)).toContain(s.id);
        const theirs = await as<Bundle>('dpi-c', '/fhir/Subscription?status=active');
        expect(theirs.body.entry ?? []).toHaveLength(0);
        const change = await as<Outcome>('dpi-c', `/fhir/Subscription/${s.id}`, { method: 'PUT', body: { ...s, status: 'off' } });
        expect(change.status).toBe(403);
        expect((await as('dpi-c', `/fhir/Subscription/${s.id}`, { method: 'DELETE' })).status).toBeGreaterThanOrEqual(403);
        const off = await as<Subscription>('dpi-a', `/fhir/Subscription/${s.id}`, { method: 'PUT', body: { ...s, status: 'off' } });
        expect(off.status).toBe(200);
        expect(off.body.status).toBe('off');
        expect((await as('dpi-a', `/fhir/Subscription/${s.id}`, { method: 'DELETE' })).status).toBe(200);
      });

      it('the CapabilityStatement lists Subscription and the rest-hook channel', async () => {
        const r = await fetch(`${running.url}/fhir/metadata`);
        const cs = (await r.json()) as { rest: { resource: { type: string; interaction: { code: string }[]; documentation?: string; extension?: { url: string; valueCode?: string }[] }[] }[] };
        const sub = cs.rest[0].resource.find((x) => x.type === 'Subscription');
        expect(sub?.interaction.map((i) => i.code)).toEqual(expect.arrayContaining(['create', 'read', 'update', 'delete', 'search-type']));
        expect(sub?.documentation).toContain('rest-hook');
        expect(sub?.extension?.[0]?.valueCode).toBe('rest-hook');
      });
    });

    describe('notifications', () => {
      it('a decision through PUT /fhir/Task notifies: full payload (PUT <base>/Task/<id>, headers passed) and empty (POST, no body)', async () => {
        const full = await subscribe('dpi-a', {}, { endpoint: `${receiver.url}/hook/full`, payload: 'application/fhir+json', header: ['Authorization: Bearer dpi-secret', 'X-Tenant: A'] });
        const empty = await subscribe('dpi-a', {}, { endpoint: `${receiver.url}/hook/empty` });
        const [task] = await tasksOf('dpi-a', carePlanA);
        const r = await as<Task>('dpi-a', `/fhir/Task/${task.id}`, { method: 'PUT', body: decide(task) });
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        const got = await until('the full notification', () => receiver.at('/hook/full/').find((x) => x.url === `/hook/full/Task/${task.id}`));
        expect(got.method).toBe('PUT');
        expect(got.headers['content-type']).toBe('application/fhir+json');
        expect(got.headers.authorization).toBe('Bearer dpi-secret');
        expect(got.headers['x-tenant']).toBe('A');
        expect(got.headers['idempotency-key']).toBe(`Subscription/${full.id}:Task/${task.id}/_history/${r.body.meta?.versionId}`);
        const sent = JSON.parse(got.body) as Task;
        expect(sent).toMatchObject({ resourceType: 'Task', id: task.id, status: 'completed', meta: { versionId: r.body.meta?.versionId } });
        const bare = await until('the empty notification', () => receiver.at('/hook/empty').find(() => true));
        expect(bare.method).toBe('POST');
        expect(bare.url).toBe('/hook/empty');
        expect(bare.body).toBe('');
        expect(bare.headers.authorization).toBeUndefined();
        // Listed in the outbox like every message.
        const listed = await as<{ items: { destination: string; orderingKey: string; state: string }[] }>('admin', '/admin/outbox?destination=rest-hook');
        expect(listed.body.items.filter((m) => m.orderingKey === `Subscription/${full.id}`).length).toBeGreaterThanOrEqual(1);
        await as('dpi-a', `/fhir/Subscription/${full.id}`, { method: 'DELETE' });
        await as('dpi-a', `/fhir/Subscription/${empty.id}`, { method: 'DELETE' });
      });

      it('an unchanged write and a rolled-back write notify nothing; a service tx.put of the CarePlan does', async () => {
        const onTask = await subscribe('dpi-a', { criteria: `Task?code=${RECO}` }, { endpoint: `${receiver.url}/hook/quiet` });
        const onCarePlan = await subscribe('dpi-a', { criteria: `CarePlan?_id=${carePlanA.id}` }, { endpoint: `${receiver.url}/hook/careplan`, payload: 'application/fhir+json' });
        const [task] = await tasksOf('dpi-a', carePlanA);
        const before = await restHookMessages();
        // Unchanged: the same Task sent again writes no version.
        const same = await as<Task>('dpi-a', `/fhir/Task/${task.id}`, { method: 'PUT', body: task });
        expect(same.status).toBe(200);
        expect(same.body.meta?.versionId).toBe(task.meta?.versionId);
        // Rolled back: a service's write inside a transaction that fails.
        await expect(
          store.transaction(async (tx) => {
            await tx.put({ ...task, note: [{ text: 'never committed' }] });
            throw new Error('rolled back');
          }),
        ).rejects.toThrow('rolled back');
        expect(await restHookMessages()).toBe(before);
        // A service writing the CarePlan (as the follow-up outcomes do) is seen: one message, one notification.
        const current = (await store.read<CarePlan>('CarePlan', carePlanA.id as string)) as CarePlan;
        const written = await store.transaction((tx) => tx.put({ ...current, note: [{ text: 'D45: implemented' }] }));
        expect(written.changed).toBe(true);
        const got = await until('the CarePlan notification', () => receiver.at('/hook/careplan/').find((x) => x.url === `/hook/careplan/CarePlan/${carePlanA.id}`));
        expect(JSON.parse(got.body)).toMatchObject({ resourceType: 'CarePlan', note: [{ text: 'D45: implemented' }], meta: { versionId: written.resource.meta?.versionId } });
        expect(await restHookMessages()).toBe(before + 1);
        expect(receiver.at('/hook/quiet')).toHaveLength(0);
        await as('dpi-a', `/fhir/Subscription/${onTask.id}`, { method: 'DELETE' });
        await as('dpi-a', `/fhir/Subscription/${onCarePlan.id}`, { method: 'DELETE' });
      });

      it('a PPP sent again (the submission door) notifies its CarePlan subscriber', async () => {
        const s = await subscribe('dpi-a', { criteria: 'CarePlan?status=active,draft,completed,on-hold,revoked' }, { endpoint: `${receiver.url}/hook/ppp` });
        const ppp = fixture('ppp/ppp-12-medicines.json') as Record<string, unknown>;
        try {
          const again = await as<Bundle>('dpi-a', '/ppp', { body: { ...ppp, note: `${String(ppp.note ?? '')} Revu le lendemain.` }, headers: { 'content-type': 'application/json' } });
          expect(again.status, JSON.stringify(again.body)).toBe(200);
          await until('the notification of the PPP sent again', () => receiver.at('/hook/ppp').length > 0 || undefined);
        } finally {
          await as('dpi-a', `/fhir/Subscription/${s.id}`, { method: 'DELETE' });
        }
      });

      it("a tenant-bound subscriber hears nothing of another establishment's resources", async () => {
        const a = await subscribe('dpi-a', { criteria: `Task?code=${RECO}&status=completed` }, { endpoint: `${receiver.url}/hook/tenant-a` });
        const admin = await subscribe('admin', { criteria: `Task?code=${RECO}&status=completed` }, { endpoint: `${receiver.url}/hook/admin` });
        const [taskC] = await tasksOf('dpi-c', carePlanC);
        const r = await as<Task>('dpi-c', `/fhir/Task/${taskC.id}`, { method: 'PUT', body: decide(taskC) });
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        // The cross-tenant subscriber (admin) is told, A is not.
        await until('the admin notification', () => receiver.at('/hook/admin').length > 0 || undefined);
        expect(receiver.at('/hook/tenant-a')).toHaveLength(0);
        const keys = (await store.outbox.list({ destination: 'rest-hook', limit: 1000, offset: 0 })).items.map((m) => m.orderingKey);
        expect(keys).not.toContain(`Subscription/${a.id}`);
        await as('dpi-a', `/fhir/Subscription/${a.id}`, { method: 'DELETE' });
        await as('admin', `/fhir/Subscription/${admin.id}`, { method: 'DELETE' });
      });

      it('a failing endpoint: retried, then dead, the Subscription in error; a later delivery makes it active again', async () => {
        receiver.status = (url) => (url.startsWith('/hook/down') ? 503 : 200);
        const s = await subscribe('dpi-a', { criteria: `CarePlan?_id=${carePlanA.id}` }, { endpoint: `${receiver.url}/hook/down` });
        const current = (await store.read<CarePlan>('CarePlan', carePlanA.id as string)) as CarePlan;
        await store.transaction((tx) => tx.put({ ...current, note: [{ text: 'failing endpoint' }] }));
        const dead = await until('the dead message', async () =>
          (await store.outbox.list({ destination: 'rest-hook', state: 'dead', limit: 1000, offset: 0 })).items.find((m) => m.orderingKey === `Subscription/${s.id}`),
        );
        expect(dead.attempts).toBe(3);
        expect(receiver.at('/hook/down')).toHaveLength(3);
        const inError = await until('the Subscription in error', async () => {
          const r = await as<Subscription>('dpi-a', `/fhir/Subscription/${s.id}`);
          return r.body.status === 'error' ? r.body : undefined;
        });
        expect(inError.error).toContain('HTTP 503');
        // In error, it is not notified of new writes.
        const before = await restHookMessages();
        const again = (await store.read<CarePlan>('CarePlan', carePlanA.id as string)) as CarePlan;
        await store.transaction((tx) => tx.put({ ...again, note: [{ text: 'while in error' }] }));
        expect(await restHookMessages()).toBe(before);
        // The endpoint back, a redrive delivers and the Subscription is active again.
        receiver.status = () => 200;
        expect((await as('admin', `/admin/outbox/${dead.id}/redrive`, { method: 'POST' })).status).toBe(200);
        await until('the Subscription active again', async () => ((await as<Subscription>('dpi-a', `/fhir/Subscription/${s.id}`)).body.status === 'active' ? true : undefined));
        await as('dpi-a', `/fhir/Subscription/${s.id}`, { method: 'DELETE' });
      });

      it.runIf(dialect === 'pg')('a Subscription written by another process (another store on the same database) is seen within reloadMs', async () => {
        const other = await openPgStore({ url: PG_TEST_URL, schema, poolSize: 2 });
        try {
          installSubscriptions(other, { reloadMs: 300 });
          const written = await other.transaction((tx) =>
            putSubscription(
              tx,
              subscription({ id: `other-${Date.now()}`, criteria: `CarePlan?_id=${carePlanA.id}` }, { endpoint: `${receiver.url}/hook/other-process` }) as unknown as Subscription,
              { id: 'dpi-a', scopes: ['fhir.read', 'fhir.write'], roles: ['dpi'], tenant: { kind: 'establishment', finess: FINESS.A }, method: 'dev-token' },
              { ...DEFAULT_SUBSCRIPTIONS, endpoints: [`${receiver.url}/hook/`] },
              undefined,
            ),
          );
          expect(written.resource.status).toBe('active');
          await new Promise((r) => setTimeout(r, 400));
          const current = (await store.read<CarePlan>('CarePlan', carePlanA.id as string)) as CarePlan;
          await store.transaction((tx) => tx.put({ ...current, note: [{ text: 'seen by the other process' }] }));
          await until('the notification of a Subscription made elsewhere', () => receiver.at('/hook/other-process').length > 0 || undefined);
          await other.transaction((tx) => tx.delete('Subscription', written.resource.id as string));
        } finally {
          await other.close();
        }
      });

      it('a Subscription turned off: its pending notification is not sent (dead, "not sent"), the status stays off', async () => {
        receiver.status = (url) => (url.startsWith('/hook/later') ? 503 : 200);
        const s = await subscribe('dpi-a', { criteria: `CarePlan?_id=${carePlanA.id}` }, { endpoint: `${receiver.url}/hook/later` });
        const current = (await store.read<CarePlan>('CarePlan', carePlanA.id as string)) as CarePlan;
        await store.transaction((tx) => tx.put({ ...current, note: [{ text: 'then off' }] }));
        await until('a first failed attempt', () => receiver.at('/hook/later').length > 0 || undefined);
        const off = await as<Subscription>('dpi-a', `/fhir/Subscription/${s.id}`, { method: 'PUT', body: { ...s, status: 'off' } });
        expect(off.status).toBe(200);
        const dead = await until('the message dead', async () =>
          (await store.outbox.list({ destination: 'rest-hook', state: 'dead', limit: 1000, offset: 0 })).items.find((m) => m.orderingKey === `Subscription/${s.id}`),
        );
        expect(dead.lastError).toContain('not sent');
        expect((await as<Subscription>('dpi-a', `/fhir/Subscription/${s.id}`)).body.status).toBe('off');
        receiver.status = () => 200;
      });
    });
  });
}

suite('sqlite');
const unreachable = await pgUnreachable();
if (available(`PostgreSQL at ${PG_TEST_URL} (${unreachable ?? ''})`, !unreachable, 'the Subscription tests on PostgreSQL')) suite('pg');
