// Follow-up at D45 and D90 (issue 18 point 6, docs/pathway.md "Follow-up at D45 and D90"): opening a window (the PHO's
// prescription request: a secure link of purpose `prescription` and its MSSanté mail, the follow-up Task in progress,
// the pathway step) and recording the PHO's answer (a PDF, structured lines or "no change") with the outcomes
// proposed from it. Each is one transaction.
import { randomUUID } from 'node:crypto';
import type { CarePlan, Task } from '@medplum/fhirtypes';
import { proposeOutcomes, type PrescriptionLine } from '../../domain/pathway/followup.js';
import type { Ppp } from '../../domain/ppp.js';
import type { Recommendation } from '../../domain/review.js';
import { CS } from '../../fhir/canonical.js';
import { idFor } from '../../fhir/ids.js';
import type { FollowUpWindow, PathwayCase, UploadKind } from '../../store/pathway-repository.js';
import type { ResourceStore, StoreTransaction } from '../../store/repository.js';
import { followupOutcomesOf, mergeFollowupOutcomes, pathwayStatusOf, setPathwayStatus, type FollowupOutcomeEntry } from './careplan-state.js';
import type { PathwayContext } from './context.js';
import { enqueueLinkMail, patientLabel, type LinkDelivery } from './link-mail.js';
import { issueLinks, type IssuedLink } from './links.js';

export const WINDOW_LABELS: Record<FollowUpWindow, string> = { d45: 'J45', d90: 'J90' };

/** Task states in which nobody has started the follow-up yet. */
const OPEN_TASK: ReadonlySet<string> = new Set(['requested', 'received', 'accepted', 'ready']);

/** The PHO of a PPP (care-team role `pharmacien-officine`), if it names one. */
export function phoOf(ppp: Ppp): Ppp['team'][number]['practitioner'] | undefined {
  return ppp.team.find((m) => m.role === 'pharmacien-officine')?.practitioner;
}

/** The reference of a recommendation's CarePlan activity (`MedicationRequest/…` or `ServiceRequest/…`), as mapped. */
export function recommendationReference(c: Pick<PathwayCase, 'finess' | 'pppId'>, r: Recommendation): string {
  const type = r.kind === 'medication' ? 'MedicationRequest' : 'ServiceRequest';
  return `${type}/${idFor(type, c.finess, 'ppp', c.pppId, 'recommendation', r.id)}`;
}

/** The PPP's follow-up Task of a window: `basedOn` the CarePlan, code `followup-d45` / `followup-d90` of `CS.taskType`. */
export async function followUpTask(tx: Pick<StoreTransaction, 'read' | 'referrers'>, carePlan: string, window: FollowUpWindow): Promise<Task | undefined> {
  const code = `followup-${window}`;
  const keys = await tx.referrers('CarePlan', carePlan, 1000);
  for (const k of keys) {
    if (k.type !== 'Task') continue;
    const t = await tx.read<Task>('Task', k.id);
    if (!t || !t.basedOn?.some((b) => b.reference === `CarePlan/${carePlan}`)) continue;
    if (t.code?.coding?.some((c) => c.system === CS.taskType && c.code === code)) return t;
  }
  return undefined;
}

export interface OpenedWindow {
  /** `opened`, or why nothing was done: the case is `closed`, or `unknown` (no case for this CarePlan). */
  state: 'opened' | 'closed' | 'unknown';
  window: FollowUpWindow;
  /** The PHO's link (absent when the PPP names no PHO: the window is then the case manager's only). */
  link?: IssuedLink;
  delivery?: LinkDelivery;
  /** The follow-up Task (its id) and whether it was moved to `in-progress`. */
  task?: { id: string; started: boolean };
}

/**
 * Opens the D45 or D90 window of a PPP in one transaction: the PHO's link of purpose `prescription` (replacing their
 * previous one) and its mail, the follow-up Task `in-progress` if still open, the pathway step `suivi-j45`/`suivi-j90`
 * and an audit row. A closed PPP: nothing. A PPP without a PHO: no link, the rest as usual.
 */
