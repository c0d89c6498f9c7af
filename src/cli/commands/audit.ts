// `passerelle audit verify|export`: the audit trail of the configured database (SQLite file, or PostgreSQL with
// DATABASE_URL). `verify` walks the hash chain (exit 0 intact, 1 naming the first broken row, 2 when the database or
// the configuration cannot be read); `export` writes the AuditEvents of a period as NDJSON.
import { createWriteStream, existsSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InvalidArgumentError, type Command } from 'commander';
import { configOf } from '../config.js';
import { dateRangeOf } from '../../fhir/search-params.js';
import { auditEventLines } from '../../services/audit/export.js';
import { chainReportText, verifyAuditChain } from '../../services/audit/verify.js';
import { openStore, storeTarget } from '../../store/open.js';
import type { ResourceStore } from '../../store/repository.js';

interface StoreOptions {
  data?: string;
  config?: string;
}

interface VerifyOptions extends StoreOptions {
  json?: boolean;
}

interface ExportOptions extends StoreOptions {
  from?: string;
  to?: string;
  output?: string;
  format: string;
}

function fail(message: string, code = 2): void {
  process.stderr.write(`passerelle audit: ${message}\n`);
  process.exitCode = code;
}

/** The configured store, or undefined after reporting why not. A missing SQLite file is not created. */
async function open(opts: StoreOptions): Promise<ResourceStore | undefined> {
  const config = configOf('audit', opts);
  if (!config) return undefined;
  const target = storeTarget({ databaseUrl: config.databaseUrl, file: config.database });
  if (target.dialect === 'sqlite' && config.database !== ':memory:' && !existsSync(path.resolve(config.database))) {
    fail(`sqlite ${target.location}: no such database`);
    return undefined;
  }
  try {
    return await openStore({ databaseUrl: config.databaseUrl, file: config.database });
  } catch (err) {
    fail(`${target.dialect} ${target.location}: ${(err as Error).message}`);
    return undefined;
  }
}

/** YYYY-MM-DD (or any FHIR date): the instant it starts, and the one after it ends. */
function day(value: string): { start: string; end: string } {
  const range = dateRangeOf(value);
  if (!range) throw new InvalidArgumentError('expected a date such as 2026-12-05');
  return range;
}

const checkedDate = (value: string): string => (day(value), value);

async function runVerify(opts: VerifyOptions): Promise<void> {
  const store = await open(opts);
  if (!store) return;
  try {
    const report = await verifyAuditChain(store);
    process.stdout.write(opts.json ? `${JSON.stringify(report)}\n` : `${chainReportText(report)}\n`);
    if (report.broken) process.exitCode = 1;
  } catch (err) {
    fail(`verify: ${(err as Error).message}`);
  } finally {
    await store.close();
  }
}

async function runExport(opts: ExportOptions): Promise<void> {
  if (opts.format !== 'ndjson') return fail(`--format ${opts.format}: only ndjson is supported`);
  const from = opts.from ? day(opts.from).start : undefined;
  const before = opts.to ? day(opts.to).end : undefined;
  const store = await open(opts);
  if (!store) return;
  try {
    const lines = Readable.from(auditEventLines(store, { ...(from ? { from } : {}), ...(before ? { before } : {}) }));
    if (opts.output) await pipeline(lines, createWriteStream(opts.output));
    else await pipeline(lines, process.stdout, { end: false });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPIPE') fail(`export: ${(err as Error).message}`);
  } finally {
    await store.close();
  }
}

const storeOptions = (c: Command): Command =>
  c
    .option('-d, --data <dir>', 'data directory holding the SQLite file (env PASSERELLE_DATA; default ./var; DATABASE_URL selects PostgreSQL instead)')
    .option('-c, --config <file>', 'YAML configuration file (env PASSERELLE_CONFIG)');

export function register(program: Command): void {
  const audit = program.command('audit').description('the audit trail: verify its hash chain, export it as FHIR AuditEvents');

  storeOptions(audit.command('verify').description('walk the audit chain in id order and recompute every hash'))
    .option('--json', 'print the report as one JSON object')
    .addHelpText(
      'after',
      '\nExit code 0 when the chain is intact (prints the rows, the unchained rows written before the chain existed,\n' +
        'the first and last ids and the last hash — keep it elsewhere to detect a truncation later), 1 naming the first\n' +
        'broken row (id, recorded, action) and why: hash mismatch (altered, inserted by hand, or the row before it was\n' +
        'deleted) or missing hash; 2 when the configuration or the database cannot be read.',
    )
    .action((opts: VerifyOptions) => runVerify(opts));

  storeOptions(audit.command('export').description('write the audit events of a period, one FHIR AuditEvent per line'))
    .option('--from <date>', 'first day (UTC, inclusive), YYYY-MM-DD', checkedDate)
    .option('--to <date>', 'last day (UTC, inclusive), YYYY-MM-DD', checkedDate)
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .option('-f, --format <format>', 'ndjson (the only format)', 'ndjson')
    .action((opts: ExportOptions) => runExport(opts));
}
