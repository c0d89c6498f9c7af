// Who decides what on a PPP (pure): the MT decides every recommendation, the PHO of the team the drug changes (and a
// non-drug one the document says the PHO answered anyway). Used by the pathway's decision Tasks
// (src/services/pathway/decision-set.ts) and by the reports' decision rows (src/domain/reports/facts.ts).
import type { Ppp } from '../ppp.js';
import type { Recommendation } from '../review.js';
import type { LinkRole } from './link-token.js';

/** The care-team role of each deciding professional. */
export const TEAM_ROLE_OF: Readonly<Record<LinkRole, string>> = { MT: 'medecin-traitant', PHO: 'pharmacien-officine' };

/** Whether the team names a professional for the role (a PPP always names its MT). */
export function teamHas(ppp: Pick<Ppp, 'team'>, role: LinkRole): boolean {
  return ppp.team.some((m) => m.role === TEAM_ROLE_OF[role]);
}

/** The team member's RPPS for the role. */
export function teamRpps(ppp: Pick<Ppp, 'team'>, role: LinkRole): string | undefined {
  return ppp.team.find((m) => m.role === TEAM_ROLE_OF[role])?.practitioner.rpps;
}

/** The recommendations the role decides on, as the mapping creates their Tasks. */
export function recommendationsFor(ppp: Pick<Ppp, 'recommendations'>, role: LinkRole): Recommendation[] {
  if (role === 'MT') return ppp.recommendations;
  return ppp.recommendations.filter((r) => r.kind === 'medication' || r.decisions.some((d) => d.actor === 'PHO'));
}

/** The decisions that complete a PPP: the MT's on every recommendation, and the PHO's when the team has a PHO. */
export function expectedDecisions(ppp: Pick<Ppp, 'team' | 'recommendations'>): { recommendation: Recommendation; actor: LinkRole }[] {
  const actors: LinkRole[] = teamHas(ppp, 'PHO') ? ['MT', 'PHO'] : ['MT'];
  return actors.flatMap((actor) => recommendationsFor(ppp, actor).map((recommendation) => ({ recommendation, actor })));
}
