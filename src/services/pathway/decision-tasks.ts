// The MT's and the PHO's decisions on a PPP's recommendations as the store holds them: the `reco-validation` Tasks the
// mapping made (map-common.ts `mapValidationTasks`: one per recommendation and actor, whose id is derived from the
// PPP's FINESS, its id, the recommendation's id and the actor), read back by those ids. Shared by the send (how many
// decisions are pending: the pathway step) and the regeneration (the decisions merged into the document).
import type { Task } from '@medplum/fhirtypes';
import { PPP_DECISIONS } from '../../domain/codes.js';
import type { Ppp } from '../../domain/ppp.js';
import type { Decision, DecisionActor } from '../../domain/review.js';
import { CS } from '../../fhir/canonical.js';
import type { StoreTransaction } from '../../store/repository.js';
import { OPEN_STATUSES } from '../task-decision.js';
import { decisionTaskId } from './decision-set.js';

const ACTORS: readonly DecisionActor[] = ['MT', 'PHO'];
const DECISION_CODES: ReadonlySet<string> = new Set(PPP_DECISIONS.map((d) => d.code));


export interface DecisionTask {
  recommendationId: string;
  actor: DecisionActor;
  task: Task;
}

/** The validation Tasks of the PPP's recommendations that exist in the store and are based on its CarePlan. */
export async function decisionTasks(tx: Pick<StoreTransaction, 'read'>, carePlanId: string, ppp: Pick<Ppp, 'id' | 'establishment' | 'recommendations'>): Promise<DecisionTask[]> {
  const out: DecisionTask[] = [];
  for (const r of ppp.recommendations) {
    for (const actor of ACTORS) {
      const task = await tx.read<Task>('Task', decisionTaskId(ppp, r.id, actor));
      if (!task || !(task.basedOn ?? []).some((b) => b.reference === `CarePlan/${carePlanId}`)) continue;
      out.push({ recommendationId: r.id, actor, task });
    }
  }
  return out;
}

/** Tasks still waiting for their owner's answer. */
export const pendingCount = (tasks: readonly DecisionTask[]): number => tasks.filter((t) => OPEN_STATUSES.has(t.task.status)).length;

/**
 * The decision a completed Task records, in the document's terms: its `ppp-decision` code, `lastModified` as the date
 * and the `motif` output as the reason. A declined (rejected) or open Task records none.
 */
export function recordedDecision(t: DecisionTask): Decision | undefined {
  if (t.task.status !== 'completed') return undefined;
  const fromOutput = (t.task.output ?? []).flatMap((o) => o.valueCodeableConcept?.coding ?? []).find((c) => c.system === CS.pppDecision)?.code;
  const code = fromOutput ?? (t.task.businessStatus?.coding ?? []).find((c) => c.system === CS.pppDecision)?.code;
  const date = t.task.lastModified ?? t.task.authoredOn;
  if (!code || !DECISION_CODES.has(code) || !date) return undefined;
  const reason = (t.task.output ?? []).find((o) => o.type?.text === 'motif' && typeof o.valueString === 'string')?.valueString?.trim();
  return { actor: t.actor, decision: code as Decision['decision'], date, ...(reason ? { reason } : {}) };
}
