// The decision on a recommendation: a `reco-validation` Task of a PPP (MT or PHO) or of a BPM (MT) moves to
// `completed` with its `ppp-decision` output (Retenu, Non retenu, Retenu avec modification), or to `rejected` when
// its owner declines to answer. Whatever door brings it (FHIR PUT or PATCH of the Task today, the decision page
// later), it goes through `decideTask`: the transition is checked, nothing else of the Task may change, and the
// decision is audited (`ppp.decision` / `bpm.decision`) in the same transaction. A PPP's decision can be changed while
// the PPP is open (every change a new Task version, audited) and is read-only once it is closed; a BPM's is made once.
// After a PPP decision the pathway checks whether the set is complete (services/pathway/decision-set.ts).
import type { CarePlan, Task, TaskOutput } from '@medplum/fhirtypes';
import { PPP_DECISIONS, displayOf } from '../domain/codes.js';
import type { Ppp } from '../domain/ppp.js';
import type { DecisionState } from '../domain/reports/facts.js';
import { CS } from '../fhir/canonical.js';
import { businessRule } from '../fhir/outcome.js';
import { assertValid } from '../fhir/validate.js';
import type { StoreTransaction, WriteOptions } from '../store/repository.js';
import { carePlanKind } from './bpm-attachment.js';
import { afterPppDecisions, expectedDecisionTasks, pppClosed } from './pathway/decision-set.js';

/** Statuses a decision can still be made from. */
export const OPEN_STATUSES: ReadonlySet<string> = new Set(['requested', 'received', 'accepted', 'in-progress']);
/** Where a decision takes the Task. */
const DECIDED_STATUSES: ReadonlySet<string> = new Set(['completed', 'rejected']);
/** What a decision writes; every other element of the Task stays as the document made it. */
const DECISION_ELEMENTS = ['meta', 'status', 'businessStatus', 'output', 'lastModified', 'statusReason'] as const;

const DECISION_CODES: ReadonlySet<string> = new Set(PPP_DECISIONS.map((d) => d.code));

export interface DecisionContext {
  actor: string;
  requestId?: string;
  /** Clock reading of the request: `lastModified` when the decision does not give one. */
  now: string;
  /** The person behind the decision (`rpps:<RPPS>`), for the audit row. */
  person?: string;
  /** The caller runs the pathway's completion check itself, once for several decisions (the decision page). */
  deferPathway?: boolean;
}

/** A recommendation's validation Task (code `reco-validation` of Passerelle's task types). */
export function isDecisionTask(task: Task | undefined): boolean {
  return (task?.code?.coding ?? []).some((c) => c.system === CS.taskType && c.code === 'reco-validation');
}

/** JSON with object keys sorted: two resources equal in content compare equal whatever their key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

function without(task: Task, keys: readonly string[]): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...task };
  for (const k of keys) delete copy[k];
  return copy;
}

const refuse = (text: string, expression: string): never => {
  throw businessRule(text, expression);
};

/** The decision code of a completed Task's outputs, checked; the normalised outputs. */
function decisionOutputs(outputs: readonly TaskOutput[], status: string): { code?: string; outputs: TaskOutput[] } {
  let code: string | undefined;
  const normalised: TaskOutput[] = [];
  outputs.forEach((o, i) => {
    const at = `Task.output[${i}]`;
    const codings = (o.valueCodeableConcept?.coding ?? []).filter((c) => c.system === CS.pppDecision);
    if (codings.length > 0) {
      if (status !== 'completed') refuse(`A ${status} Task carries no decision; a decision completes the Task (status completed)`, at);
      if (code !== undefined || codings.length > 1) refuse('A decision Task has exactly one decision output', at);
      const c = codings[0].code ?? '';
      if (!DECISION_CODES.has(c)) {
        refuse(`"${c}" is not a decision of ${CS.pppDecision} (${[...DECISION_CODES].join(', ')})`, `${at}.valueCodeableConcept.coding`);
      }
      code = c;
      const coding = { system: CS.pppDecision, code: c, display: displayOf(PPP_DECISIONS, c) };
      normalised.push({ type: { text: 'decision' }, valueCodeableConcept: { coding: [coding] } });
    } else if (o.type?.text === 'motif' && typeof o.valueString === 'string') {
      normalised.push({ type: { text: 'motif' }, valueString: o.valueString });
    } else {
      refuse(`Only the decision (a ${CS.pppDecision} code) and its motif (type.text "motif", valueString) are outputs of a decision`, at);
    }
  });
  if (status === 'completed' && code === undefined) {
    refuse(`A completed decision Task needs its decision: an output whose valueCodeableConcept is a code of ${CS.pppDecision}`, 'Task.output');
  }
  return { ...(code ? { code } : {}), outputs: normalised };
}

/**
 * Writes the decision `next` over the stored Task `stored` (the same id) in `tx`, with its audit row. Refused (422,
 * naming the element) unless it is the decision transition: from requested, received, accepted or in-progress (or,
 * for a PPP that is not closed, from completed or rejected: a changed decision) to
 * completed with one `ppp-decision` output (and optionally a motif), or to rejected; nothing but status,
 * businessStatus, output, lastModified and statusReason may differ. Writing the Task as stored again changes nothing.
 */
