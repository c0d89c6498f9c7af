// Identity registry (SRI) as SQLite has it after its migration 003: federated identities with their blocking keys
// and change sequence number, the source identities linked to them, the review queue, the human decisions on
// pairs, and the list of FHIR Patient projections still to write (bulk import).
import type { Migration } from '../migration.js';

export const migration: Migration = {
  version: 2,
  name: 'identity',
  sql: `
-- One row per federated (regional) identity; its FHIR Patient has the same id. A merged identity stays,
-- inactive, with replaced_by naming the survivor. traits = reference traits (JSON SourceIdentity; type json
-- keeps any string a sender wrote). Every write takes the next change number (seq, from identity_seq), so a
-- process catches up on what another committed.
CREATE TABLE identity_federated (
  id            text COLLATE "C" NOT NULL PRIMARY KEY,
  status        text NOT NULL CHECK (status IN ('PROV', 'RECUP', 'VALI', 'QUAL')),
  flags         text[] NOT NULL DEFAULT '{}', -- FR Core table 0445 codes
  active        boolean NOT NULL DEFAULT true,
  replaced_by   text COLLATE "C" REFERENCES identity_federated (id),
  traits        json NOT NULL,
  blocking_keys text[] NOT NULL DEFAULT '{}', -- empty when inactive (never a candidate)
  seq           bigint NOT NULL,
  created       text COLLATE "C" NOT NULL,
  updated       text COLLATE "C" NOT NULL
);
-- Which identities a survivor replaced (FHIR Patient.link replaces).
CREATE INDEX identity_federated_replaced_by ON identity_federated (replaced_by) WHERE replaced_by IS NOT NULL;
CREATE INDEX identity_federated_seq ON identity_federated (seq);

-- The last change sequence number given out (one row; its row lock orders registry writers until commit).
CREATE TABLE identity_seq (
  one   integer NOT NULL PRIMARY KEY CHECK (one = 1),
  value bigint  NOT NULL
);
INSERT INTO identity_seq (one, value) VALUES (1, 0);

-- One row per identity as a sender names it (system + local id: IPP, pharmacy patient id…).
CREATE TABLE identity_sources (
  system       text COLLATE "C" NOT NULL,
  local_id     text COLLATE "C" NOT NULL,
  federated_id text COLLATE "C" NOT NULL REFERENCES identity_federated (id),
  traits       json NOT NULL,
  status       text NOT NULL CHECK (status IN ('PROV', 'RECUP', 'VALI', 'QUAL')),
  decision     text NOT NULL CHECK (decision IN ('auto', 'new', 'review', 'manual')),
  score        double precision,
  created      text COLLATE "C" NOT NULL,
  updated      text COLLATE "C" NOT NULL,
  PRIMARY KEY (system, local_id)
);
CREATE INDEX identity_sources_federated ON identity_sources (federated_id);

-- Review queue: a source identity got its own federated identity but may duplicate a candidate.
CREATE TABLE identity_reviews (
  id                     text COLLATE "C" NOT NULL PRIMARY KEY,
  source_system          text COLLATE "C" NOT NULL,
  source_id              text COLLATE "C" NOT NULL,
  new_federated_id       text COLLATE "C" NOT NULL REFERENCES identity_federated (id),
  candidate_federated_id text COLLATE "C" NOT NULL REFERENCES identity_federated (id),
  grade                  text NOT NULL CHECK (grade IN ('certain', 'probable', 'possible', 'certainly-not')),
  score                  double precision NOT NULL,
  comparison             json NOT NULL, -- MatchResult
  flag                   text NOT NULL CHECK (flag IN ('DPOT', 'COLP')),
  state                  text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'decided')),
  decision               text CHECK (decision IN ('same', 'different')),
  decided_by             text,
  decided_at             text COLLATE "C",
  reason                 text,
  created                text COLLATE "C" NOT NULL,
  CHECK ((state = 'open') = (decision IS NULL)),
  FOREIGN KEY (source_system, source_id) REFERENCES identity_sources (system, local_id)
);
CREATE INDEX identity_reviews_queue ON identity_reviews (state, created, id);
-- Open items of an identity, either side (decided items are only read through the queue).
CREATE INDEX identity_reviews_new ON identity_reviews (new_federated_id) WHERE state = 'open';
CREATE INDEX identity_reviews_candidate ON identity_reviews (candidate_federated_id) WHERE state = 'open';
CREATE INDEX identity_reviews_source ON identity_reviews (source_system, source_id);

-- Human decisions on a pair of federated identities (federated_a < federated_b), never overridden.
CREATE TABLE identity_pair_decisions (
  federated_a text COLLATE "C" NOT NULL,
  federated_b text COLLATE "C" NOT NULL,
  decision    text NOT NULL CHECK (decision IN ('same', 'different')),
  decided_by  text NOT NULL,
  decided_at  text COLLATE "C" NOT NULL,
  reason      text,
  review_id   text,
  PRIMARY KEY (federated_a, federated_b),
  CHECK (federated_a < federated_b)
);
CREATE INDEX identity_pair_decisions_b ON identity_pair_decisions (federated_b);

-- Federated identities whose FHIR Patients (federated and source) are still to be written (bulk import).
CREATE TABLE identity_projection_pending (
  federated_id text COLLATE "C" NOT NULL PRIMARY KEY
);
`,
};
