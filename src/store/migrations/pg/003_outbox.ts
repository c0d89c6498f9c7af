// The transactional outbox (as SQLite migration 004): one row per message to deliver, written in the submission's
// transaction; attempts for the record; paused destinations. Dispatchers of several processes claim rows with
// FOR UPDATE SKIP LOCKED and a lease that expires if a process dies.
import type { Migration } from '../migration.js';

export const migration: Migration = {
  version: 3,
  name: 'outbox',
  sql: `
CREATE TABLE outbox (
  seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id               text COLLATE "C" NOT NULL UNIQUE,
  destination      text COLLATE "C" NOT NULL,
  ordering_key     text COLLATE "C" NOT NULL,
  idempotency_key  text COLLATE "C" NOT NULL,
  payload          json NOT NULL,
  state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'inflight', 'delivered', 'dead')),
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  text COLLATE "C" NOT NULL,
  lease_owner      text,
  lease_expires_at text COLLATE "C",
  last_error       text,
  request_id       text,
  created          text COLLATE "C" NOT NULL,
  updated          text COLLATE "C" NOT NULL,
  delivered_at     text COLLATE "C",
  UNIQUE (destination, idempotency_key)
);
-- What a dispatcher looks at: due pending messages and expired leases.
CREATE INDEX outbox_due ON outbox (next_attempt_at, seq) WHERE state = 'pending';
CREATE INDEX outbox_lease ON outbox (lease_expires_at) WHERE state = 'inflight';
-- Ordering per key: is an earlier message of this key still undelivered?
CREATE INDEX outbox_key ON outbox (ordering_key, seq) WHERE state IN ('pending', 'inflight');
CREATE INDEX outbox_state ON outbox (state, destination);

CREATE TABLE outbox_attempts (
  n           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- recording order
  message_id  text COLLATE "C" NOT NULL REFERENCES outbox (id),
  attempt     integer NOT NULL,
  at          text COLLATE "C" NOT NULL,
  outcome     text NOT NULL CHECK (outcome IN ('delivered', 'retry', 'dead', 'released')),
  error       text,
  duration_ms double precision,
  owner       text NOT NULL
);
CREATE INDEX outbox_attempts_message ON outbox_attempts (message_id, attempt);

CREATE TABLE outbox_destinations (
  destination text COLLATE "C" NOT NULL PRIMARY KEY,
  paused      boolean NOT NULL DEFAULT false,
  updated     text COLLATE "C" NOT NULL
);
`,
};
