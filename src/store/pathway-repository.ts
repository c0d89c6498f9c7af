// The pathway's own state (migration 012 / pg 011, docs/pathway.md): one case per PPP (its canonical document as last
// submitted, send and close dates), the scheduler's due work (claimed once across processes, like outbox messages)
// and the prescriptions the PHO uploads at D45/D90. Shared by both dialects through a `SqlRunner`.
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

export function pathwaySql(dialect: 'sqlite' | 'pg') {
  const skipLocked = dialect === 'pg' ? ' FOR UPDATE SKIP LOCKED' : '';
  return {
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
  return {
    saveCase: async (c) => {
      await run.run(SQL.saveCase, [c.carePlan, c.pppId, c.finess, c.patient, JSON.stringify(c.document), c.created, c.updated]);
    },
    getCase: async (carePlan) => {
      const [r] = await run.all<CaseRow>(SQL.getCase, [carePlan]);
      return r ? caseOf(r) : undefined;
    },
    markSent: async (carePlan, at) => (await run.run(SQL.markSent, [at, at, at, carePlan])) === 1,
    updateDocument: async (carePlan, document, at) => (await run.run(SQL.updateDocument, [JSON.stringify(document), at, carePlan])) === 1,
    close: async (carePlan, at) => (await run.run(SQL.close, [at, at, carePlan])) === 1,
    schedule: async (carePlan, kind, dueAt, options) => {
      await run.run(SQL.schedule, [carePlan, kind, dueAt, options?.reopen ? 1 : 0]);
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
