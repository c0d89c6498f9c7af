// The pathway's own state (migration 012 / pg 011, docs/pathway.md): one case per PPP (its canonical document as last
// submitted, send and close dates), the scheduler's due work (claimed once across processes, like outbox messages)
// and the prescriptions the PHO uploads at D45/D90. Shared by both dialects through a `SqlRunner`.
import type { LinkRole } from '../domain/pathway/link-token.js';
import type { Ppp } from '../domain/ppp.js';
import { pppFacts, type DecisionState } from '../domain/reports/facts.js';
import type { SqlRunner } from './security-repository.js';

/** A PPP in the pathway. */
export interface PathwayCase {
  carePlan: string;
  pppId: string;
  finess: string;
  /** Federated Patient id. */
  patient: string;
  /** The canonical PPP (parsed JSON) as last submitted or updated by the pathway. */
  document: unknown;
  /** The PPP's `created`. */
  created: string;
  /** First send to the MT and the PHO (anchor of D45/D90). */
  sentAt?: string;
  lastSent?: string;
  closedAt?: string;
  updated: string;
}

/** What the scheduler runs: the follow-up windows, the decisions' deadline, the document regenerated after decisions. */
export type DueKind = 'd45' | 'd90' | 'decision-deadline' | 'document';
export const DUE_KINDS: readonly DueKind[] = ['d45', 'd90', 'decision-deadline', 'document'];
export type DueState = 'scheduled' | 'claimed' | 'done' | 'cancelled';

export interface DueItem {
  carePlan: string;
  kind: DueKind;
  dueAt: string;
  state: DueState;
  claimedBy?: string;
  claimedUntil?: string;
  attempts: number;
  doneAt?: string;
  lastError?: string;
}

export type FollowUpWindow = 'd45' | 'd90';
export type UploadKind = 'pdf' | 'lines' | 'no-change';

/** A PHO's answer to a prescription request. */
export interface PrescriptionUpload {
  id: string;
  carePlan: string;
  followup: FollowUpWindow;
  rpps: string;
  received: string;
  kind: UploadKind;
  mediaType?: string;
  /** The PDF's bytes (kind `pdf`); omitted by `uploads()` listings, read with `upload(id)`. */
  content?: Buffer;
  /** Structured prescription lines (kind `lines`), as JSON. */
  lines?: unknown;
}

export interface CaseFilter {
  finess?: string;
  /** Include closed cases (default: open ones only). */
  closed?: boolean;
  limit?: number;
}

/** Written in a transaction (`tx.pathway`), or each call in its own (`store.pathway`). */
export interface PathwayWriter {
  /** Creates or updates the case of a PPP (document, patient, updated); keeps its send and close dates. */
  saveCase(c: Omit<PathwayCase, 'sentAt' | 'lastSent' | 'closedAt'>): Promise<void>;
  getCase(carePlan: string): Promise<PathwayCase | undefined>;
  /** Records a send at `at`: `sent_at` is set by the first send only; `last_sent` each time. False for an unknown case. */
  markSent(carePlan: string, at: string): Promise<boolean>;
  /** Replaces the stored canonical document (the pathway's own update: sentAt, decisions). */
  updateDocument(carePlan: string, document: unknown, at: string): Promise<boolean>;
  close(carePlan: string, at: string): Promise<boolean>;
  /**
   * Schedules (or moves) the due item (carePlan, kind) at `dueAt`, state `scheduled`; an item `done` stays done unless
   * `reopen` is set (the document regenerated again after a changed decision).
   */
  schedule(carePlan: string, kind: DueKind, dueAt: string, options?: { reopen?: boolean }): Promise<void>;
  /** Cancels the open due items of a case (all kinds, or those given). */
  cancelDue(carePlan: string, kinds?: readonly DueKind[]): Promise<number>;
  dueOf(carePlan: string): Promise<DueItem[]>;
  addUpload(u: PrescriptionUpload): Promise<void>;
  uploads(carePlan: string): Promise<PrescriptionUpload[]>;
  upload(id: string): Promise<PrescriptionUpload | undefined>;
  // The reports' rows (issue 20, migration 013 / pg 012). saveCase and updateDocument rewrite a PPP's own rows from its
  // document, markSent and close date them, schedule dates its D45/D90 windows: the calls below are the rest.
  /** A decision recorded on a validation Task (the decision page or the FHIR door), before the document catches up. */
  recordDecision(carePlan: string, recommendation: string, actor: LinkRole, decision: DecisionState, at: string): Promise<void>;
  /** The outcomes of a follow-up window recorded (its completion). */
  followupDone(carePlan: string, window: FollowUpWindow, at: string): Promise<void>;
  /** A valid use of a decision or prescription link by the professional (`at`: ISO instant; counted per UTC day). */
  linkUsed(carePlan: string, role: LinkRole, rpps: string, at: string): Promise<void>;
  /** Rewrites the report rows of a case from its stored document (after a migration, or `passerelle report rebuild`). */
  refreshReport(carePlan: string): Promise<boolean>;
}

