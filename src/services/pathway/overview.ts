// What the case manager sees of the pathway (issue 18 point 7, docs/pathway.md "The case manager page"): the PPPs in
// progress with their step, decision counts and next due date, and one PPP in detail (recommendations with the MT's
// and the PHO's decisions, the PHO's uploads, the follow-up proposals and outcomes per window). Reads only.
import type { CarePlan, Task } from '@medplum/fhirtypes';
import { bornWord } from '../../domain/identity.js';
import type { Ppp } from '../../domain/ppp.js';
import type { Recommendation } from '../../domain/review.js';
import { pathwayStep, type FollowUpWindowCode, type PathwayStep } from '../../domain/pathway/step.js';
import { CS } from '../../fhir/canonical.js';
import { idFor } from '../../fhir/ids.js';
import type { DueItem, PathwayCase, PrescriptionUpload } from '../../store/pathway-repository.js';
import type { ResourceStore } from '../../store/repository.js';
import { OPEN_STATUSES } from '../task-decision.js';
import { followupOutcomesOf, pathwayStatusOf, type FollowupOutcomeEntry } from './careplan-state.js';

export const WINDOWS: readonly FollowUpWindowCode[] = ['d45', 'd90'];
export type DecisionActor = 'MT' | 'PHO';

/** Days after the first send at which D45 and D90 open (config `pathway.followUp`). */
export interface FollowUpDays {
  d45Days: number;
  d90Days: number;
}
export const DEFAULT_FOLLOW_UP: FollowUpDays = { d45Days: 45, d90Days: 90 };

/** One PPP in the case manager's list. */
export interface PathwayRow {
  carePlan: string;
  pppId: string;
  finess: string;
  /** The establishment's name as the PPP gives it. */
  establishment: string;
  /** The patient's name as the PPP gives it (used name, else birth name, then the given name). */
  patient: string;
  birthDate?: string;
  /** "née", "né" or "né·e", for the birth date's label. */
  born?: string;
  created: string;
  sentAt?: string;
  closedAt?: string;
  step: PathwayStep;
  /** Decisions given out of those asked, per professional (validation Tasks). */
  decisions: Record<DecisionActor, { decided: number; asked: number }>;
  /** The earliest due item not done nor cancelled. */
  nextDue?: { kind: DueItem['kind']; dueAt: string };
}

/** The MT's or the PHO's answer to one recommendation, from its validation Task. */
export interface RecommendationDecision {
  status: string;
  /** `retenu`, `non-retenu`, `retenu-modifie` once decided. */
  decision?: string;
  reason?: string;
  date?: string;
}

export interface RecommendationView {
  /** The CarePlan activity reference (`MedicationRequest/…`, `ServiceRequest/…`): the key of the follow-up outcomes. */
  reference: string;
  id: string;
  kind: Recommendation['kind'];
  text: string;
  /** The drug concerned (medication recommendations). */
  medication?: string;
  action?: string;
  decisions: Partial<Record<DecisionActor, RecommendationDecision>>;
}

export interface WindowView {
  window: FollowUpWindowCode;
  /** When the window opens (its due item, else the send date + its days); absent before the send. */
  opensAt?: string;
  /** The window is open or passed: outcomes may be recorded. */
  open: boolean;
  /** Outcome recorded for every recommendation. */
  done: boolean;
  /** Per recommendation reference: its proposal and recorded outcome. */
  entries: Record<string, FollowupOutcomeEntry>;
}

export interface PppDetail {
  row: PathwayRow;
  recommendations: RecommendationView[];
  /** The PHO's answers to the prescription requests (PDF bytes left out: read through `upload(id)`). */
  uploads: PrescriptionUpload[];
  windows: WindowView[];
  due: DueItem[];
}

/** The facts read once per PPP. */
interface CaseFacts {
  case: PathwayCase;
  doc: Ppp;
  carePlan?: CarePlan;
  recommendations: RecommendationView[];
  due: DueItem[];
  sentAt?: string;
}

/** The patient's name as the PPP gives it, for pages only (never logged). */
export function patientName(doc: Ppp): string {
  const p = doc.patient;
  const family = p.usedName ?? p.birthName;
  const given = p.usedGivenName ?? p.firstBirthGivenName;
  return `${family} ${given}${p.usedName && p.usedName !== p.birthName ? ` (${bornWord(p.sex)} ${p.birthName})` : ''}`;
}

