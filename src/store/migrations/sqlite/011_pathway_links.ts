// Secure links of the pathway (issue 18): one row per token issued to an MT or a PHO for a PPP, keyed by the token's
// SHA-256 (the token itself is never stored). At most one live (not revoked) link per PPP, professional and purpose.
import type { Migration } from '../migration.js';

export const migration: Migration = {
  version: 11,
  name: 'pathway_links',
  sql: `
CREATE TABLE pathway_link (
  token_hash      TEXT PRIMARY KEY,  -- SHA-256 of the token, hexadecimal
  careplan        TEXT NOT NULL,     -- CarePlan id of the PPP
  role            TEXT NOT NULL,     -- MT | PHO
  rpps            TEXT NOT NULL,
  purpose         TEXT NOT NULL,     -- decision | prescription
  created         TEXT NOT NULL,
  expires         TEXT NOT NULL,
  revoked_at      TEXT,
  revoked_reason  TEXT,
  last_used       TEXT
);
CREATE UNIQUE INDEX pathway_link_live ON pathway_link (careplan, rpps, purpose) WHERE revoked_at IS NULL;
CREATE INDEX pathway_link_careplan ON pathway_link (careplan);
`,
};