export interface PathwayRepository extends PathwayWriter {
  /**
   * Claims up to `limit` items due at `now` (scheduled, or claimed by a worker whose lease ran out) for `worker` until
   * `leaseUntil`, each by one worker only (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: one writer). Oldest first.
   */
  claimDue(worker: string, now: string, leaseUntil: string, limit: number): Promise<DueItem[]>;
  /** Marks a claimed item done (only by the worker holding it); false when the claim was lost. */
  completeDue(carePlan: string, kind: DueKind, worker: string, at: string): Promise<boolean>;
  /** Gives a claimed item back, to be tried again at `retryAt`, with the error. */
  failDue(carePlan: string, kind: DueKind, worker: string, error: string, retryAt: string): Promise<boolean>;
  cases(filter?: CaseFilter): Promise<PathwayCase[]>;
  /** Due items not done nor cancelled, oldest first (the worklist). */
  openDue(filter?: { finess?: string; before?: string; limit?: number }): Promise<DueItem[]>;
}

const CASE_COLUMNS = 'careplan, ppp_id, finess, patient, document, created, sent_at, last_sent, closed_at, updated';
const DUE_COLUMNS = 'careplan, kind, due_at, state, claimed_by, claimed_until, attempts, done_at, last_error';
const UPLOAD_LIST = 'id, careplan, followup, rpps, received, kind, media_type, lines';

const REPORT_PPP_COLUMNS = 'careplan, ppp_id, pathway, finess, establishment_name, patient, created_day, entry_door, rcp_mode, rcp_day, recommendations';