export async function decideTask(
  tx: StoreTransaction,
  stored: Task,
  next: Task,
  ctx: DecisionContext,
  write?: WriteOptions,
): Promise<{ resource: Task; created: boolean; changed: boolean }> {
  // meta is the store's and the producing document's (profile): the decision keeps it.
  if (canonical(without(stored, ['meta'])) === canonical(without(next, ['meta']))) return tx.put({ ...next, meta: stored.meta }, write);
  const id = stored.id as string;
  const before = without(stored, DECISION_ELEMENTS);
  const after = without(next, DECISION_ELEMENTS);
  const changed = Object.keys({ ...before, ...after }).filter((k) => canonical(before[k]) !== canonical(after[k]));
  if (changed.length > 0) {
    refuse(
      `Task/${id} is a recommendation's decision Task: a decision changes only status, businessStatus, output, lastModified and statusReason, not ${changed.join(', ')}`,
      `Task.${changed[0]}`,
    );
  }
  const plans = (stored.basedOn ?? []).map((r) => r.reference).filter((r): r is string => r?.startsWith('CarePlan/') ?? false);
  let kind: 'ppp' | 'bpm' = 'ppp';
  let closed = false;
  for (const ref of plans) {
    const planId = ref.slice('CarePlan/'.length);
    const cp = await tx.read<CarePlan>('CarePlan', planId);
    if (cp && carePlanKind(cp) === 'bpm') kind = 'bpm';
    if (pppClosed(await tx.pathway.getCase(planId), cp)) closed = true;
  }
  if (!OPEN_STATUSES.has(stored.status)) {
    if (kind === 'bpm') refuse(`Task/${id} is ${stored.status}: a BPM decision is made once, on a Task that is ${[...OPEN_STATUSES].join(', ')}`, 'Task.status');
    if (closed) refuse(`Task/${id} is ${stored.status} and its PPP is closed: its decision is read-only`, 'Task.status');
  }
  if (!DECIDED_STATUSES.has(next.status)) {
    refuse(`A decision moves Task/${id} from ${stored.status} to completed (with its decision output) or rejected, not to ${next.status}`, 'Task.status');
  }
  const { code, outputs } = decisionOutputs(next.output ?? [], next.status);
  if (code !== undefined) {
    const stated = (next.businessStatus?.coding ?? []).find((c) => c.system === CS.pppDecision);
    if (stated && stated.code !== code) refuse(`businessStatus "${stated.code}" differs from the decision output "${code}"`, 'Task.businessStatus');
  }
  const decided: Task = { ...next, meta: stored.meta, lastModified: next.lastModified ?? ctx.now };
  delete decided.businessStatus;
  delete decided.output;
  if (code !== undefined) decided.businessStatus = { coding: [{ system: CS.pppDecision, code, display: displayOf(PPP_DECISIONS, code) }] };
  if (outputs.length > 0) decided.output = outputs;
  assertValid(decided);
  const result = await tx.put(decided, write);

  await tx.audit({
    action: `${kind}.decision`,
    actor: ctx.actor,
    ...(ctx.person ? { person: ctx.person } : {}),
    entities: [`Task/${id}`, ...plans, ...(stored.focus?.reference ? [stored.focus.reference] : [])],
    outcome: 'success',
    detail: code !== undefined ? `decision ${code}` : 'declined (rejected)',
    ...(ctx.requestId ? { requestId: ctx.requestId } : {}),
  });
  if (kind === 'ppp') {
    // The reports count the decision now, before the document catches up (docs/reports.md "Decisions").
    for (const ref of plans) {
      const planId = ref.slice('CarePlan/'.length);
      const ppp = (await tx.pathway.getCase(planId))?.document as Ppp | undefined;
      const expected = ppp ? expectedDecisionTasks(ppp).find((e) => e.id === id) : undefined;
      if (expected) await tx.pathway.recordDecision(planId, expected.recommendation, expected.actor, (code as DecisionState | undefined) ?? 'declined', decided.lastModified ?? ctx.now);
    }
  }
  if (kind === 'ppp' && !ctx.deferPathway) {
    for (const ref of plans) await afterPppDecisions(tx, ref.slice('CarePlan/'.length), new Date(ctx.now));
  }
  return result;
}

/**
 * A document sent again (POST /ppp, /bpm) maps its validation Tasks as it knows them: open, unless the document
 * itself carries the decision. A decision already made (through `decideTask`) is kept rather than reopened by the
 * re-sent document; a decision the document carries is the sender's and is written as mapped.
 */
export async function keepDecision(tx: Pick<StoreTransaction, 'read'>, mapped: Task): Promise<Task> {
  if (!isDecisionTask(mapped) || !OPEN_STATUSES.has(mapped.status) || mapped.id === undefined) return mapped;
  const stored = await tx.read<Task>('Task', mapped.id);
  if (!stored || !DECIDED_STATUSES.has(stored.status)) return mapped;
  const kept: Record<string, unknown> = { ...mapped };
  const decided: Record<string, unknown> = { ...stored };
  for (const k of DECISION_ELEMENTS) {
    if (k === 'meta') continue;
    if (decided[k] === undefined) delete kept[k];
    else kept[k] = decided[k];
  }
  return kept as unknown as Task;
}
