// `passerelle report billing|activity|professionals|rebuild` (issue 20, docs/reports.md): the reports read from the
// database the configuration names. The subcommands live beside: report-billing.ts (billing, professionals, rebuild)
// and report-activity.ts (activity).
import type { Command } from 'commander';
import { registerActivity } from './report-activity.js';
import { registerBilling } from './report-billing.js';

export function register(program: Command): void {
  const report = program.command('report').description('reports: billing extraction, activity figures, active professionals');
  registerBilling(report);
  registerActivity(report);
}
