// Secure links of the pathway (migration 011 / pg 010): one row per token issued to an MT or a PHO, keyed by the
// token's SHA-256 (src/domain/pathway/link-token.ts). Issuing revokes the previous live link of the same PPP,
// professional and purpose in the same transaction. Shared by both dialects through a `SqlRunner`.
import type { LinkPurpose, LinkRecord, LinkRole } from '../domain/pathway/link-token.js';
import type { SqlRunner } from './security-repository.js';

/** A link to store: its record before any use or revocation (`created`, `expires`: ISO instants). */
export type LinkIssue = Omit<LinkRecord, 'revokedAt' | 'revokedReason' | 'lastUsed'>;

/** Written in a transaction (`tx.links`), or each call in its own (`store.links`). */
export interface PathwayLinkWriter {
  /** Stores a new link; the previous live link of the same (carePlan, rpps, purpose) is revoked as `replaced`. Returns how many were. */
  issue(link: LinkIssue): Promise<{ replaced: number }>;
  find(tokenHash: string): Promise<LinkRecord | undefined>;
  /** Revokes one live link; false when it is unknown or already revoked. */
  revoke(tokenHash: string, reason: string, at: string): Promise<boolean>;
  /** Revokes every live link of a PPP (closed, withdrawn…); the number revoked. */
  revokeAll(carePlan: string, reason: string, at: string): Promise<number>;
  /** Records a use; false when the link is unknown. */
  touch(tokenHash: string, at: string): Promise<boolean>;
  /** The PPP's links neither revoked nor expired at `at`, by role then RPPS then purpose. */
  live(carePlan: string, at: string): Promise<LinkRecord[]>;
}

export type PathwayLinkRepository = PathwayLinkWriter;

const COLUMNS = 'token_hash, careplan, role, rpps, purpose, created, expires, revoked_at, revoked_reason, last_used';

export const PATHWAY_LINK_SQL = {
  // Nothing is replaced when the new hash exists already: the insert then fails, and a store-level write on SQLite
  // (whose short transaction commits what ran before a failed statement) has changed nothing either.
  replace:
    "UPDATE pathway_link SET revoked_at = ?, revoked_reason = 'replaced' WHERE careplan = ? AND rpps = ? AND purpose = ? AND revoked_at IS NULL AND NOT EXISTS (SELECT 1 FROM pathway_link WHERE token_hash = ?)",
  insert: `INSERT INTO pathway_link (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL)`,
  find: `SELECT ${COLUMNS} FROM pathway_link WHERE token_hash = ?`,
  revoke: 'UPDATE pathway_link SET revoked_at = ?, revoked_reason = ? WHERE token_hash = ? AND revoked_at IS NULL',
  revokeAll: 'UPDATE pathway_link SET revoked_at = ?, revoked_reason = ? WHERE careplan = ? AND revoked_at IS NULL',
  touch: 'UPDATE pathway_link SET last_used = ? WHERE token_hash = ?',
  live: `SELECT ${COLUMNS} FROM pathway_link WHERE careplan = ? AND revoked_at IS NULL AND expires > ? ORDER BY role, rpps, purpose`,
} as const;

interface LinkRow {
  token_hash: string;
  careplan: string;
  role: LinkRole;
  rpps: string;
  purpose: LinkPurpose;
  created: string;
  expires: string;
  revoked_at: string | null;
  revoked_reason: string | null;
  last_used: string | null;
}

function linkOf(r: LinkRow): LinkRecord {
  return {
    tokenHash: r.token_hash,
    carePlan: r.careplan,
    role: r.role,
    rpps: r.rpps,
    purpose: r.purpose,
    created: r.created,
    expires: r.expires,
    ...(r.revoked_at !== null ? { revokedAt: r.revoked_at } : {}),
    ...(r.revoked_reason !== null ? { revokedReason: r.revoked_reason } : {}),
    ...(r.last_used !== null ? { lastUsed: r.last_used } : {}),
  };
}

/** The links over one transaction's runner (`tx.links`). */
export function pathwayLinkWriter(run: SqlRunner): PathwayLinkWriter {
  return {
    issue: async (l) => {
      // Both statements are started before either is awaited: on SQLite's short write transactions the runner must
      // not yield between statements; on PostgreSQL one client runs them in order.
      const replaced = run.run(PATHWAY_LINK_SQL.replace, [l.created, l.carePlan, l.rpps, l.purpose, l.tokenHash]);
      const inserted = run.run(PATHWAY_LINK_SQL.insert, [l.tokenHash, l.carePlan, l.role, l.rpps, l.purpose, l.created, l.expires]);
      const [n] = await Promise.all([replaced, inserted]);
      return { replaced: n };
    },
    find: async (hash) => {
      const [r] = await run.all<LinkRow>(PATHWAY_LINK_SQL.find, [hash]);
      return r ? linkOf(r) : undefined;
    },
    revoke: async (hash, reason, at) => (await run.run(PATHWAY_LINK_SQL.revoke, [at, reason, hash])) === 1,
    revokeAll: (carePlan, reason, at) => run.run(PATHWAY_LINK_SQL.revokeAll, [at, reason, carePlan]),
    touch: async (hash, at) => (await run.run(PATHWAY_LINK_SQL.touch, [at, hash])) === 1,
    live: async (carePlan, at) => (await run.all<LinkRow>(PATHWAY_LINK_SQL.live, [carePlan, at])).map(linkOf),
  };
}

/** The links outside transactions (`store.links`): reads on `read`, each write in its own short transaction. */
export function pathwayLinkRepository(read: SqlRunner, write: <T>(fn: (run: SqlRunner) => Promise<T>) => Promise<T>): PathwayLinkRepository {
  const reader = pathwayLinkWriter(read);
  return {
    issue: (l) => write((run) => pathwayLinkWriter(run).issue(l)),
    find: reader.find,
    revoke: (hash, reason, at) => write((run) => pathwayLinkWriter(run).revoke(hash, reason, at)),
    revokeAll: (carePlan, reason, at) => write((run) => pathwayLinkWriter(run).revokeAll(carePlan, reason, at)),
    touch: (hash, at) => write((run) => pathwayLinkWriter(run).touch(hash, at)),
    live: reader.live,
  };
}