export function pathwaySql(dialect: 'sqlite' | 'pg') {
  const skipLocked = dialect === 'pg' ? ' FOR UPDATE SKIP LOCKED' : '';
  return {
    reportPpp:
      `INSERT INTO report_ppp (${REPORT_PPP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (careplan) DO UPDATE SET ` +
      REPORT_PPP_COLUMNS.split(', ')
        .slice(1)
        .map((c) => `${c} = excluded.${c}`)
        .join(', '),
    reportMembersClear: 'DELETE FROM report_member WHERE careplan = ?',
    reportMember: 'INSERT INTO report_member (careplan, role, rpps, name, took_part, pharmacy_finess) VALUES ',
    reportDecisionsClear: 'DELETE FROM report_decision WHERE careplan = ?',
    // A decision the document does not carry yet (pending) keeps the one recorded on the Task; one it carries wins.
    reportDecisionPending:
      "INSERT INTO report_decision (careplan, recommendation, actor, decision, decided_at, created_day, finess) VALUES (?, ?, ?, 'pending', NULL, ?, ?) " +
      'ON CONFLICT (careplan, recommendation, actor) DO UPDATE SET created_day = excluded.created_day, finess = excluded.finess',
    reportDecision:
      'INSERT INTO report_decision (careplan, recommendation, actor, decision, decided_at, created_day, finess) VALUES (?, ?, ?, ?, ?, ?, ?) ' +
      'ON CONFLICT (careplan, recommendation, actor) DO UPDATE SET decision = excluded.decision, decided_at = excluded.decided_at, created_day = excluded.created_day, finess = excluded.finess',
    // A decision recorded on its Task: the PPP's day and establishment from its report row (none: nothing to count).
    reportTaskDecision:
      'INSERT INTO report_decision (careplan, recommendation, actor, decision, decided_at, created_day, finess) ' +
      'SELECT ?, ?, ?, ?, ?, p.created_day, p.finess FROM report_ppp p WHERE p.careplan = ? ' +
      'ON CONFLICT (careplan, recommendation, actor) DO UPDATE SET decision = excluded.decision, decided_at = excluded.decided_at',
    reportSent: 'UPDATE report_ppp SET sent_at = COALESCE(sent_at, ?) WHERE careplan = ?',
    reportClosed: 'UPDATE report_ppp SET closed_at = COALESCE(closed_at, ?) WHERE careplan = ?',
    // A window of a PPP with report rows (the case is saved before it is sent), dated by the PPP's own day.
    reportFollowupDue:
      'INSERT INTO report_followup (careplan, followup, due_at, done_at, created_day, finess) SELECT ?, ?, ?, NULL, p.created_day, p.finess FROM report_ppp p WHERE p.careplan = ? ' +
      'ON CONFLICT (careplan, followup) DO UPDATE SET due_at = excluded.due_at',
    reportFollowupPeriod: 'UPDATE report_followup SET created_day = ?, finess = ? WHERE careplan = ?',
    reportFollowupDone: 'UPDATE report_followup SET done_at = COALESCE(done_at, ?) WHERE careplan = ? AND followup = ?',
    reportLinkUse: 'INSERT INTO report_link_use (rpps, role, careplan, day) VALUES (?, ?, ?, ?) ON CONFLICT (rpps, role, careplan, day) DO NOTHING',
    saveCase:
      `INSERT INTO pathway_case (${CASE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, NULL, ?) ` +
      'ON CONFLICT (careplan) DO UPDATE SET ppp_id = excluded.ppp_id, finess = excluded.finess, patient = excluded.patient, document = excluded.document, created = excluded.created, updated = excluded.updated',
    getCase: `SELECT ${CASE_COLUMNS} FROM pathway_case WHERE careplan = ?`,
    markSent: 'UPDATE pathway_case SET sent_at = COALESCE(sent_at, ?), last_sent = ?, updated = ? WHERE careplan = ?',
    updateDocument: 'UPDATE pathway_case SET document = ?, updated = ? WHERE careplan = ?',
    close: 'UPDATE pathway_case SET closed_at = COALESCE(closed_at, ?), updated = ? WHERE careplan = ?',
    schedule:
      `INSERT INTO pathway_due (${DUE_COLUMNS}) VALUES (?, ?, ?, 'scheduled', NULL, NULL, 0, NULL, NULL) ` +
      "ON CONFLICT (careplan, kind) DO UPDATE SET due_at = excluded.due_at, state = 'scheduled', claimed_by = NULL, claimed_until = NULL, done_at = NULL " +
      "WHERE pathway_due.state NOT IN ('done', 'cancelled') OR CAST(? AS INTEGER) = 1",
    cancelAll: "UPDATE pathway_due SET state = 'cancelled', claimed_by = NULL, claimed_until = NULL WHERE careplan = ? AND state IN ('scheduled', 'claimed')",
    dueOf: `SELECT ${DUE_COLUMNS} FROM pathway_due WHERE careplan = ? ORDER BY due_at, kind`,
    addUpload: 'INSERT INTO pathway_upload (id, careplan, followup, rpps, received, kind, media_type, content, lines) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    uploads: `SELECT ${UPLOAD_LIST} FROM pathway_upload WHERE careplan = ? ORDER BY received, id`,
    upload: `SELECT ${UPLOAD_LIST}, content FROM pathway_upload WHERE id = ?`,
    claim:
      `UPDATE pathway_due SET state = 'claimed', claimed_by = ?, claimed_until = ?, attempts = attempts + 1 WHERE (careplan, kind) IN (` +
      `SELECT careplan, kind FROM pathway_due WHERE due_at <= ? AND (state = 'scheduled' OR (state = 'claimed' AND claimed_until < ?)) ORDER BY due_at, careplan, kind LIMIT ?${skipLocked}` +
      `) RETURNING ${DUE_COLUMNS}`,
    complete: "UPDATE pathway_due SET state = 'done', done_at = ?, claimed_by = NULL, claimed_until = NULL, last_error = NULL WHERE careplan = ? AND kind = ? AND state = 'claimed' AND claimed_by = ?",
    fail: "UPDATE pathway_due SET state = 'scheduled', due_at = ?, claimed_by = NULL, claimed_until = NULL, last_error = ? WHERE careplan = ? AND kind = ? AND state = 'claimed' AND claimed_by = ?",
    openDue:
      `SELECT ${DUE_COLUMNS.split(', ').map((c) => `d.${c}`).join(', ')} FROM pathway_due d JOIN pathway_case c ON c.careplan = d.careplan ` +
      "WHERE d.state IN ('scheduled', 'claimed') AND (CAST(? AS TEXT) IS NULL OR c.finess = ?) AND (CAST(? AS TEXT) IS NULL OR d.due_at <= ?) ORDER BY d.due_at, d.careplan, d.kind LIMIT ?",
  } as const;
}

