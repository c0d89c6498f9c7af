// Secure links of the pathway (issue 18), SQLite migration 011 in PostgreSQL's idiom.
import type { Migration } from '../migration.js';

export const migration: Migration = {
  version: 10,
  name: 'pathway_links',
  sql: `
CREATE TABLE pathway_link (
  token_hash      text COLLATE "C" PRIMARY KEY,
  careplan        text COLLATE "C" NOT NULL,
  role            text NOT NULL,
  rpps            text COLLATE "C" NOT NULL,
  purpose         text NOT NULL,
  created         text COLLATE "C" NOT NULL,
  expires         text COLLATE "C" NOT NULL,
  revoked_at      text COLLATE "C",
  revoked_reason  text,
  last_used       text COLLATE "C"
);
CREATE UNIQUE INDEX pathway_link_live ON pathway_link (careplan, rpps, purpose) WHERE revoked_at IS NULL;
CREATE INDEX pathway_link_careplan ON pathway_link (careplan);
`,
};
