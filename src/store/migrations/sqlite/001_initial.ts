// Initial SQLite schema: current resources, their versions, the search index and the audit trail.
import type { Migration } from '../migration.js';

export const migration: Migration = {
  version: 1,
  name: 'initial',
  sql: `
-- Current version of every resource (a deleted resource keeps its row, deleted = 1).
-- last_updated is an ISO UTC instant with milliseconds, so text order is time order.
CREATE TABLE resources (
  type         TEXT    NOT NULL,
  id           TEXT    NOT NULL,
  version      INTEGER NOT NULL,
  last_updated TEXT    NOT NULL,
  deleted      INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
  json         TEXT    NOT NULL
);
-- The key, as a named index so searches can pin it with INDEXED BY.
CREATE UNIQUE INDEX resources_key ON resources (type, id);
-- Search order (newest first, then id) and _lastUpdated ranges, over live resources only.
CREATE INDEX resources_live_by_updated ON resources (type, last_updated DESC, id) WHERE deleted = 0;

-- Every version, including deletion markers.
CREATE TABLE resource_versions (
  type         TEXT    NOT NULL,
  id           TEXT    NOT NULL,
  version      INTEGER NOT NULL,
  last_updated TEXT    NOT NULL,
  deleted      INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
  json         TEXT    NOT NULL,
  PRIMARY KEY (type, id, version)
);

-- One row per search parameter value of a live resource (src/fhir/search-params.ts, IndexRow).
-- Tokens/uris: system ('' when none) + value; references: system = target type, value = id;
-- dates: [date_start, date_end) as ISO UTC instants.
CREATE TABLE search_index (
  type       TEXT NOT NULL,
  id         TEXT NOT NULL,
  param      TEXT NOT NULL,
  system     TEXT NOT NULL DEFAULT '',
  value      TEXT,
  date_start TEXT,
  date_end   TEXT
);
CREATE INDEX search_index_value ON search_index (type, param, value, system, id);
CREATE INDEX search_index_date ON search_index (type, param, date_start, date_end, id) WHERE date_start IS NOT NULL;
-- Per-resource access: replacing rows on write, and correlated EXISTS filters in searches (covering).
CREATE INDEX search_index_resource ON search_index (type, id, param, value, system);

CREATE TABLE audit (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  recorded   TEXT NOT NULL,
  action     TEXT NOT NULL,
  actor      TEXT NOT NULL,
  entities   TEXT NOT NULL, -- JSON array of references
  outcome    TEXT NOT NULL CHECK (outcome IN ('success', 'failure')),
  detail     TEXT,
  request_id TEXT
);
-- Lookup of the audit trail of one resource.
CREATE TABLE audit_entities (
  entity   TEXT    NOT NULL,
  audit_id INTEGER NOT NULL REFERENCES audit (id),
  PRIMARY KEY (entity, audit_id)
) WITHOUT ROWID;
`,
};