interface CaseRow {
  careplan: string;
  ppp_id: string;
  finess: string;
  patient: string;
  document: string;
  created: string;
  sent_at: string | null;
  last_sent: string | null;
  closed_at: string | null;
  updated: string;
}

interface DueRow {
  careplan: string;
  kind: DueKind;
  due_at: string;
  state: DueState;
  claimed_by: string | null;
  claimed_until: string | null;
  attempts: number | string;
  done_at: string | null;
  last_error: string | null;
}

interface UploadRow {
  id: string;
  careplan: string;
  followup: FollowUpWindow;
  rpps: string;
  received: string;
  kind: UploadKind;
  media_type: string | null;
  lines: string | null;
  content?: Buffer | Uint8Array | null;
}

function caseOf(r: CaseRow): PathwayCase {
  return {
    carePlan: r.careplan,
    pppId: r.ppp_id,
    finess: r.finess,
    patient: r.patient,
    document: JSON.parse(r.document) as unknown,
    created: r.created,
    ...(r.sent_at !== null ? { sentAt: r.sent_at } : {}),
    ...(r.last_sent !== null ? { lastSent: r.last_sent } : {}),
    ...(r.closed_at !== null ? { closedAt: r.closed_at } : {}),
    updated: r.updated,
  };
}

function dueOf(r: DueRow): DueItem {
  return {
    carePlan: r.careplan,
    kind: r.kind,
    dueAt: r.due_at,
    state: r.state,
    ...(r.claimed_by !== null ? { claimedBy: r.claimed_by } : {}),
    ...(r.claimed_until !== null ? { claimedUntil: r.claimed_until } : {}),
    attempts: Number(r.attempts),
    ...(r.done_at !== null ? { doneAt: r.done_at } : {}),
    ...(r.last_error !== null ? { lastError: r.last_error } : {}),
  };
}

function uploadOf(r: UploadRow): PrescriptionUpload {
  return {
    id: r.id,
    carePlan: r.careplan,
    followup: r.followup,
    rpps: r.rpps,
    received: r.received,
    kind: r.kind,
    ...(r.media_type !== null ? { mediaType: r.media_type } : {}),
    ...(r.lines !== null ? { lines: JSON.parse(r.lines) as unknown } : {}),
    ...(r.content ? { content: Buffer.from(r.content) } : {}),
  };
}