/** Ids of a PPP's resources, as the mapping makes them (src/fhir/map-ppp.ts). */
export function pppResourceId(c: Pick<PathwayCase, 'finess' | 'pppId'>, type: string, ...parts: string[]): string {
  return idFor(type, c.finess, 'ppp', c.pppId, ...parts);
}

export function recommendationReference(c: Pick<PathwayCase, 'finess' | 'pppId'>, r: Pick<Recommendation, 'kind' | 'id'>): string {
  const type = r.kind === 'medication' ? 'MedicationRequest' : 'ServiceRequest';
  return `${type}/${pppResourceId(c, type, 'recommendation', r.id)}`;
}

/** The recommendations of the PPP that are activities of its CarePlan (the ones followed up). */
export function activityReferences(carePlan: CarePlan | undefined): string[] {
  return (carePlan?.activity ?? []).map((a) => a.reference?.reference).filter((r): r is string => typeof r === 'string');
}

function decisionOf(task: Task): RecommendationDecision {
  const coding = task.output?.flatMap((o) => o.valueCodeableConcept?.coding ?? []).find((c) => c.system === CS.pppDecision);
  const reason = task.output?.find((o) => o.type?.text === 'motif')?.valueString;
  return {
    status: task.status,
    ...(coding?.code ? { decision: coding.code } : {}),
    ...(reason ? { reason } : {}),
    ...(task.lastModified ? { date: task.lastModified } : {}),
  };
}

async function factsOf(store: ResourceStore, c: PathwayCase): Promise<CaseFacts> {
  const doc = c.document as Ppp;
  const carePlan = await store.read<CarePlan>('CarePlan', c.carePlan);
  const recommendations: RecommendationView[] = [];
  for (const r of doc.recommendations ?? []) {
    const decisions: Partial<Record<DecisionActor, RecommendationDecision>> = {};
    for (const actor of ['MT', 'PHO'] as const) {
      const task = await store.read<Task>('Task', pppResourceId(c, 'Task', 'reco-validation', r.id, actor));
      if (task) decisions[actor] = decisionOf(task);
    }
    recommendations.push({
      reference: recommendationReference(c, r),
      id: r.id,
      kind: r.kind,
      text: r.text,
      ...(r.kind === 'medication' ? { medication: r.medication.text, action: r.action } : {}),
      decisions,
    });
  }
  const due = await store.pathway.dueOf(c.carePlan);
  const status = carePlan ? pathwayStatusOf(carePlan) : undefined;
  const sentAt = c.sentAt ?? status?.sentAt ?? doc.sentAt;
  return { case: c, doc, ...(carePlan ? { carePlan } : {}), recommendations, due, ...(sentAt ? { sentAt } : {}) };
}

/** When a follow-up window opens: its due item's date, else the first send + the window's days. */
export function windowOpensAt(sentAt: string | undefined, due: readonly DueItem[], window: FollowUpWindowCode, days: FollowUpDays): string | undefined {
  const item = due.find((d) => d.kind === window);
  if (item) return item.dueAt;
  if (!sentAt) return undefined;
  const t = Date.parse(sentAt);
  if (Number.isNaN(t)) return undefined;
  return new Date(t + (window === 'd45' ? days.d45Days : days.d90Days) * 86_400_000).toISOString();
}

/** A window is open once the PPP was sent and its date is reached, or once its due item ran. */
export function windowIsOpen(sentAt: string | undefined, due: readonly DueItem[], window: FollowUpWindowCode, now: Date, days: FollowUpDays): boolean {
  if (!sentAt) return false;
  if (due.some((d) => d.kind === window && d.state === 'done')) return true;
  const opens = windowOpensAt(sentAt, due, window, days);
  return opens !== undefined && Date.parse(opens) <= now.getTime();
}

/** The windows whose outcome is recorded for every followed-up recommendation. */
export function windowsDone(carePlan: CarePlan | undefined): FollowUpWindowCode[] {
  const refs = activityReferences(carePlan);
  if (!carePlan || refs.length === 0) return [];
  const entries = followupOutcomesOf(carePlan);
  return WINDOWS.filter((w) => refs.every((r) => entries.some((e) => e.window === w && e.recommendation === r && e.outcome)));
}

