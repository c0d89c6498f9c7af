// The transactional outbox: one row per message to deliver, written in the submission's transaction; attempts for
// the record; paused destinations.
import type { Migration } from '../migration.js';

export const migration: Migration = {
  version: 4,
  name: 'outbox',
  sql: `
CREATE TABLE outbox (
  seq              INTEGER PRIMARY KEY AUTOINCREMENT,
  id               TEXT    NOT NULL UNIQUE,
  destination      TEXT    NOT NULL,
  ordering_key     TEXT    NOT NULL,
  idempotency_key  TEXT    NOT NULL,
  payload          TEXT    NOT NULL, -- JSON
  state            TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'inflight', 'delivered', 'dead')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  TEXT    NOT NULL,
  lease_owner      TEXT,
  lease_expires_at TEXT,
  last_error       TEXT,
  request_id       TEXT,
  created          TEXT    NOT NULL,
  updated          TEXT    NOT NULL,
  delivered_at     TEXT,
  UNIQUE (destination, idempotency_key)
);
-- What a dispatcher looks at: due pending messages and expired leases.
CREATE INDEX outbox_due ON outbox (next_attempt_at, seq) WHERE state = 'pending';
CREATE INDEX outbox_lease ON outbox (lease_expires_at) WHERE state = 'inflight';
-- Ordering per key: is an earlier message of this key still undelivered?
CREATE INDEX outbox_key ON outbox (ordering_key, seq) WHERE state IN ('pending', 'inflight');
CREATE INDEX outbox_state ON outbox (state, destination);

CREATE TABLE outbox_attempts (
  message_id  TEXT    NOT NULL REFERENCES outbox (id),
  attempt     INTEGER NOT NULL,
  at          TEXT    NOT NULL,
  outcome     TEXT    NOT NULL CHECK (outcome IN ('delivered', 'retry', 'dead', 'released')),
  error       TEXT,
  duration_ms REAL,
  owner       TEXT    NOT NULL
);
CREATE INDEX outbox_attempts_message ON outbox_attempts (message_id, attempt);

CREATE TABLE outbox_destinations (
  destination TEXT    NOT NULL PRIMARY KEY,
  paused      INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
  updated     TEXT    NOT NULL
);
`,
};
