// Issue 13's crash suite, short enough for CI (bench/crash.bench.ts runs it longer): PPPs to two destinations (the
// local DMP peer and a webhook), gateway processes killed with SIGKILL at random moments and restarted. Every message
// ends delivered, but the DMP messages of the poison documents, dead with their reason; nothing else dead; the DMP
// never holds a document twice; every DMP delivery's DocumentReference records its outcome, with the CDA the DMP holds.
// On SQLite with one process, and on PostgreSQL with three.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { crashRun, type CrashRunResult } from '../support/crash-harness.js';
import { PG_TEST_URL, pgUnreachable } from '../support/pg.js';
import { available } from '../support/shared.js';

const ADMIN_URL = PG_TEST_URL;
const dirs: string[] = [];
const databases: string[] = [];
const fresh = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'passerelle-crash-docs-'));
  dirs.push(d);
  return d;
};

const unreachable = await pgUnreachable();
const withPg = available(`PostgreSQL at ${ADMIN_URL} (${unreachable ?? ''})`, !unreachable, 'the crash suite on PostgreSQL');

afterAll(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  if (databases.length === 0) return;
  const c = new pg.Client({ connectionString: ADMIN_URL });
  await c.connect();
  for (const db of databases) await c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  await c.end();
});

function expectSound(r: CrashRunResult): void {
  console.log(
    `[crash] ${r.processes} process(es): ${r.documents} documents (${r.poison} poison, ${r.versions} versions), ${r.kills} kills → ${r.messages} messages, ${r.delivered} delivered, ${r.dead} dead, ` +
      `webhook duplicates ${r.webhookDuplicates}, DMP documents ${r.dmpDocuments} (duplicates ${r.dmpDuplicates}), ${r.seconds.toFixed(1)} s`,
  );
  expect(r.unsettled).toEqual([]);
  expect(r.versions).toBeGreaterThanOrEqual(r.documents);
  expect(r.messages).toBe(r.versions * 2);
  expect(r.falseDead.map((m) => `${m.destination} ${m.idempotencyKey}: ${m.lastError}`)).toEqual([]);
  expect(r.poisonNotQuarantined.map((m) => `${m.state} ${m.lastError}`)).toEqual([]);
  expect(r.poisonMessages).toBeGreaterThanOrEqual(r.poison);
  expect(r.dead).toBe(r.poisonMessages);
  expect(r.delivered).toBe(r.messages - r.poisonMessages);
  expect(r.webhookMissing).toBe(0);
  expect(r.dmpMissing).toBe(0);
  expect(r.dmpDuplicates).toBe(0);
  expect(r.documentsMisrecorded).toEqual([]);
  expect(r.dmpDocuments).toBe(r.dmpDelivered);
  expect(r.dmpDelivered).toBe(r.versions - r.poisonMessages);
}

describe('crash suite: documents to the DMP and a webhook, gateways killed at random', () => {
  it('SQLite, one process: 4 kills', async () => {
    expectSound(await crashRun({ dir: fresh(), processes: 1, documents: 18, poison: 1, kills: 4, seed: 1, log: (l) => console.log(l) }));
  }, 300_000);

  it.skipIf(!withPg)('PostgreSQL, three processes: 4 kills', async () => {
    const db = `passerelle_crash_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${db}`);
    await admin.end();
    databases.push(db);
    const u = new URL(ADMIN_URL);
    u.pathname = `/${db}`;
    expectSound(await crashRun({ dir: fresh(), databaseUrl: u.toString(), processes: 3, documents: 18, poison: 1, kills: 4, seed: 2, log: (l) => console.log(l) }));
  }, 300_000);
});
