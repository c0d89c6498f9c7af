// The MT's and the PHO's decisions on a PPP's recommendations (issue 18 points 4, 5 and 10), whatever door brings
// them: the decision page (`recordDecisions`, one transaction per confirmed form) or a FHIR Task update (through
// `decideTask`). Each decision is a new version of the recommendation's `reco-validation` Task (audited); each page
// submission is also one `Communication` (avis-mt / avis-pho) about the PPP. When the set is complete — every
// recommendation decided by the MT and by the PHO of the team (the MT only when the team has no PHO) — the document's
// regeneration is scheduled in the same transaction and the pathway step updated (docs/pathway.md).
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { CarePlan, Communication, Reference, Task } from '@medplum/fhirtypes';
import { PPP_DECISIONS, displayOf } from '../../domain/codes.js';
import type { LinkRecord } from '../../domain/pathway/link-token.js';
import type { Ppp } from '../../domain/ppp.js';
import { CS, PROFILE } from '../../fhir/canonical.js';
import { idFor, practitionerId } from '../../fhir/ids.js';
import { communicationCategory, uuidIdentifier } from '../../fhir/map-common.js';
import { assertValid } from '../../fhir/validate.js';
import type { ResourceStore, StoreTransaction } from '../../store/repository.js';
import { decideTask } from '../task-decision.js';
import type { PathwayContext } from './context.js';
import { afterPppDecisions, decisionTaskId, pppClosed, recommendationsFor, teamRpps } from './decision-set.js';

export { afterPppDecisions, decisionTaskId, expectedDecisionTasks, pppClosed, recommendationsFor, teamHas, teamRpps } from './decision-set.js';

export type DecisionCode = (typeof PPP_DECISIONS)[number]['code'];
export const DECISION_CODES: readonly DecisionCode[] = PPP_DECISIONS.map((d) => d.code);
/** A comment is required for these choices: what is not kept, or how it is modified, must be said. */
export const COMMENT_REQUIRED: ReadonlySet<DecisionCode> = new Set(['non-retenu', 'retenu-modifie']);

/** One professional's choice on one recommendation. */
export interface DecisionChoice {
  recommendation: string;
  decision: DecisionCode;
  /** Trimmed, checked free text (src/domain/text.ts); absent when empty. */
  comment?: string;
}

/** The decision a Task carries: code, comment (motif), when. */
export interface TaskDecision {
  code?: DecisionCode;
  comment?: string;
  status: string;
  at?: string;
}

export function decisionOf(task: Task): TaskDecision {
  const code = task.output?.flatMap((o) => o.valueCodeableConcept?.coding ?? []).find((c) => c.system === CS.pppDecision)?.code as DecisionCode | undefined;
  const comment = task.output?.find((o) => o.type?.text === 'motif')?.valueString;
  return { status: task.status, ...(code ? { code } : {}), ...(comment ? { comment } : {}), ...(task.lastModified ? { at: task.lastModified } : {}) };
}

// ---- the form's one-time token ------------------------------------------------------------------------------

/**
 * The form token of the `submission`-th confirmed submission of a link: `<n>.<HMAC-SHA256(token, carePlan|role|rpps|n)>`.
 * Keyed by the link's own token (a secret only its holder and the URL carry, never stored): nobody without the
 * link can make one, and it is spent once the n-th submission is recorded (the next form carries n+1).
 */
export function formToken(linkToken: string, link: Pick<LinkRecord, 'carePlan' | 'role' | 'rpps'>, submission: number): string {
  const mac = createHmac('sha256', linkToken).update(`passerelle-decision|${link.carePlan}|${link.role}|${link.rpps}|${submission}`).digest('base64url');
  return `${submission}.${mac}`;
}

