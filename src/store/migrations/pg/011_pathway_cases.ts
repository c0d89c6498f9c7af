// The pathway's own state (issue 18), SQLite migration 012 in PostgreSQL's idiom.
import type { Migration } from '../migration.js';

export const migration: Migration = {
  version: 11,
  name: 'pathway_cases',
  sql: `
CREATE TABLE pathway_case (
  careplan     text COLLATE "C" PRIMARY KEY,
  ppp_id       text NOT NULL,
  finess       text COLLATE "C" NOT NULL,
  patient      text COLLATE "C" NOT NULL,
  document     text NOT NULL,
  created      text COLLATE "C" NOT NULL,
  sent_at      text COLLATE "C",
  last_sent    text COLLATE "C",
  closed_at    text COLLATE "C",
  updated      text COLLATE "C" NOT NULL
);
CREATE INDEX pathway_case_finess ON pathway_case (finess, closed_at);
CREATE TABLE pathway_due (
  careplan       text COLLATE "C" NOT NULL,
  kind           text COLLATE "C" NOT NULL,
  due_at         text COLLATE "C" NOT NULL,
  state          text COLLATE "C" NOT NULL,
  claimed_by     text,
  claimed_until  text COLLATE "C",
  attempts       integer NOT NULL DEFAULT 0,
  done_at        text COLLATE "C",
  last_error     text,
  PRIMARY KEY (careplan, kind)
);
CREATE INDEX pathway_due_next ON pathway_due (state, due_at);
CREATE TABLE pathway_upload (
  id            text COLLATE "C" PRIMARY KEY,
  careplan      text COLLATE "C" NOT NULL,
  followup      text COLLATE "C" NOT NULL,
  rpps          text COLLATE "C" NOT NULL,
  received      text COLLATE "C" NOT NULL,
  kind          text NOT NULL,
  media_type    text,
  content       bytea,
  lines         text
);
CREATE INDEX pathway_upload_careplan ON pathway_upload (careplan, followup, received);
`,
};
