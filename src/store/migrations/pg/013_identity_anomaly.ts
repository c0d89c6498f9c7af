// Identity anomalies (issue 21, point 1), SQLite migration 014 in PostgreSQL's idiom: a source identity registered at a
// lower status than its sender declared, one row per fault, written in the registration's transaction
// (src/store/identity-anomaly-repository.ts). Read by sender, establishment and kind (the conflict board).
import type { Migration } from '../migration.js';

export const migration: Migration = {
  version: 13,
  name: 'identity_anomaly',
  sql: `
CREATE TABLE identity_anomaly (
  id             text COLLATE "C" PRIMARY KEY,
  source_system  text COLLATE "C" NOT NULL,      -- the sender's identifier system (as the registry keeps it)
  source_id      text COLLATE "C" NOT NULL,      -- the sender's local id of the patient
  finess         text COLLATE "C",               -- the sending establishment, when known (documents)
  code           text COLLATE "C" NOT NULL,      -- QUAL_WITHOUT_INS, QUAL_PARTIAL_BIRTH_DATE, …
  field          text COLLATE "C" NOT NULL,      -- the PatientIdentity field at fault
  received       text NOT NULL,                  -- what was received (its shape, never the traits' values)
  kept           text NOT NULL,                  -- what was kept
  created        text COLLATE "C" NOT NULL
);
CREATE INDEX identity_anomaly_source ON identity_anomaly (source_system, created);
CREATE INDEX identity_anomaly_finess ON identity_anomaly (finess, created);
CREATE INDEX identity_anomaly_code ON identity_anomaly (code, created);
`,
};
