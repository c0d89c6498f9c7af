// The blocking keys move onto their federated identity: the matcher keeps its index in memory, loaded from these
// rows and kept current through a change sequence (every write of a federated identity takes the next `seq`, so a
// process catches up on what another process committed). FHIR Patient projections can be written behind a bulk
// import through a durable pending list.
import type { Migration } from '../migration.js';

export const migration: Migration = {
  version: 3,
  name: 'identity_index',
  sql: `
ALTER TABLE identity_federated ADD COLUMN blocking_keys TEXT NOT NULL DEFAULT '[]'; -- JSON array of blocking keys
UPDATE identity_federated SET blocking_keys = COALESCE(
  (SELECT json_group_array(k.key) FROM identity_blocking_keys k WHERE k.federated_id = identity_federated.id), '[]');
DROP TABLE identity_blocking_keys;
ALTER TABLE identity_federated ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE identity_federated SET seq = rowid;
CREATE INDEX identity_federated_seq ON identity_federated (seq);
-- The last change sequence number given out (one row).
CREATE TABLE identity_seq (
  one   INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),
  value INTEGER NOT NULL
);
INSERT INTO identity_seq (one, value) VALUES (1, (SELECT COALESCE(max(seq), 0) FROM identity_federated));

-- Federated identities whose FHIR Patients (federated and source) are still to be written (bulk import).
CREATE TABLE identity_projection_pending (
  federated_id TEXT NOT NULL PRIMARY KEY
) WITHOUT ROWID;
`,
};
