// The conflict board of one establishment (issue 21 point 3, docs/identity.md "The conflict board"): the open review
// items involving its identities with the other establishments involved and their age, the anomalies of its own
// feed by kind, the COLV identities (collisions avérées) holding one of its sources, and the separations of the last
// 90 days (audit rows `identity.separate` and `identity.collision-different`). Read-only; the same figures feed the
// JSON answer, the page and the CSV export. Who may see which board is decided here too (`boardAccess`).
import { sourcePatientId } from '../fhir/federated-patient.js';
import { hasScope, isTenantBound, ownFiness, type Principal } from '../domain/access/model.js';
import type { ResourceStore } from '../store/repository.js';
import type { BoardReviewRow } from '../store/conflict-board-repository.js';

export const SEPARATION_DAYS = 90;
export const SEPARATION_ACTIONS = ['identity.separate', 'identity.collision-different'] as const;
const RECENT_ANOMALIES = 20;
const MAX_SEPARATIONS = 1000;
const DAY = 86_400_000;

/** Age buckets of the open items (days since opened: [from, to)). */
export const AGE_BUCKETS = [
  { key: 'lt1d', from: 0, to: 1 },
  { key: '1-7d', from: 1, to: 7 },
  { key: '7-30d', from: 7, to: 30 },
  { key: '30-90d', from: 30, to: 90 },
  { key: 'gt90d', from: 90, to: Infinity },
] as const;
const GRADES = ['certain', 'probable', 'possible', 'certainly-not'] as const;

/** The first 9-digit OID arc of a source system: the establishment of its patient-id domain. */
export function finessOfSystem(system: string): string | undefined {
  return /(?:^|[.:])(\d{9})(?:\.|$)/.exec(system)?.[1];
}

/** The establishments of these systems other than `finess` (distinct, sorted); systems without a FINESS arc are left out. */
export function otherEstablishments(systems: readonly string[], finess: string): string[] {
  const arc = `.${finess}.`;
  const out = new Set<string>();
  for (const s of systems) {
    if (`.${s}.`.includes(arc)) continue;
    const f = finessOfSystem(s);
    if (f && f !== finess) out.add(f);
  }
  return [...out].sort();
}

/**
 * Which boards a principal may read: the regional cell (`identity.review`, not bound to a tenant: identitovigilance,
 * admin, or authentication off) every establishment's, and may assign items; a principal bound to an establishment
 * (or pharmacy) tenant with `fhir.read` or `identity.review` its own establishment's only.
 */
export function boardAccess(p: Principal, finess: string): 'regional' | 'own' | 'refused' {
  if (isRegionalCell(p)) return 'regional';
  if ((hasScope(p, 'fhir.read') || hasScope(p, 'identity.review')) && ownFiness(p) === finess) return 'own';
  return 'refused';
}

/** The regional identitovigilance cell: `identity.review` without a tenant binding. */
export function isRegionalCell(p: Principal): boolean {
  return hasScope(p, 'identity.review') && !isTenantBound(p);
}

export interface BoardReviewItem {
  id: string;
  grade: string;
  flag: string;
  score: number;
  created: string;
  ageDays: number;
  assignee?: string;
  source: { system: string; value: string; patient: string };
  newIdentity: string;
  candidate: string;
  /** The other establishments involved (FINESS); empty: both identities are this establishment's. */
  otherEstablishments: string[];
}

export interface ConflictBoard {
  establishment: string;
  generated: string;
  reviews: {
    open: number;
    byGrade: Record<string, number>;
    byAge: Record<string, number>;
    oldest?: string;
    /** Open items by the other establishment involved, most first (an item with two others counts for each). */
    byEstablishment: { finess: string; open: number }[];
    /** Of them, the items with this establishment only. */
    internal: number;
    offset: number;
    count: number;
    items: BoardReviewItem[];
  };
  anomalies: {
    total: number;
    byCode: Record<string, number>;
    recent: { sourceSystem: string; sourceId: string; code: string; field: string; received: string; kept: string; created: string }[];
  };
  collisions: { total: number; items: { id: string; patient: string; status: string; updated: string; otherEstablishments: string[] }[] };
  separations: {
    since: string;
    total: number;
    items: { at: string; action: string; actor: string; identities: string[]; otherEstablishments: string[] }[];
  };
}

function reviewItem(r: BoardReviewRow, finess: string, now: number): BoardReviewItem {
  return {
    id: r.id,
    grade: r.grade,
    flag: r.flag,
    score: r.score,
    created: r.created,
    ageDays: Math.max(0, Math.floor((now - Date.parse(r.created)) / DAY)),
    ...(r.assignee ? { assignee: r.assignee } : {}),
    source: { system: r.sourceSystem, value: r.sourceId, patient: `Patient/${sourcePatientId(r.sourceSystem, r.sourceId)}` },
    newIdentity: `Patient/${r.newFederatedId}`,
    candidate: `Patient/${r.candidateFederatedId}`,
    otherEstablishments: otherEstablishments(r.systems, finess),
  };
}

