// `passerelle identity import|links`: bulk registration of source identities (NDJSON of FHIR Patients) and the
// export of every source identity's link, both on the configured store directly (as `serve` opens it).
import { createReadStream, createWriteStream, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import cliProgress from 'cli-progress';
import { InvalidArgumentError, type Command } from 'commander';
import type { Config } from '../../config.js';
import { configOf } from '../config.js';
import { Finess } from '../../domain/actors.js';
import { DEFAULT_BULK_BATCH, DEFAULT_IMPORT_BATCH, importPatients, ndjsonLines, type ImportSummary } from '../../services/identity-import.js';
import { LINK_FORMATS, linkLines, type LinkFormat } from '../../services/identity-links.js';
import { identityServiceFor } from '../../services/patient-identity.js';
import type { ResourceStore } from '../../store/repository.js';
import { openStore as openConfiguredStore, storeTarget } from '../../store/open.js';

interface StoreOptions {
  data?: string;
  config?: string;
}

interface ImportOptions extends StoreOptions {
  batch?: number;
  finess?: string;
  progressEvery: number;
  actor: string;
  json?: boolean;
}

interface LinksOptions extends StoreOptions {
  format: LinkFormat;
  output?: string;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/** A FINESS as documents give it (domain/actors.ts: 9 characters, an IdNat_Struct reduced); refused before anything is read. */
function finess(value: string): string {
  const parsed = Finess.safeParse(value);
  if (!parsed.success) throw new InvalidArgumentError(`expected a FINESS number of 9 characters (digits, 2A/2B for Corsica), not "${value}"`);
  return parsed.data;
}

function linkFormat(value: string): LinkFormat {
  if (!(LINK_FORMATS as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${LINK_FORMATS.join(', ')}`);
  return value as LinkFormat;
}

function fail(message: string, code = 2): void {
  process.stderr.write(`passerelle identity: ${message}\n`);
  process.exitCode = code;
}

/** The configured store (configuration file < environment < --data), or undefined after reporting why not. */
async function openStore(opts: StoreOptions): Promise<{ store: ResourceStore; config: Config } | undefined> {
  const config = configOf('identity', opts);
  if (!config) return undefined;
  const target = storeTarget({ databaseUrl: config.databaseUrl, file: config.database });
  if (target.dialect === 'sqlite' && config.database !== ':memory:') mkdirSync(path.dirname(path.resolve(config.database)), { recursive: true });
  process.stderr.write(`passerelle identity: ${target.dialect} database ${target.location}\n`);
  return { store: await openConfiguredStore({ databaseUrl: config.databaseUrl, file: config.database }), config };
}

const storeOptions = (c: Command): Command =>
  c
    .option('-d, --data <dir>', 'data directory holding the SQLite file (env PASSERELLE_DATA; default ./var; DATABASE_URL selects PostgreSQL instead)')
    .option('-c, --config <file>', 'YAML configuration file (env PASSERELLE_CONFIG)');

/** Whose board the anomalies of this import are on: said only when there are some. */
function anomalyOwner(s: ImportSummary): string {
  if (Object.keys(s.anomalies).length === 0) return '';
  return s.finess
    ? `  (anomalies recorded for establishment ${s.finess}: on its conflict board)\n`
    : '  (anomalies recorded without an establishment: on no establishment’s conflict board unless the sender’s system holds its FINESS; see --finess)\n';
}

function summaryText(file: string, s: ImportSummary): string {
  const row = (label: string, n: number | string): string => `  ${label.padEnd(16)}${String(n).padStart(10)}\n`;
  return (
    `${file}: ${s.lines} lines, ${s.registered} identities registered in ${s.seconds.toFixed(2)} s\n` +
    row('auto-linked', s.autoLinked) +
    row('sent to review', s.review) +
    row('new', s.new) +
    row('known', s.known) +
    row('downgraded', s.downgraded) +
    Object.entries(s.anomalies)
      .map(([code, n]) => row(`  ${code}`, n))
      .join('') +
    anomalyOwner(s) +
    row('failed', s.failed) +
    row('identities/s', Math.round(s.identitiesPerSecond)) +
    `  (registry ${s.registrySeconds.toFixed(2)} s, ${Math.round(s.registryIdentitiesPerSecond)} identities/s; ` +
    `then the FHIR Patients of ${s.projected} federated identities, ${s.projectionSeconds.toFixed(2)} s)\n`
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
  const opened = await openStore(opts);
  if (!opened) return;
  const { store } = opened;
  // A bar only for a person watching; logs and pipes get a plain line every N lines instead. The bar covers both
  // phases, half each: the registry (bytes of the file read) then the FHIR Patients (federated identities written),
  // so it reaches 100 % only once the last Patient is written.
  const bar = process.stdout.isTTY
    ? new cliProgress.SingleBar(
        { format: 'importing [{bar}] {percentage}% | {phase}: {registered} registered, {failed} failed | eta {eta_formatted}', hideCursor: true, clearOnComplete: true },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const half = Math.max(size, 1);
  bar?.start(2 * half, 0, { phase: 'registry', registered: 0, failed: 0 });
  let nextReport = opts.progressEvery;
  let nextProjectionReport = opts.progressEvery;
  // Under a bar, failures are printed once it is gone (they would tear it apart); otherwise as they come.
  const held: string[] = [];
  const flushHeld = (): void => {
    for (const line of held) process.stderr.write(line);
    held.length = 0;
  };
  try {
    const summary = await importPatients(store, ndjsonLines(createReadStream(file)), {
      ctx: { actor: opts.actor },
      ...(opts.finess !== undefined ? { finess: opts.finess } : {}),
      ...(opts.batch !== undefined ? { batchSize: opts.batch } : {}),
      onProgress: (p) => {
        bar?.update(Math.min(p.bytes, half), { registered: p.registered, failed: p.failed });
        if (!bar && p.lines >= nextReport) {
          process.stderr.write(`${file}: ${p.lines} lines, ${p.registered} registered, ${p.failed} failed (registry ${Math.round((100 * p.bytes) / half)}% of the file)\n`);
          while (nextReport <= p.lines) nextReport += opts.progressEvery;
        }
      },
      onProjection: ({ done, total }) => {
        const written = `FHIR Patients of ${done}/${total} federated identities`;
        bar?.update(half + Math.floor((half * done) / Math.max(total, 1)), { phase: written });
        // Like the registry's lines, only for a phase of at least --progress-every identities: its start, every
        // --progress-every identities, and its end.
        if (!bar && total >= opts.progressEvery && (done === 0 || done >= nextProjectionReport || done === total)) {
          process.stderr.write(`${file}: ${written} written (${Math.round((100 * done) / Math.max(total, 1))}%)\n`);
          while (nextProjectionReport <= done) nextProjectionReport += opts.progressEvery;
        }
      },
      onFallback: (why) => {
        const line = `${file}: the rest is registered batch by batch (slower): ${why}\n`;
        if (!bar) process.stderr.write(line);
        else held.push(line);
      },
      onFailure: (f) => {
        const line = `${file}:${f.line}: ${f.message}\n`;
        if (!bar) process.stderr.write(line);
        else if (held.length < 1000) held.push(line);
      },
    });
    bar?.stop();
    flushHeld();
    process.stdout.write(opts.json ? `${JSON.stringify({ file, ...summary })}\n` : summaryText(file, summary));
    if (summary.failed > 0) process.exitCode = 1;
  } catch (err) {
    bar?.stop();
    flushHeld();
    fail(`${file}: ${(err as Error).message}`);
  } finally {
    await store.close();
  }
}

async function runLinks(opts: LinksOptions): Promise<void> {
  const opened = await openStore(opts);
  if (!opened) return;
  const { store } = opened;
  try {
    const lines = Readable.from(linkLines(identityServiceFor(store).links(), opts.format));
    if (opts.output) await pipeline(lines, createWriteStream(opts.output));
    else await pipeline(lines, process.stdout, { end: false });
  } catch (err) {
    // A reader that stops early (`| head`) is not an error.
    if ((err as NodeJS.ErrnoException).code !== 'EPIPE') fail(`links: ${(err as Error).message}`);
  } finally {
    await store.close();
  }
}

export function register(program: Command): void {
  const identity = program.command('identity').description('identity service (SRI): bulk import of source identities, export of their links');

  storeOptions(
    identity
      .command('import')
      .description('register the source identities of an NDJSON file of FHIR Patients, in order, through the identity service')
      .argument('<patients.ndjson>', 'one FHIR Patient per line, each with the sender’s own identifier (system and value)'),
  )
    .option('-b, --batch <n>', `identities per transaction (default ${DEFAULT_BULK_BATCH} on SQLite, where the next batch is matched while one is written; ${DEFAULT_IMPORT_BATCH} on PostgreSQL)`, positiveInt)
    .option('--progress-every <n>', 'without a terminal: a progress line on stderr every n lines', positiveInt, 10_000)
    .option('--actor <id>', 'who imports, for the audit trail', 'cli')
    .option('--finess <FINESS>', 'the establishment whose feed the file is: recorded with every anomaly, for its conflict board', finess)
    .option('--json', 'print the summary as one JSON object')
    .addHelpText(
      'after',
      '\nEach Patient is read as the SRI reads it: official name (birth name, first given name, FR Core birth-list-given-name),\n' +
        'usual name, gender, birthDate, FR Core birthPlace INSEE code, INS identifier, identity-reliability status.\n' +
        'A line that is not a usable Patient is reported on stderr as <file>:<line>: <reason> and skipped; the rest goes on.\n' +
        'Prints the summary (auto-linked, sent to review, new, known, downgraded with its anomalies by code, failed,\n' +
        'identities/s). Exit code 1 when any line\n' +
        'failed, 2 when the file or the configuration cannot be read.\n' +
        'Anomalies (a declared status the traits do not support) are recorded for the sender, with the FINESS given by\n' +
        '--finess: they are on that establishment’s conflict board (/identity/conflicts?establishment=<FINESS>). Without\n' +
        '--finess they belong to no establishment’s board, unless the sender’s identifier system holds a FINESS as an\n' +
        'OID arc (then that establishment’s). A bad --finess is refused before anything is read or written (exit 1).',
    )
    .action(runImport);

  storeOptions(identity.command('links').description('write every source identity with its federated identity'))
    .option('-f, --format <format>', `output format: ${LINK_FORMATS.join(' | ')}`, linkFormat, 'csv' as LinkFormat)
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .addHelpText(
      'after',
      '\nCSV columns: source_system,source_id,federated_id,decision,score — decision is auto (linked by the matcher),\n' +
        'new (no candidate), review (separate identity, review open) or manual (set by a human); score is that of the\n' +
        'comparison that decided the link, when there was one.',
    )
    .action((opts: LinksOptions) => runLinks(opts));
}
