// Security (issue 16): OAuth2 assertion ids seen (replay refused), which tenant may see which patient, people's
// sessions, and the audit trail made tamper-evident — who (person, tenant, address) on each row, a hash chain
// (`hash` = SHA-256 over the previous row's hash and this row, src/store/audit-trail.ts) and append-only triggers.
// Rows written before this migration have no hash: `passerelle audit verify` reports them as unchained.
import type { Migration } from '../migration.js';

export const migration: Migration = {
  version: 8,
  name: 'security',
  sql: `
CREATE TABLE oauth_jti (
  jti     TEXT NOT NULL,
  client  TEXT NOT NULL,
  expires TEXT NOT NULL,
  PRIMARY KEY (client, jti)
) WITHOUT ROWID;
CREATE INDEX oauth_jti_expires ON oauth_jti (expires);

CREATE TABLE access_patient (
  tenant  TEXT NOT NULL,
  patient TEXT NOT NULL, -- Patient resource id
  reason  TEXT NOT NULL, -- document | task | care-team | fhir-write
  granted TEXT NOT NULL,
  PRIMARY KEY (tenant, patient)
) WITHOUT ROWID;
CREATE INDEX access_patient_patient ON access_patient (patient, tenant);

CREATE TABLE web_session (
  id_hash  TEXT PRIMARY KEY, -- SHA-256 of the cookie value
  data     TEXT NOT NULL,    -- JSON
  expires  TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX web_session_expires ON web_session (expires);

ALTER TABLE audit ADD COLUMN person TEXT;
ALTER TABLE audit ADD COLUMN tenant TEXT;
ALTER TABLE audit ADD COLUMN source TEXT;
ALTER TABLE audit ADD COLUMN hash TEXT;
CREATE INDEX audit_recorded ON audit (recorded);

CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
`,
};