/** The board of `finess` at `now`; `limit`/`offset` page the review items (every figure counts them all). */
export async function conflictBoard(store: ResourceStore, finess: string, options: { now?: Date; limit: number; offset: number }): Promise<ConflictBoard> {
  const now = (options.now ?? new Date()).getTime();
  const since = new Date(now - SEPARATION_DAYS * DAY).toISOString();
  const [rows, byCode, recent, collisions, audit] = await Promise.all([
    store.conflictBoard.openReviews(finess),
    store.identityAnomalies.countsByCode({ establishment: finess }),
    store.identityAnomalies.list({ establishment: finess, limit: RECENT_ANOMALIES }),
    store.conflictBoard.collisions(finess),
    store.auditTrail.search({ filter: { actions: [...SEPARATION_ACTIONS], from: since, outcome: 'success' }, count: MAX_SEPARATIONS, offset: 0, order: 'desc', total: false }),
  ]);

  const items = rows.map((r) => reviewItem(r, finess, now));
  const byGrade: Record<string, number> = Object.fromEntries(GRADES.map((g) => [g, 0]));
  const byAge: Record<string, number> = Object.fromEntries(AGE_BUCKETS.map((b) => [b.key, 0]));
  const others = new Map<string, number>();
  let internal = 0;
  for (const i of items) {
    byGrade[i.grade] = (byGrade[i.grade] ?? 0) + 1;
    const bucket = AGE_BUCKETS.find((b) => i.ageDays >= b.from && i.ageDays < b.to)!;
    byAge[bucket.key]! += 1;
    if (i.otherEstablishments.length === 0) internal++;
    for (const f of i.otherEstablishments) others.set(f, (others.get(f) ?? 0) + 1);
  }
  const byEstablishment = [...others].map(([f, open]) => ({ finess: f, open })).sort((a, b) => b.open - a.open || (a.finess < b.finess ? -1 : 1));
  const offset = Math.max(0, options.offset);
  const page = items.slice(offset, offset + Math.max(0, options.limit));

  // Separations: the audit rows of the last 90 days whose identities (as they stand now) hold a source of `finess`.
  const federated = (refs: readonly string[]) => refs.filter((e) => e.startsWith('Patient/')).map((e) => e.slice('Patient/'.length));
  const systems = await store.conflictBoard.systemsOf(audit.records.flatMap((r) => federated(r.entities)));
  const arc = `.${finess}.`;
  const separations = audit.records.flatMap((r) => {
    const ids = federated(r.entities).filter((id) => systems.has(id));
    const all = ids.flatMap((id) => systems.get(id) ?? []);
    if (!all.some((s) => `.${s}.`.includes(arc))) return [];
    return [{ at: r.recorded, action: r.action, actor: r.actor, identities: ids.map((id) => `Patient/${id}`), otherEstablishments: otherEstablishments(all, finess) }];
  });

  return {
    establishment: finess,
    generated: new Date(now).toISOString(),
    reviews: {
      open: items.length,
      byGrade,
      byAge,
      ...(items.length ? { oldest: items[0]!.created } : {}),
      byEstablishment,
      internal,
      offset,
      count: page.length,
      items: page,
    },
    anomalies: {
      total: Object.values(byCode).reduce((a, b) => a + b, 0),
      byCode,
      recent: recent.map((a) => ({ sourceSystem: a.sourceSystem, sourceId: a.sourceId, code: a.code, field: a.field, received: a.received, kept: a.kept, created: a.created })),
    },
    collisions: {
      total: collisions.length,
      items: collisions.map((c) => ({ id: c.id, patient: `Patient/${c.id}`, status: c.status, updated: c.updated, otherEstablishments: otherEstablishments(c.systems, finess) })),
    },
    separations: { since, total: separations.length, items: separations },
  };
}

export const BOARD_CSV_HEADER = 'kind,id,date,age_days,grade,flag,score,assignee,source_system,source_id,identities,other_establishments,count';

/** A CSV field: quoted when needed; a leading = + - @ (a spreadsheet formula) is neutralised with an apostrophe. */
function field(v: string | number | undefined): string {
  let s = v === undefined ? '' : String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * The board as CSV (RFC 4180, header row): one `review` row per open item of the board (build it with no page limit
 * for all of them), one `collision`
 * row per COLV identity, one `separation` row per recent separation, one `anomaly` row per kind (id = the code,
 * `count`). Lists inside a field are separated by spaces.
 */
export function boardCsv(board: ConflictBoard): string {
  const lines = [BOARD_CSV_HEADER];
  const row = (cells: (string | number | undefined)[]) => lines.push(cells.map(field).join(','));
  for (const i of board.reviews.items) {
    row(['review', i.id, i.created, i.ageDays, i.grade, i.flag, i.score, i.assignee, i.source.system, i.source.value, `${i.newIdentity} ${i.candidate}`, i.otherEstablishments.join(' '), undefined]);
  }
  for (const c of board.collisions.items) row(['collision', c.id, c.updated, undefined, undefined, 'COLV', undefined, undefined, undefined, undefined, c.patient, c.otherEstablishments.join(' '), undefined]);
  for (const s of board.separations.items) row(['separation', s.action, s.at, undefined, undefined, undefined, undefined, s.actor, undefined, undefined, s.identities.join(' '), s.otherEstablishments.join(' '), undefined]);
  for (const [code, n] of Object.entries(board.anomalies.byCode)) row(['anomaly', code, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, n]);
  return `${lines.join('\r\n')}\r\n`;
}
