// The case manager records the follow-up outcomes of a PPP (issue 18 point 6, docs/pathway.md "Recording the
// outcomes"): per window (D45, D90) and recommendation, implemented / not implemented / unknown, with a note. One
// door for the page and the API: checked, then written in ONE transaction with the follow-up Task, the step, the close
// at D90 (links revoked) and the audit row — or nothing at all.
import type { CarePlan, Task } from '@medplum/fhirtypes';
import { z } from 'zod';
import { FOLLOWUP_OUTCOMES, FOLLOWUP_WINDOWS, codeValues } from '../../domain/codes.js';
import type { FollowUpWindowCode } from '../../domain/pathway/step.js';
import { ReasonText } from '../../domain/text.js';
import { businessRule, conflict, invalidIssues, issue, notFound } from '../../fhir/outcome.js';
import type { ResourceStore } from '../../store/repository.js';
import { followupOutcomesOf, mergeFollowupOutcomes, pathwayStatusOf, setPathwayStatus, type FollowupOutcomeCode, type FollowupOutcomeEntry } from './careplan-state.js';
import { DEFAULT_FOLLOW_UP, activityReferences, pppResourceId, windowIsOpen, type FollowUpDays } from './overview.js';

/** Longest note the case manager writes on one outcome. */
export const MAX_OUTCOME_NOTE = 2000;
/** More entries than a PPP has recommendations is a mistake; this bounds the work of a hostile body. */
const MAX_ENTRIES = 200;

export const OutcomesInput = z
  .object({
    window: z.enum(codeValues(FOLLOWUP_WINDOWS)),
    outcomes: z
      .array(
        z
          .object({
            recommendation: z.string().min(1).max(200),
            outcome: z.enum(codeValues(FOLLOWUP_OUTCOMES)),
            note: ReasonText(MAX_OUTCOME_NOTE).optional(),
          })
          .strict(),
      )
      .min(1, 'at least one outcome')
      .max(MAX_ENTRIES, `at most ${MAX_ENTRIES} outcomes`),
  })
  .strict();
export type OutcomesInput = z.infer<typeof OutcomesInput>;

export interface OutcomeContext {
  /** Clock reading of the request. */
  now: Date;
  /** Who acts, for the audit row (`person:<sub>`, a client id). */
  actor: string;
  /** Who recorded, as the CarePlan keeps it (`rpps:<RPPS>` for a person); the actor when absent. */
  recorder?: string;
  requestId?: string;
  followUp?: FollowUpDays;
}

export interface OutcomesResult {
  carePlan: CarePlan;
  window: FollowUpWindowCode;
  /** Every recommendation of the window has its outcome. */
  complete: boolean;
  /** The PPP was closed by this recording (D90 complete). */
  closed: boolean;
}

/** Parses an outcomes body; a 400 OperationOutcome naming each field's path (`outcomes[1].note`). */
export function parseOutcomes(input: unknown): OutcomesInput {
  const r = OutcomesInput.safeParse(input);
  if (r.success) return r.data;
  throw invalidIssues(
    r.error.issues.map((i) =>
      issue(
        'invalid',
        i.message,
        i.path.reduce<string>((p, k) => (typeof k === 'number' ? `${p}[${k}]` : p ? `${p}.${String(k)}` : String(k)), '') || undefined,
      ),
    ),
  );
}

/**
 * Records outcomes on the PPP `carePlanId`. Refused (nothing written): a body that does not parse (400, per field), an
 * unknown PPP (404), a closed one (409), a window not open yet (422 on `window`), a recommendation that is not an
 * activity of the CarePlan or given twice (400 on `outcomes[i].recommendation`).
 */
