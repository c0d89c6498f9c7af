// The active professionals (issue 20 point 4, docs/reports.md "Active professionals"): every GP (MT) and pharmacist
// (PHO) who opened a decision or prescription link at least once in the period, with the establishments of those
// PPPs (FINESS and name), the number of PPPs they answered in the period and their first and last day of use; sorted
// by role, name, RPPS. JSON or CSV.
import { stringify } from 'csv-stringify/sync';
import type { ResourceStore } from '../../store/repository.js';

export interface ProfessionalsQuery {
  from: string;
  to: string;
  finess?: string;
  role?: 'MT' | 'PHO';
}

export interface ActiveProfessional {
  rpps: string;
  name: string;
  role: 'MT' | 'PHO';
  establishments: { finess: string; name: string }[];
  pppAnswered: number;
  firstUse: string;
  lastUse: string;
}

export interface ProfessionalsReport {
  period: { from: string; to: string };
  role?: 'MT' | 'PHO';
  establishment?: string;
  professionals: ActiveProfessional[];
}

export const PROFESSIONALS_COLUMNS = ['rpps', 'name', 'role', 'establishments_finess', 'establishments_names', 'ppp_answered', 'first_use', 'last_use'] as const;

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The active professionals of a period (already checked: services/reports/query.ts). */
export async function professionalsReport(store: Pick<ResourceStore, 'reports' | 'pathway'>, query: ProfessionalsQuery): Promise<ProfessionalsReport> {
  const rows = await store.reports.professionals({
    from: query.from,
    to: query.to,
    ...(query.finess !== undefined ? { finess: query.finess } : {}),
    ...(query.role !== undefined ? { role: query.role } : {}),
  });
  // An establishment's name as its latest PPP gives it (one look-up per establishment).
  const names = new Map<string, Promise<string>>();
  const nameOf = (finess: string): Promise<string> => {
    let p = names.get(finess);
    if (!p) {
      p = store.pathway.cases({ finess, closed: true, limit: 1 }).then(([c]) => {
        const est = (c?.document as { establishment?: { name?: unknown } } | undefined)?.establishment;
        return typeof est?.name === 'string' ? est.name : '';
      });
      names.set(finess, p);
    }
    return p;
  };
  const professionals: ActiveProfessional[] = [];
  for (const r of rows) {
    const establishments = await Promise.all([...new Set(r.establishments)].sort().map(async (finess) => ({ finess, name: await nameOf(finess) })));
    professionals.push({ rpps: r.rpps, name: r.name, role: r.role, establishments, pppAnswered: r.pppAnswered, firstUse: r.firstUse, lastUse: r.lastUse });
  }
  professionals.sort((a, b) => compare(a.role, b.role) || a.name.localeCompare(b.name, 'fr') || compare(a.rpps, b.rpps));
  return {
    period: { from: query.from, to: query.to },
    ...(query.role !== undefined ? { role: query.role } : {}),
    ...(query.finess !== undefined ? { establishment: query.finess } : {}),
    professionals,
  };
}

/** The list as CSV (RFC 4180, header row): several establishments are separated by "; " in their two columns. */
export function professionalsCsv(report: Pick<ProfessionalsReport, 'professionals'>): string {
  return stringify(
    [
      [...PROFESSIONALS_COLUMNS],
      ...report.professionals.map((p) => [
        p.rpps,
        p.name,
        p.role,
        p.establishments.map((e) => e.finess).join('; '),
        p.establishments.map((e) => e.name).join('; '),
        String(p.pppAnswered),
        p.firstUse,
        p.lastUse,
      ]),
    ],
    { record_delimiter: 'windows', quoted_match: /[\r\n]/ },
  );
}

export const professionalsFileName = (period: { from: string; to: string }): string => `professionnels-${period.from}-${period.to}.csv`;
