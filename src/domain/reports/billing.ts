// The billing extraction's lines and summary (issue 20 point 1, docs/reports.md "Billing extraction", "Tariffs"),
// pure: one line per billable participation (a PPP's RCP in the period and a member who took part, as the store
// selects them), its amount from the tariff of the RCP's year, the PHO's pharmacy as the service resolved it, the
// patient as a pseudonym. A year without tariff leaves its lines' amount empty and is named in the summary; a PHO line
// whose pharmacy was not found keeps empty pharmacy columns and is counted.
import type { ReportRole } from './facts.js';

/** Fees of one year, in euros per role. */
export type Tariff = Record<ReportRole, number>;
/** Fees per RCP year (`YYYY`), as configured (`reports.tariffs`). */
export type Tariffs = Readonly<Record<string, Tariff>>;

/** The columns of the billing file, in their order (CSV header, JSON `columns`). */
export const BILLING_COLUMNS = [
  'ppp_id',
  'pathway',
  'establishment_finess',
  'establishment_name',
  'patient_pseudonym',
  'rcp_date',
  'rcp_mode',
  'role',
  'rpps',
  'professional_name',
  'pharmacy_finess',
  'pharmacy_name',
  'amount_eur',
  'tariff_year',
] as const;
export type BillingColumn = (typeof BILLING_COLUMNS)[number];

/** A billable participation as the store selects it (`store.reports.billing`). */
export interface Participation {
  pppId: string;
  pathway: string;
  finess: string;
  establishmentName: string;
  /** Federated patient id: only its pseudonym leaves. */
  patient: string;
  /** The RCP's day, YYYY-MM-DD. */
  rcpDay: string;
  rcpMode: 'sync' | 'async';
  role: ReportRole;
  rpps: string;
  name: string;
}

/** The pharmacy of a PHO line: its FINESS, and its name when the directory knows it. */
export interface Pharmacy {
  finess: string;
  name: string | null;
}

export interface BillingLine {
  ppp_id: string;
  pathway: string;
  establishment_finess: string;
  establishment_name: string;
  patient_pseudonym: string;
  rcp_date: string;
  rcp_mode: 'sync' | 'async';
  role: ReportRole;
  rpps: string;
  professional_name: string;
  pharmacy_finess: string | null;
  pharmacy_name: string | null;
  amount_eur: number | null;
  tariff_year: number;
}

export interface BillingSummary {
  lines: number;
  byRole: Record<ReportRole, number>;
  /** Total of the lines that have an amount (euros, to the cent). */
  amountEur: number;
  /** PHO lines whose pharmacy could not be found (empty pharmacy columns). */
  phoWithoutPharmacy: number;
  /** RCP years of the lines that the tariff table lacks (their amount is empty), ascending. */
  yearsWithoutTariff: string[];
}

/** The tariff year of an RCP day, and its fee for `role` (null when the table lacks that year). */
export function tariffOf(tariffs: Tariffs, rcpDay: string, role: ReportRole): { year: number; amount: number | null } {
  const year = rcpDay.slice(0, 4);
  const tariff = Object.hasOwn(tariffs, year) ? tariffs[year] : undefined;
  return { year: Number(year), amount: tariff ? tariff[role] : null };
}

/**
 * The line of one participation: `pseudonym` is the patient's (patientPseudonym), `pharmacy` the PHO's pharmacy as
 * resolved (undefined for DAH and MT lines, null for a PHO whose pharmacy was not found).
 */
export function billingLine(p: Participation, tariffs: Tariffs, pseudonym: string, pharmacy: Pharmacy | null | undefined): BillingLine {
  const { year, amount } = tariffOf(tariffs, p.rcpDay, p.role);
  const ph = p.role === 'PHO' ? (pharmacy ?? null) : null;
  return {
    ppp_id: p.pppId,
    pathway: p.pathway,
    establishment_finess: p.finess,
    establishment_name: p.establishmentName,
    patient_pseudonym: pseudonym,
    rcp_date: p.rcpDay,
    rcp_mode: p.rcpMode,
    role: p.role,
    rpps: p.rpps,
    professional_name: p.name,
    pharmacy_finess: ph ? ph.finess : null,
    pharmacy_name: ph ? ph.name : null,
    amount_eur: amount,
    tariff_year: year,
  };
}

/** The summary of the lines: counts per role, total amount, PHO lines without pharmacy, years without tariff. */
export function billingSummary(lines: readonly BillingLine[]): BillingSummary {
  const byRole: Record<ReportRole, number> = { DAH: 0, MT: 0, PHO: 0 };
  let cents = 0;
  let phoWithoutPharmacy = 0;
  const missing = new Set<string>();
  for (const l of lines) {
    byRole[l.role] += 1;
    // Summed in cents: no floating-point drift over thousands of lines.
    if (l.amount_eur !== null) cents += Math.round(l.amount_eur * 100);
    else missing.add(String(l.tariff_year));
    if (l.role === 'PHO' && l.pharmacy_finess === null) phoWithoutPharmacy += 1;
  }
  return { lines: lines.length, byRole, amountEur: cents / 100, phoWithoutPharmacy, yearsWithoutTariff: [...missing].sort() };
}

/** A line as the CSV file writes it, in column order: empty for null, amounts with a dot and two decimals. */
export function billingCsvRecord(l: BillingLine): string[] {
  return BILLING_COLUMNS.map((c) => {
    const v = l[c];
    if (v === null) return '';
    if (c === 'amount_eur') return (v as number).toFixed(2);
    return String(v);
  });
}
