// `passerelle annuaire import|lookup`: the local MSSanté directory, filled from the Annuaire Santé's public
// "extraction correspondance MSSanté" file, on the configured store directly (as `serve` opens it).
import { createReadStream, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import cliProgress from 'cli-progress';
import { InvalidArgumentError, type Command } from 'commander';
import { configOf } from '../config.js';
import { DEFAULT_DIRECTORY_BATCH, importDirectory, lookupDirectory, type DirectoryImportSummary, type DirectoryQuery } from '../../services/annuaire-import.js';
import type { ResourceStore } from '../../store/repository.js';
import { openStore as openConfiguredStore, storeTarget } from '../../store/open.js';

interface StoreOptions {
  data?: string;
  config?: string;
}

interface ImportOptions extends StoreOptions {
  batch?: number;
  showBad: number;
  json?: boolean;
}

interface LookupOptions extends StoreOptions {
  rpps?: string;
  finess?: string;
  name?: string;
  given?: string;
  json?: boolean;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

function fail(message: string, code = 2): void {
  process.stderr.write(`passerelle annuaire: ${message}\n`);
  process.exitCode = code;
}

async function openStore(opts: StoreOptions): Promise<ResourceStore | undefined> {
  const config = configOf('annuaire', opts);
  if (!config) return undefined;
  const target = storeTarget({ databaseUrl: config.databaseUrl, file: config.database });
  if (target.dialect === 'sqlite' && config.database !== ':memory:') mkdirSync(path.dirname(path.resolve(config.database)), { recursive: true });
  process.stderr.write(`passerelle annuaire: ${target.dialect} database ${target.location}\n`);
  return openConfiguredStore({ databaseUrl: config.databaseUrl, file: config.database });
}

const storeOptions = (c: Command): Command =>
  c
    .option('-d, --data <dir>', 'data directory holding the SQLite file (env PASSERELLE_DATA; default ./var; DATABASE_URL selects PostgreSQL instead)')
    .option('-c, --config <file>', 'YAML configuration file (env PASSERELLE_CONFIG)');

function summaryText(file: string, s: DirectoryImportSummary): string {
  const row = (label: string, n: number | string): string => `  ${label.padEnd(16)}${String(n).padStart(10)}\n`;
  return (
    `${file}: ${s.lines} lines, ${s.imported} mailboxes imported in ${s.seconds.toFixed(2)} s (import ${s.generation})\n` +
    row('bad lines', s.bad) +
    Object.entries(s.byType)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([type, n]) => row(`BAL ${type}`, n))
      .join('') +
    row('records/s', Math.round(s.recordsPerSecond))
  );
}

async function runImport(file: string, opts: ImportOptions): Promise<void> {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (err) {
    fail(`cannot read ${file}: ${(err as Error).message}`);
    return;
  }
  const store = await openStore(opts);
  if (!store) return;
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar(
        { format: 'importing [{bar}] {percentage}% | {imported} imported, {bad} bad lines | eta {eta_formatted}', hideCursor: true, clearOnComplete: true, stream: process.stderr },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(Math.max(size, 1), 0, { imported: 0, bad: 0 });
  // The first bad lines are printed (after the bar is gone), all are counted.
  const shown: string[] = [];
  try {
    const summary = await importDirectory(store.directory, createReadStream(file), {
      source: path.basename(file),
      ...(opts.batch !== undefined ? { batchSize: opts.batch } : {}),
      onProgress: (p) => bar?.update(p.bytes, { imported: p.imported, bad: p.bad }),
      onBadLine: (e) => {
        if (shown.length < opts.showBad) shown.push(`${file}:${e.line}: ${e.reason}\n`);
      },
    });
    bar?.stop();
    for (const line of shown) process.stderr.write(line);
    if (summary.bad > shown.length) process.stderr.write(`${file}: … ${summary.bad - shown.length} more bad lines not shown (--show-bad)\n`);
    process.stdout.write(opts.json ? `${JSON.stringify({ file, ...summary })}\n` : summaryText(file, summary));
    if (summary.bad > 0) process.exitCode = 1;
  } catch (err) {
    bar?.stop();
    fail(`${file}: ${(err as Error).message}`);
  } finally {
    await store.close();
  }
}

async function runLookup(opts: LookupOptions): Promise<void> {
  const given = [opts.rpps, opts.finess, opts.name].filter((v) => v !== undefined).length;
  if (given !== 1) {
    fail('give exactly one of --rpps, --finess, --name');
    return;
  }
  const q: DirectoryQuery =
    opts.rpps !== undefined
      ? { rpps: opts.rpps }
      : opts.finess !== undefined
        ? { finess: opts.finess }
        : { family: opts.name!, ...(opts.given !== undefined ? { given: opts.given } : {}) };
  const store = await openStore(opts);
  if (!store) return;
  try {
    const entries = await lookupDirectory(store.directory, q);
    if (opts.json) process.stdout.write(`${JSON.stringify(entries)}\n`);
    else
      for (const e of entries) {
        const who = [e.given, e.family].filter(Boolean).join(' ') || e.structureName || '';
        process.stdout.write(`${e.address}\t${e.balType || '-'}\t${who}${e.ppId ? `\t${e.ppIdKind ?? ''} ${e.ppId}` : ''}${e.structureId ? `\t${e.structureIdKind ?? ''} ${e.structureId}` : ''}\n`);
      }
    if (entries.length === 0) process.exitCode = 1;
  } catch (err) {
    fail((err as Error).message);
  } finally {
    await store.close();
  }
}

export function register(program: Command): void {
  const annuaire = program.command('annuaire').description('local MSSanté directory: import of the Annuaire Santé extraction file, lookups');

  storeOptions(
    annuaire
      .command('import')
      .description('replace the local MSSanté directory with an "extraction correspondance MSSanté" file (pipe-separated)')
      .argument('<file>', 'the extraction file from data.gouv.fr / annuaire.sante.fr (UTF-8, header row)'),
  )
    .option('-b, --batch <n>', `records per transaction (default ${DEFAULT_DIRECTORY_BATCH})`, positiveInt)
    .option('--show-bad <n>', 'bad lines printed on stderr (all are counted)', nonNegativeInt, 20)
    .option('--json', 'print the summary as one JSON object')
    .addHelpText(
      'after',
      '\nA bad line (no address, an address that is not an e-mail, an RPPS/ADELI/FINESS of the wrong shape, a column count\n' +
        'unlike the header, a control or bidirectional character, a line over 64 KiB) is reported as <file>:<line>: <reason>\n' +
        'and skipped. The new directory replaces the previous one only once the whole file is read. Exit code 1 when any\n' +
        'line was bad (the rest is imported), 2 when the file or the configuration cannot be read (nothing changes).',
    )
    .action(runImport);

  storeOptions(annuaire.command('lookup').description('print the MSSanté addresses of a person or structure'))
    .option('--rpps <rpps>', 'RPPS of a person (11 digits)')
    .option('--finess <finess>', 'FINESS of a structure (9 characters)')
    .option('--name <family>', 'family name (nom d’exercice): case and accents ignored')
    .option('--given <given>', 'with --name: given name (prénom d’exercice)')
    .option('--json', 'print the entries as a JSON array')
    .addHelpText('after', '\nOne line per address: address, BAL type, name, identifiers. Exit code 1 when nothing is found, 2 on a bad query.')
    .action((opts: LookupOptions) => runLookup(opts));
}
