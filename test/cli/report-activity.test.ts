// `passerelle report activity` on a SQLite data directory: the figures as a terminal table, as CSV (one row per
// establishment and a total row) and as the API's JSON; bad options named on stderr with exit code 2.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFrom } from '../../src/config.js';
import type { ActivityReport } from '../../src/domain/reports/activity.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { activityData, decideSome, followSome, FROM, TO, useLinks } from '../services/reports/activity-support.js';

const root = path.resolve(import.meta.dirname, '../..');
const bin = path.join(root, 'bin/passerelle.js');
const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-report-cli-'));

/** Runs the CLI without blocking the test worker (a blocked worker misses vitest's own messages on a busy machine). */
function run(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env, PORT: '', PASSERELLE_CONFIG: '', DATABASE_URL: '', PASSERELLE_DATA: dir, LOG_LEVEL: 'silent' };
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', env }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  const store = await openSqliteStore({ file: configFrom({ dataDir: dir }).database });
  const data = await activityData(store);
  await decideSome(store, data);
  await followSome(store, data);
  await useLinks(store, data);
  await store.close();
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('passerelle report activity', () => {
  it('prints a table on the terminal', async () => {
    const r = await run('report', 'activity', '--from', FROM, '--to', TO);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(`Activity from ${FROM} to ${TO}`);
    expect(lines.find((l) => l.startsWith('800000317'))?.split(/\s{2,}/).slice(2, 5)).toEqual(['2', '2', '100.0 %']);
    expect(lines.find((l) => l.startsWith('total'))?.split(/\s{2,}/).slice(1, 4)).toEqual(['4', '3', '75.0 %']);
    expect(r.stdout).toContain('recommendations per patient: 3.33');
    expect(r.stdout).toContain('active professionals: MT 1, PHO 1');
    expect(lines.find((l) => l.startsWith('declined'))?.split(/\s+/)).toEqual(['declined', '1', '0']);
    expect(lines.find((l) => l.startsWith('D45'))?.split(/\s+/)).toEqual(['D45', '2', '1']);
    expect(lines.filter((l) => /^2025-0[456] /.test(l)).map((l) => l.split(/\s+/))).toEqual([
      ['2025-04', '1'],
      ['2025-05', '2'],
      ['2025-06', '1'],
    ]);
    expect((await run('report', 'activity', '--from', '2024-01-01', '--to', '2024-12-31')).stdout).toContain('no PPP created in the period');
  }, 120_000);

  it('writes CSV (establishments and a total row) and the API’s JSON', async () => {
    const csv = await run('report', 'activity', '--from', FROM, '--to', TO, '--format', 'csv');
    expect(csv.status).toBe(0);
    const rows = parse(csv.stdout, { columns: true }) as Record<string, string>[];
    expect(rows.map((r) => [r.finess, r.ppp, r.pppWithRcp, r.rcpShare, r.patients])).toEqual([
      ['140000787', '1', '1', '1', '1'],
      ['760000018', '1', '0', '0', '1'],
      ['800000317', '2', '2', '1', '1'],
      ['total', '4', '3', '0.75', '3'],
    ]);
    const json = await run('report', 'activity', '--from', FROM, '--to', TO, '--format', 'json', '--establishment', '800000317');
    expect(json.status).toBe(0);
    const report = JSON.parse(json.stdout) as ActivityReport;
    expect(report).toMatchObject({ period: { from: FROM, to: TO }, establishment: '800000317', total: { ppp: 2, rcpShare: 1 }, followUp: { d45: { due: 2, done: 1 } } });
  }, 120_000);

  it('names each bad option on stderr, exit code 2', async () => {
    const cases: [string[], string[]][] = [
      [[], ['--from', '--to']],
      [['--from', TO, '--to', '2025-02-30', '--format', 'xml'], ['--to', '--format']],
      [['--from', FROM, '--to', TO, '--establishment', '990000010'], ['--establishment']],
      [['--from', FROM, '--to', `${TO}\u202e`], ['--to']],
    ];
    for (const [args, named] of cases) {
      const r = await run('report', 'activity', ...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      for (const n of named) expect(r.stderr, args.join(' ')).toContain(`passerelle report activity: ${n}: `);
    }
  }, 180_000);
});
