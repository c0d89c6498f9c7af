// The parameters every report takes (issue 20, docs/reports.md "Parameters"): the period, an establishment, a format,
// checked as FHIR search checks its own: an unknown or repeated parameter, a bad date, `from` after `to`, a period over
// five years, an establishment the gateway has no PPP of, or an unknown format: 400 naming the parameter.
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { parsePeriod, type Period } from '../../domain/reports/period.js';
import { invalidIssues, issue } from '../../fhir/outcome.js';
import type { ResourceStore } from '../../store/repository.js';

const FINESS = /^(\d{9}|2[AB]\d{7})$/;

export interface ReportQuery extends Period {
  /** One establishment (FINESS), or all. */
  finess?: string;
  format?: string;
  /** Other parameters the report accepted (e.g. `role`), as received. */
  extra: Record<string, string>;
}

export interface QueryRules {
  /** Formats accepted (`format`); the first is the default. */
  formats: readonly string[];
  /** Other parameters accepted, with their allowed values. */
  extra?: Record<string, readonly string[]>;
}

/**
 * Checks a report's query (`from`, `to`, `establishment`, `format`, and `rules.extra`); throws an OperationOutcomeError
 * (400) with one issue per problem, each naming its parameter. `establishment` must be one the gateway has PPPs of.
 */
export async function reportQuery(store: Pick<ResourceStore, 'reports'>, raw: Record<string, unknown>, rules: QueryRules): Promise<ReportQuery> {
  const issues: OperationOutcomeIssue[] = [];
  const bad = (param: string, message: string): void => {
    issues.push(issue('invalid', message, param));
  };
  const known = new Set(['from', 'to', 'establishment', 'format', ...Object.keys(rules.extra ?? {})]);
  for (const [k, v] of Object.entries(raw)) {
    if (!known.has(k)) bad(k, `unknown parameter ${JSON.stringify(k.slice(0, 40))}: this report takes ${[...known].join(', ')}`);
    else if (Array.isArray(v)) bad(k, `${k} is given more than once`);
  }
  const one = (k: string): unknown => (Array.isArray(raw[k]) ? undefined : raw[k]);
  const period = parsePeriod(one('from'), one('to'));
  if ('problems' in period) for (const p of period.problems) bad(p.param, p.message);
  const est = one('establishment');
  let finess: string | undefined;
  if (est !== undefined && est !== '') {
    if (typeof est !== 'string' || !FINESS.test(est)) bad('establishment', 'establishment: expected one FINESS number (9 characters)');
    else finess = est;
  }
  const fmt = one('format');
  let format = rules.formats[0];
  if (fmt !== undefined && fmt !== '') {
    if (typeof fmt !== 'string' || !rules.formats.includes(fmt)) bad('format', `format: expected ${rules.formats.join(' or ')}`);
    else format = fmt;
  }
  const extra: Record<string, string> = {};
  for (const [k, allowed] of Object.entries(rules.extra ?? {})) {
    const v = one(k);
    if (v === undefined || v === '') continue;
    if (typeof v !== 'string' || !allowed.includes(v)) bad(k, `${k}: expected ${allowed.join(' or ')}`);
    else extra[k] = v;
  }
  if (issues.length === 0 && finess !== undefined && !(await store.reports.establishmentKnown(finess))) {
    bad('establishment', `establishment ${finess}: no PPP was ever recorded for this FINESS`);
  }
  if (issues.length > 0 || 'problems' in period) throw invalidIssues(issues);
  return { ...period.period, ...(finess !== undefined ? { finess } : {}), ...(format !== undefined ? { format } : {}), extra };
}
