// `passerelle serve --sandbox-dmp`, as a real process: the gateway and the local DMP peer both on random ports, a PPP
// posted to the gateway reaches the peer through the outbox (destination `dmp`, mutual TLS with the test PKI generated
// under <data>/certs), and SIGTERM stops everything with exit code 0.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTestPki } from '../../src/sandbox/pki.js';

const root = path.resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-serve-sandbox-'));
const data = path.join(dir, 'data');
const configFile = path.join(dir, 'passerelle.yaml');
// Port 0 for both listeners: parallel test files (and a developer's running gateway) cannot collide on a port.
writeFileSync(configFile, `port: 0\ndataDir: ${JSON.stringify(data)}\nlog:\n  level: info\nsandbox:\n  dmp:\n    port: 0\n`);

interface LogLine {
  level?: number;
  msg?: string;
  [key: string]: unknown;
}

interface OutboxItem {
  id: string;
  destination: string;
  state: 'pending' | 'inflight' | 'delivered' | 'dead';
  attempts: number;
  lastError?: string;
}

let proc: ChildProcessByStdio<null, Readable, Readable> | undefined;
const lines: LogLine[] = [];
let stderr = '';
let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
let gateway = '';
let sandbox = '';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` until it returns a value; fails early when the server process has exited (its stderr says why). */
async function waitFor<T>(what: string, timeoutMs: number, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (exit) throw new Error(`server exited (${JSON.stringify(exit)}) while waiting for ${what}\nstderr:\n${stderr}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\nlog:\n${lines.map((l) => l.msg).join('\n')}`);
    await sleep(200);
  }
}

/** The URL a log line announces, e.g. `passerelle listening on http://localhost:1234`. */
function announced(prefix: string): string | undefined {
  const line = lines.find((l) => l.msg?.startsWith(prefix));
  return line?.msg?.slice(prefix.length);
}

beforeAll(async () => {
  proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--sandbox-dmp', '--config', configFile], {
    cwd: root,
    // Empty values are ignored by loadConfig: only the temp config applies (no developer DATABASE_URL, PORT, …).
    env: { ...process.env, PORT: '', PASSERELLE_CONFIG: '', PASSERELLE_DATA: '', DATABASE_URL: '', PASSERELLE_BASE_URL: '', LOG_LEVEL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // pino writes one JSON object per line; a chunk may end in the middle of one.
  let pending = '';
  proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    const complete = pending.split('\n');
    pending = complete.pop() ?? '';
    for (const text of complete) {
      if (text.trim() === '') continue;
      try {
        lines.push(JSON.parse(text) as LogLine);
      } catch {
        lines.push({ msg: text });
      }
    }
  });
  proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  proc.on('exit', (code, signal) => (exit = { code, signal }));

  // First start: the test PKI is generated and the FHIR profiles are compiled before the gateway listens.
  gateway = await waitFor('the gateway URL', 45_000, () => announced('passerelle listening on '));
  sandbox = await waitFor('the DMP sandbox URL', 1_000, () => announced('DMP sandbox listening on '));
}, 60_000);

afterAll(async () => {
  // Only when a test failed before the SIGTERM test stopped it: never leave the server running.
  if (proc && !exit) {
    proc.kill('SIGKILL');
    await waitFor('the server to be killed', 5_000, () => exit);
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('passerelle serve --sandbox-dmp', () => {
  it('logs both URLs, on the random ports asked for', () => {
    expect(gateway).toMatch(/^http:\/\/[^:/]+:\d+$/);
    expect(sandbox).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(new URL(gateway).port).not.toBe('0');
    expect(new URL(sandbox).port).not.toBe('0');
  });

  it('generates the sandbox test PKI under <data>/certs', async () => {
    const certs = path.join(data, 'certs');
    for (const file of ['ca.pem', 'server.pem', 'server-key.pem', 'org.pem', 'org-key.pem', 'org.p12', 'pki.json']) {
      expect(existsSync(path.join(certs, file)), file).toBe(true);
    }
    const pki = await loadTestPki(certs);
    expect(pki.pem.ca).toContain('BEGIN CERTIFICATE');
    expect(lines.some((l) => l.msg?.startsWith('DMP sandbox: test PKI generated'))).toBe(true);
  });

  it('delivers a posted PPP to the sandbox through the outbox destination dmp', async () => {
    const body = readFileSync(path.join(root, 'test/fixtures/ppp/hospital-sync-rcp.json'), 'utf8');
    const posted = await fetch(`${gateway}/ppp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(posted.status, await posted.clone().text()).toBe(200);
    expect(((await posted.json()) as { resourceType?: string }).resourceType).toBe('Bundle');

    const delivered = await waitFor('the dmp message to be delivered', 60_000, async () => {
      const res = await fetch(`${gateway}/admin/outbox?destination=dmp`);
      expect(res.status).toBe(200);
      const page = (await res.json()) as { total: number; items: OutboxItem[] };
      const message = page.items.find((m) => m.destination === 'dmp');
      // A dead message will never become delivered: fail now, with the reason, rather than at the timeout.
      if (message?.state === 'dead') throw new Error(`the dmp message is dead: ${message.lastError ?? '(no error recorded)'}`);
      return message?.state === 'delivered' ? message : undefined;
    });
    expect(delivered.attempts).toBeGreaterThanOrEqual(1);
    // The peer, not some other endpoint, accepted it: its own log line is in the same stream.
    await waitFor('the sandbox to log the accepted ITI-41', 5_000, () => lines.find((l) => l.component === 'dmp-sandbox' && l.msg === 'ITI-41 accepted'));
  }, 90_000);

  it('stops on SIGTERM with exit code 0', async () => {
    expect(exit).toBeUndefined();
    proc?.kill('SIGTERM');
    const stopped = await waitFor('the server to exit', 20_000, () => exit);
    expect(stopped, stderr).toEqual({ code: 0, signal: null });
    expect(lines.some((l) => l.signal === 'SIGTERM' && l.msg?.startsWith('shutting down'))).toBe(true);
  }, 30_000);
});
