// Identity registry (SRI): federated identities, the source identities linked to them, blocking keys,
// the review queue and the human decisions on pairs, kept forever.
import type { Migration } from '../migration.js';

export const migration: Migration = {
  version: 2,
  name: 'identity',
  sql: `
-- One row per federated (regional) identity; its FHIR Patient has the same id. A merged identity stays,
-- inactive, with replaced_by naming the survivor. traits = reference traits (JSON SourceIdentity).
CREATE TABLE identity_federated (
  id          TEXT    NOT NULL PRIMARY KEY,
  status      TEXT    NOT NULL CHECK (status IN ('PROV', 'RECUP', 'VALI', 'QUAL')),
  flags       TEXT    NOT NULL DEFAULT '[]', -- JSON array of FR Core table 0445 codes
  active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
  replaced_by TEXT    REFERENCES identity_federated (id),
  traits      TEXT    NOT NULL,
  created     TEXT    NOT NULL,
  updated     TEXT    NOT NULL
);
-- Which identities a survivor replaced (FHIR Patient.link replaces).
CREATE INDEX identity_federated_replaced_by ON identity_federated (replaced_by) WHERE replaced_by IS NOT NULL;

-- One row per identity as a sender names it (system + local id: IPP, pharmacy patient id…).
CREATE TABLE identity_sources (
  system       TEXT NOT NULL,
  local_id     TEXT NOT NULL,
  federated_id TEXT NOT NULL REFERENCES identity_federated (id),
  traits       TEXT NOT NULL,
  status       TEXT NOT NULL CHECK (status IN ('PROV', 'RECUP', 'VALI', 'QUAL')),
  decision     TEXT NOT NULL CHECK (decision IN ('auto', 'new', 'review', 'manual')),
  score        REAL,
  created      TEXT NOT NULL,
  updated      TEXT NOT NULL,
  PRIMARY KEY (system, local_id)
);
CREATE INDEX identity_sources_federated ON identity_sources (federated_id);

-- Blocking: key → active federated identities filed under it (a lookup reads a capped prefix of one key).
CREATE TABLE identity_blocking_keys (
  key          TEXT NOT NULL,
  federated_id TEXT NOT NULL REFERENCES identity_federated (id),
  PRIMARY KEY (key, federated_id)
) WITHOUT ROWID;
CREATE INDEX identity_blocking_keys_federated ON identity_blocking_keys (federated_id);

-- Review queue: a source identity got its own federated identity but may duplicate a candidate.
CREATE TABLE identity_reviews (
  id                     TEXT NOT NULL PRIMARY KEY,
  source_system          TEXT NOT NULL,
  source_id              TEXT NOT NULL,
  new_federated_id       TEXT NOT NULL REFERENCES identity_federated (id),
  candidate_federated_id TEXT NOT NULL REFERENCES identity_federated (id),
  grade                  TEXT NOT NULL CHECK (grade IN ('certain', 'probable', 'possible', 'certainly-not')),
  score                  REAL NOT NULL,
  comparison             TEXT NOT NULL, -- JSON MatchResult
  flag                   TEXT NOT NULL CHECK (flag IN ('DPOT', 'COLP')),
  state                  TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'decided')),
  decision               TEXT CHECK (decision IN ('same', 'different')),
  decided_by             TEXT,
  decided_at             TEXT,
  reason                 TEXT,
  created                TEXT NOT NULL,
  CHECK ((state = 'open') = (decision IS NULL)),
  FOREIGN KEY (source_system, source_id) REFERENCES identity_sources (system, local_id)
);
CREATE INDEX identity_reviews_queue ON identity_reviews (state, created, id);
CREATE INDEX identity_reviews_new ON identity_reviews (new_federated_id, state);
CREATE INDEX identity_reviews_candidate ON identity_reviews (candidate_federated_id, state);
CREATE INDEX identity_reviews_source ON identity_reviews (source_system, source_id);

-- Human decisions on a pair of federated identities (federated_a < federated_b), never overridden.
CREATE TABLE identity_pair_decisions (
  federated_a TEXT NOT NULL,
  federated_b TEXT NOT NULL,
  decision    TEXT NOT NULL CHECK (decision IN ('same', 'different')),
  decided_by  TEXT NOT NULL,
  decided_at  TEXT NOT NULL,
  reason      TEXT,
  review_id   TEXT,
  PRIMARY KEY (federated_a, federated_b),
  CHECK (federated_a < federated_b)
) WITHOUT ROWID;
CREATE INDEX identity_pair_decisions_b ON identity_pair_decisions (federated_b);
`,
};
