// `passerelle report billing|professionals|rebuild` against a SQLite file prepared here: the CSV to stdout or to
// --output (0600), JSON, the summary on stderr, the pseudonym key kept in the data directory (the same pseudonyms at
// the next run); bad arguments: exit 2 with one line naming the parameter, and no database created. A few runs go
// through the real binary (a child process); the others run the same commands in this process (`inProcess`), the
// binary's start-up being slow on a busy machine.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { Command, CommanderError } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { register } from '../../src/cli/commands/report.js';
import { configFrom } from '../../src/config.js';
import { BILLING_COLUMNS } from '../../src/domain/reports/billing.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { EST_B, importDirectory, links, RPPS, submitAll } from '../services/reports/support.js';

const root = path.resolve(import.meta.dirname, '../..');
const bin = path.join(root, 'bin/passerelle.js');
const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-report-cli-'));
const empty = mkdtempSync(path.join(tmpdir(), 'passerelle-report-cli-empty-'));
let cases = 0;

function run(args: string[], data = dir): { status: number | null; stdout: string; stderr: string } {
  const env = { ...process.env, PORT: '', PASSERELLE_CONFIG: '', DATABASE_URL: '', PASSERELLE_DATA: data, PASSERELLE_REPORTS_PSEUDONYM_KEY: '', LOG_LEVEL: 'silent' };
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', env });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The `report` commands run in this process (-d names the data directory), their output and exit code captured. */
async function inProcess(args: string[], data = dir): Promise<{ status: number; stdout: string; stderr: string }> {
  const program = new Command('passerelle').exitOverride().configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  register(program);
  const saved = { ...process.env };
  Object.assign(process.env, { PASSERELLE_CONFIG: '', DATABASE_URL: '', PASSERELLE_DATA: data, PASSERELLE_REPORTS_PSEUDONYM_KEY: '' });
  const out = { stdout: '', stderr: '' };
  const [write, writeErr] = [process.stdout.write, process.stderr.write];
  process.stdout.write = ((chunk: string) => ((out.stdout += chunk), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => ((out.stderr += chunk), true)) as typeof process.stderr.write;
  let status = 0;
  try {
    process.exitCode = undefined;
    await program.parseAsync(['node', 'passerelle', ...args]);
    status = Number(process.exitCode ?? 0);
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    status = err.exitCode;
  } finally {
    process.exitCode = undefined;
    [process.stdout.write, process.stderr.write] = [write, writeErr];
    for (const k of ['PASSERELLE_CONFIG', 'DATABASE_URL', 'PASSERELLE_DATA', 'PASSERELLE_REPORTS_PSEUDONYM_KEY']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
  return { status, ...out };
}

beforeAll(async () => {
  const store = await openSqliteStore({ file: configFrom({ dataDir: dir }).database });
  const ids = await submitAll(store);
  cases = Object.keys(ids).length;
  await importDirectory(store);
  const use = await links(store, ids['B-1-SYNC']!, '2025-05-15T08:00:00Z', [{ role: 'MT', rpps: RPPS.MT }]);
  await use('MT', '2025-05-16T10:00:00Z');
  await store.close();
}, 60_000);
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(empty, { recursive: true, force: true });
});

describe('passerelle report billing', () => {
  it('writes the CSV to stdout (summary on stderr), the same pseudonyms at the next run', async () => {
    const r = run(['report', 'billing', '--from', '2024-01-01', '--to', '2028-12-31']);
    expect(r.status).toBe(0);
    const rows = parse(r.stdout) as string[][];
    expect(rows[0]).toEqual([...BILLING_COLUMNS]);
    expect(rows).toHaveLength(13);
    expect(r.stderr).toBe('passerelle report billing: 12 line(s) (DAH 5, MT 3, PHO 4), 765.00 EUR; 1 PHO line(s) without pharmacy; no tariff for 2028 (amounts left empty)\n');
    expect(statSync(path.join(dir, 'reports-pseudonym.key')).mode & 0o777).toBe(0o600);
    expect((await inProcess(['report', 'billing', '--from', '2024-01-01', '--to', '2028-12-31'])).stdout).toBe(r.stdout);
  }, 300_000);

  it('--output writes the file (0600); --format json; --establishment', async () => {
    const out = path.join(dir, 'facturation.csv');
    const r = await inProcess(['report', 'billing', '--from', '2025-01-01', '--to', '2025-12-31', '--output', out]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`written to ${out}`);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect((parse(readFileSync(out, 'utf8'), { columns: true }) as { ppp_id: string }[]).map((l) => l.ppp_id)).toEqual(['B-4-ASYNC', 'B-1-SYNC', 'B-1-SYNC', 'B-1-SYNC', 'B-6-ESTB', 'B-6-ESTB', 'B-6-ESTB']);
    const json = await inProcess(['report', 'billing', '--from', '2024-01-01', '--to', '2028-12-31', '--format', 'json', '--establishment', EST_B]);
    expect(json.status).toBe(0);
    const body = JSON.parse(json.stdout) as { establishment: string; lines: { establishment_finess: string }[]; summary: { lines: number } };
    expect(body.establishment).toBe(EST_B);
    expect(body.summary.lines).toBe(3);
    expect(new Set(body.lines.map((l) => l.establishment_finess))).toEqual(new Set([EST_B]));
  });

  it('bad arguments: exit 2, one line naming the parameter; no database created', async () => {
    // Through the binary once.
    const spawned = run(['report', 'billing', '--from', '2025-06-01', '--to', '2025-01-01'], empty);
    expect(spawned.status).toBe(2);
    expect(spawned.stderr).toBe('passerelle report billing: from: from (2025-06-01) is after to (2025-01-01)\n');
    const cases: [string[], RegExp][] = [
      [['--from', '2025-06-01', '--to', '2025-01-01'], /^passerelle report billing: from: /],
      [['--from', '2025-13-01', '--to', '2025-12-31'], /^passerelle report billing: from: /],
      [['--to', '2025-12-31'], /^passerelle report billing: from: /],
      [['--from', '2019-01-01', '--to', '2025-01-01'], /^passerelle report billing: to: .*5 years/],
      [['--from', '2025-01-01', '--to', '2025-12-31', '--format', 'xml'], /^passerelle report billing: format: /],
      [['--from', '2025-01-01', '--to', '2025-12-31', '--establishment', '12'], /^passerelle report billing: establishment: /],
      [['--from', '2025-01-01\n\u202E', '--to', '2025-12-31'], /^passerelle report billing: from: /],
    ];
    for (const [args, message] of cases) {
      const r = await inProcess(['report', 'billing', ...args], empty);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stderr.split('\n')).toHaveLength(2);
      expect(r.stderr).not.toMatch(/[\u202E\u0000-\u0009]/);
    }
    expect(existsSync(path.join(empty, 'passerelle.sqlite'))).toBe(false);
    // An establishment the database has no PPP of: known only once the database is open.
    const unknown = await inProcess(['report', 'billing', '--from', '2025-01-01', '--to', '2025-12-31', '--establishment', '123456789']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/^passerelle report billing: establishment: establishment 123456789: no PPP/);
    // A missing database is not created.
    const missing = await inProcess(['report', 'billing', '--from', '2025-01-01', '--to', '2025-12-31'], empty);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/no such database/);
    expect(existsSync(path.join(empty, 'passerelle.sqlite'))).toBe(false);
  }, 300_000);
});

