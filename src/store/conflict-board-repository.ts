// The conflict board's reads (issue 21 point 3, docs/identity.md "The conflict board"): for one establishment (a
// FINESS that is a whole OID arc of a source identity's system, as for the review queue's `establishment` filter),
// the open review items involving it with every source system of both identities (the other establishments), and
// the active federated identities flagged COLV (collision avérée) that hold one of its sources or that one of its
// sources left (a separation), with their systems.
// Shared by both dialects through a `SqlRunner` (`?` placeholders); what differs (flags as JSON text or text[], the
// active column as 0/1 or boolean) is chosen by `dialect`.
import type { SqlRunner } from './security-repository.js';

/** One open review item involving the establishment, with the source systems of both its identities. */
export interface BoardReviewRow {
  id: string;
  created: string;
  grade: string;
  flag: string;
  score: number;
  assignee?: string;
  sourceSystem: string;
  sourceId: string;
  newFederatedId: string;
  candidateFederatedId: string;
  /** The item's own source system and every source system of the new and the candidate identities (distinct, sorted). */
  systems: string[];
}

/**
 * An active federated identity flagged COLV that holds a source of the establishment, or that one of its sources left:
 * remembered as a different person (`identity_pair_decisions`) from an identity holding a source of it.
 */
export interface BoardCollisionRow {
  id: string;
  status: string;
  updated: string;
  /** Every source system of the identity (distinct, sorted). */
  systems: string[];
}

export interface ConflictBoardRepository {
  /** Every open review item involving `finess`, oldest first. */
  openReviews(finess: string): Promise<BoardReviewRow[]>;
  /** Active COLV identities holding a source of `finess` or that one left (see BoardCollisionRow), most recently changed first. */
  collisions(finess: string): Promise<BoardCollisionRow[]>;
  /** The source systems of these federated identities (distinct), by identity. */
  systemsOf(federatedIds: readonly string[]): Promise<Map<string, string[]>>;
}

/** The LIKE pattern matching `'.' || system || '.'` when the FINESS is a whole arc of it. */
export function finessArc(finess: string): string {
  if (!/^\d{9}$/.test(finess)) throw new Error(`conflict board: ${JSON.stringify(finess)} is not a FINESS number`);
  return `%.${finess}.%`;
}

const IN_CHUNK = 500;

export function conflictBoardRepository(read: SqlRunner, dialect: 'sqlite' | 'pg'): ConflictBoardRepository {
  const colv = dialect === 'sqlite' ? `f.flags LIKE '%"COLV"%'` : `'COLV' = ANY(f.flags)`;
  const active = dialect === 'sqlite' ? 'f.active = 1' : 'f.active';
  const sorted = (s: Iterable<string>) => [...new Set(s)].sort();
  const systemsOf = async (ids: readonly string[]): Promise<Map<string, string[]>> => {
    const out = new Map<string, string[]>();
    const unique = [...new Set(ids)];
    for (let i = 0; i < unique.length; i += IN_CHUNK) {
      const chunk = unique.slice(i, i + IN_CHUNK);
      const rows = await read.all<{ federated_id: string; system: string }>(
        `SELECT DISTINCT federated_id, system FROM identity_sources WHERE federated_id IN (${chunk.map(() => '?').join(', ')})`,
        chunk,
      );
      for (const r of rows) out.set(r.federated_id, sorted([...(out.get(r.federated_id) ?? []), r.system]));
    }
    return out;
  };
  return {
    systemsOf,
    async openReviews(finess) {
      const arc = finessArc(finess);
      const rows = await read.all<{
        id: string;
        created: string;
        grade: string;
        flag: string;
        score: number | string;
        assignee: string | null;
        source_system: string;
        source_id: string;
        new_federated_id: string;
        candidate_federated_id: string;
        system: string | null;
      }>(
        `WITH items AS (
           SELECT r.* FROM identity_reviews r
           WHERE r.state = 'open' AND (('.' || r.source_system || '.') LIKE ?
             OR EXISTS (SELECT 1 FROM identity_sources s WHERE s.federated_id = r.new_federated_id AND ('.' || s.system || '.') LIKE ?)
             OR EXISTS (SELECT 1 FROM identity_sources s WHERE s.federated_id = r.candidate_federated_id AND ('.' || s.system || '.') LIKE ?)))
         SELECT i.id, i.created, i.grade, i.flag, i.score, i.assignee, i.source_system, i.source_id, i.new_federated_id,
           i.candidate_federated_id, s.system
         FROM items i LEFT JOIN identity_sources s ON s.federated_id = i.new_federated_id OR s.federated_id = i.candidate_federated_id
         ORDER BY i.created, i.id`,
        [arc, arc, arc],
      );
      const byId = new Map<string, BoardReviewRow>();
      for (const r of rows) {
        let item = byId.get(r.id);
        if (!item) {
          item = {
            id: r.id,
            created: r.created,
            grade: r.grade,
            flag: r.flag,
            score: Number(r.score),
            ...(r.assignee !== null ? { assignee: r.assignee } : {}),
            sourceSystem: r.source_system,
            sourceId: r.source_id,
            newFederatedId: r.new_federated_id,
            candidateFederatedId: r.candidate_federated_id,
            systems: [r.source_system],
          };
          byId.set(r.id, item);
        }
        if (r.system !== null) item.systems.push(r.system);
      }
      for (const item of byId.values()) item.systems = sorted(item.systems);
      return [...byId.values()];
    },
    async collisions(finess) {
      const arc = finessArc(finess);
      const rows = await read.all<{ id: string; status: string; updated: string }>(
        `SELECT f.id, f.status, f.updated FROM identity_federated f
         WHERE ${active} AND ${colv} AND (
           EXISTS (SELECT 1 FROM identity_sources s WHERE s.federated_id = f.id AND ('.' || s.system || '.') LIKE ?)
           OR EXISTS (SELECT 1 FROM identity_pair_decisions d JOIN identity_sources s ON s.federated_id = d.federated_b
             WHERE d.federated_a = f.id AND d.decision = 'different' AND ('.' || s.system || '.') LIKE ?)
           OR EXISTS (SELECT 1 FROM identity_pair_decisions d JOIN identity_sources s ON s.federated_id = d.federated_a
             WHERE d.federated_b = f.id AND d.decision = 'different' AND ('.' || s.system || '.') LIKE ?))
         ORDER BY f.updated DESC, f.id`,
        [arc, arc, arc],
      );
      const systems = await systemsOf(rows.map((r) => r.id));
      return rows.map((r) => ({ id: r.id, status: r.status, updated: r.updated, systems: systems.get(r.id) ?? [] }));
    },
  };
}
