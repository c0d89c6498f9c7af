// Crash suite, long form (issue 13; the short form runs in CI: test/outbox/crash-documents.test.ts). PPPs to the
// local DMP peer and a webhook, gateway processes killed with SIGKILL at random moments and restarted. Figures:
// documents, kills, delivered, dead (poison only), false dead, duplicates on the webhook and at the DMP, and the
// time to settle everything. Baseline in the same run: the same documents, no kill.
// CRASH_BENCH_DOCUMENTS (default 60) and CRASH_BENCH_KILLS (default 14) set the size.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { crashRun, type CrashRunResult } from '../test/support/crash-harness.js';
import { machine } from './stats.js';

const DOCUMENTS = Number(process.env.CRASH_BENCH_DOCUMENTS ?? 60);
const KILLS = Number(process.env.CRASH_BENCH_KILLS ?? 14);
const POISON = 2;
const PG_URL = process.env.PASSERELLE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

function report(label: string, r: CrashRunResult, baseline?: CrashRunResult): void {
  const sound = r.unsettled.length === 0 && r.falseDead.length === 0 && r.poisonNotQuarantined.length === 0 && r.dmpDuplicates === 0 && r.dmpMissing === 0 && r.webhookMissing === 0;
  console.log(
    `${label.padEnd(30)}: ${r.documents} documents (${r.poison} poison, ${r.versions} versions), ${r.kills} kills → ${r.messages} messages, ${r.delivered} delivered, ` +
      `${r.dead} dead (${r.falseDead.length} false), webhook duplicates ${r.webhookDuplicates}, DMP ${r.dmpDocuments} documents (${r.dmpDuplicates} duplicates), ` +
      `${r.seconds.toFixed(1)} s${baseline ? `   (no kill: ${baseline.seconds.toFixed(1)} s)` : ''} ${sound ? 'OK' : 'NOT SOUND'}`,
  );
  if (!sound) {
    process.exitCode = 1;
    for (const m of [...r.falseDead, ...r.poisonNotQuarantined, ...r.unsettled]) console.log(`  ${m.destination} ${m.idempotencyKey} ${m.state}: ${m.lastError ?? ''}`);
  }
}

async function pgDatabase(): Promise<{ url: string; drop: () => Promise<void> } | undefined> {
  const admin = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch (err) {
    console.log(`PostgreSQL unreachable (${(err as Error).message}): PostgreSQL part skipped`);
    return undefined;
  }
  const db = `passerelle_crash_bench_${randomBytes(4).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${db}`);
  await admin.end();
  const u = new URL(PG_URL);
  u.pathname = `/${db}`;
  return {
    url: u.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await c.end();
    },
  };
}

async function run(kills: number, processes: number, databaseUrl?: string): Promise<CrashRunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'passerelle-crash-bench-'));
  try {
    return await crashRun({ dir, processes, documents: DOCUMENTS, poison: POISON, kills, seed: 13, settleMs: 600_000, ...(databaseUrl ? { databaseUrl } : {}) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(machine());
const sqliteBase = await run(0, 1);
report('SQLite, 1 process', await run(KILLS, 1), sqliteBase);
for (const kills of [0, KILLS]) {
  const db = await pgDatabase();
  if (!db) break;
  try {
    const r = await run(kills, 3, db.url);
    if (kills === 0) report('PostgreSQL, 3 processes, no kill', r);
    else report('PostgreSQL, 3 processes', r);
  } finally {
    await db.drop();
  }
}