export async function openFollowUpWindow(store: ResourceStore, carePlan: string, window: FollowUpWindow, ctx: PathwayContext): Promise<OpenedWindow> {
  return store.transaction(async (tx) => {
    const c = await tx.pathway.getCase(carePlan);
    if (!c) return { state: 'unknown' as const, window };
    if (c.closedAt) return { state: 'closed' as const, window };
    const ppp = c.document as Ppp;
    const pho = phoOf(ppp);
    const out: OpenedWindow = { state: 'opened', window };
    if (pho) {
      const [link] = await issueLinks(tx, {
        carePlan,
        recipients: [{ role: 'PHO', rpps: pho.rpps }],
        purpose: 'prescription',
        now: ctx.now,
        ttlDays: ctx.config.pathway.linkTtlDays,
        baseUrl: ctx.config.baseUrl,
        actor: ctx.actor,
      });
      if (link) {
        out.link = link;
        out.delivery = await enqueueLinkMail(
          tx,
          {
            carePlan,
            role: 'PHO',
            rpps: pho.rpps,
            name: [pho.given, pho.family].filter(Boolean).join(' '),
            ...(pho.email ? { address: pho.email } : {}),
            purpose: 'prescription',
            url: link.url,
            expires: link.expires,
            window,
            patientLabel: patientLabel(ppp.patient),
          },
          ctx,
          { directory: store.directory },
        );
      }
    }
    const task = await followUpTask(tx, carePlan, window);
    if (task?.id) {
      const started = OPEN_TASK.has(task.status);
      if (started) await tx.put<Task>({ ...task, status: 'in-progress', lastModified: ctx.now.toISOString() });
      out.task = { id: task.id, started };
    }
    const stored = await tx.read<CarePlan>('CarePlan', carePlan);
    const status = stored ? pathwayStatusOf(stored) : undefined;
    const sentAt = status?.sentAt ?? c.sentAt;
    const lastSent = status?.lastSent ?? c.lastSent;
    await setPathwayStatus(tx, carePlan, { step: window === 'd45' ? 'suivi-j45' : 'suivi-j90', ...(sentAt ? { sentAt } : {}), ...(lastSent ? { lastSent } : {}) });
    await tx.audit({
      action: 'pathway.followup-open',
      actor: ctx.actor,
      ...(ctx.requestId ? { requestId: ctx.requestId } : {}),
      entities: [`CarePlan/${carePlan}`, ...(out.task ? [`Task/${out.task.id}`] : [])],
      outcome: 'success',
      detail: `window=${window} ${pho ? `pho=${pho.rpps} delivery=${out.delivery?.state ?? 'none'}` : 'no PHO: case manager only'}${out.task ? ` task=${out.task.started ? 'in-progress' : 'unchanged'}` : ' no task'}`,
    });
    return out;
  });
}

/** The window a PHO's prescription link answers: D90 once its due item is done, else D45. */
export async function currentWindow(store: ResourceStore, carePlan: string): Promise<FollowUpWindow> {
  const due = await store.pathway.dueOf(carePlan);
  return due.some((d) => d.kind === 'd90' && d.state === 'done') ? 'd90' : 'd45';
}

/** How many answers a PHO gave for a window (the form token binds to it: a replayed form is refused). */
export async function answerCount(store: Pick<ResourceStore, 'pathway'> | Pick<StoreTransaction, 'pathway'>, carePlan: string, window: FollowUpWindow, rpps: string): Promise<number> {
  return (await store.pathway.uploads(carePlan)).filter((u) => u.followup === window && u.rpps === rpps).length;
}

export type PrescriptionAnswer =
  | { kind: 'pdf'; content: Buffer; mediaType: 'application/pdf' }
  | { kind: 'lines'; lines: PrescriptionLine[] }
  | { kind: 'no-change' };

export interface AnswerInput {
  carePlan: string;
  window: FollowUpWindow;
  rpps: string;
  answer: PrescriptionAnswer;
  /** The number of answers the form was shown with: another number means the form was sent already (replay). */
  expectedAnswers: number;
}

