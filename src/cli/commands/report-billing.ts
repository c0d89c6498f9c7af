// `passerelle report billing|professionals|rebuild` (issue 20 points 1 and 4, docs/reports.md): the billing file and
// the active professionals of a period, read from the configured database (SQLite file, or PostgreSQL with
// DATABASE_URL), to stdout or --output; and the rebuilding of the report rows. The parameters are checked as the API
// checks them (services/reports/query.ts): a bad one is exit 2 with a one-line message naming it, before the database
// is opened; a missing SQLite file is not created.
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { Config } from '../../config.js';
import { issuesText, OperationOutcomeError } from '../../fhir/outcome.js';
import { billingCsv, billingReport } from '../../services/reports/billing.js';
import { professionalsCsv, professionalsReport, type ProfessionalsReport } from '../../services/reports/professionals.js';
import { reportsPseudonymKey } from '../../services/reports/pseudonym-key.js';
import { reportQuery, type QueryRules, type ReportQuery } from '../../services/reports/query.js';
import { rebuildReports } from '../../services/reports/rebuild.js';
import { openStore, storeTarget } from '../../store/open.js';
import type { ResourceStore } from '../../store/repository.js';
import { configOf } from '../config.js';

interface StoreOptions {
  data?: string;
  config?: string;
}

interface ReportOptions extends StoreOptions {
  from?: string;
  to?: string;
  establishment?: string;
  format?: string;
  role?: string;
  output?: string;
}

function fail(command: string, message: string, code: number): void {
  // One line, printable: a message never spreads over several nor reorders the terminal, whatever input it quotes.
  const text = message.replace(/[\r\n]+/g, ' ').replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '?');
  process.stderr.write(`passerelle report ${command}: ${text}\n`);
  process.exitCode = code;
}

/** The configured store, or undefined after reporting why not (exit 2). A missing SQLite file is not created. */
async function open(command: string, config: Config): Promise<ResourceStore | undefined> {
  const target = storeTarget({ databaseUrl: config.databaseUrl, file: config.database });
  if (target.dialect === 'sqlite' && config.database !== ':memory:' && !existsSync(path.resolve(config.database))) {
    fail(command, `sqlite ${target.location}: no such database`, 2);
    return undefined;
  }
  try {
    return await openStore({ databaseUrl: config.databaseUrl, file: config.database });
  } catch (err) {
    fail(command, `${target.dialect} ${target.location}: ${(err as Error).message}`, 2);
    return undefined;
  }
}

/** The options as the API's query parameters (only those given). */
function rawQuery(opts: ReportOptions, format: string | undefined): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const [k, v] of [['from', opts.from], ['to', opts.to], ['establishment', opts.establishment], ['format', format], ['role', opts.role]] as const) {
    if (v !== undefined) raw[k] = v;
  }
  return raw;
}

/** Checks the parameters without the database (everything but whether the establishment is known). */
async function checkShape(raw: Record<string, unknown>, rules: QueryRules): Promise<void> {
  await reportQuery({ reports: { establishmentKnown: async () => true } } as unknown as Pick<ResourceStore, 'reports'>, raw, rules);
}

/** Writes the output to --output (created 0600: it names professionals) or stdout. */
function emit(content: string, output: string | undefined): void {
  if (output !== undefined) writeFileSync(output, content, { mode: 0o600 });
  else process.stdout.write(content);
}

/**
 * Runs a report command: configuration, parameters checked (exit 2 naming the bad one), store opened, `body` run
 * (a failure: exit 1), store closed.
 */
async function runReport(command: string, opts: ReportOptions, format: string | undefined, rules: QueryRules, body: (store: ResourceStore, q: ReportQuery, config: Config) => Promise<void>): Promise<void> {
  const raw = rawQuery(opts, format);
  const refused = (err: unknown): boolean => {
    if (!(err instanceof OperationOutcomeError)) return false;
    fail(command, issuesText(err.outcome.issue ?? []), 2);
    return true;
  };
  try {
    await checkShape(raw, rules);
  } catch (err) {
    if (refused(err)) return;
    throw err;
  }
  const config = configOf(`report ${command}`, opts);
  if (!config) return;
  const store = await open(command, config);
  if (!store) return;
  try {
    const q = await reportQuery(store, raw, rules);
    await body(store, q, config);
  } catch (err) {
    if (!refused(err)) fail(command, (err as Error).message, 1);
  } finally {
    await store.close();
  }
}

