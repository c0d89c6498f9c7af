// `passerelle outbox …` on a real SQLite file: list, show, redrive, pause / resume, and the errors.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite-store.js';

const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-outbox-cli-'));
const data = path.join(dir, 'data');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    encoding: 'utf8',
    env: { ...process.env, PORT: '', PASSERELLE_CONFIG: '', PASSERELLE_DATA: '' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

let deadId = '';
beforeAll(async () => {
  const store = await openSqliteStore({ file: path.join(data, 'passerelle.sqlite') });
  try {
    await store.transaction(async (tx) => {
      await tx.outbox.enqueue({ destination: 'dmp', orderingKey: 'Patient/1', idempotencyKey: 'k-1', payload: { a: 1 } });
      await tx.outbox.enqueue({ destination: 'mss', orderingKey: 'Patient/2', idempotencyKey: 'k-2', payload: { b: 2 } });
    });
    const [m] = await store.outbox.claim({ owner: 'test', limit: 1, leaseMs: 60_000, destinations: ['dmp'] });
    await store.outbox.fail(m.id, 'test', { error: 'RegistryError XDSRepositoryError' });
    deadId = m.id;
  } finally {
    await store.close();
  }
});

// Each step starts the CLI in a new process (tsx): six of them in one test take long on a loaded machine.
describe('passerelle outbox', { timeout: 120_000 }, () => {
  it('--help lists the subcommands', () => {
    const r = run('outbox', '--help');
    expect(r.status).toBe(0);
    for (const c of ['list', 'show', 'redrive', 'pause', 'resume']) expect(r.stdout).toContain(c);
  });

  it('list: every message or one state, as text or JSON lines, without payloads', () => {
    const all = run('outbox', 'list', '--data', data, '--json');
    expect(all.status).toBe(0);
    const rows = all.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.map((r) => [r.idempotencyKey, r.state])).toEqual([
      ['k-1', 'dead'],
      ['k-2', 'pending'],
    ]);
    expect(rows.every((r) => !('payload' in r))).toBe(true);
    const dead = run('outbox', 'list', '--data', data, '--state', 'dead');
    expect(dead.stdout).toContain('last error: RegistryError XDSRepositoryError');
    expect(dead.stderr).toContain('1 of 1 message(s)');
    expect(run('outbox', 'list', '--data', data, '--state', 'lost').status).not.toBe(0);
  });

  it('show: the payload and the attempt log', () => {
    const r = run('outbox', 'show', deadId, '--data', data);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ id: deadId, payload: { a: 1 }, attemptLog: [{ attempt: 1, outcome: 'dead' }] });
    expect(run('outbox', 'show', 'nope', '--data', data).status).toBe(1);
  });

  it('redrive: a dead message only; --all-dead; pause and resume', () => {
    const pendingId = (JSON.parse(run('outbox', 'list', '--data', data, '--json', '--state', 'pending').stdout.trim()) as { id: string }).id;
    expect(run('outbox', 'redrive', pendingId, '--data', data)).toMatchObject({ status: 1 });
    expect(run('outbox', 'redrive', deadId, '--data', data)).toMatchObject({ status: 0, stdout: `${deadId} redriven\n` });
    expect(run('outbox', 'redrive', '--all-dead', '--data', data).stdout).toBe('0 dead message(s) redriven\n');
    expect(run('outbox', 'pause', 'dmp', '--data', data).stdout).toBe('dmp paused\n');
    expect(run('outbox', 'resume', 'dmp', '--data', data).stdout).toBe('dmp resumed\n');
  });
});
