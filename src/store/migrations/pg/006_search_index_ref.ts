// Who refers to a resource, in one query (SQLite migration 007 in PostgreSQL's idiom; src/store/search-sql.ts
// `referrersStatement`): the `_ref` index rows (system = target type, value = target id) by target, then by referring
// type and id. The values are those pg-store.ts `indexText` cut (a type and an id are far below the cut), and the
// columns are COLLATE "C", so the index order is the order the query asks for.
import type { Migration } from '../migration.js';

export const migration: Migration = {
  version: 6,
  name: 'search_index_ref',
  sql: `
CREATE INDEX search_index_ref ON search_index (system, value, type, id) WHERE param = '_ref';
`,
};