function rowOf(f: CaseFacts): PathwayRow {
  const decisions: PathwayRow['decisions'] = { MT: { decided: 0, asked: 0 }, PHO: { decided: 0, asked: 0 } };
  let pending = 0;
  for (const r of f.recommendations) {
    for (const actor of ['MT', 'PHO'] as const) {
      const d = r.decisions[actor];
      if (!d) continue;
      decisions[actor].asked += 1;
      if (OPEN_STATUSES.has(d.status)) pending += 1;
      else if (d.status === 'completed' || d.status === 'rejected') decisions[actor].decided += 1;
    }
  }
  const status = f.carePlan ? pathwayStatusOf(f.carePlan) : undefined;
  const closedAt = f.case.closedAt ?? status?.closedAt;
  const step =
    status?.step ??
    pathwayStep({ ...(f.sentAt ? { sentAt: f.sentAt } : {}), ...(closedAt ? { closedAt } : {}), pendingDecisions: pending, followUpDone: windowsDone(f.carePlan) });
  const next = f.due.find((d) => d.state === 'scheduled' || d.state === 'claimed');
  return {
    carePlan: f.case.carePlan,
    pppId: f.case.pppId,
    finess: f.case.finess,
    establishment: f.doc.establishment?.name ?? f.case.finess,
    patient: patientName(f.doc),
    ...(f.doc.patient?.birthDate ? { birthDate: f.doc.patient.birthDate } : {}),
    ...(f.doc.patient?.sex ? { born: bornWord(f.doc.patient.sex) } : {}),
    created: f.case.created,
    ...(f.sentAt ? { sentAt: f.sentAt } : {}),
    ...(closedAt ? { closedAt } : {}),
    step,
    decisions,
    ...(next ? { nextDue: { kind: next.kind, dueAt: next.dueAt } } : {}),
  };
}

export interface OverviewFilter {
  /** One establishment only (a person bound to an establishment: always theirs). */
  finess?: string;
  step?: PathwayStep;
  now: Date;
  limit?: number;
}

/**
 * The PPPs in the pathway, newest first, with their step: open ones, and closed ones too when the step asked is `clos`.
 */
export async function pathwayOverview(store: ResourceStore, filter: OverviewFilter): Promise<PathwayRow[]> {
  const cases = await store.pathway.cases({
    ...(filter.finess !== undefined ? { finess: filter.finess } : {}),
    closed: filter.step === 'clos',
    limit: filter.limit ?? 500,
  });
  const rows: PathwayRow[] = [];
  for (const c of cases) {
    const row = rowOf(await factsOf(store, c));
    if (filter.step === undefined ? row.step !== 'clos' : row.step === filter.step) rows.push(row);
  }
  return rows;
}

/** One PPP for the case manager, or undefined when it is not in the pathway. */
export async function pppDetail(store: ResourceStore, carePlan: string, options: { now: Date; followUp?: FollowUpDays }): Promise<PppDetail | undefined> {
  const c = await store.pathway.getCase(carePlan);
  if (!c) return undefined;
  const f = await factsOf(store, c);
  const days = options.followUp ?? DEFAULT_FOLLOW_UP;
  const entries = f.carePlan ? followupOutcomesOf(f.carePlan) : [];
  const done = windowsDone(f.carePlan);
  const windows = WINDOWS.map((w): WindowView => {
    const opensAt = windowOpensAt(f.sentAt, f.due, w, days);
    return {
      window: w,
      ...(opensAt ? { opensAt } : {}),
      open: windowIsOpen(f.sentAt, f.due, w, options.now, days),
      done: done.includes(w),
      entries: Object.fromEntries(entries.filter((e) => e.window === w).map((e) => [e.recommendation, e])),
    };
  });
  // Only the recommendations that are activities of the CarePlan are followed up (all of them, as mapped).
  const refs = new Set(activityReferences(f.carePlan));
  return {
    row: rowOf(f),
    recommendations: f.recommendations.filter((r) => refs.size === 0 || refs.has(r.reference)),
    uploads: await store.pathway.uploads(carePlan),
    windows,
    due: f.due,
  };
}