/** The pathway's rows over one transaction's runner (`tx.pathway`). */
export function pathwayWriter(run: SqlRunner, dialect: 'sqlite' | 'pg'): PathwayWriter {
  const SQL = pathwaySql(dialect);
  /** The report rows of a PPP from its canonical document (pppFacts), replacing the previous ones. */
  const writeReport = async (carePlan: string, patient: string, document: unknown): Promise<void> => {
    const f = pppFacts(document as Ppp, { carePlan, patient });
    const p = f.ppp;
    await run.run(SQL.reportPpp, [carePlan, p.pppId, p.pathway, p.finess, p.establishmentName, patient, p.createdDay, p.entryDoor, p.rcpMode ?? null, p.rcpDay ?? null, p.recommendations]);
    await run.run(SQL.reportFollowupPeriod, [p.createdDay, p.finess, carePlan]);
    await run.run(SQL.reportMembersClear, [carePlan]);
    if (f.members.length > 0) {
      await run.run(
        SQL.reportMember + f.members.map(() => '(?, ?, ?, ?, ?, ?)').join(', '),
        f.members.flatMap((m) => [carePlan, m.role, m.rpps, m.name, m.tookPart ? 1 : 0, m.pharmacyFiness ?? null]),
      );
    }
    // Recommendations no longer expected (removed, or the PHO left the team) lose their rows.
    const keep = new Set(f.decisions.map((d) => `${d.recommendation}\u0000${d.actor}`));
    const stored = await run.all<{ recommendation: string; actor: string }>('SELECT recommendation, actor FROM report_decision WHERE careplan = ?', [carePlan]);
    for (const r of stored) {
      if (!keep.has(`${r.recommendation}\u0000${r.actor}`)) await run.run('DELETE FROM report_decision WHERE careplan = ? AND recommendation = ? AND actor = ?', [carePlan, r.recommendation, r.actor]);
    }
    const ppp = document as Ppp;
    for (const d of f.decisions) {
      if (d.decision === 'pending') await run.run(SQL.reportDecisionPending, [carePlan, d.recommendation, d.actor, p.createdDay, p.finess]);
      else {
        const date = ppp.recommendations.find((r) => r.id === d.recommendation)?.decisions.find((x) => x.actor === d.actor)?.date ?? null;
        await run.run(SQL.reportDecision, [carePlan, d.recommendation, d.actor, d.decision, date, p.createdDay, p.finess]);
      }
    }
  };
  return {
    saveCase: async (c) => {
      await run.run(SQL.saveCase, [c.carePlan, c.pppId, c.finess, c.patient, JSON.stringify(c.document), c.created, c.updated]);
      await writeReport(c.carePlan, c.patient, c.document);
    },
    getCase: async (carePlan) => {
      const [r] = await run.all<CaseRow>(SQL.getCase, [carePlan]);
      return r ? caseOf(r) : undefined;
    },
    markSent: async (carePlan, at) => {
      const sent = (await run.run(SQL.markSent, [at, at, at, carePlan])) === 1;
      if (sent) await run.run(SQL.reportSent, [at, carePlan]);
      return sent;
    },
    updateDocument: async (carePlan, document, at) => {
      const [row] = await run.all<{ patient: string }>('SELECT patient FROM pathway_case WHERE careplan = ?', [carePlan]);
      if (!row) return false;
      await run.run(SQL.updateDocument, [JSON.stringify(document), at, carePlan]);
      await writeReport(carePlan, row.patient, document);
      return true;
    },
    close: async (carePlan, at) => {
      const closed = (await run.run(SQL.close, [at, at, carePlan])) === 1;
      if (closed) await run.run(SQL.reportClosed, [at, carePlan]);
      return closed;
    },
    schedule: async (carePlan, kind, dueAt, options) => {
      await run.run(SQL.schedule, [carePlan, kind, dueAt, options?.reopen ? 1 : 0]);
      if (kind === 'd45' || kind === 'd90') await run.run(SQL.reportFollowupDue, [carePlan, kind, dueAt, carePlan]);
    },
    cancelDue: async (carePlan, kinds) => {
      if (kinds === undefined) return run.run(SQL.cancelAll, [carePlan]);
      if (kinds.length === 0) return 0;
      return run.run(`${SQL.cancelAll} AND kind IN (${kinds.map(() => '?').join(', ')})`, [carePlan, ...kinds]);
    },
    dueOf: async (carePlan) => (await run.all<DueRow>(SQL.dueOf, [carePlan])).map(dueOf),
    addUpload: async (u) => {
      await run.run(SQL.addUpload, [
        u.id,
        u.carePlan,
        u.followup,
        u.rpps,
        u.received,
        u.kind,
        u.mediaType ?? null,
        u.content ?? null,
        u.lines !== undefined ? JSON.stringify(u.lines) : null,
      ]);
    },
    uploads: async (carePlan) => (await run.all<UploadRow>(SQL.uploads, [carePlan])).map(uploadOf),
    upload: async (id) => {
      const [r] = await run.all<UploadRow>(SQL.upload, [id]);
      return r ? uploadOf(r) : undefined;
    },
    recordDecision: async (carePlan, recommendation, actor, decision, at) => {
      await run.run(SQL.reportTaskDecision, [carePlan, recommendation, actor, decision, decision === 'pending' ? null : at, carePlan]);
    },
    followupDone: async (carePlan, window, at) => {
      await run.run(SQL.reportFollowupDone, [at, carePlan, window]);
    },
    linkUsed: async (carePlan, role, rpps, at) => {
      await run.run(SQL.reportLinkUse, [rpps, role, carePlan, at.slice(0, 10)]);
    },
    refreshReport: async (carePlan) => {
      const [r] = await run.all<CaseRow>(SQL.getCase, [carePlan]);
      if (!r) return false;
      await writeReport(carePlan, r.patient, JSON.parse(r.document) as unknown);
      const due = await run.all<{ kind: string; due_at: string }>("SELECT kind, due_at FROM pathway_due WHERE careplan = ? AND kind IN ('d45', 'd90')", [carePlan]);
      for (const d of due) await run.run(SQL.reportFollowupDue, [carePlan, d.kind, d.due_at, carePlan]);
      if (r.sent_at) await run.run(SQL.reportSent, [r.sent_at, carePlan]);
      if (r.closed_at) await run.run(SQL.reportClosed, [r.closed_at, carePlan]);
      return true;
    },
  };
}

