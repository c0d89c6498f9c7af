// Operations over HTTP: probes, Prometheus metrics, the outbox messages a submission enqueues (same transaction,
// once per stored version) and the outbox administration under /admin/outbox.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountDomainRoutes } from '../../src/api/domain-routes.js';
import type { OutboxMessage } from '../../src/store/outbox-repository.js';
import { call, startTestServer, type TestServer } from './server.js';

const json = { 'content-type': 'application/json' };
const ppp = (): Record<string, unknown> => JSON.parse(readFileSync('test/fixtures/ppp/hospital-sync-rcp.json', 'utf8')) as Record<string, unknown>;

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer(
    { outbox: { dispatcher: false, destinations: { dmp: { kind: 'http', url: 'http://127.0.0.1:9/never' } }, routes: [{ on: 'ppp.stored', destination: 'dmp' }] } },
    [mountDomainRoutes],
  );
});
afterAll(async () => srv.close());

const messages = async (): Promise<OutboxMessage[]> => (await call<{ items: OutboxMessage[] }>(`${srv.url}/admin/outbox?_count=100`)).body.items;

describe('probes and metrics', () => {
  it('/healthz and /readyz answer without credentials', async () => {
    expect(await call(`${srv.url}/healthz`)).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(await call(`${srv.url}/readyz`)).toMatchObject({ status: 200, body: { status: 'ready' } });
  });

  it('/metrics is Prometheus text with HTTP, outbox and identity series', async () => {
    await call(`${srv.url}/healthz`);
    const res = await fetch(`${srv.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/passerelle_http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+/);
    expect(text).toContain('passerelle_http_request_duration_seconds_bucket');
    expect(text).toContain('# TYPE passerelle_outbox_messages gauge');
    expect(text).toContain('# TYPE passerelle_identity_decisions_total counter');
  });
});

describe('submissions enqueue their messages in the same transaction', () => {
  it('a stored PPP enqueues one message per route, carrying the request id; re-sending it unchanged enqueues nothing', async () => {
    const r = await call(`${srv.url}/ppp`, { body: ppp(), headers: { ...json, 'x-request-id': 'req-ppp-1' } });
    expect(r.status).toBe(200);
    const [m] = await messages();
    expect(m).toMatchObject({ destination: 'dmp', state: 'pending', attempts: 0, requestId: 'req-ppp-1' });
    expect(m.idempotencyKey).toMatch(/^ppp\.stored:CarePlan\/[0-9a-f-]+\/_history\/1$/);
    expect(m.orderingKey).toMatch(/^Patient\/[0-9a-f-]+$/);
    const shown = await call<OutboxMessage & { attemptLog: unknown[] }>(`${srv.url}/admin/outbox/${m.id}`);
    expect(shown.body).toMatchObject({ payload: { event: 'ppp.stored', versionId: '1' }, attemptLog: [], mail: [] });

    expect((await call(`${srv.url}/ppp`, { body: ppp(), headers: json })).status).toBe(200);
    expect(await messages()).toHaveLength(1);
    // A changed PPP is a new version of its CarePlan: a new message, in the same patient's order.
    const changed = { ...ppp(), created: '2025-05-13T09:00:00+02:00' };
    expect((await call(`${srv.url}/ppp`, { body: changed, headers: json })).status).toBe(200);
    const all = await messages();
    expect(all.map((x) => x.idempotencyKey.replace(/CarePlan\/[0-9a-f-]+/, 'CarePlan/x'))).toEqual([
      'ppp.stored:CarePlan/x/_history/1',
      'ppp.stored:CarePlan/x/_history/2',
    ]);
    expect(new Set(all.map((x) => x.orderingKey)).size).toBe(1);
  });

  it('a refused submission enqueues nothing', async () => {
    const before = (await messages()).length;
    const bad = { ...ppp(), patient: { birthName: 'SANS' } };
    expect((await call(`${srv.url}/ppp`, { body: bad, headers: json })).status).toBe(400);
    expect(await messages()).toHaveLength(before);
  });
});

describe('/admin/outbox', () => {
  it('lists with filters, refuses to redrive a message that is not dead, pauses and resumes a destination', async () => {
    const [m] = await messages();
    expect((await call(`${srv.url}/admin/outbox?state=dead`)).body).toMatchObject({ total: 0, items: [] });
    expect((await call(`${srv.url}/admin/outbox?state=nope`)).status).toBe(400);
    expect((await call(`${srv.url}/admin/outbox/${m.id}/redrive`, { method: 'POST' })).status).toBe(409);
    expect((await call(`${srv.url}/admin/outbox/00000000-0000-0000-0000-000000000000`)).status).toBe(404);
    expect((await call(`${srv.url}/admin/outbox/destinations/dmp/pause`, { method: 'POST' })).body).toEqual({ destination: 'dmp', paused: true });
    expect((await call(`${srv.url}/admin/outbox/destinations`)).body).toMatchObject({ paused: ['dmp'] });
    expect((await call(`${srv.url}/admin/outbox/destinations/dmp/resume`, { method: 'POST' })).body).toEqual({ destination: 'dmp', paused: false });
    expect((await call(`${srv.url}/admin/outbox/redrive-dead`, { method: 'POST' })).body).toEqual({ redriven: 0 });
  });

  it('shows the MSSanté mails a message became, with the status their receipts gave them', async () => {
    const [m] = await messages();
    const mail = {
      messageId: '<1.2.3.1.abc@chu-exemple.mssante.fr>',
      outboxId: m.id,
      destination: 'mssante',
      recipient: 'pierre.benassis@medecin.demo.mssante.fr',
      role: 'medecin-traitant',
      resource: 'CarePlan/x',
      communication: 'Communication/y',
      status: 'sent' as const,
      sent: '2026-11-22T09:05:00.000Z',
      updated: '2026-11-22T09:05:00.000Z',
    };
    await srv.store.mssante.recordSent(mail);
    await srv.store.mssante.updateSent(mail.messageId, { status: 'failed', detail: "904 Incoherence entre l'INS et les traits d'identite", at: '2026-11-22T09:20:00.000Z' });
    const shown = await call<{ mail: unknown[] }>(`${srv.url}/admin/outbox/${m.id}`);
    expect(shown.body.mail).toEqual([{ ...mail, status: 'failed', detail: "904 Incoherence entre l'INS et les traits d'identite", updated: '2026-11-22T09:20:00.000Z' }]);
  });
});
