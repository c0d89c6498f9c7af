// Identity anomalies (issue 21, point 1; docs/identity.md "Statuses the data does not support"): a source identity
// registered at a lower status than its sender declared, one row per fault, written in the registration's transaction
// (src/store/identity-anomaly-repository.ts). Read by sender, establishment and kind (the conflict board).
import type { Migration } from '../migration.js';

export const migration: Migration = {
  version: 14,
  name: 'identity_anomaly',
  sql: `
CREATE TABLE identity_anomaly (
  id             TEXT PRIMARY KEY,
  source_system  TEXT NOT NULL,      -- the sender's identifier system (as the registry keeps it)
  source_id      TEXT NOT NULL,      -- the sender's local id of the patient
  finess         TEXT,               -- the sending establishment, when known (documents)
  code           TEXT NOT NULL,      -- QUAL_WITHOUT_INS, QUAL_PARTIAL_BIRTH_DATE, …
  field          TEXT NOT NULL,      -- the PatientIdentity field at fault
  received       TEXT NOT NULL,      -- what was received (its shape, never the traits' values)
  kept           TEXT NOT NULL,      -- what was kept
  created        TEXT NOT NULL
);
CREATE INDEX identity_anomaly_source ON identity_anomaly (source_system, created);
CREATE INDEX identity_anomaly_finess ON identity_anomaly (finess, created);
CREATE INDEX identity_anomaly_code ON identity_anomaly (code, created);
`,
};
