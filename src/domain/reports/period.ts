// The period of a report (issue 20, docs/reports.md "Parameters"), pure: two calendar days, inclusive, at most five
// years apart. Each problem names the parameter it is about.
export const MAX_PERIOD_YEARS = 5;

export interface Period {
  from: string;
  to: string;
}

export interface ParamProblem {
  param: string;
  message: string;
}

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Whether `text` is a real calendar day written YYYY-MM-DD. */
export function isDay(text: string): boolean {
  const m = DAY.exec(text);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  return y >= 1900 && date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
}

/** The day five years after `day` (29 February → 28 February). */
function yearsAfter(day: string, years: number): string {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  const date = new Date(Date.UTC(y + years, m - 1, d));
  if (date.getUTCDate() !== d) date.setUTCDate(0);
  return date.toISOString().slice(0, 10);
}

/** Checks `from` and `to` (strings as received); answers the period or the problems, each naming its parameter. */
export function parsePeriod(from: unknown, to: unknown): { period: Period } | { problems: ParamProblem[] } {
  const problems: ParamProblem[] = [];
  const day = (param: string, v: unknown): string | undefined => {
    if (v === undefined || v === '') problems.push({ param, message: `${param} is required (YYYY-MM-DD)` });
    else if (typeof v !== 'string') problems.push({ param, message: `${param}: expected one date (YYYY-MM-DD)` });
    else if (!isDay(v)) problems.push({ param, message: `${param}: "${v.slice(0, 40)}" is not a date written YYYY-MM-DD` });
    else return v;
    return undefined;
  };
  const f = day('from', from);
  const t = day('to', to);
  if (f && t) {
    if (f > t) problems.push({ param: 'from', message: `from (${f}) is after to (${t})` });
    else if (t >= yearsAfter(f, MAX_PERIOD_YEARS)) problems.push({ param: 'to', message: `the period is over ${MAX_PERIOD_YEARS} years (from ${f} to ${t})` });
  }
  return problems.length > 0 || !f || !t ? { problems } : { period: { from: f, to: t } };
}