export type AnswerResult = { ok: true; uploadId: string; proposals: FollowupOutcomeEntry[] } | { ok: false; reason: 'replayed' | 'closed' | 'unknown' };

const KIND_LABELS: Record<UploadKind, string> = { pdf: 'ordonnance en PDF', lines: 'lignes de prescription saisies', 'no-change': 'pas de changement' };

/**
 * Records a PHO's answer in one transaction: the upload row, the proposals (structured lines; "no change" at D90
 * carries the D45 outcomes over), a note on the follow-up Task and an audit row `pathway.prescription`. The case row
 * is updated first, which serialises two answers of one PPP (PostgreSQL row lock; SQLite one writer): the second sees
 * the first's upload and is refused as a replay.
 */
export async function recordPrescriptionAnswer(store: ResourceStore, input: AnswerInput, ctx: PathwayContext): Promise<AnswerResult> {
  return store.transaction(async (tx) => {
    const c = await tx.pathway.getCase(input.carePlan);
    if (!c) return { ok: false as const, reason: 'unknown' as const };
    if (c.closedAt) return { ok: false as const, reason: 'closed' as const };
    const at = ctx.now.toISOString();
    await tx.pathway.updateDocument(c.carePlan, c.document, at);
    if ((await answerCount(tx, c.carePlan, input.window, input.rpps)) !== input.expectedAnswers) return { ok: false as const, reason: 'replayed' as const };
    const uploadId = randomUUID();
    const a = input.answer;
    await tx.pathway.addUpload({
      id: uploadId,
      carePlan: c.carePlan,
      followup: input.window,
      rpps: input.rpps,
      received: at,
      kind: a.kind,
      ...(a.kind === 'pdf' ? { mediaType: a.mediaType, content: a.content } : {}),
      ...(a.kind === 'lines' ? { lines: a.lines } : {}),
    });
    const ppp = c.document as Ppp;
    const proposals: FollowupOutcomeEntry[] = [];
    if (a.kind === 'lines') {
      const proposed = proposeOutcomes(ppp.recommendations, ppp.medications, a.lines);
      for (const r of ppp.recommendations) {
        const p = proposed.get(r.id);
        if (p) proposals.push({ window: input.window, recommendation: recommendationReference(c, r), proposed: p });
      }
    } else if (a.kind === 'no-change' && input.window === 'd90') {
      const stored = await tx.read<CarePlan>('CarePlan', c.carePlan);
      for (const e of stored ? followupOutcomesOf(stored) : []) {
        const carried = e.window === 'd45' ? (e.outcome ?? e.proposed) : undefined;
        if (carried) proposals.push({ window: 'd90', recommendation: e.recommendation, proposed: carried });
      }
    }
    if (proposals.length > 0) await mergeFollowupOutcomes(tx, c.carePlan, proposals);
    const task = await followUpTask(tx, c.carePlan, input.window);
    if (task?.id) {
      const note = `Réponse du pharmacien (RPPS ${input.rpps}) le ${at} : ${KIND_LABELS[a.kind]} (dépôt ${uploadId}).`;
      await tx.put<Task>({ ...task, lastModified: at, note: [...(task.note ?? []), { text: note, time: at }] });
    }
    await tx.audit({
      action: 'pathway.prescription',
      actor: ctx.actor,
      person: `rpps:${input.rpps}`,
      ...(ctx.requestId ? { requestId: ctx.requestId } : {}),
      entities: [`CarePlan/${c.carePlan}`, ...(task?.id ? [`Task/${task.id}`] : [])],
      outcome: 'success',
      detail: `window=${input.window} kind=${a.kind} upload=${uploadId}${a.kind === 'lines' ? ` lines=${a.lines.length}` : ''}${a.kind === 'pdf' ? ` bytes=${a.content.length}` : ''} proposals=${proposals.length}`,
    });
    return { ok: true as const, uploadId, proposals };
  });
}
