// The due-work list of the case managers (issue 18 point 6, docs/pathway.md "The worklist"): per open case, the
// D45/D90 windows that are open (their due item done) and still need something — the PHO's answer to the prescription
// request, or the outcomes of the recommendations — with whether it is overdue at the time asked.
import type { CarePlan } from '@medplum/fhirtypes';
import type { Ppp } from '../../domain/ppp.js';
import type { FollowUpWindow, PathwayCase } from '../../store/pathway-repository.js';
import type { ResourceStore } from '../../store/repository.js';
import { followupOutcomesOf } from './careplan-state.js';
import { recommendationReference, WINDOW_LABELS } from './followup.js';

export interface WorklistItem {
  carePlan: string;
  pppId: string;
  finess: string;
  /** What is due: `prescription-request` (the PHO has not answered a D45/D90 request), `outcome` (outcomes to record). */
  kind: 'prescription-request' | 'outcome';
  window: 'd45' | 'd90';
  /** When it became due. */
  since: string;
  /** Overdue at the time asked (past the answer's delay). */
  overdue: boolean;
  /** French label for the pages. */
  label: string;
}

/** Days the PHO has to answer a prescription request before it is overdue. */
export const PRESCRIPTION_ANSWER_DAYS = 14;
/** Days the case manager has to record the outcomes after the PHO's answer before they are overdue. */
export const OUTCOME_RECORD_DAYS = 14;
/** Days after a window opened past which its outcomes are due even without an answer (recorded as `inconnue` if need be). */
export const WINDOW_OPEN_DAYS = 30;

const DAY = 86_400_000;
const WINDOWS: readonly FollowUpWindow[] = ['d45', 'd90'];

function frenchDay(iso: string): string {
  const [y, m, d] = iso.slice(0, 10).split('-');
  return `${d}/${m}/${y}`;
}

/** The work of one case at `now` (pure over what was read). */
export function caseWork(
  c: PathwayCase,
  facts: { opened: Partial<Record<FollowUpWindow, string>>; answers: Partial<Record<FollowUpWindow, string>>; recommendations: readonly string[]; recorded: Partial<Record<FollowUpWindow, ReadonlySet<string>>> },
  now: Date,
): WorklistItem[] {
  const out: WorklistItem[] = [];
  const days = (since: string) => (now.getTime() - Date.parse(since)) / DAY;
  for (const window of WINDOWS) {
    const opened = facts.opened[window];
    if (!opened) continue;
    const base = { carePlan: c.carePlan, pppId: c.pppId, finess: c.finess, window };
    const answered = facts.answers[window];
    const w = WINDOW_LABELS[window];
    if (!answered) {
      const overdue = days(opened) > PRESCRIPTION_ANSWER_DAYS;
      out.push({ ...base, kind: 'prescription-request', since: opened, overdue, label: `${w} : ordonnance demandée au pharmacien le ${frenchDay(opened)}, sans réponse${overdue ? ` depuis plus de ${PRESCRIPTION_ANSWER_DAYS} jours` : ''}` });
    }
    const recorded = facts.recorded[window] ?? new Set<string>();
    const missing = facts.recommendations.filter((r) => !recorded.has(r)).length;
    if (missing === 0) continue;
    if (answered) {
      const overdue = days(answered) > OUTCOME_RECORD_DAYS || days(opened) > WINDOW_OPEN_DAYS;
      out.push({ ...base, kind: 'outcome', since: answered, overdue, label: `${w} : réponse du pharmacien reçue le ${frenchDay(answered)}, ${missing} résultat(s) à enregistrer` });
    } else if (days(opened) > WINDOW_OPEN_DAYS) {
      out.push({ ...base, kind: 'outcome', since: opened, overdue: true, label: `${w} : suivi ouvert depuis plus de ${WINDOW_OPEN_DAYS} jours, ${missing} résultat(s) à enregistrer` });
    }
  }
  return out;
}

/**
 * The worklist at `now`, of one establishment or of all: open cases (not closed) whose D45/D90 window is open (its due
 * item done), oldest first. A window is answered by any upload of that window (PDF, lines or "no change"); its outcomes
 * are complete when every recommendation (CarePlan activity) has a recorded `outcome` (a proposal is not one).
 */
export async function worklist(store: ResourceStore, filter: { finess?: string; now: Date }): Promise<WorklistItem[]> {
  const cases = await store.pathway.cases({ ...(filter.finess ? { finess: filter.finess } : {}), limit: 5000 });
  const items: WorklistItem[] = [];
  for (const c of cases) {
    if (!c.sentAt) continue;
    const due = await store.pathway.dueOf(c.carePlan);
    const opened: Partial<Record<FollowUpWindow, string>> = {};
    for (const d of due) if ((d.kind === 'd45' || d.kind === 'd90') && d.state === 'done') opened[d.kind] = d.doneAt ?? d.dueAt;
    if (!opened.d45 && !opened.d90) continue;
    const answers: Partial<Record<FollowUpWindow, string>> = {};
    for (const u of await store.pathway.uploads(c.carePlan)) answers[u.followup] ??= u.received;
    const carePlan = await store.read<CarePlan>('CarePlan', c.carePlan);
    const ppp = c.document as Ppp;
    const recommendations = (ppp.recommendations ?? []).map((r) => recommendationReference(c, r));
    const recorded: Partial<Record<FollowUpWindow, Set<string>>> = {};
    for (const e of carePlan ? followupOutcomesOf(carePlan) : []) if (e.outcome) (recorded[e.window] ??= new Set()).add(e.recommendation);
    items.push(...caseWork(c, { opened, answers, recommendations, recorded }, filter.now));
  }
  return items.sort((a, b) => (a.since < b.since ? -1 : a.since > b.since ? 1 : a.carePlan.localeCompare(b.carePlan) || a.window.localeCompare(b.window)));
}