/** The pathway outside transactions (`store.pathway`): reads on `read`, each write in its own short transaction. */
export function pathwayRepository(
  read: SqlRunner,
  write: <T>(fn: (run: SqlRunner) => Promise<T>) => Promise<T>,
  dialect: 'sqlite' | 'pg',
): PathwayRepository {
  const SQL = pathwaySql(dialect);
  const reader = pathwayWriter(read, dialect);
  const inWrite =
    <A extends unknown[], R>(f: (w: PathwayWriter, ...args: A) => Promise<R>) =>
    (...args: A): Promise<R> =>
      write((run) => f(pathwayWriter(run, dialect), ...args));
  return {
    saveCase: inWrite((w, c: Parameters<PathwayWriter['saveCase']>[0]) => w.saveCase(c)),
    getCase: reader.getCase,
    markSent: inWrite((w, carePlan: string, at: string) => w.markSent(carePlan, at)),
    updateDocument: inWrite((w, carePlan: string, document: unknown, at: string) => w.updateDocument(carePlan, document, at)),
    close: inWrite((w, carePlan: string, at: string) => w.close(carePlan, at)),
    schedule: inWrite((w, carePlan: string, kind: DueKind, dueAt: string, options?: { reopen?: boolean }) => w.schedule(carePlan, kind, dueAt, options)),
    cancelDue: inWrite((w, carePlan: string, kinds?: readonly DueKind[]) => w.cancelDue(carePlan, kinds)),
    dueOf: reader.dueOf,
    addUpload: inWrite((w, u: PrescriptionUpload) => w.addUpload(u)),
    uploads: reader.uploads,
    upload: reader.upload,
    recordDecision: inWrite((w, carePlan: string, recommendation: string, actor: LinkRole, decision: DecisionState, at: string) => w.recordDecision(carePlan, recommendation, actor, decision, at)),
    followupDone: inWrite((w, carePlan: string, window: FollowUpWindow, at: string) => w.followupDone(carePlan, window, at)),
    linkUsed: inWrite((w, carePlan: string, role: LinkRole, rpps: string, at: string) => w.linkUsed(carePlan, role, rpps, at)),
    refreshReport: inWrite((w, carePlan: string) => w.refreshReport(carePlan)),
    claimDue: (worker, now, leaseUntil, limit) =>
      write(async (run) =>
        // RETURNING keeps no order: oldest first again.
        (await run.all<DueRow>(SQL.claim, [worker, leaseUntil, now, now, limit]))
          .map(dueOf)
          .sort((a, b) => (a.dueAt < b.dueAt ? -1 : a.dueAt > b.dueAt ? 1 : a.carePlan < b.carePlan ? -1 : a.carePlan > b.carePlan ? 1 : a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0)),
      ),
    completeDue: (carePlan, kind, worker, at) => write(async (run) => (await run.run(SQL.complete, [at, carePlan, kind, worker])) === 1),
    failDue: (carePlan, kind, worker, error, retryAt) => write(async (run) => (await run.run(SQL.fail, [retryAt, error.slice(0, 2000), carePlan, kind, worker])) === 1),
    cases: async (filter = {}) => {
      const where: string[] = [];
      const params: unknown[] = [];
      if (filter.finess !== undefined) {
        where.push('finess = ?');
        params.push(filter.finess);
      }
      if (!filter.closed) where.push('closed_at IS NULL');
      const sql = `SELECT ${CASE_COLUMNS} FROM pathway_case${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created DESC, careplan LIMIT ?`;
      return (await read.all<CaseRow>(sql, [...params, filter.limit ?? 500])).map(caseOf);
    },
    openDue: async (filter = {}) =>
      (await read.all<DueRow>(SQL.openDue, [filter.finess ?? null, filter.finess ?? null, filter.before ?? null, filter.before ?? null, filter.limit ?? 500])).map(dueOf),
  };
}
