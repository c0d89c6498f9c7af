// What the reports count about one PPP (issue 20, docs/reports.md "Counting rules"), derived from its canonical
// document — pure. The store keeps these rows (`report_ppp`, `report_member`, `report_decision`) in the same
// transaction as the PPP's case (src/store/pathway-repository.ts), so the reports are SQL aggregates over them.
import { expectedDecisions, TEAM_ROLE_OF } from '../pathway/decision-set.js';
import type { LinkRole } from '../pathway/link-token.js';
import type { Ppp } from '../ppp.js';

/** Who is paid for a PPP: the dispositif d'appui (DAH: the PPP's author), the MT and the PHO. */
export type ReportRole = 'DAH' | 'MT' | 'PHO';
export const REPORT_ROLES: readonly ReportRole[] = ['DAH', 'MT', 'PHO'];

/** A decision as the reports count it: `declined` is a validation Task the professional rejected without deciding. */
export type DecisionState = 'pending' | 'retenu' | 'non-retenu' | 'retenu-modifie' | 'declined';

export interface PppReportRow {
  carePlan: string;
  pppId: string;
  pathway: string;
  finess: string;
  establishmentName: string;
  /** Federated Patient id (the billing pseudonym is a keyed hash of it). */
  patient: string;
  /** The PPP's creation day as written in the document (`created`, its own offset): what the period filters on. */
  createdDay: string;
  entryDoor: string;
  rcpMode?: 'sync' | 'async';
  /** The RCP's day (meeting, or opening of the asynchronous exchanges), in its own offset: chooses the tariff year. */
  rcpDay?: string;
  recommendations: number;
}

export interface MemberRow {
  role: ReportRole;
  rpps: string;
  /** "Given FAMILY" as the document names them. */
  name: string;
  /** Took part in the RCP (billable): see `tookPart`. */
  tookPart: boolean;
  /** The PHO's pharmacy as the PPP names it (`practitioner.organizationFiness`). */
  pharmacyFiness?: string;
}

export interface DecisionRow {
  recommendation: string;
  actor: LinkRole;
  decision: DecisionState;
}

export interface PppFacts {
  ppp: PppReportRow;
  members: MemberRow[];
  decisions: DecisionRow[];
}

const nameOf = (p: { family: string; given?: string | undefined }): string => (p.given ? `${p.given} ${p.family}` : p.family);

/**
 * Whether a team member took part in the RCP: with no RCP, nobody; at a synchronous RCP (a meeting of the team: the
 * Encounter lists the team's roles) every MT and PHO of the team; at an asynchronous RCP, an MT or a PHO who wrote at
 * least one message of the exchanges (`rcp.messages[].fromRpps`). The DAH (the PPP's author) takes part in any RCP.
 */
export function tookPart(ppp: Pick<Ppp, 'rcp'>, role: ReportRole, rpps: string): boolean {
  if (!ppp.rcp) return false;
  if (role === 'DAH' || ppp.rcp.mode === 'sync') return true;
  return ppp.rcp.messages.some((m) => m.fromRpps === rpps);
}

/** The report rows of a PPP stored as case `carePlan` for federated patient `patient`. */
export function pppFacts(ppp: Ppp, ids: { carePlan: string; patient: string }): PppFacts {
  const row: PppReportRow = {
    carePlan: ids.carePlan,
    pppId: ppp.id,
    pathway: ppp.pathway,
    finess: ppp.establishment.finess,
    establishmentName: ppp.establishment.name,
    patient: ids.patient,
    createdDay: ppp.created.slice(0, 10),
    entryDoor: ppp.entryDoor,
    recommendations: ppp.recommendations.length,
    ...(ppp.rcp ? { rcpMode: ppp.rcp.mode, rcpDay: ppp.rcp.date.slice(0, 10) } : {}),
  };
  const members: MemberRow[] = [{ role: 'DAH', rpps: ppp.author.rpps, name: nameOf(ppp.author), tookPart: tookPart(ppp, 'DAH', ppp.author.rpps) }];
  const seen = new Set<string>();
  for (const role of ['MT', 'PHO'] as const) {
    for (const m of ppp.team) {
      if (m.role !== TEAM_ROLE_OF[role] || seen.has(`${role}|${m.practitioner.rpps}`)) continue;
      seen.add(`${role}|${m.practitioner.rpps}`);
      const p = m.practitioner;
      members.push({
        role,
        rpps: p.rpps,
        name: nameOf(p),
        tookPart: tookPart(ppp, role, p.rpps),
        ...(role === 'PHO' && p.organizationFiness ? { pharmacyFiness: p.organizationFiness } : {}),
      });
    }
  }
  const decisions: DecisionRow[] = expectedDecisions(ppp).map(({ recommendation, actor }) => ({
    recommendation: recommendation.id,
    actor,
    decision: recommendation.decisions.find((d) => d.actor === actor)?.decision ?? 'pending',
  }));
  return { ppp: row, members, decisions };
}
