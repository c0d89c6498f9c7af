// The `_ref` rows (every reference of a resource, for referential integrity and tenancy) are read only through
// search_index_ref and search_index_resource; no search names `_ref`, yet each of them was also an entry of
// search_index_value. About a third of a PPP's index rows are `_ref` rows, each landing on its own page of that
// index: the value index leaves them out (issue 22). Queries that use it say `param <> '_ref'` (search-sql.ts), which
// is how the planner knows the partial index answers them.
import type { Migration } from '../migration.js';

export const migration: Migration = {
  version: 15,
  name: 'search_index_value_no_ref',
  sql: `
DROP INDEX search_index_value;
CREATE INDEX search_index_value ON search_index (type, param, value, system, id) WHERE param <> '_ref';
`,
};
