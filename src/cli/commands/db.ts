// `passerelle db migrate|status`: the schema of the configured database (SQLite file, or PostgreSQL with
// DATABASE_URL). `serve` migrates at start unless `--no-migrate`; `db migrate` does it alone, e.g. before rolling
// out new gateway processes.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { Config } from '../../config.js';
import { configOf } from '../config.js';
import { openStore, schemaStatus, storeTarget } from '../../store/open.js';
import { backfillGrants } from '../../services/access/backfill.js';

interface DbOptions {
  data?: string;
  config?: string;
  json?: boolean;
}

function fail(message: string, code = 2): void {
  process.stderr.write(`passerelle db: ${message}\n`);
  process.exitCode = code;
}

/** The error, naming the database unless it already does. */
function reason(err: unknown, target: { dialect: string; location: string }): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.includes(target.location) ? message : `${target.dialect} ${target.location}: ${message}`;
}

const location = (c: Config) => ({ databaseUrl: c.databaseUrl, file: c.database });

async function runMigrate(opts: DbOptions): Promise<void> {
  const config = configOf('db', opts);
  if (!config) return;
  const target = storeTarget(location(config));
  try {
    const before = await schemaStatus(location(config));
    if (target.dialect === 'sqlite' && config.database !== ':memory:') mkdirSync(path.dirname(path.resolve(config.database)), { recursive: true });
    // Opening applies the pending migrations (under a lock on PostgreSQL, so running gateways may be up).
    await (await openStore(location(config))).close();
    const after = await schemaStatus(location(config));
    const applied = after.current - before.current;
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ dialect: target.dialect, database: target.location, from: before.current, version: after.current, applied })}\n`);
    } else {
      process.stdout.write(
        `${target.dialect} ${target.location}: schema version ${after.current}` +
          (applied > 0 ? ` (${applied} migration${applied > 1 ? 's' : ''} applied, from version ${before.current})\n` : ' (already current)\n'),
      );
    }
  } catch (err) {
    fail(reason(err, target), 1);
  }
}

async function runStatus(opts: DbOptions): Promise<void> {
  const config = configOf('db', opts);
  if (!config) return;
  const target = storeTarget(location(config));
  try {
    const { current, latest } = await schemaStatus(location(config));
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ dialect: target.dialect, database: target.location, version: current, latest, pending: latest - current })}\n`);
    } else {
      process.stdout.write(
        `${target.dialect} ${target.location}: schema version ${current} of ${latest}` +
          (current < latest ? ` (${latest - current} pending: run \`passerelle db migrate\`)\n` : ' (current)\n'),
      );
    }
    // Scripts can wait for a migrated database: exit 3 while migrations are pending.
    if (current < latest) process.exitCode = 3;
  } catch (err) {
    fail(reason(err, target), 1);
  }
}

async function runBackfillGrants(opts: DbOptions): Promise<void> {
  const config = configOf('db', opts);
  if (!config) return;
  const target = storeTarget(location(config));
  try {
    const store = await openStore(location(config));
    try {
      const summary = await backfillGrants(store);
      process.stdout.write(
        opts.json
          ? `${JSON.stringify({ dialect: target.dialect, database: target.location, ...summary })}\n`
          : `${target.dialect} ${target.location}: ${summary.documents} documents read, ${summary.grants} tenant grants written or confirmed\n`,
      );
    } finally {
      await store.close();
    }
  } catch (err) {
    fail(reason(err, target), 1);
  }
}

const dbOptions = (c: Command): Command =>
  c
    .option('-d, --data <dir>', 'data directory holding the SQLite file (env PASSERELLE_DATA; default ./var; DATABASE_URL selects PostgreSQL instead)')
    .option('-c, --config <file>', 'YAML configuration file (env PASSERELLE_CONFIG)')
    .option('--json', 'print the result as one JSON object');

export function register(program: Command): void {
  const db = program
    .command('db')
    .description('database schema: apply migrations, show the schema version')
    .addHelpText(
      'after',
      '\nThe database is the SQLite file (<data>/passerelle.sqlite, or `database` in the configuration) unless\n' +
        'DATABASE_URL (or `databaseUrl`) names a PostgreSQL database: postgres://user:password@host:5432/db.',
    );

  dbOptions(db.command('migrate').description('apply the pending migrations of the configured database and print its schema version'))
    .addHelpText(
      'after',
      '\n`passerelle serve` applies them at start too, unless started with --no-migrate. On PostgreSQL the migrations\n' +
        'run under an advisory lock: processes starting at the same time apply each one once. A database migrated by a\n' +
        'newer Passerelle is refused. Exit code 1 when the database cannot be opened or migrated, 2 for a bad configuration.',
    )
    .action((opts: DbOptions) => runMigrate(opts));

  dbOptions(db.command('status').description('print the schema version of the configured database without changing it'))
    .addHelpText('after', '\nExit code 3 while migrations are pending, 1 when the database cannot be read, 2 for a bad configuration.')
    .action((opts: DbOptions) => runStatus(opts));

  dbOptions(db.command('backfill-grants').description("grant each stored document's establishments access to its patient (databases written before tenants)"))
    .addHelpText(
      'after',
      '\nA database written before issue 16 has documents but no tenant grants: tenant-bound clients would see none of its\n' +
        "patients. This derives the grants from the stored documents, as a submission writes them (the document's FINESS and\n" +
        'the organisations of its care team). Idempotent; run it once after `passerelle db migrate` to schema version 8 (SQLite) / 7 (PostgreSQL).',
    )
    .action((opts: DbOptions) => runBackfillGrants(opts));
}
