// The billing extraction (issue 20 point 1, docs/reports.md "Billing extraction"): the billable participations the
// store selects (an RCP whose day is in the period, a member who took part), each made a line with the patient's
// pseudonym, the tariff of the RCP's year and, for a PHO, the pharmacy — the one the PPP names (its name from the
// local MSSanté directory when the directory knows that FINESS), or else the FINESS structure the directory attaches
// the pharmacist's RPPS to, or else none (empty columns, counted in the summary). CSV (RFC 4180) or JSON.
import { stringify } from 'csv-stringify/sync';
import { BILLING_COLUMNS, billingCsvRecord, billingLine, billingSummary, type BillingLine, type BillingSummary, type Pharmacy, type Tariffs } from '../../domain/reports/billing.js';
import { patientPseudonym } from '../../domain/reports/pseudonym.js';
import type { BillingRow } from '../../store/report-repository.js';
import type { ResourceStore } from '../../store/repository.js';

export interface BillingQuery {
  from: string;
  to: string;
  /** One establishment (FINESS), or all. */
  finess?: string;
}

export interface BillingReport {
  period: { from: string; to: string };
  establishment?: string;
  columns: readonly string[];
  lines: BillingLine[];
  summary: BillingSummary;
}

export interface BillingOptions {
  tariffs: Tariffs;
  /** The pseudonym key (services/reports/pseudonym-key.ts). */
  pseudonymKey: string;
}

type Directory = Pick<ResourceStore, 'directory'>['directory'];

/** Finds the PHOs' pharmacies in the directory, each FINESS and RPPS looked up once per report. */
function pharmacyFinder(directory: Directory): (row: BillingRow) => Promise<Pharmacy | null> {
  const names = new Map<string, Promise<string | null>>();
  const byRpps = new Map<string, Promise<Pharmacy | null>>();
  const nameOf = (finess: string): Promise<string | null> => {
    let p = names.get(finess);
    if (!p) {
      p = directory.byFiness(finess).then((entries) => entries.find((e) => e.structureName)?.structureName ?? null);
      names.set(finess, p);
    }
    return p;
  };
  const structureOf = (rpps: string): Promise<Pharmacy | null> => {
    let p = byRpps.get(rpps);
    if (!p) {
      p = directory.byRpps(rpps).then(async (entries) => {
        // The first of the pharmacist's mailboxes (the directory file's order) attached to a FINESS structure.
        const e = entries.find((x) => x.structureIdKind === 'FINESS' && x.structureId);
        if (!e?.structureId) return null;
        return { finess: e.structureId, name: e.structureName ?? (await nameOf(e.structureId)) };
      });
      byRpps.set(rpps, p);
    }
    return p;
  };
  return async (row) => {
    if (row.role !== 'PHO') return null;
    if (row.pharmacyFiness !== undefined) return { finess: row.pharmacyFiness, name: await nameOf(row.pharmacyFiness) };
    return structureOf(row.rpps);
  };
}

/** The billing report of a period (already checked: services/reports/query.ts), for one establishment or all. */
export async function billingReport(store: Pick<ResourceStore, 'reports' | 'directory'>, query: BillingQuery, options: BillingOptions): Promise<BillingReport> {
  const rows = await store.reports.billing({ from: query.from, to: query.to, ...(query.finess !== undefined ? { finess: query.finess } : {}) });
  const pharmacy = pharmacyFinder(store.directory);
  const pseudonyms = new Map<string, string>();
  const lines: BillingLine[] = [];
  for (const row of rows) {
    let pseudonym = pseudonyms.get(row.patient);
    if (pseudonym === undefined) {
      pseudonym = patientPseudonym(row.patient, options.pseudonymKey);
      pseudonyms.set(row.patient, pseudonym);
    }
    lines.push(billingLine(row, options.tariffs, pseudonym, row.role === 'PHO' ? await pharmacy(row) : undefined));
  }
  return {
    period: { from: query.from, to: query.to },
    ...(query.finess !== undefined ? { establishment: query.finess } : {}),
    columns: BILLING_COLUMNS,
    lines,
    summary: billingSummary(lines),
  };
}

/**
 * The billing file as CSV: RFC 4180 (comma, CRLF, a field quoted when it holds a comma, a quote or a line break, its
 * quotes doubled), a header row with the columns in order, empty fields for null, amounts like 125.00.
 */
export function billingCsv(report: Pick<BillingReport, 'lines'>): string {
  return stringify([[...BILLING_COLUMNS], ...report.lines.map(billingCsvRecord)], { record_delimiter: 'windows', quoted_match: /[\r\n]/ });
}

/** The file name of a billing CSV (Content-Disposition, and the CLI's suggestion). */
export const billingFileName = (period: { from: string; to: string }): string => `facturation-${period.from}-${period.to}.csv`;
