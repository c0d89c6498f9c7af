// POST /admin/pathway/run-due over real HTTP, and `passerelle pathway due --run --url` against it: the running gateway
// runs the pathway's due work itself (with its own mail settings). Scope admin; a future `at` (jumping to D45 in a
// demo) only on a gateway without authentication; bad bodies are 400s that run nothing.
import { Command } from 'commander';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { register } from '../../src/cli/commands/pathway.js';
import { mountPathwayRoutes } from '../../src/api/pathway-routes.js';
import { pppFixture, sentCase } from '../services/pathway/followup-support.js';
import { call, startTestServer, type TestServer } from './server.js';

const CLIENTS = [
  { id: 'admin', roles: ['admin'] },
  { id: 'dpi-a', roles: ['dpi'], tenant: 'establishment:800000317' },
].map((c) => ({ ...c, token: `dev-token-${c.id}-0123456789abcdef` }));
const bearer = (id: string) => ({ authorization: `Bearer dev-token-${id}-0123456789abcdef` });
const json = { 'content-type': 'application/json' };

let open: TestServer;
let secured: TestServer;
let d45: Date;
let carePlan: string;

beforeAll(async () => {
  open = await startTestServer({}, [mountPathwayRoutes]);
  secured = await startTestServer({ auth: { enabled: true, devTokens: true, clients: CLIENTS } }, [mountPathwayRoutes]);
  const sent = await sentCase(open.store, pppFixture('RUN-DUE-1', (p) => (p.sentAt = new Date().toISOString())));
  ({ carePlan, d45 } = sent);
  await secured.store.transaction((tx) => tx.pathway.schedule('none', 'd45', new Date(Date.now() + 40 * 86_400_000).toISOString()));
});
afterAll(async () => {
  await open?.close();
  await secured?.close();
});

const dueKinds = async (srv: TestServer, cp: string) => Object.fromEntries((await srv.store.pathway.dueOf(cp)).map((d) => [d.kind, d.state]));

describe('POST /admin/pathway/run-due', () => {
  const BAD: [string, unknown][] = [
    ['an unknown field', { at: '2027-01-20T09:00:00Z', force: true }],
    ['a date without time', { at: '2027-01-20' }],
    ['a number', { at: 1790000000000 }],
    ['an instant without offset', { at: '2027-01-20T09:00:00' }],
    ['a bidi override', { at: '2027-01-20T09:00:00Z\u202E' }],
    ['deep nesting', { at: JSON.parse('['.repeat(200) + ']'.repeat(200)) }],
    ['an array', ['2027-01-20T09:00:00Z']],
  ];
  for (const [what, body] of BAD) {
    it(`refuses ${what} with a 400 naming the field, running nothing`, async () => {
      const r = await call(`${open.url}/admin/pathway/run-due`, { body, headers: json });
      expect(r.status).toBe(400);
      expect(r.body.resourceType).toBe('OperationOutcome');
      expect(await dueKinds(open, carePlan)).toMatchObject({ d45: 'scheduled' });
    });
  }

  it('a gateway with authentication: admin only, and never ahead of the clock', async () => {
    expect((await call(`${secured.url}/admin/pathway/run-due`, { body: {}, headers: { ...json } })).status).toBe(401);
    expect((await call(`${secured.url}/admin/pathway/run-due`, { body: {}, headers: { ...json, ...bearer('dpi-a') } })).status).toBe(403);
    const ahead = await call(`${secured.url}/admin/pathway/run-due`, { body: { at: new Date(Date.now() + 45 * 86_400_000).toISOString() }, headers: { ...json, ...bearer('admin') } });
    expect(ahead.status).toBe(403);
    expect(JSON.stringify(ahead.body)).toContain('ahead of the clock');
    expect(await dueKinds(secured, 'none')).toEqual({ d45: 'scheduled' });
    const now = await call(`${secured.url}/admin/pathway/run-due`, { body: {}, headers: { ...json, ...bearer('admin') } });
    expect(now.status).toBe(200);
    expect(now.body).toMatchObject({ ran: 0, failed: 0 });
  });

  it('without authentication (development, demos): runs what is due at a later instant, once; audited', async () => {
    const r = await call<{ ran: number; failed: number; at: string }>(`${open.url}/admin/pathway/run-due`, { body: { at: new Date(d45.getTime() + 60_000).toISOString() }, headers: json });
    expect(r.status).toBe(200);
    expect(r.body.ran).toBeGreaterThanOrEqual(1);
    expect(await dueKinds(open, carePlan)).toMatchObject({ d45: 'done', d90: 'scheduled' });
    const again = await call<{ ran: number }>(`${open.url}/admin/pathway/run-due`, { body: { at: new Date(d45.getTime() + 120_000).toISOString() }, headers: json });
    expect(again.body.ran).toBe(0);
    const audit = await open.store.auditLog({ limit: 50 });
    expect(audit.filter((a) => a.action === 'pathway.run-due').length).toBe(2);
  });
});

describe('passerelle pathway due --run --url', () => {
  let out: string[] = [];
  afterEach(() => {
    vi.restoreAllMocks();
    out = [];
    process.exitCode = 0;
  });
  async function cli(...args: string[]): Promise<{ text: string; exitCode: number }> {
    const capture = (chunk: string | Uint8Array) => (out.push(String(chunk)), true);
    vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    vi.spyOn(process.stderr, 'write').mockImplementation(capture);
    const program = new Command('passerelle').exitOverride();
    register(program);
    await program.parseAsync(['pathway', 'due', ...args], { from: 'user' });
    const exitCode = Number(process.exitCode ?? 0);
    process.exitCode = 0;
    return { text: out.join(''), exitCode };
  }

  it('asks the gateway to run its due work and prints what ran', async () => {
    const r = await cli('--run', '--url', `${open.url}/`, '--at', new Date(d45.getTime() + 45 * 86_400_000).toISOString());
    expect(r.exitCode).toBe(0);
    expect(r.text).toMatch(/^ran 1, failed 0 \(due at \S+, at http:\/\/\S+:\d+\)\n$/);
    expect(await dueKinds(open, carePlan)).toMatchObject({ d90: 'done' });
  });

  it('reports the gateway’s refusal (a future instant with authentication on) and exits 1', async () => {
    const r = await cli('--run', '--url', secured.url, '--token', 'dev-token-admin-0123456789abcdef', '--at', '2099-01-01T00:00:00Z');
    expect(r.exitCode).toBe(1);
    expect(r.text).toContain('answered 403');
  });

  it('refuses --url without --run, and a URL that is not http(s)', async () => {
    expect((await cli('--url', open.url)).exitCode).toBe(2);
    await expect(cli('--run', '--url', 'ftp://example.org')).rejects.toThrow();
  });
});
