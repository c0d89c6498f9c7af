// Security (issue 16), SQLite migration 008 in PostgreSQL's idiom: OAuth2 assertion ids seen, which tenant may see
// which patient, people's sessions, and the audit trail made tamper-evident (who, a hash chain, append-only).
import type { Migration } from '../migration.js';

export const migration: Migration = {
  version: 7,
  name: 'security',
  sql: `
CREATE TABLE oauth_jti (
  jti     text COLLATE "C" NOT NULL,
  client  text COLLATE "C" NOT NULL,
  expires text COLLATE "C" NOT NULL,
  PRIMARY KEY (client, jti)
);
CREATE INDEX oauth_jti_expires ON oauth_jti (expires);

CREATE TABLE access_patient (
  tenant  text COLLATE "C" NOT NULL,
  patient text COLLATE "C" NOT NULL,
  reason  text NOT NULL,
  granted text COLLATE "C" NOT NULL,
  PRIMARY KEY (tenant, patient)
);
CREATE INDEX access_patient_patient ON access_patient (patient, tenant);

CREATE TABLE web_session (
  id_hash text COLLATE "C" PRIMARY KEY,
  data    text NOT NULL,
  expires text COLLATE "C" NOT NULL
);
CREATE INDEX web_session_expires ON web_session (expires);

ALTER TABLE audit ADD COLUMN person text;
ALTER TABLE audit ADD COLUMN tenant text;
ALTER TABLE audit ADD COLUMN source text;
ALTER TABLE audit ADD COLUMN hash text;
CREATE INDEX audit_recorded ON audit (recorded);

CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the audit trail is append-only'; END $$;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only();
`,
};