describe('passerelle report professionals and rebuild', () => {
  it('professionals: csv, json, table, --role; a bad role is exit 2', async () => {
    const csv = await inProcess(['report', 'professionals', '--from', '2025-05-01', '--to', '2025-05-31', '--format', 'csv']);
    expect(csv.status).toBe(0);
    expect((parse(csv.stdout) as string[][]).map((r) => r.slice(0, 3))).toEqual([
      ['rpps', 'name', 'role'],
      [RPPS.MT, 'Pierre BENASSIS', 'MT'],
    ]);
    const json = JSON.parse((await inProcess(['report', 'professionals', '--from', '2025-05-01', '--to', '2025-05-31', '--format', 'json'])).stdout) as { professionals: { rpps: string; firstUse: string }[] };
    expect(json.professionals).toMatchObject([{ rpps: RPPS.MT, firstUse: '2025-05-16' }]);
    const table = await inProcess(['report', 'professionals', '--from', '2025-05-01', '--to', '2025-05-31', '--format', 'table']);
    expect(table.stdout.split('\n')[0]).toMatch(/^RPPS\s+NAME\s+ROLE/);
    expect(JSON.parse((await inProcess(['report', 'professionals', '--from', '2025-05-01', '--to', '2025-05-31', '--format', 'json', '--role', 'PHO'])).stdout)).toMatchObject({ role: 'PHO', professionals: [] });
    const bad = await inProcess(['report', 'professionals', '--from', '2025-05-01', '--to', '2025-05-31', '--role', 'GP']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^passerelle report professionals: role: /);
  });

  it('rebuild: rewrites every case, the billing unchanged', async () => {
    const before = (await inProcess(['report', 'billing', '--from', '2024-01-01', '--to', '2028-12-31'])).stdout;
    const r = run(['report', 'rebuild']);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`rebuilt the report rows of ${cases} case(s)\n`);
    expect((await inProcess(['report', 'billing', '--from', '2024-01-01', '--to', '2028-12-31'])).stdout).toBe(before);
  }, 300_000);
});
