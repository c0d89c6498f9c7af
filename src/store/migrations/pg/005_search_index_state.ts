// Search index, issue 15 (SQLite migration 006 in PostgreSQL's idiom): which way each type's index rows were computed
// (src/fhir/search-params.ts `indexFingerprint`). At open, under the migration lock, the store rebuilds the rows of
// every type whose fingerprint changed, so resources written before an upgrade are found by the new searches.
import type { Migration } from '../migration.js';

export const migration: Migration = {
  version: 5,
  name: 'search_index_state',
  sql: `
CREATE TABLE search_index_state (
  type        text COLLATE "C" PRIMARY KEY,
  fingerprint text NOT NULL,
  indexed_at  text NOT NULL
);
`,
};
