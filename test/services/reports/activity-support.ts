// The activity figures' test data, shared by the service, API, CLI and page tests: four PPPs created in April–June
// 2025 at three establishments (and one in March), undecided, then decided, declined, followed up and their links
// used as the pathway would — so every figure of the report has a known value over 2025-04-01..2025-06-30.
import type { Task } from '@medplum/fhirtypes';
import { pppResourceId } from '../../../src/services/pathway/overview.js';
import { recordOutcomes } from '../../../src/services/pathway/outcomes.js';
import { decideTask } from '../../../src/services/task-decision.js';
import type { ResourceStore } from '../../../src/store/repository.js';
import { decide, submitPpp, type Submitted } from '../pathway/casemgr-support.js';

export const FROM = '2025-04-01';
export const TO = '2025-06-30';
const DAY = 86_400_000;

export interface ActivityData {
  early: Submitted;
  hdj: Submitted;
  sync1: Submitted;
  sync2: Submitted;
  town: Submitted;
}

async function decline(store: ResourceStore, s: Submitted, recommendationId: string, actor: 'MT' | 'PHO'): Promise<void> {
  const id = pppResourceId(s, 'Task', 'reco-validation', recommendationId, actor);
  await store.transaction(async (tx) => {
    const task = await tx.read<Task>('Task', id);
    if (!task) throw new Error(`no Task ${id}`);
    await decideTask(tx, task, { ...task, status: 'rejected' }, { actor: `test:${actor}`, now: new Date().toISOString() });
  });
}

/**
 * ppp-12-medicines (760000018, 2025-03-18: out of the period), hdj-partial-birthdate (760000018, 2025-04-09, no RCP,
 * 1 recommendation), hospital-sync-rcp twice (800000317, 2025-05-12, synchronous RCP, 3 recommendations, same
 * patient, sent 2025-05-15: D45 on 2025-06-29, D90 on 2025-08-13), town-async-rcp (140000787, 2025-06-03, entry
 * door ville, asynchronous RCP, 3 recommendations, sent 2025-06-13: D45 on 2025-07-28).
 */
export async function activityData(store: ResourceStore): Promise<ActivityData> {
  const early = await submitPpp(store, 'ACT-EARLY', { undecided: true, sentAt: new Date('2025-03-21T08:05:00Z') });
  const hdj = await submitPpp(store, 'ACT-HDJ', { fixture: 'hdj-partial-birthdate', undecided: true });
  const sync1 = await submitPpp(store, 'ACT-SYNC-1', { fixture: 'hospital-sync-rcp', undecided: true, sentAt: new Date('2025-05-15T06:30:00Z') });
  const sync2 = await submitPpp(store, 'ACT-SYNC-2', { fixture: 'hospital-sync-rcp', undecided: true, sentAt: new Date('2025-05-15T06:30:00Z') });
  const town = await submitPpp(store, 'ACT-TOWN', { fixture: 'town-async-rcp', undecided: true, sentAt: new Date('2025-06-13T15:30:00Z') });
  for (const [s, sent] of [[early, '2025-03-21T08:05:00Z'], [sync1, '2025-05-15T06:30:00Z'], [sync2, '2025-05-15T06:30:00Z'], [town, '2025-06-13T15:30:00Z']] as const) {
    await store.pathway.schedule(s.carePlan, 'd45', new Date(Date.parse(sent) + 45 * DAY).toISOString());
    await store.pathway.schedule(s.carePlan, 'd90', new Date(Date.parse(sent) + 90 * DAY).toISOString());
  }
  return { early, hdj, sync1, sync2, town };
}

/** Decisions on ACT-SYNC-1: MT retenu on R1, PHO retenu-modifie on R1, MT declines R2; and one on ACT-EARLY (out). */
export async function decideSome(store: ResourceStore, d: ActivityData): Promise<void> {
  await decide(store, d.sync1, 'R1', 'MT', 'retenu');
  await decide(store, d.sync1, 'R1', 'PHO', 'retenu-modifie');
  await decline(store, d.sync1, 'R2', 'MT');
  await decide(store, d.early, 'r1', 'MT', 'non-retenu');
}

/** The D45 outcomes of ACT-SYNC-1 recorded on 2025-07-01 (and those of ACT-EARLY, out of the period). */
export async function followSome(store: ResourceStore, d: ActivityData): Promise<void> {
  const ctx = { now: new Date('2025-07-01T09:00:00Z'), actor: 'person:demo-0001', recorder: 'rpps:10000000011' };
  for (const s of [d.sync1, d.early]) await recordOutcomes(store, s.carePlan, { window: 'd45', outcomes: s.recommendations.map((r) => ({ recommendation: r, outcome: 'implementee' })) }, ctx);
}

/** Link uses: the MT on both sync PPPs (2025-06-10), the PHO on ACT-TOWN late on 30 June (UTC), an MT on 1 July (out). */
export async function useLinks(store: ResourceStore, d: ActivityData): Promise<void> {
  await store.pathway.linkUsed(d.sync1.carePlan, 'MT', '10101634078', '2025-06-10T12:00:00.000Z');
  await store.pathway.linkUsed(d.sync2.carePlan, 'MT', '10101634078', '2025-06-10T13:00:00.000Z');
  await store.pathway.linkUsed(d.town.carePlan, 'PHO', '10101523388', '2025-06-30T23:30:00.000Z');
  await store.pathway.linkUsed(d.town.carePlan, 'MT', '10000000094', '2025-07-01T00:10:00.000Z');
}
