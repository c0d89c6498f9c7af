// The reports' queries (issue 20, docs/reports.md): SQL aggregates over the report rows the pathway keeps in its own
// transactions (migration 013 / pg 012, written by pathway-repository.ts). The same statements on SQLite and
// PostgreSQL (`?` placeholders bound per dialect by the SqlRunner); counts come back as numbers whatever the driver.
// Days are `YYYY-MM-DD` text, compared as text (inclusive bounds).
import type { RawActivity } from '../domain/reports/activity.js';
import type { Participation } from '../domain/reports/billing.js';
import type { SqlRunner } from './security-repository.js';

export interface ReportPeriod {
  /** First day, inclusive (YYYY-MM-DD). */
  from: string;
  /** Last day, inclusive (YYYY-MM-DD). */
  to: string;
  /** One establishment (FINESS), or all. */
  finess?: string;
}

/** One establishment's counts over the PPPs created in the period. */
export type EstablishmentCounts = RawActivity['establishments'][number];

/**
 * The raw counts (the domain's RawActivity, src/domain/reports/activity.ts): per establishment, distinct patients over
 * all the PPPs of the period, PPPs per month and establishment, decisions by actor and code, the follow-up windows due
 * by `dueBy` and those whose outcomes are recorded, the distinct professionals who used a link in the period.
 */
export type ActivityCounts = RawActivity;

/** A billable participation (the domain's Participation): a PPP with an RCP in the period and a member who took part. */
export interface BillingRow extends Participation {
  carePlan: string;
  /** The PHO's pharmacy as the PPP names it. */
  pharmacyFiness?: string;
}

export interface ProfessionalRow {
  rpps: string;
  role: 'MT' | 'PHO';
  name: string;
  /** Establishments (FINESS) of the PPPs whose links they used in the period. */
  establishments: string[];
  /** PPPs on which they recorded a decision or a follow-up prescription answer in the period. */
  pppAnswered: number;
  firstUse: string;
  lastUse: string;
}

export interface ReportRepository {
  activity(period: ReportPeriod, dueBy: string): Promise<ActivityCounts>;
  /** Ordered by establishment, RCP day, PPP id, then DAH, MT, PHO. */
  billing(period: ReportPeriod): Promise<BillingRow[]>;
  professionals(period: ReportPeriod & { role?: 'MT' | 'PHO' }): Promise<ProfessionalRow[]>;
  /** Whether any PPP was ever recorded for this establishment. */
  establishmentKnown(finess: string): Promise<boolean>;
  /** The case ids whose report rows can be rebuilt (`passerelle report rebuild`), in pages; `withoutRows`: only those with none. */
  caseIds(after: string | undefined, limit: number, options?: { withoutRows?: boolean }): Promise<string[]>;
}

const n = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

/** `AND p.finess = ?` when the period names an establishment. */
function scope(period: ReportPeriod, column = 'p.finess'): { sql: string; params: unknown[] } {
  return period.finess !== undefined ? { sql: ` AND ${column} = ?`, params: [period.finess] } : { sql: '', params: [] };
}

