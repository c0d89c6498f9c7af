// `passerelle pathway due`: lists the open due items of the configured store, runs those due at --at (the demo's jump
// to D45), refuses a bad instant.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFrom } from '../../src/config.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { pppFixture, sentCase } from '../services/pathway/followup-support.js';

const root = path.resolve(import.meta.dirname, '../..');
const bin = path.join(root, 'bin/passerelle.js');
const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-pathway-cli-'));
let carePlan: string;
let d45: Date;

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const env = { ...process.env, PORT: '', PASSERELLE_CONFIG: '', DATABASE_URL: '', PASSERELLE_DATA: dir, LOG_LEVEL: 'silent' };
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', env });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  const store = await openSqliteStore({ file: configFrom({ dataDir: dir }).database });
  ({ carePlan, d45 } = await sentCase(store, pppFixture('CLI-1')));
  await store.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('passerelle pathway due', () => {
  it('lists, runs what is due at --at, lists again', () => {
    const list = run('pathway', 'due');
    expect(list.stderr).toBe('');
    expect(list.status).toBe(0);
    expect(list.stdout.trim().split('\n').map((l) => l.split(/\s+/).slice(1, 3))).toEqual([
      ['d45', `CarePlan/${carePlan}`],
      ['d90', `CarePlan/${carePlan}`],
    ]);
    expect(run('pathway', 'due', '--at', new Date(d45.getTime() - 1).toISOString()).stdout).toBe('no open due item\n');
    const ran = run('pathway', 'due', '--run', '--at', d45.toISOString());
    expect(ran.status).toBe(0);
    expect(ran.stdout).toBe(`ran 1, failed 0 (due at ${d45.toISOString()})\n`);
    const json = run('pathway', 'due', '--json');
    expect(json.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { kind: string }).kind)).toEqual(['d90']);
  });

  it('refuses a bad instant or FINESS; --help documents --run and --at', () => {
    const bad = run('pathway', 'due', '--run', '--at', 'tomorrow');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/ISO 8601/);
    expect(run('pathway', 'due', '--finess', '12').status).not.toBe(0);
    const help = run('pathway', 'due', '--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--run');
    expect(help.stdout).toContain('--at <instant>');
  });
});
