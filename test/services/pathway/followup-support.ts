// Shared by the follow-up tests: a PPP fixture submitted as a pathway case, sent (its case's send date) and its
// D45/D90 due items scheduled as the send step does.
import { readFileSync } from 'node:fs';
import type { Bundle, CarePlan } from '@medplum/fhirtypes';
import { pino } from 'pino';
import { configFrom, type Config } from '../../../src/config.js';
import type { PathwayContext } from '../../../src/services/pathway/context.js';
import { submitDocument } from '../../../src/services/submission.js';
import type { ResourceStore } from '../../../src/store/repository.js';

export const DAY = 86_400_000;
export const silent = pino({ level: 'silent' });

export function pppFixture(id: string, changes: (ppp: Record<string, unknown>) => void = () => undefined): Record<string, unknown> {
  const ppp = JSON.parse(readFileSync('test/fixtures/ppp/hospital-sync-rcp.json', 'utf8')) as Record<string, unknown>;
  ppp.id = id;
  changes(ppp);
  return ppp;
}

/** Submits the PPP, records its send at its `sentAt` and schedules D45/D90; answers the CarePlan id and send date. */
export async function sentCase(store: ResourceStore, ppp: Record<string, unknown>, config: Config = configFrom({})): Promise<{ carePlan: string; sentAt: Date; d45: Date; d90: Date }> {
  const bundle: Bundle = await submitDocument(store, 'ppp', ppp, { now: new Date().toISOString(), actor: 'test', fhirBase: 'http://localhost/fhir' });
  const carePlan = (bundle.entry?.map((e) => e.resource).find((r) => r?.resourceType === 'CarePlan') as CarePlan).id as string;
  const sentAt = new Date(String(ppp.sentAt));
  await store.pathway.markSent(carePlan, sentAt.toISOString());
  const d45 = new Date(sentAt.getTime() + config.pathway.followUp.d45Days * DAY);
  const d90 = new Date(sentAt.getTime() + config.pathway.followUp.d90Days * DAY);
  await store.pathway.schedule(carePlan, 'd45', d45.toISOString());
  await store.pathway.schedule(carePlan, 'd90', d90.toISOString());
  return { carePlan, sentAt, d45, d90 };
}

export function contextAt(now: Date, config: Config = configFrom({})): PathwayContext {
  return { now, actor: 'scheduler', config, fhirBase: `${config.baseUrl}/fhir` };
}
