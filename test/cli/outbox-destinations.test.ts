// `passerelle outbox pause|resume <destination>` refuses a destination nobody configured (a typo would otherwise
// record a pause nothing reads, and leave the real destination running), naming the configured ones.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite-store.js';

const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-outbox-destinations-'));
const data = path.join(dir, 'data');
const config = path.join(dir, 'passerelle.yaml');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    encoding: 'utf8',
    env: { ...process.env, PORT: '', PASSERELLE_CONFIG: '', PASSERELLE_DATA: '' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function paused(): Promise<string[]> {
  const store = await openSqliteStore({ file: path.join(data, 'passerelle.sqlite') });
  try {
    return await store.outbox.pausedDestinations();
  } finally {
    await store.close();
  }
}

beforeAll(async () => {
  writeFileSync(
    config,
    ['outbox:', '  destinations:', '    pdsm: { kind: http, url: "http://127.0.0.1:9/never" }', '    mss: { kind: http, url: "http://127.0.0.1:9/never" }', ''].join('\n'),
  );
  const store = await openSqliteStore({ file: path.join(data, 'passerelle.sqlite') });
  try {
    // Messages for a destination since removed from the configuration.
    await store.transaction((tx) => tx.outbox.enqueue({ destination: 'legacy', orderingKey: 'Patient/1', idempotencyKey: 'k-1', payload: {} }).then(() => undefined));
  } finally {
    await store.close();
  }
});

// Each command is a new Node process compiling TypeScript: seconds apiece on a busy machine.
describe('passerelle outbox pause / resume', { timeout: 120_000 }, () => {
  for (const action of ['pause', 'resume'] as const) {
    it(`${action} of an unknown destination fails, lists the configured ones, changes nothing`, async () => {
      const r = run('outbox', action, 'psdm', '--data', data, '--config', config);
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('Unknown outbox destination "psdm"; configured destinations: mss, pdsm; also known from the outbox: legacy');
      expect(await paused()).toEqual([]);
    });
  }

  it('without any configured destination, says so', () => {
    const r = run('outbox', 'pause', 'dmp', '--data', path.join(dir, 'empty'));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('configured destinations: none');
  });

  it('a configured destination, or one the outbox still holds messages for, is paused and resumed', async () => {
    expect(run('outbox', 'pause', 'pdsm', '--data', data, '--config', config)).toMatchObject({ status: 0, stdout: 'pdsm paused\n' });
    expect(run('outbox', 'pause', 'legacy', '--data', data, '--config', config)).toMatchObject({ status: 0, stdout: 'legacy paused\n' });
    expect((await paused()).sort()).toEqual(['legacy', 'pdsm']);
    expect(run('outbox', 'resume', 'pdsm', '--data', data, '--config', config)).toMatchObject({ status: 0, stdout: 'pdsm resumed\n' });
    expect(await paused()).toEqual(['legacy']);
  });
});