export async function recordOutcomes(store: ResourceStore, carePlanId: string, input: unknown, ctx: OutcomeContext): Promise<OutcomesResult> {
  const body = parseOutcomes(input);
  const now = ctx.now.toISOString();
  const days = ctx.followUp ?? DEFAULT_FOLLOW_UP;
  return store.transaction(async (tx) => {
    const c = await tx.pathway.getCase(carePlanId);
    const stored = await tx.read<CarePlan>('CarePlan', carePlanId);
    if (!c || !stored) throw notFound(`CarePlan/${carePlanId} is not a PPP in the pathway`);
    const status = pathwayStatusOf(stored);
    if (c.closedAt || status?.step === 'clos') throw conflict(`The PPP CarePlan/${carePlanId} is closed: its outcomes can no longer change`);
    const sentAt = c.sentAt ?? status?.sentAt ?? (c.document as { sentAt?: string }).sentAt;
    const due = await tx.pathway.dueOf(carePlanId);
    if (!windowIsOpen(sentAt, due, body.window, ctx.now, days)) {
      throw businessRule(
        sentAt ? `The ${body.window.toUpperCase()} follow-up window is not open yet` : 'The PPP has not been sent: no follow-up window is open',
        'window',
      );
    }
    const refs = activityReferences(stored);
    const seen = new Set<string>();
    const problems = body.outcomes.flatMap((o, i) => {
      const at = `outcomes[${i}].recommendation`;
      if (!refs.includes(o.recommendation)) return [issue('invalid', `"${o.recommendation}" is not a recommendation of this PPP (one of its CarePlan activities)`, at)];
      if (seen.has(o.recommendation)) return [issue('invalid', `"${o.recommendation}" is given twice`, at)];
      seen.add(o.recommendation);
      return [];
    });
    if (problems.length > 0) throw invalidIssues(problems);

    const recorder = ctx.recorder ?? ctx.actor;
    const entries: FollowupOutcomeEntry[] = body.outcomes.map((o) => ({
      window: body.window,
      recommendation: o.recommendation,
      outcome: o.outcome as FollowupOutcomeCode,
      recorded: now,
      recorder,
      ...(o.note ? { note: o.note } : {}),
    }));
    let carePlan = (await mergeFollowupOutcomes(tx, carePlanId, entries)) as CarePlan;
    const recorded = followupOutcomesOf(carePlan).filter((e) => e.window === body.window && e.outcome);
    const complete = refs.every((r) => recorded.some((e) => e.recommendation === r));

    if (complete) {
      const taskId = pppResourceId(c, 'Task', `followup-${body.window}`);
      const task = await tx.read<Task>('Task', taskId);
      if (task && task.status !== 'completed') await tx.put<Task>({ ...task, status: 'completed', lastModified: now });
      // The window's follow-up is complete: counted by the reports (docs/reports.md "Follow-up").
      await tx.pathway.followupDone(carePlanId, body.window, now);
    }
    const closed = complete && body.window === 'd90';
    if (closed) {
      carePlan = (await setPathwayStatus(tx, carePlanId, { ...status, step: 'clos', ...(sentAt ? { sentAt } : {}), closedAt: now })) ?? carePlan;
      await tx.pathway.close(carePlanId, now);
      await tx.pathway.cancelDue(carePlanId);
      await tx.links.revokeAll(carePlanId, 'closed', now);
    } else if (complete && body.window === 'd45' && status?.step !== 'suivi-j90') {
      carePlan = (await setPathwayStatus(tx, carePlanId, { ...status, step: 'suivi-j90', ...(sentAt ? { sentAt } : {}) })) ?? carePlan;
    }
    await tx.audit({
      action: 'pathway.outcome',
      actor: ctx.actor,
      entities: [`CarePlan/${carePlanId}`],
      outcome: 'success',
      detail: `window=${body.window} recorded=${entries.length} ${entries.map((e) => e.outcome).join(',')} complete=${complete}${closed ? ' closed' : ''}`,
      ...(ctx.requestId ? { requestId: ctx.requestId } : {}),
    });
    return { carePlan, window: body.window, complete, closed };
  });
}
