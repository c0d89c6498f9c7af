// Search index, issue 15: which way each type's index rows were computed (src/fhir/search-params.ts
// `indexFingerprint`). At open the store rebuilds the rows of every type whose fingerprint changed (new parameters such
// as `name`, `identifier:of-type` or `_ref`), so resources written before an upgrade are found by the new searches. An
// existing database has no row yet: its types are rebuilt once.
import type { Migration } from '../migration.js';

export const migration: Migration = {
  version: 6,
  name: 'search_index_state',
  sql: `
CREATE TABLE search_index_state (
  type        TEXT PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  indexed_at  TEXT NOT NULL
) WITHOUT ROWID;
`,
};