/** The active professionals as a table for a terminal. */
function professionalsTable(report: ProfessionalsReport): string {
  const head = ['RPPS', 'NAME', 'ROLE', 'PPP ANSWERED', 'FIRST USE', 'LAST USE', 'ESTABLISHMENTS'];
  const rows = report.professionals.map((p) => [p.rpps, p.name, p.role, String(p.pppAnswered), p.firstUse, p.lastUse, p.establishments.map((e) => `${e.finess} ${e.name}`).join('; ')]);
  if (rows.length === 0) return `no professional used a link from ${report.period.from} to ${report.period.to}\n`;
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

const STORE_HELP = (c: Command): Command =>
  c
    .option('-d, --data <dir>', 'data directory holding the SQLite file (env PASSERELLE_DATA; default ./var; DATABASE_URL selects PostgreSQL instead)')
    .option('-c, --config <file>', 'YAML configuration file (env PASSERELLE_CONFIG)');

export function registerBilling(report: Command): void {
  STORE_HELP(
    report
      .command('billing')
      .description('the billing file of a period: one line per billable participation (DAH, MT, PHO) of the RCPs held in the period')
      .option('--from <YYYY-MM-DD>', 'first RCP day (included)')
      .option('--to <YYYY-MM-DD>', 'last RCP day (included); at most five years after --from')
      .option('--establishment <FINESS>', 'one establishment only (one the gateway has PPPs of)')
      .option('--format <format>', 'csv (RFC 4180, default) or json')
      .option('-o, --output <file>', 'write the file here (created with mode 0600) instead of stdout'),
  )
    .addHelpText(
      'after',
      '\nThe summary (lines, total, PHO lines without pharmacy, years without tariff) goes to stderr.\n' +
        'Exit code 2 for a bad parameter or configuration, 1 when the report fails.\n\n' +
        'Examples:\n  passerelle report billing --from 2025-01-01 --to 2025-03-31 --output facturation-T1.csv\n' +
        '  passerelle report billing --from 2025-01-01 --to 2025-03-31 --establishment 800000317 --format json',
    )
    .action(async (opts: ReportOptions) => {
      await runReport('billing', opts, opts.format, { formats: ['csv', 'json'] }, async (store, q, config) => {
        const r = await billingReport(store, { from: q.from, to: q.to, ...(q.finess !== undefined ? { finess: q.finess } : {}) }, { tariffs: config.reports.tariffs, pseudonymKey: reportsPseudonymKey(config) });
        emit(q.format === 'json' ? `${JSON.stringify(r, null, 2)}\n` : billingCsv(r), opts.output);
        const s = r.summary;
        process.stderr.write(
          `passerelle report billing: ${s.lines} line(s) (DAH ${s.byRole.DAH}, MT ${s.byRole.MT}, PHO ${s.byRole.PHO}), ${s.amountEur.toFixed(2)} EUR` +
            (s.phoWithoutPharmacy > 0 ? `; ${s.phoWithoutPharmacy} PHO line(s) without pharmacy` : '') +
            (s.yearsWithoutTariff.length > 0 ? `; no tariff for ${s.yearsWithoutTariff.join(', ')} (amounts left empty)` : '') +
            (opts.output !== undefined ? `; written to ${opts.output}` : '') +
            '\n',
        );
      });
    });

  STORE_HELP(
    report
      .command('professionals')
      .description('the GPs (MT) and pharmacists (PHO) who opened a decision or prescription link in the period')
      .option('--from <YYYY-MM-DD>', 'first day (included)')
      .option('--to <YYYY-MM-DD>', 'last day (included); at most five years after --from')
      .option('--role <role>', 'MT or PHO only')
      .option('--establishment <FINESS>', 'the links of this establishment’s PPPs only')
      .option('--format <format>', 'csv, json or table (default: table on a terminal, csv otherwise)')
      .option('-o, --output <file>', 'write the list here (created with mode 0600) instead of stdout'),
  ).action(async (opts: ReportOptions) => {
    const format = opts.format ?? (process.stdout.isTTY && opts.output === undefined ? 'table' : 'csv');
    await runReport('professionals', opts, format, { formats: ['csv', 'json', 'table'], extra: { role: ['MT', 'PHO'] } }, async (store, q) => {
      const role = q.extra.role as 'MT' | 'PHO' | undefined;
      const r = await professionalsReport(store, { from: q.from, to: q.to, ...(q.finess !== undefined ? { finess: q.finess } : {}), ...(role ? { role } : {}) });
      emit(q.format === 'json' ? `${JSON.stringify(r, null, 2)}\n` : q.format === 'table' ? professionalsTable(r) : professionalsCsv(r), opts.output);
    });
  });

  STORE_HELP(
    report
      .command('rebuild')
      .description('rewrite every PPP’s report rows from its stored document (after an upgrade of the counting rules, or to repair)'),
  ).action(async (opts: StoreOptions) => {
    const config = configOf('report rebuild', opts);
    if (!config) return;
    const store = await open('rebuild', config);
    if (!store) return;
    try {
      const n = await rebuildReports(store);
      process.stdout.write(`rebuilt the report rows of ${n} case(s)\n`);
    } catch (err) {
      fail('rebuild', (err as Error).message, 1);
    } finally {
      await store.close();
    }
  });
}
