// Initial PostgreSQL schema: current resources, their versions, the search index and the audit trail (the tables
// of SQLite migration 001, in PostgreSQL's idiom). Text that is compared or ordered is COLLATE "C", so orders and
// ranges are byte orders as in SQLite (ids, ISO instants), whatever the database's default collation.
import type { Migration } from '../migration.js';

export const migration: Migration = {
  version: 1,
  name: 'initial',
  sql: `
-- Current version of every resource (a deleted resource keeps its row, deleted = true).
-- last_updated is an ISO UTC instant with milliseconds, so text order is time order. json: the resource as
-- written (type json keeps the text as given, and accepts any JSON string, unlike jsonb).
CREATE TABLE resources (
  type         text COLLATE "C" NOT NULL,
  id           text COLLATE "C" NOT NULL,
  version      integer NOT NULL,
  last_updated text COLLATE "C" NOT NULL,
  deleted      boolean NOT NULL DEFAULT false,
  json         json    NOT NULL,
  PRIMARY KEY (type, id)
);
-- Search order (newest first, then id) and _lastUpdated ranges, over live resources only.
CREATE INDEX resources_live_by_updated ON resources (type, last_updated DESC, id) WHERE NOT deleted;

-- Every version, including deletion markers.
CREATE TABLE resource_versions (
  type         text COLLATE "C" NOT NULL,
  id           text COLLATE "C" NOT NULL,
  version      integer NOT NULL,
  last_updated text COLLATE "C" NOT NULL,
  deleted      boolean NOT NULL DEFAULT false,
  json         json    NOT NULL,
  PRIMARY KEY (type, id, version)
);

-- One row per search parameter value of a live resource (src/fhir/search-params.ts, IndexRow).
-- Tokens/uris: system ('' when none) + value; references: system = target type, value = id;
-- dates: [date_start, date_end) as ISO UTC instants.
CREATE TABLE search_index (
  type       text COLLATE "C" NOT NULL,
  id         text COLLATE "C" NOT NULL,
  param      text COLLATE "C" NOT NULL,
  system     text COLLATE "C" NOT NULL DEFAULT '',
  value      text COLLATE "C",
  date_start text COLLATE "C",
  date_end   text COLLATE "C"
);
CREATE INDEX search_index_value ON search_index (type, param, value, system, id);
CREATE INDEX search_index_date ON search_index (type, param, date_start, date_end, id) WHERE date_start IS NOT NULL;
-- Per-resource access: replacing rows on write, and correlated EXISTS filters in searches.
CREATE INDEX search_index_resource ON search_index (type, id, param, value, system);

CREATE TABLE audit (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  recorded   text COLLATE "C" NOT NULL,
  action     text NOT NULL,
  actor      text NOT NULL,
  entities   text[] NOT NULL, -- references
  outcome    text NOT NULL CHECK (outcome IN ('success', 'failure')),
  detail     text,
  request_id text
);
-- Lookup of the audit trail of one resource.
CREATE TABLE audit_entities (
  entity   text COLLATE "C" NOT NULL,
  audit_id bigint NOT NULL REFERENCES audit (id),
  PRIMARY KEY (entity, audit_id)
);
`,
};
