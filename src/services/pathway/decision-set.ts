// The set of a PPP's decisions (issue 18 point 5): which validation Tasks the MT and the PHO of the team decide, when
// a PPP is closed (its decisions read-only), and what follows a decision whatever its door (the decision page or a
// FHIR Task update): once every expected Task is decided, the document's regeneration is scheduled and the pathway
// step follows, in the decision's transaction. Imports no decision writer (task-decision.ts calls it).
import type { CarePlan, Task } from '@medplum/fhirtypes';
import { expectedDecisions, recommendationsFor, teamHas, teamRpps } from '../../domain/pathway/decision-set.js';
import type { LinkRole } from '../../domain/pathway/link-token.js';
import { pathwayStep, type FollowUpWindowCode } from '../../domain/pathway/step.js';
import type { Ppp } from '../../domain/ppp.js';
import { idFor } from '../../fhir/ids.js';
import type { PathwayCase } from '../../store/pathway-repository.js';
import type { StoreTransaction } from '../../store/repository.js';
import { followupOutcomesOf, pathwayStatusOf, setPathwayStatus } from './careplan-state.js';

const DECIDED: ReadonlySet<string> = new Set(['completed', 'rejected']);

/** A recommendation's validation Task id (the mapping's, src/fhir/map-common.ts `mapValidationTasks`). */
export function decisionTaskId(ppp: Pick<Ppp, 'id' | 'establishment'>, recommendation: string, actor: LinkRole): string {
  return idFor('Task', ppp.establishment.finess, 'ppp', ppp.id, 'reco-validation', recommendation, actor);
}

export { recommendationsFor, teamHas, teamRpps };

/** A PPP is closed once its case is closed or its CarePlan completed or revoked: decisions are then read-only. */
export function pppClosed(c: Pick<PathwayCase, 'closedAt'> | undefined, carePlan: CarePlan | undefined): boolean {
  return Boolean(c?.closedAt) || carePlan?.status === 'completed' || carePlan?.status === 'revoked' || carePlan?.status === 'entered-in-error';
}

/** The validation Tasks whose decisions complete a PPP: the MT's, and the PHO's when the team has a PHO. */
export function expectedDecisionTasks(ppp: Ppp): { recommendation: string; actor: LinkRole; id: string }[] {
  return expectedDecisions(ppp).map(({ recommendation: r, actor }) => ({ recommendation: r.id, actor, id: decisionTaskId(ppp, r.id, actor) }));
}

/**
 * After decisions on a PPP's Tasks, in their transaction: when every expected Task is decided (completed, or
 * rejected: its owner declined), the regeneration of the document is scheduled now (reopened if it was done: a
 * changed decision regenerates it again), and the pathway step follows. Nothing for a Task outside the pathway.
 */
export async function afterPppDecisions(tx: StoreTransaction, carePlanId: string, now: Date): Promise<{ complete: boolean; pending: number } | undefined> {
  const c = await tx.pathway.getCase(carePlanId);
  if (!c) return undefined;
  const ppp = c.document as Ppp;
  let pending = 0;
  for (const t of expectedDecisionTasks(ppp)) {
    const task = await tx.read<Task>('Task', t.id);
    if (!task || !DECIDED.has(task.status)) pending++;
  }
  if (pending === 0) await tx.pathway.schedule(carePlanId, 'document', now.toISOString(), { reopen: true });
  const carePlan = await tx.read<CarePlan>('CarePlan', carePlanId);
  if (carePlan) {
    const current = pathwayStatusOf(carePlan);
    const sentAt = c.sentAt ?? current?.sentAt;
    const closedAt = c.closedAt ?? current?.closedAt;
    const activities = (carePlan.activity ?? []).map((a) => a.reference?.reference).filter((r): r is string => Boolean(r));
    const outcomes = followupOutcomesOf(carePlan);
    const followUpDone = (['d45', 'd90'] as FollowUpWindowCode[]).filter((w) =>
      activities.every((ref) => outcomes.some((o) => o.window === w && o.recommendation === ref && o.outcome !== undefined)),
    );
    const step = pathwayStep({ ...(sentAt ? { sentAt } : {}), ...(closedAt ? { closedAt } : {}), pendingDecisions: pending, followUpDone });
    // Before the send the step stays the RCP and is not written.
    if ((current || sentAt) && current?.step !== step) {
      await setPathwayStatus(tx, carePlanId, { ...(current ?? {}), step, ...(sentAt ? { sentAt } : {}), ...(closedAt ? { closedAt } : {}) });
    }
  }
  return { complete: pending === 0, pending };
}

