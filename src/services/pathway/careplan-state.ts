// What the pathway owns on a PPP's CarePlan and in its case row, kept when the DPI sends the PPP again (POST /ppp):
// the mapping of a re-sent PPP knows nothing of the send through Passerelle, the step or the follow-up outcomes, so
// they are carried over from the stored CarePlan (like the CTM links, submission.ts), and the case keeps its document
// up to date without losing the send date the pathway recorded.
import type { CarePlan, Extension } from '@medplum/fhirtypes';
import { FOLLOWUP_OUTCOMES, FOLLOWUP_WINDOWS, PATHWAY_STEPS } from '../../domain/codes.js';
import type { FollowUpWindowCode, PathwayStep } from '../../domain/pathway/step.js';
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
  /** When the document was last regenerated with the decisions received (regenerate.ts): a new CarePlan version. */
  documentUpdated?: string;
}

/** The pathway status a CarePlan carries (`passerelle-pathway-status`), if any. */
export function pathwayStatusOf(carePlan: CarePlan): PathwayStatus | undefined {
  const ext = (carePlan.extension ?? []).find((e) => e.url === EXT.pathwayStatus);
  if (!ext) return undefined;
  const part = (name: string) => ext.extension?.find((p) => p.url === name);
  const step = part('step')?.valueCoding?.code as PathwayStep | undefined;
  if (!step) return undefined;
  const at = (name: string) => part(name)?.valueDateTime;
  return { step, ...(at('sentAt') ? { sentAt: at('sentAt') } : {}), ...(at('lastSent') ? { lastSent: at('lastSent') } : {}), ...(at('closedAt') ? { closedAt: at('closedAt') } : {}), ...(at('documentUpdated') ? { documentUpdated: at('documentUpdated') } : {}) };
}

/**
 * Writes the pathway status on the PPP's CarePlan in `tx` (a new version when it changes; nothing when equal), merged
 * over the status it carries (the fields not given are kept).
 * Every step change of the pathway goes through here, so FHIR readers and Subscriptions see it.
 */
export async function setPathwayStatus(tx: StoreTransaction, carePlanId: string, status: PathwayStatus): Promise<CarePlan | undefined> {
  const stored = await tx.read<CarePlan>('CarePlan', carePlanId);
  if (!stored) return undefined;
  // The fields not given are kept: a step change does not lose the send dates or the document's update.
  status = { ...(pathwayStatusOf(stored) ?? {}), ...status };
  const parts: Extension[] = [{ url: 'step', valueCoding: listCoding(CS.pathwayStep, PATHWAY_STEPS, status.step) }];
  if (status.sentAt) parts.push({ url: 'sentAt', valueDateTime: status.sentAt });
  if (status.lastSent) parts.push({ url: 'lastSent', valueDateTime: status.lastSent });
  if (status.closedAt) parts.push({ url: 'closedAt', valueDateTime: status.closedAt });
  if (status.documentUpdated) parts.push({ url: 'documentUpdated', valueDateTime: status.documentUpdated });
  const extension = [...(stored.extension ?? []).filter((e) => e.url !== EXT.pathwayStatus), { url: EXT.pathwayStatus, extension: parts }];
  const next: CarePlan = { ...stored, extension };
  if (status.sentAt && !next.period?.start) next.period = { ...(next.period ?? {}), start: status.sentAt };
  return (await tx.put(next)).resource;
}

export type FollowupOutcomeCode = (typeof FOLLOWUP_OUTCOMES)[number]['code'];

/** One recommendation's follow-up at D45 or D90, as the CarePlan carries it (`passerelle-followup-outcome`). */
export interface FollowupOutcomeEntry {
  window: FollowUpWindowCode;
  /** The recommendation: the reference of its CarePlan activity (`MedicationRequest/…`, `ServiceRequest/…`). */
  recommendation: string;
  /** Recorded by the case manager. */
  outcome?: FollowupOutcomeCode;
  /** Computed from the structured prescription the PHO uploaded. */
  proposed?: FollowupOutcomeCode;
  recorded?: string;
  recorder?: string;
  note?: string;
}

export function followupOutcomesOf(carePlan: CarePlan): FollowupOutcomeEntry[] {
  return (carePlan.extension ?? [])
    .filter((e) => e.url === EXT.followupOutcome)
    .map((e) => {
      const part = (name: string) => e.extension?.find((p) => p.url === name);
      const code = (name: string) => part(name)?.valueCoding?.code as FollowupOutcomeCode | undefined;
      const text = (name: string) => part(name)?.valueString;
      const entry: FollowupOutcomeEntry = {
        window: part('window')?.valueCoding?.code as FollowUpWindowCode,
        recommendation: part('recommendation')?.valueReference?.reference ?? '',
      };
      if (code('outcome')) entry.outcome = code('outcome');
      if (code('proposed')) entry.proposed = code('proposed');
      if (part('recorded')?.valueDateTime) entry.recorded = part('recorded')?.valueDateTime;
      if (text('recorder')) entry.recorder = text('recorder');
      if (text('note')) entry.note = text('note');
      return entry;
    });
}

function followupExtension(f: FollowupOutcomeEntry): Extension {
  const parts: Extension[] = [
    { url: 'window', valueCoding: listCoding(CS.followupWindow, FOLLOWUP_WINDOWS, f.window) },
    { url: 'recommendation', valueReference: { reference: f.recommendation } },
  ];
  if (f.outcome) parts.push({ url: 'outcome', valueCoding: listCoding(CS.followupOutcome, FOLLOWUP_OUTCOMES, f.outcome) });
  if (f.proposed) parts.push({ url: 'proposed', valueCoding: listCoding(CS.followupOutcome, FOLLOWUP_OUTCOMES, f.proposed) });
  if (f.recorded) parts.push({ url: 'recorded', valueDateTime: f.recorded });
  if (f.recorder) parts.push({ url: 'recorder', valueString: f.recorder });
  if (f.note) parts.push({ url: 'note', valueString: f.note });
  return { url: EXT.followupOutcome, extension: parts };
}

/**
 * Merges follow-up entries into the PPP's CarePlan in `tx`, by (window, recommendation): a given entry replaces the
 * stored one's fields it sets and keeps the others (a proposal stays beside the outcome recorded later). Entries are
 * kept in (window, activity order). Nothing is written when nothing changes.
 */
export async function mergeFollowupOutcomes(tx: StoreTransaction, carePlanId: string, entries: readonly FollowupOutcomeEntry[]): Promise<CarePlan | undefined> {
  const stored = await tx.read<CarePlan>('CarePlan', carePlanId);
  if (!stored) return undefined;
  const key = (f: Pick<FollowupOutcomeEntry, 'window' | 'recommendation'>) => `${f.window} ${f.recommendation}`;
  const merged = new Map(followupOutcomesOf(stored).map((f) => [key(f), f]));
  for (const e of entries) merged.set(key(e), { ...(merged.get(key(e)) ?? {}), ...e });
  const order = new Map((stored.activity ?? []).map((a, i) => [a.reference?.reference ?? '', i]));
  const sorted = [...merged.values()].sort(
    (a, b) => a.window.localeCompare(b.window) || (order.get(a.recommendation) ?? 1e9) - (order.get(b.recommendation) ?? 1e9) || a.recommendation.localeCompare(b.recommendation),
  );
  const extension = [...(stored.extension ?? []).filter((e) => e.url !== EXT.followupOutcome), ...sorted.map(followupExtension)];
  return (await tx.put({ ...stored, extension })).resource;
}
