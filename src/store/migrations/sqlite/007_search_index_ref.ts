// Who refers to a resource, in one query (src/store/search-sql.ts `referrersStatement`, behind the referential
// integrity of FHIR deletes): the `_ref` index rows (system = target type, value = target id) by target, then by
// referring type and id. search_index's other indexes lead with the referring type, which made the lookup one query
// per resource type. Partial: only `_ref` rows, so the index costs what the references cost.
import type { Migration } from '../migration.js';

export const migration: Migration = {
  version: 7,
  name: 'search_index_ref',
  sql: `
CREATE INDEX search_index_ref ON search_index (system, value, type, id) WHERE param = '_ref';
`,
};
