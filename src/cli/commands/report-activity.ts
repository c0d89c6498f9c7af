// `passerelle report activity --from <day> --to <day> [--establishment <FINESS>] [--format table|csv|json]` (issue 20
// point 2, docs/reports.md "Activity figures"): the activity figures of a period read from the configured database —
// a table on the terminal, the establishments' rows (and a total row) as CSV, or the report's JSON (the same as
// `GET /reports/activity`). The parameters are checked as the API checks them: each problem names its option (exit 2).
import { stringify } from 'csv-stringify/sync';
import type { Command } from 'commander';
import type { OperationOutcome } from '@medplum/fhirtypes';
import type { ActivityReport } from '../../domain/reports/activity.js';
import { OperationOutcomeError } from '../../fhir/outcome.js';
import { activityReport } from '../../services/reports/activity.js';
import { reportQuery } from '../../services/reports/query.js';
import { openStore } from '../../store/open.js';
import { configOf } from '../config.js';

interface ActivityOptions {
  from?: string;
  to?: string;
  establishment?: string;
  format?: string;
  data?: string;
  config?: string;
}

export const ACTIVITY_FORMATS = ['table', 'csv', 'json'] as const;

const CSV_COLUMNS = ['finess', 'name', 'ppp', 'pppWithRcp', 'rcpShare', 'rcpSync', 'rcpAsync', 'hopital', 'ville', 'recommendations', 'patients'] as const;

/** The establishments' rows and a last `total` row (its `patients`: distinct over the whole period). */
export function activityCsv(r: ActivityReport): string {
  const rows = r.establishments.map((e) => [e.finess, e.name, e.ppp, e.pppWithRcp, e.rcpShare, e.rcpSync, e.rcpAsync, e.byEntryDoor.hopital, e.byEntryDoor.ville, e.recommendations, e.patients]);
  const t = r.total;
  rows.push(['total', '', t.ppp, t.pppWithRcp, t.rcpShare, t.rcpSync, t.rcpAsync, t.byEntryDoor.hopital, t.byEntryDoor.ville, t.recommendations, t.patients]);
  return stringify(rows, { header: true, columns: [...CSV_COLUMNS] });
}

/** Columns aligned for a terminal: text left, numbers right. */
function grid(head: string[], rows: (string | number)[][]): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => [...(r[i] ?? '')].length)));
  const line = (r: (string | number)[], header = false): string =>
    r
      .map((c, i) => {
        const s = String(c);
        const pad = ' '.repeat((widths[i] ?? 0) - [...s].length);
        return typeof c === 'number' && !header ? pad + s : s + pad;
      })
      .join('  ')
      .trimEnd();
  return [line(head, true), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map((r) => line(r))].join('\n');
}

const pct = (s: number): string => `${(Math.round(s * 1000) / 10).toFixed(1)} %`;

/** The report as text for a terminal. */
export function activityTable(r: ActivityReport): string {
  const t = r.total;
  const est = grid(
    ['FINESS', 'Name', 'PPP', 'With RCP', 'RCP share', 'Sync', 'Async', 'Hospital', 'Town', 'Recos', 'Patients'],
    [
      ...r.establishments.map((e) => [e.finess, e.name.length > 40 ? `${e.name.slice(0, 39)}…` : e.name, e.ppp, e.pppWithRcp, pct(e.rcpShare), e.rcpSync, e.rcpAsync, e.byEntryDoor.hopital, e.byEntryDoor.ville, e.recommendations, e.patients]),
      ['total', '', t.ppp, t.pppWithRcp, pct(t.rcpShare), t.rcpSync, t.rcpAsync, t.byEntryDoor.hopital, t.byEntryDoor.ville, t.recommendations, t.patients],
    ],
  );
  const d = r.decisions;
  const decisions = grid(
    ['Decision', 'MT', 'PHO'],
    [
      ['retenu', d.mt.retenu, d.pho.retenu],
      ['retenu-modifie', d.mt.retenuModifie, d.pho.retenuModifie],
      ['non-retenu', d.mt.nonRetenu, d.pho.nonRetenu],
      ['pending', d.mt.pending, d.pho.pending],
      ['declined', d.mt.declined, d.pho.declined],
    ],
  );
  const follow = grid(
    ['Follow-up', 'Due', 'Done'],
    [
      ['D45', r.followUp.d45.due, r.followUp.d45.done],
      ['D90', r.followUp.d90.due, r.followUp.d90.done],
    ],
  );
  const months = grid(['Month', 'PPP'], r.months.map((m) => [m.month, m.ppp]));
  return [
    `Activity from ${r.period.from} to ${r.period.to}${r.establishment ? `, establishment ${r.establishment}` : ''}`,
    '',
    r.establishments.length > 0 ? est : 'no PPP created in the period',
    '',
    `Patients: ${t.patients}   recommendations per patient: ${t.recommendationsPerPatient}   active professionals: MT ${r.activeProfessionals.mt}, PHO ${r.activeProfessionals.pho}`,
    '',
    decisions,
    '',
    follow,
    ...(r.months.length > 0 ? ['', months] : []),
    '',
  ].join('\n');
}

export function registerActivity(report: Command): void {
  report
    .command('activity')
    .description('activity figures of a period: PPPs, RCP share, entry doors, decisions, follow-up, active professionals')
    .option('--from <day>', 'first day, included (YYYY-MM-DD)')
    .option('--to <day>', 'last day, included (YYYY-MM-DD)')
    .option('--establishment <FINESS>', 'one establishment (default: all)')
    .option('--format <format>', `output: ${ACTIVITY_FORMATS.join(', ')} (default table)`)
    .option('-d, --data <dir>', 'data directory holding the SQLite file (env PASSERELLE_DATA; default ./var; DATABASE_URL selects PostgreSQL instead)')
    .option('-c, --config <file>', 'YAML configuration file (env PASSERELLE_CONFIG)')
    .addHelpText(
      'after',
      '\nA PPP counts in the period by its creation day. csv: one row per establishment and a last "total" row.\n' +
        'json: the same object as GET /reports/activity.\n\nExamples:\n  passerelle report activity --from 2025-01-01 --to 2025-03-31\n' +
        '  passerelle report activity --from 2025-01-01 --to 2025-12-31 --establishment 760000018 --format csv > activite.csv',
    )
    .action(async (opts: ActivityOptions) => {
      const config = configOf('report activity', opts);
      if (!config) return;
      const store = await openStore({ databaseUrl: config.databaseUrl, file: config.database });
      try {
        const raw: Record<string, unknown> = {};
        for (const k of ['from', 'to', 'establishment', 'format'] as const) if (opts[k] !== undefined) raw[k] = opts[k];
        const query = await reportQuery(store, raw, { formats: ACTIVITY_FORMATS });
        const report = await activityReport(store, query, { now: new Date() });
        const out = query.format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : query.format === 'csv' ? activityCsv(report) : activityTable(report);
        process.stdout.write(out);
      } catch (err) {
        if (err instanceof OperationOutcomeError) {
          for (const i of (err.outcome as OperationOutcome).issue) {
            const param = i.expression?.[0];
            process.stderr.write(`passerelle report activity: ${param ? `--${param}: ` : ''}${i.details?.text ?? i.diagnostics ?? 'invalid'}\n`);
          }
          process.exitCode = 2;
          return;
        }
        process.stderr.write(`passerelle report activity: ${(err as Error).message}\n`);
        process.exitCode = 1;
      } finally {
        await store.close();
      }
    });
}
