// The PPP document follows the decisions (issue 18 point 5; docs/pathway.md "The document follows the decisions"). Run
// by the scheduler for the due items `document` (scheduled when the last decision arrives) and `decision-deadline`
// (the deadline after the send): the decisions recorded on the PPP's validation Tasks are merged into its canonical
// document, which is submitted again — a new CarePlan version, hence a new document version that replaces (RPLC) the
// DMP copy for a qualified identity, with the routes configured. Nothing new to merge: nothing is written.
import type { CarePlan } from '@medplum/fhirtypes';
import { pathwayStep } from '../../domain/pathway/step.js';
import type { Ppp } from '../../domain/ppp.js';
import type { Decision } from '../../domain/review.js';
import { notFound } from '../../fhir/outcome.js';
import type { ResourceStore } from '../../store/repository.js';
import { prepareSubmission, storeSubmissionIn } from '../submission.js';
import { pathwayStatusOf, setPathwayStatus } from './careplan-state.js';
import type { PathwayContext } from './context.js';
import { decisionTasks, pendingCount, recordedDecision } from './decision-tasks.js';
import { followUpDone } from './send.js';

export interface RegenerateResult {
  /** False when the document already held every recorded decision (nothing written). */
  changed: boolean;
  /** Decisions taken from the Tasks into the document. */
  merged: number;
  /** The CarePlan's version after the regeneration. */
  versionId?: string;
}

const sameDecision = (a: Decision, b: Decision): boolean =>
  a.actor === b.actor && a.decision === b.decision && Date.parse(a.date) === Date.parse(b.date) && (a.reason ?? '') === (b.reason ?? '');

/** The document with the Tasks' decisions in its recommendations, and how many changed. */
export function mergeDecisions(ppp: Ppp, decisions: readonly { recommendationId: string; decision: Decision }[]): { document: Ppp; merged: number } {
  let merged = 0;
  const recommendations = ppp.recommendations.map((r) => {
    let list = r.decisions;
    for (const d of decisions.filter((x) => x.recommendationId === r.id)) {
      const current = list.find((x) => x.actor === d.decision.actor);
      if (current && sameDecision(current, d.decision)) continue;
      list = [...list.filter((x) => x.actor !== d.decision.actor), d.decision].sort((a, b) => (a.actor < b.actor ? -1 : a.actor > b.actor ? 1 : 0));
      merged++;
    }
    return list === r.decisions ? r : { ...r, decisions: list };
  });
  return { document: merged > 0 ? ({ ...ppp, recommendations } as Ppp) : ppp, merged };
}

/**
 * Merges the decisions recorded on the PPP's validation Tasks into its canonical document and submits it again: a new
 * CarePlan version, hence a new document version replacing (RPLC) the DMP copy for a qualified identity.
 */
export async function regenerateDocument(store: ResourceStore, carePlan: string, ctx: PathwayContext): Promise<RegenerateResult> {
  const at = ctx.now.toISOString();
  return store.transaction(async (tx) => {
    const found = await tx.pathway.getCase(carePlan);
    const stored = found ? await tx.read<CarePlan>('CarePlan', carePlan) : undefined;
    if (!found || !stored) throw notFound(`CarePlan/${carePlan} is not a PPP known to Passerelle`);
    const ppp = found.document as Ppp;
    const tasks = await decisionTasks(tx, carePlan, ppp);
    const decisions = tasks.flatMap((t) => {
      const d = recordedDecision(t);
      return d ? [{ recommendationId: t.recommendationId, decision: d }] : [];
    });
    const { document, merged } = mergeDecisions(ppp, decisions);
    if (merged === 0) return { changed: false, merged: 0, ...(stored.meta?.versionId ? { versionId: stored.meta.versionId } : {}) };

    await tx.pathway.updateDocument(carePlan, document, at);
    // The pathway status first (the submission carries it over): its step after these decisions and the regeneration's
    // time, so the CarePlan gets a new version — the decisions live on the Tasks, and the document's version is the
    // CarePlan's.
    const status = pathwayStatusOf(stored);
    const sentAt = found.sentAt ?? document.sentAt ?? status?.sentAt;
    const step = pathwayStep({
      ...(sentAt ? { sentAt } : {}),
      pendingDecisions: pendingCount(tasks),
      ...(found.closedAt ? { closedAt: found.closedAt } : {}),
      followUpDone: followUpDone(stored),
    });
    await setPathwayStatus(tx, carePlan, { ...(status ?? {}), step, ...(sentAt ? { sentAt } : {}), documentUpdated: at });
    const prepared = prepareSubmission('ppp', document, at);
    await storeSubmissionIn(tx, store, prepared, {
      now: at,
      actor: ctx.actor,
      ...(ctx.requestId ? { requestId: ctx.requestId } : {}),
      fhirBase: ctx.fhirBase,
      outbox: ctx.config.outbox,
      documents: ctx.config.documents,
      ...(ctx.config.mssante ? { mssante: ctx.config.mssante } : {}),
    });
    const after = await tx.read<CarePlan>('CarePlan', carePlan);
    await tx.audit({
      action: 'ppp.regenerate',
      actor: ctx.actor,
      entities: [`CarePlan/${carePlan}`],
      outcome: 'success',
      detail: `${merged} decision(s) merged into the document; CarePlan version ${after?.meta?.versionId ?? '?'}`,
      ...(ctx.requestId ? { requestId: ctx.requestId } : {}),
    });
    return { changed: true, merged, ...(after?.meta?.versionId ? { versionId: after.meta.versionId } : {}) };
  });
}
