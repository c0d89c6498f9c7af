// The pathway's own state (issue 18): the PPP as last submitted (its canonical document, what the regenerated PDF and
// the pages are built from), the due work of the scheduler (D45/D90 windows, the decisions' deadline, the document
// regenerated after decisions) and the prescriptions the PHO uploads at D45/D90.
import type { Migration } from '../migration.js';

export const migration: Migration = {
  version: 12,
  name: 'pathway_cases',
  sql: `
CREATE TABLE pathway_case (
  careplan     TEXT PRIMARY KEY,  -- CarePlan id of the PPP
  ppp_id       TEXT NOT NULL,     -- the establishment's own id of the PPP
  finess       TEXT NOT NULL,     -- the establishment's FINESS
  patient      TEXT NOT NULL,     -- federated Patient id
  document     TEXT NOT NULL,     -- canonical PPP (JSON) as last submitted or updated by the pathway
  created      TEXT NOT NULL,     -- the PPP's creation (document)
  sent_at      TEXT,              -- first send to the MT and the PHO: anchor of D45/D90
  last_sent    TEXT,              -- latest send (a new send revokes the previous links)
  closed_at    TEXT,
  updated      TEXT NOT NULL
);
CREATE INDEX pathway_case_finess ON pathway_case (finess, closed_at);
CREATE TABLE pathway_due (
  careplan       TEXT NOT NULL,
  kind           TEXT NOT NULL,     -- d45 | d90 | decision-deadline | document
  due_at         TEXT NOT NULL,
  state          TEXT NOT NULL,     -- scheduled | claimed | done | cancelled
  claimed_by     TEXT,
  claimed_until  TEXT,
  attempts       INTEGER NOT NULL DEFAULT 0,
  done_at        TEXT,
  last_error     TEXT,
  PRIMARY KEY (careplan, kind)
);
CREATE INDEX pathway_due_next ON pathway_due (state, due_at);
CREATE TABLE pathway_upload (
  id            TEXT PRIMARY KEY,
  careplan      TEXT NOT NULL,
  followup      TEXT NOT NULL,     -- d45 | d90
  rpps          TEXT NOT NULL,     -- who answered (the PHO of the link)
  received      TEXT NOT NULL,
  kind          TEXT NOT NULL,     -- pdf | lines | no-change
  media_type    TEXT,
  content       BLOB,              -- the PDF as uploaded
  lines         TEXT               -- structured prescription lines (JSON)
);
CREATE INDEX pathway_upload_careplan ON pathway_upload (careplan, followup, received);
`,
};