/** The submission number a form token stands for, if it is one of this link's; undefined for anything else. */
export function formTokenSubmission(linkToken: string, link: Pick<LinkRecord, 'carePlan' | 'role' | 'rpps'>, presented: unknown): number | undefined {
  if (typeof presented !== 'string' || presented.length > 80) return undefined;
  const m = /^([1-9]\d{0,8})\.[A-Za-z0-9_-]{43}$/.exec(presented);
  if (!m) return undefined;
  const n = Number(m[1]);
  const expected = Buffer.from(formToken(linkToken, link, n));
  const given = Buffer.from(presented);
  return expected.length === given.length && timingSafeEqual(expected, given) ? n : undefined;
}

/** The id of the professional's n-th submission on a PPP (its Communication). */
export function submissionId(link: Pick<LinkRecord, 'carePlan' | 'role' | 'rpps'>, n: number): string {
  return idFor('Communication', 'pathway-decisions', link.carePlan, link.role, link.rpps, String(n));
}

/**
 * How many submissions the professional made on the PPP: their Communications are numbered 1, 2, … without gap, so
 * the first missing number is found by doubling then bisecting (a few reads, whatever the count).
 */
export async function submissionCount(tx: Pick<StoreTransaction, 'read'>, link: Pick<LinkRecord, 'carePlan' | 'role' | 'rpps'>): Promise<number> {
  const exists = async (n: number) => (await tx.read<Communication>('Communication', submissionId(link, n))) !== undefined;
  if (!(await exists(1))) return 0;
  let lo = 1;
  let hi = 2;
  while (await exists(hi)) {
    lo = hi;
    hi *= 2;
  }
  // exists(lo), !exists(hi)
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (await exists(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

// ---- the page's submission -----------------------------------------------------------------------------

/** The form was confirmed already (or a newer submission was recorded): its token is spent. */
export class ReplayedForm extends Error {
  constructor() {
    super('This decision form was already submitted');
  }
}

/** The PPP was closed (or its recipient changed) since the form was shown. */
export class ClosedPpp extends Error {
  constructor() {
    super('The PPP is closed: its decisions are read-only');
  }
}

export interface RecordContext extends PathwayContext {
  /** The submission number the form's token stands for (`formTokenSubmission`): must be the next one. */
  submission: number;
  /** Audit: the person behind the link, `rpps:<RPPS>`. */
  person?: string;
}

export interface RecordResult {
  submission: number;
  communication: string;
  tasks: string[];
  changed: number;
  complete: boolean;
}

function summaryText(ppp: Ppp, link: LinkRecord, choices: readonly DecisionChoice[]): string {
  const who = link.role === 'MT' ? 'médecin traitant' : 'pharmacien d’officine';
  const lines = choices.map((c) => {
    const r = ppp.recommendations.find((x) => x.id === c.recommendation);
    return `- ${c.recommendation} (${r?.text ?? ''}) : ${displayOf(PPP_DECISIONS, c.decision)}${c.comment ? ` — ${c.comment}` : ''}`;
  });
  return `Décisions du ${who} (RPPS ${link.rpps}) sur le PPP ${ppp.id} :\n${lines.join('\n')}`;
}

/**
 * Records one confirmed form of the decision page, in ONE transaction: each choice on its recommendation's Task
 * (through `decideTask`: a new version when it differs, audited), one Communication carrying the summary, the
 * completion check. Throws `ReplayedForm` when the form's token is spent, `ClosedPpp` when the PPP is closed, an
 * Error for a recommendation outside this professional's (the page checks the choices before).
 */
export async function recordDecisions(store: ResourceStore, link: LinkRecord, choices: readonly DecisionChoice[], ctx: RecordContext): Promise<RecordResult> {
  const now = ctx.now.toISOString();
  return store.transaction(async (tx) => {
    // Read (and on PostgreSQL lock) the CarePlan first: two submissions on one PPP are serialised from here.
    const carePlan = await tx.read<CarePlan>('CarePlan', link.carePlan);
    const c = await tx.pathway.getCase(link.carePlan);
    if (!carePlan || !c) throw new ClosedPpp();
    const ppp = c.document as Ppp;
    if (pppClosed(c, carePlan) || teamRpps(ppp, link.role) !== link.rpps) throw new ClosedPpp();
    const count = await submissionCount(tx, link);
    if (ctx.submission !== count + 1) throw new ReplayedForm();

    const mine = new Set(recommendationsFor(ppp, link.role).map((r) => r.id));
    const tasks: Reference[] = [];
    let changed = 0;
    for (const choice of choices) {
      if (!mine.has(choice.recommendation)) throw new Error(`recommendation ${choice.recommendation} is not decided by the ${link.role}`);
      const id = decisionTaskId(ppp, choice.recommendation, link.role);
      const stored = await tx.read<Task>('Task', id);
      if (!stored) throw new Error(`Task/${id} is missing`);
      const coding = { system: CS.pppDecision, code: choice.decision, display: displayOf(PPP_DECISIONS, choice.decision) };
      const next: Task = { ...stored, status: 'completed', output: [{ type: { text: 'decision' }, valueCodeableConcept: { coding: [coding] } }] };
      if (choice.comment) next.output!.push({ type: { text: 'motif' }, valueString: choice.comment });
      delete next.statusReason;
      delete next.businessStatus;
      const same = decisionOf(stored);
      if (stored.status === 'completed' && same.code === choice.decision && (same.comment ?? '') === (choice.comment ?? '')) {
        tasks.push({ reference: `Task/${id}` });
        continue;
      }
      next.lastModified = now;
      const r = await decideTask(tx, stored, next, { actor: ctx.actor, now, ...(ctx.person ? { person: ctx.person } : {}), ...(ctx.requestId ? { requestId: ctx.requestId } : {}), deferPathway: true });
      if (r.changed) changed++;
      tasks.push({ reference: `Task/${id}` });
    }

    const n = count + 1;
    const commId = submissionId(link, n);
    const owner = (await tx.read<Task>('Task', decisionTaskId(ppp, choices[0]?.recommendation ?? '', link.role)))?.owner;
    const communication: Communication & { id: string } = {
      resourceType: 'Communication',
      id: commId,
      meta: { profile: [PROFILE.communication] },
      identifier: [uuidIdentifier(commId)],
      status: 'completed',
      category: [communicationCategory(link.role === 'MT' ? 'avis-mt' : 'avis-pho')],
      ...(carePlan.subject ? { subject: carePlan.subject } : {}),
      about: [{ reference: `CarePlan/${link.carePlan}` }],
      ...(tasks.length > 0 ? { basedOn: tasks } : {}),
      // The previous submission of the same professional: the thread of their decisions on this PPP.
      ...(n > 1 ? { inResponseTo: [{ reference: `Communication/${submissionId(link, n - 1)}` }] } : {}),
      sent: now,
      ...(carePlan.author ? { recipient: [carePlan.author] } : {}),
      sender: { reference: owner?.reference ?? `Practitioner/${practitionerId(link.rpps)}` },
      payload: [{ contentString: summaryText(ppp, link, choices) }],
    };
    assertValid(communication);
    const put = await tx.put(communication);
    if (!put.created) throw new ReplayedForm();
    const done = await afterPppDecisions(tx, link.carePlan, ctx.now);
    await tx.audit({
      action: 'pathway.decisions',
      actor: ctx.actor,
      ...(ctx.person ? { person: ctx.person } : {}),
      entities: [`CarePlan/${link.carePlan}`, `Communication/${commId}`, ...tasks.map((t) => t.reference as string)],
      outcome: 'success',
      detail: `submission ${n}: ${choices.length} decision(s), ${changed} changed${done?.complete ? '; set complete, document scheduled' : ''}`,
      ...(ctx.requestId ? { requestId: ctx.requestId } : {}),
    });
    return { submission: n, communication: commId, tasks: tasks.map((t) => t.reference as string), changed, complete: Boolean(done?.complete) };
  });
}