export function reportRepository(read: SqlRunner): ReportRepository {
  return {
    async activity(period, dueBy) {
      const s = scope(period);
      const inPeriod = `p.created_day >= ? AND p.created_day <= ?${s.sql}`;
      const params = [period.from, period.to, ...s.params];
      const rows = await read.all<Record<string, unknown>>(
        `SELECT p.finess AS finess, MAX(p.establishment_name) AS name, COUNT(*) AS ppp,
                SUM(CASE WHEN p.rcp_mode IS NOT NULL THEN 1 ELSE 0 END) AS with_rcp,
                SUM(CASE WHEN p.rcp_mode = 'sync' THEN 1 ELSE 0 END) AS sync,
                SUM(CASE WHEN p.rcp_mode = 'async' THEN 1 ELSE 0 END) AS async,
                SUM(CASE WHEN p.entry_door = 'hopital' THEN 1 ELSE 0 END) AS hopital,
                SUM(CASE WHEN p.entry_door = 'ville' THEN 1 ELSE 0 END) AS ville,
                SUM(p.recommendations) AS recommendations, COUNT(DISTINCT p.patient) AS patients
           FROM report_ppp p WHERE ${inPeriod} GROUP BY p.finess ORDER BY p.finess`,
        params,
      );
      const [patients] = await read.all<Record<string, unknown>>(`SELECT COUNT(DISTINCT p.patient) AS patients FROM report_ppp p WHERE ${inPeriod}`, params);
      const months = await read.all<Record<string, unknown>>(
        `SELECT SUBSTR(p.created_day, 1, 7) AS month, p.finess AS finess, COUNT(*) AS ppp FROM report_ppp p WHERE ${inPeriod}
          GROUP BY SUBSTR(p.created_day, 1, 7), p.finess ORDER BY month, finess`,
        params,
      );
      // The decision rows carry their PPP's day and establishment: counted over their own index, without a join.
      const ds = scope(period, 'd.finess');
      const decisions = await read.all<Record<string, unknown>>(
        `SELECT d.actor AS actor, d.decision AS decision, COUNT(*) AS count FROM report_decision d
          WHERE d.created_day >= ? AND d.created_day <= ?${ds.sql} GROUP BY d.actor, d.decision ORDER BY actor, decision`,
        [period.from, period.to, ...ds.params],
      );
      const fs = scope(period, 'f.finess');
      const followUp = await read.all<Record<string, unknown>>(
        `SELECT f.followup AS followup, COUNT(*) AS due, SUM(CASE WHEN f.done_at IS NOT NULL THEN 1 ELSE 0 END) AS done
           FROM report_followup f
          WHERE f.created_day >= ? AND f.created_day <= ?${fs.sql} AND f.due_at <= ? GROUP BY f.followup ORDER BY followup`,
        [period.from, period.to, ...fs.params, dueBy],
      );
      const active = await read.all<Record<string, unknown>>(
        `SELECT u.role AS role, COUNT(DISTINCT u.rpps) AS count FROM report_link_use u
           ${period.finess !== undefined ? 'JOIN report_ppp p ON p.careplan = u.careplan' : ''}
          WHERE u.day >= ? AND u.day <= ?${s.sql} GROUP BY u.role ORDER BY role`,
        [period.from, period.to, ...s.params],
      );
      return {
        establishments: rows.map((r) => ({
          finess: String(r.finess),
          name: String(r.name),
          ppp: n(r.ppp),
          pppWithRcp: n(r.with_rcp),
          rcpSync: n(r.sync),
          rcpAsync: n(r.async),
          hopital: n(r.hopital),
          ville: n(r.ville),
          recommendations: n(r.recommendations),
          patients: n(r.patients),
        })),
        patients: n(patients?.patients),
        months: months.map((r) => ({ month: String(r.month), finess: String(r.finess), ppp: n(r.ppp) })),
        decisions: decisions.map((r) => ({ actor: r.actor as 'MT' | 'PHO', decision: String(r.decision), count: n(r.count) })),
        followUp: followUp.map((r) => ({ followup: r.followup as 'd45' | 'd90', due: n(r.due), done: n(r.done) })),
        activeProfessionals: active.map((r) => ({ role: r.role as 'MT' | 'PHO', count: n(r.count) })),
      };
    },

    async billing(period) {
      const s = scope(period);
      const rows = await read.all<Record<string, unknown>>(
        `SELECT p.careplan AS careplan, p.ppp_id AS ppp_id, p.pathway AS pathway, p.finess AS finess, p.establishment_name AS establishment_name,
                p.patient AS patient, p.rcp_day AS rcp_day, p.rcp_mode AS rcp_mode, m.role AS role, m.rpps AS rpps, m.name AS name,
                m.pharmacy_finess AS pharmacy_finess
           FROM report_ppp p JOIN report_member m ON m.careplan = p.careplan
          WHERE p.rcp_day >= ? AND p.rcp_day <= ? AND p.rcp_mode IS NOT NULL AND m.took_part = 1${s.sql}
          ORDER BY p.finess, p.rcp_day, p.ppp_id, p.careplan, CASE m.role WHEN 'DAH' THEN 0 WHEN 'MT' THEN 1 ELSE 2 END, m.rpps`,
        [period.from, period.to, ...s.params],
      );
      return rows.map((r) => ({
        carePlan: String(r.careplan),
        pppId: String(r.ppp_id),
        pathway: String(r.pathway),
        finess: String(r.finess),
        establishmentName: String(r.establishment_name),
        patient: String(r.patient),
        rcpDay: String(r.rcp_day),
        rcpMode: r.rcp_mode as 'sync' | 'async',
        role: r.role as 'DAH' | 'MT' | 'PHO',
        rpps: String(r.rpps),
        name: String(r.name),
        ...(r.pharmacy_finess !== null && r.pharmacy_finess !== undefined ? { pharmacyFiness: String(r.pharmacy_finess) } : {}),
      }));
    },

    async professionals(period) {
      const s = scope(period);
      const role = period.role !== undefined ? { sql: ' AND u.role = ?', params: [period.role] } : { sql: '', params: [] };
      const uses = await read.all<Record<string, unknown>>(
        `SELECT u.rpps AS rpps, u.role AS role, p.finess AS finess, MIN(u.day) AS first_use, MAX(u.day) AS last_use
           FROM report_link_use u JOIN report_ppp p ON p.careplan = u.careplan
          WHERE u.day >= ? AND u.day <= ?${s.sql}${role.sql}
          GROUP BY u.rpps, u.role, p.finess ORDER BY rpps, role, finess`,
        [period.from, period.to, ...s.params, ...role.params],
      );
      if (uses.length === 0) return [];
      // Answers in the period: decisions recorded on the PPPs' validation Tasks, and the PHO's follow-up prescriptions.
      const answered = await read.all<Record<string, unknown>>(
        `SELECT a.rpps AS rpps, a.role AS role, COUNT(DISTINCT a.careplan) AS ppp FROM (
           SELECT m.rpps AS rpps, m.role AS role, d.careplan AS careplan FROM report_decision d
             JOIN report_member m ON m.careplan = d.careplan AND m.role = d.actor
             JOIN report_ppp p ON p.careplan = d.careplan
            WHERE d.decision <> 'pending' AND SUBSTR(d.decided_at, 1, 10) >= ? AND SUBSTR(d.decided_at, 1, 10) <= ?${s.sql}
           UNION
           SELECT w.rpps AS rpps, 'PHO' AS role, w.careplan AS careplan FROM pathway_upload w
             JOIN report_ppp p ON p.careplan = w.careplan
            WHERE SUBSTR(w.received, 1, 10) >= ? AND SUBSTR(w.received, 1, 10) <= ?${s.sql}
         ) a GROUP BY a.rpps, a.role`,
        [period.from, period.to, ...s.params, period.from, period.to, ...s.params],
      );
      const names = await read.all<Record<string, unknown>>(
        `SELECT m.rpps AS rpps, m.role AS role, MAX(m.name) AS name FROM report_member m
          WHERE m.role IN ('MT', 'PHO') AND m.rpps IN (${[...new Set(uses.map((u) => String(u.rpps)))].map(() => '?').join(', ')})
          GROUP BY m.rpps, m.role`,
        [...new Set(uses.map((u) => String(u.rpps)))],
      );
      const key = (r: Record<string, unknown>): string => `${String(r.rpps)}|${String(r.role)}`;
      const answers = new Map(answered.map((r) => [key(r), n(r.ppp)]));
      const nameOf = new Map(names.map((r) => [key(r), String(r.name)]));
      const out = new Map<string, ProfessionalRow>();
      for (const u of uses) {
        const k = key(u);
        const row = out.get(k);
        if (row) {
          row.establishments.push(String(u.finess));
          if (String(u.first_use) < row.firstUse) row.firstUse = String(u.first_use);
          if (String(u.last_use) > row.lastUse) row.lastUse = String(u.last_use);
        } else {
          out.set(k, {
            rpps: String(u.rpps),
            role: u.role as 'MT' | 'PHO',
            name: nameOf.get(k) ?? '',
            establishments: [String(u.finess)],
            pppAnswered: answers.get(k) ?? 0,
            firstUse: String(u.first_use),
            lastUse: String(u.last_use),
          });
        }
      }
      return [...out.values()];
    },

    async establishmentKnown(finess) {
      return (await read.all('SELECT 1 AS one FROM report_ppp WHERE finess = ? LIMIT 1', [finess])).length > 0;
    },

    async caseIds(after, limit, options = {}) {
      const where = [
        ...(after !== undefined ? ['c.careplan > ?'] : []),
        ...(options.withoutRows ? ['NOT EXISTS (SELECT 1 FROM report_ppp p WHERE p.careplan = c.careplan)'] : []),
      ];
      const rows = await read.all<{ careplan: string }>(
        `SELECT c.careplan AS careplan FROM pathway_case c${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY c.careplan LIMIT ?`,
        after !== undefined ? [after, limit] : [limit],
      );
      return rows.map((r) => r.careplan);
    },
  };
}
