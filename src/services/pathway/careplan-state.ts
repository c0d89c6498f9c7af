// What the pathway owns on a PPP's CarePlan and in its case row, kept when the DPI sends the PPP again (POST /ppp):
// the mapping of a re-sent PPP knows nothing of the send through Passerelle, the step or the follow-up outcomes, so
// they are carried over from the stored CarePlan (like the CTM links, submission.ts), and the case keeps its document
// up to date without losing the send date the pathway recorded.
import type { CarePlan, Extension } from '@medplum/fhirtypes';
import { PATHWAY_STEPS } from '../../domain/codes.js';
import type { PathwayStep } from '../../domain/pathway/step.js';
import type { Ppp } from '../../domain/ppp.js';
import { CS, EXT } from '../../fhir/canonical.js';
import { listCoding } from '../../fhir/map-common.js';
import type { StoreTransaction } from '../../store/repository.js';

/** CarePlan extensions written by the pathway only (never by the mapping). */
export const PATHWAY_EXTENSIONS: ReadonlySet<string> = new Set([EXT.pathwayStatus, EXT.followupOutcome]);

/** Carries the pathway's elements of the stored CarePlan over to the newly mapped one (mutates `carePlan`). */
export async function keepPathwayState(tx: Pick<StoreTransaction, 'read'>, carePlan: CarePlan): Promise<void> {
  const stored = await tx.read<CarePlan>('CarePlan', carePlan.id as string);
  if (!stored) return;
  const owned = (stored.extension ?? []).filter((e) => PATHWAY_EXTENSIONS.has(e.url));
  if (owned.length > 0) carePlan.extension = [...(carePlan.extension ?? []).filter((e) => !PATHWAY_EXTENSIONS.has(e.url)), ...owned];
  // Sent through Passerelle (POST /ppp/{id}/send): the send date stays the anchor of the follow-up.
  if (!carePlan.period?.start && stored.period?.start) carePlan.period = { ...(carePlan.period ?? {}), start: stored.period.start };
}

/**
 * Records the PPP's case (its canonical document as submitted) in the submission's transaction. A document without
 * `sentAt` keeps the send date the pathway recorded, so regenerating it later keeps the follow-up anchor.
 */
export async function recordCase(tx: StoreTransaction, input: { carePlan: string; document: Ppp; federatedId: string; now: string }): Promise<void> {
  const stored = await tx.pathway.getCase(input.carePlan);
  const document: Ppp = stored?.sentAt && !input.document.sentAt ? { ...input.document, sentAt: stored.sentAt } : input.document;
  await tx.pathway.saveCase({
    carePlan: input.carePlan,
    pppId: document.id,
    finess: document.establishment.finess,
    patient: input.federatedId,
    document,
    created: document.created,
    updated: input.now,
  });
}

export interface PathwayStatus {
  step: PathwayStep;
  sentAt?: string;
  lastSent?: string;
  closedAt?: string;
}

/** The pathway status a CarePlan carries (`passerelle-pathway-status`), if any. */
export function pathwayStatusOf(carePlan: CarePlan): PathwayStatus | undefined {
  const ext = (carePlan.extension ?? []).find((e) => e.url === EXT.pathwayStatus);
  if (!ext) return undefined;
  const part = (name: string) => ext.extension?.find((p) => p.url === name);
  const step = part('step')?.valueCoding?.code as PathwayStep | undefined;
  if (!step) return undefined;
  const at = (name: string) => part(name)?.valueDateTime;
  return { step, ...(at('sentAt') ? { sentAt: at('sentAt') } : {}), ...(at('lastSent') ? { lastSent: at('lastSent') } : {}), ...(at('closedAt') ? { closedAt: at('closedAt') } : {}) };
}

/**
 * Writes the pathway status on the PPP's CarePlan in `tx` (a new version when it changes; nothing when equal).
 * Every step change of the pathway goes through here, so FHIR readers and Subscriptions see it.
 */
export async function setPathwayStatus(tx: StoreTransaction, carePlanId: string, status: PathwayStatus): Promise<CarePlan | undefined> {
  const stored = await tx.read<CarePlan>('CarePlan', carePlanId);
  if (!stored) return undefined;
  const parts: Extension[] = [{ url: 'step', valueCoding: listCoding(CS.pathwayStep, PATHWAY_STEPS, status.step) }];
  if (status.sentAt) parts.push({ url: 'sentAt', valueDateTime: status.sentAt });
  if (status.lastSent) parts.push({ url: 'lastSent', valueDateTime: status.lastSent });
  if (status.closedAt) parts.push({ url: 'closedAt', valueDateTime: status.closedAt });
  const extension = [...(stored.extension ?? []).filter((e) => e.url !== EXT.pathwayStatus), { url: EXT.pathwayStatus, extension: parts }];
  const next: CarePlan = { ...stored, extension };
  if (status.sentAt && !next.period?.start) next.period = { ...(next.period ?? {}), start: status.sentAt };
  return (await tx.put(next)).resource;
}
