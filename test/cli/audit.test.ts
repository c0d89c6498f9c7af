// `passerelle audit verify|export` as an operator runs them, on a real SQLite file (and on PostgreSQL through
// DATABASE_URL): intact chain → exit 0 with the summary; a row altered by someone with database access (who drops the
// append-only trigger first) → exit 1 naming that row; the export of a period is one valid AuditEvent per line.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AuditEvent } from '@medplum/fhirtypes';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { validateResource } from '../../src/fhir/validate.js';
import { recordAccess } from '../../src/services/audit/index.js';
import { openPgStore } from '../../src/store/pg-store.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { PG_TEST_URL, pgUnreachable } from '../support/pg.js';
import { runCli } from '../support/cli-run.js';
import { available } from '../support/shared.js';

const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-audit-cli-'));
const schema = `passerelle_audit_cli_${process.pid}`;
let pgUsed = false;
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (!pgUsed) return;
  const c = new pg.Client({ connectionString: PG_TEST_URL });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await c.end();
});

const run = runCli;

async function seed(store: ResourceStore, rows: number): Promise<void> {
  for (let i = 1; i <= rows; i++) {
    await recordAccess(store, { action: i % 3 ? 'fhir.read' : 'fhir.search', actor: 'dpi-a', entities: [`Patient/p${i}`], outcome: 'success', detail: `status 200; row ${i}` });
  }
}

const today = new Date().toISOString().slice(0, 10);
// Each command is a process that loads the CLI through tsx: seconds each on a busy machine.
vi.setConfig({ testTimeout: 240_000 });

describe('passerelle audit (sqlite)', () => {
  const data = path.join(dir, 'data');
  const file = path.join(data, 'passerelle.sqlite');
  const env = {};

  it('verify: exit 0 on an intact chain; export: one valid AuditEvent per line', async () => {
    const store = await openSqliteStore({ file });
    await seed(store, 12);
    await store.close();
    const ok = run(env, 'audit', 'verify', '--data', data);
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/^audit chain intact: 12 rows \(ids 1–12\), 12 chained; last hash [0-9a-f]{64}\n$/);
    const json = JSON.parse(run(env, 'audit', 'verify', '--data', data, '--json').stdout) as { rows: number; unchained: number };
    expect(json).toMatchObject({ rows: 12, unchained: 0, firstId: 1, lastId: 12 });

    const out = path.join(dir, 'audit.ndjson');
    const exp = run(env, 'audit', 'export', '--data', data, '--from', today, '--to', today, '-o', out);
    expect(exp.status).toBe(0);
    const lines = readFileSync(out, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(12);
    for (const line of lines) {
      const event = JSON.parse(line) as AuditEvent;
      expect(event.resourceType).toBe('AuditEvent');
      expect(validateResource(event).filter((i) => i.severity === 'error')).toEqual([]);
    }
    expect((JSON.parse(lines[0]) as AuditEvent).id).toBe('1');
    // A period without rows: nothing.
    expect(run(env, 'audit', 'export', '--data', data, '--from', '2020-01-01', '--to', '2020-01-31').stdout).toBe('');
    expect(run(env, 'audit', 'export', '--data', data, '--from', 'soon').status).not.toBe(0);
  });

  it('verify: exit 1 naming a row altered in the database (trigger dropped first)', () => {
    const db = new Database(file);
    db.exec('DROP TRIGGER audit_append_only_update');
    db.prepare("UPDATE audit SET detail = 'status 200; harmless' WHERE id = 7").run();
    db.close();
    const broken = run(env, 'audit', 'verify', '--data', data);
    expect(broken.status).toBe(1);
    expect(broken.stdout).toMatch(/^audit chain BROKEN at row 7 \(recorded \d{4}-\d\d-\d\dT[\d:.]+Z, action fhir\.read\): hash mismatch/);
  });

  it('verify: exit 2 without a database', () => {
    const r = run(env, 'audit', 'verify', '--data', path.join(dir, 'nowhere'));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no such database/);
  });
});

const pgDown = await pgUnreachable();
if (available(`PostgreSQL at ${PG_TEST_URL}`, pgDown === undefined, 'passerelle audit on PostgreSQL')) {
  describe('passerelle audit (postgresql, DATABASE_URL)', () => {
    it('verify exits 0, then 1 naming the altered row', async () => {
      pgUsed = true;
      const store = await openPgStore({ url: PG_TEST_URL, schema });
      await seed(store, 6);
      await store.close();
      const u = new URL(PG_TEST_URL);
      u.searchParams.set('options', `-c search_path=${schema}`);
      const env = { DATABASE_URL: u.toString() };
      const ok = run(env, 'audit', 'verify');
      expect(ok.status).toBe(0);
      expect(ok.stdout).toMatch(/audit chain intact: 6 rows/);
      const c = new pg.Client({ connectionString: PG_TEST_URL });
      await c.connect();
      await c.query(`SET search_path TO "${schema}"`);
      await c.query('DROP TRIGGER audit_append_only ON audit');
      await c.query("UPDATE audit SET actor = 'someone-else' WHERE id = 4");
      await c.end();
      const broken = run(env, 'audit', 'verify');
      expect(broken.status).toBe(1);
      expect(broken.stdout).toMatch(/BROKEN at row 4 .*action fhir\.read/);
      const lines = run(env, 'audit', 'export', '--from', today).stdout.trimEnd().split('\n');
      expect(lines).toHaveLength(6);
    });
  });
}
