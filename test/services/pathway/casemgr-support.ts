// States of the pathway for the case manager's tests (overview, outcomes, page), built as the other parts would:
// a PPP submitted (fixtures of test/fixtures/ppp), sent (`markSent` + the step), decided (`decideTask`), an upload.
import { readFileSync } from 'node:fs';
import type { CarePlan, Task } from '@medplum/fhirtypes';
import { CS } from '../../../src/fhir/canonical.js';
import { setPathwayStatus } from '../../../src/services/pathway/careplan-state.js';
import { activityReferences, pppResourceId } from '../../../src/services/pathway/overview.js';
import { submitDocument } from '../../../src/services/submission.js';
import { decideTask } from '../../../src/services/task-decision.js';
import type { ResourceStore } from '../../../src/store/repository.js';

export const DAY = 86_400_000;
type Doc = Record<string, unknown> & { id: string; recommendations: { id: string; decisions?: unknown[] }[] };

export function pppFixture(name = 'ppp-12-medicines'): Doc {
  return JSON.parse(readFileSync(`test/fixtures/ppp/${name}.json`, 'utf8')) as Doc;
}

export interface Submitted {
  carePlan: string;
  finess: string;
  pppId: string;
  /** The CarePlan activity references (recommendations), in order. */
  recommendations: string[];
}

/**
 * Submits a copy of a fixture under `id`, without its send date and (with `undecided`) without decisions; then, with
 * `sentAt`, marks it sent and sets its step.
 */
export async function submitPpp(store: ResourceStore, id: string, options: { fixture?: string; sentAt?: Date; now?: Date; undecided?: boolean; patient?: Record<string, unknown> } = {}): Promise<Submitted> {
  const doc = pppFixture(options.fixture);
  // Sent: the document carries its send date (the follow-up Tasks are mapped from it), as after the pathway's send.
  if (options.sentAt) doc.sentAt = options.sentAt.toISOString();
  else delete doc.sentAt;
  doc.id = id;
  if (options.undecided) for (const r of doc.recommendations) r.decisions = [];
  if (options.patient) doc.patient = { ...(doc.patient as object), ...options.patient };
  const now = (options.now ?? new Date()).toISOString();
  const bundle = await submitDocument(store, 'ppp', doc, { now, actor: 'client:dpi', fhirBase: 'http://test/fhir' });
  const entry = (bundle.entry ?? []).find((e) => e.resource?.resourceType === 'CarePlan');
  const carePlan = entry?.resource?.id as string;
  if (options.sentAt) await markSent(store, carePlan, options.sentAt);
  const cp = await store.read<CarePlan>('CarePlan', carePlan);
  const c = await store.pathway.getCase(carePlan);
  return { carePlan, finess: c!.finess, pppId: c!.pppId, recommendations: activityReferences(cp) };
}

export async function markSent(store: ResourceStore, carePlan: string, at: Date): Promise<void> {
  await store.pathway.markSent(carePlan, at.toISOString());
  await store.transaction((tx) => setPathwayStatus(tx, carePlan, { step: 'attente-decisions', sentAt: at.toISOString() }));
}

/** The MT's or the PHO's decision on one recommendation (by its id in the document), through `decideTask`. */
export async function decide(store: ResourceStore, s: Submitted, recommendationId: string, actor: 'MT' | 'PHO', decision = 'retenu'): Promise<void> {
  const id = pppResourceId(s, 'Task', 'reco-validation', recommendationId, actor);
  await store.transaction(async (tx) => {
    const task = await tx.read<Task>('Task', id);
    if (!task) throw new Error(`no Task ${id}`);
    const next: Task = {
      ...task,
      status: 'completed',
      output: [{ type: { text: 'decision' }, valueCodeableConcept: { coding: [{ system: CS.pppDecision, code: decision }] } }],
    };
    await decideTask(tx, task, next, { actor: `test:${actor}`, now: new Date().toISOString() });
  });
}
