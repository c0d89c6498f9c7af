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
    const body = (raw ? JSON.parse(raw) : {}) as { id?: string };
    received.push({ method: req.method ?? '', url: req.url ?? '', contentType: req.headers['content-type'], authorization: req.headers.authorization, body });
    const send = /^\/ppp\/([^/]+)\/send$/.exec(req.url ?? '');
    if (send) {
      res.setHeader('Content-Type', 'application/json');
      const url = (t: string) => `http://gateway.example/p/${t}-${send[1]}`;
      res.end(
        JSON.stringify({
          links: [
            { role: 'MT', rpps: '10101634078', url: url('mt'), expires: '2027-01-05T10:00:00.000Z' },
            { role: 'PHO', rpps: '10101523388', url: url('pho'), expires: '2027-01-05T10:00:00.000Z' },
          ],
          deliveries: [
            { role: 'MT', rpps: '10101634078', channel: 'mssante', state: 'queued', address: 'mt@demo.mssante.fr' },
            { role: 'PHO', rpps: '10101523388', channel: 'mssante', state: 'refused', reason: 'no MSSanté address' },
          ],
        }),
      );
      return;
    }
    res.setHeader('Content-Type', 'application/fhir+json');
    if (body.id && reject.has(body.id)) {
      res.statusCode = 422;
      res.end(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid', diagnostics: 'unknown problem id "p9"', expression: ['ppp.recommendations[0].problemId'] }] }));
      return;
    }
    // One entry per character of the id: a count the test can predict.
    const entry: Record<string, unknown>[] = Array.from({ length: (body.id ?? '').length }, () => ({ response: { status: '201 Created' } }));
    if (req.url === '/ppp') entry[0] = { resource: { resourceType: 'CarePlan', id: `cp-${body.id}` }, response: { status: '201 Created' } };
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

  it('reads the fixtures then the pathway population (hospital PPPs to send, the pharmacy’s BPMs) in posting order', () => {
    expect(fixtures.filter((f) => f.send).map((f) => f.name)).toEqual(['pathway/hopital-ppp-falcone.json', 'pathway/hopital-ppp-rouault.json']);
    expect(fixtures.filter((f) => f.name.startsWith('pathway/') && f.kind === 'bpm').map((f) => f.name)).toEqual(['pathway/officine-bpm-falcone.json', 'pathway/officine-bpm-rouault.json']);
    // The same patients on every side: the pharmacy's BPM names the hospital PPP's patient by the same INS.
    const ins = (name: string) => (JSON.parse(fixtures.find((f) => f.name === name)!.body) as { patient: { ins: { matricule: string } } }).patient.ins.matricule;
    expect(ins('pathway/officine-bpm-falcone.json')).toBe(ins('pathway/hopital-ppp-falcone.json'));
    expect(ins('pathway/officine-bpm-rouault.json')).toBe(ins('pathway/hopital-ppp-rouault.json'));
  });

  it('posts every fixture, CTMs first, then PPPs, then BPMs, as JSON with the bearer token, then sends the population PPPs', async () => {
    const { lines, exitCode } = await demo('--url', `${base}/`, '--token', 's3cret');
    expect(exitCode).toBe(0);
    const sends = fixtures.filter((f) => f.send).map((f) => `/ppp/cp-${(JSON.parse(f.body) as { id: string }).id}/send`);
    expect(received.map((r) => r.url)).toEqual([...fixtures.map((f) => `/${f.kind}`), ...sends]);
    expect(lines).toContain('200  send pathway/hopital-ppp-falcone.json  CarePlan/cp-DEMO-IATRO-FALCONE');
    expect(lines).toContain('     MT  10101634078  http://gateway.example/p/mt-cp-DEMO-IATRO-FALCONE  (expires 2027-01-05T10:00:00.000Z; mailed to mt@demo.mssante.fr)');
    expect(lines).toContain('     PHO 10101523388  http://gateway.example/p/pho-cp-DEMO-IATRO-FALCONE  (expires 2027-01-05T10:00:00.000Z; not mailed (refused: no MSSanté address))');
    received.splice(fixtures.length);
    const kinds = received.map((r) => r.url);
    expect(kinds.lastIndexOf('/ctm')).toBeLessThan(kinds.indexOf('/ppp'));
    expect(kinds.lastIndexOf('/ppp')).toBeLessThan(kinds.indexOf('/bpm'));
    for (const r of received) {
      expect(r.method).toBe('POST');
      expect(r.contentType).toBe('application/json');
      expect(r.authorization).toBe('Bearer s3cret');
    }
    expect(received.map((r) => r.body)).toEqual(fixtures.map((f) => JSON.parse(f.body)));
    fixtures.forEach((f, i) => {
      const n = (JSON.parse(f.body) as { id: string }).id.length;
      expect(lines[i]).toBe(`200  ${f.name}  ${n} resources`);
    });
    expect(lines[fixtures.length]).toBe(`${fixtures.length}/${fixtures.length} documents loaded into ${base}`);
  });

  it('loads only with --no-send', async () => {
    const { lines, exitCode } = await demo('--url', base, '--no-send');
    expect(exitCode).toBe(0);
    expect(received.map((r) => r.url)).toEqual(fixtures.map((f) => `/${f.kind}`));
    expect(lines).toHaveLength(fixtures.length + 1);
  });

  it('prints the failure and exits 1 when a document is rejected, and still posts the others', async () => {
    reject = new Set(['PPP-2025-0412']);
    const { lines, exitCode } = await demo('--url', base, '--no-send');
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
