// `passerelle demo` against a real HTTP server standing in for the gateway's domain endpoints.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Command } from 'commander';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { demoFixtures, register } from '../../src/cli/commands/demo.js';

interface Received {
  method: string;
  url: string;
  contentType: string | undefined;
  authorization: string | undefined;
  body: { id?: string };
}

let server: Server;
let base: string;
const received: Received[] = [];
/** Document ids the fake gateway rejects with a 422 OperationOutcome. */
let reject = new Set<string>();

function handle(req: IncomingMessage, res: ServerResponse): void {
  let raw = '';
  req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
  req.on('end', () => {
    const body = JSON.parse(raw) as { id?: string };
    received.push({ method: req.method ?? '', url: req.url ?? '', contentType: req.headers['content-type'], authorization: req.headers.authorization, body });
    res.setHeader('Content-Type', 'application/fhir+json');
    if (body.id && reject.has(body.id)) {
      res.statusCode = 422;
      res.end(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid', diagnostics: 'unknown problem id "p9"', expression: ['ppp.recommendations[0].problemId'] }] }));
      return;
    }
    // One entry per character of the id: a count the test can predict.
    const entry = Array.from({ length: (body.id ?? '').length }, () => ({ response: { status: '201 Created' } }));
    res.statusCode = 200;
    res.end(JSON.stringify({ resourceType: 'Bundle', type: 'transaction-response', entry }));
  });
}

beforeAll(async () => {
  server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

let out: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  received.length = 0;
  reject = new Set();
  out = [];
  process.exitCode = 0;
});

async function demo(...args: string[]): Promise<{ lines: string[]; exitCode: number }> {
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out.push(String(chunk));
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out.push(String(chunk));
    return true;
  });
  const program = new Command('passerelle').exitOverride();
  register(program);
  await program.parseAsync(['demo', ...args], { from: 'user' });
  const exitCode = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { lines: out.join('').trimEnd().split('\n'), exitCode };
}

describe('passerelle demo', () => {
  const fixtures = demoFixtures();

  it('posts every fixture, CTMs first, then PPPs, then BPMs, as JSON with the bearer token', async () => {
    const { lines, exitCode } = await demo('--url', `${base}/`, '--token', 's3cret');
    expect(exitCode).toBe(0);
    expect(received.map((r) => r.url)).toEqual(fixtures.map((f) => `/${f.kind}`));
    const kinds = received.map((r) => r.url);
    expect(kinds.lastIndexOf('/ctm')).toBeLessThan(kinds.indexOf('/ppp'));
    expect(kinds.lastIndexOf('/ppp')).toBeLessThan(kinds.indexOf('/bpm'));
    for (const r of received) {
      expect(r.method).toBe('POST');
      expect(r.contentType).toBe('application/json');
      expect(r.authorization).toBe('Bearer s3cret');
    }
    expect(received.map((r) => r.body)).toEqual(fixtures.map((f) => JSON.parse(f.body)));
    expect(lines).toHaveLength(fixtures.length + 1);
    fixtures.forEach((f, i) => {
      const n = (JSON.parse(f.body) as { id: string }).id.length;
      expect(lines[i]).toBe(`200  ${f.name}  ${n} resources`);
    });
    expect(lines.at(-1)).toBe(`${fixtures.length}/${fixtures.length} documents loaded into ${base}`);
  });

  it('prints the failure and exits 1 when a document is rejected, and still posts the others', async () => {
    reject = new Set(['PPP-2025-0412']);
    const { lines, exitCode } = await demo('--url', base);
    expect(exitCode).toBe(1);
    expect(received).toHaveLength(fixtures.length);
    expect(received.every((r) => r.authorization === undefined)).toBe(true);
    expect(lines).toContain('422  ppp/ppp-12-medicines.json  failed: ppp.recommendations[0].problemId: unknown problem id "p9"');
    expect(lines.at(-1)).toBe(`${fixtures.length - 1}/${fixtures.length} documents loaded into ${base}`);
  });

  it('exits 1 with a readable line per document when nothing listens', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const { lines, exitCode } = await demo('--url', url);
    expect(exitCode).toBe(1);
    expect(lines[0]).toMatch(/^---  ctm\/\S+\.json  request failed: .*ECONNREFUSED/);
  });

  it('rejects a URL that is not http(s) with exit code 2', async () => {
    const { lines, exitCode } = await demo('--url', 'ftp://example.org');
    expect(exitCode).toBe(2);
    expect(lines[0]).toContain('--url must be an http(s) URL');
    expect(received).toHaveLength(0);
  });
});
