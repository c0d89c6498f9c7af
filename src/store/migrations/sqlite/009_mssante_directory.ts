// MSSanté directory (issue 17): the mailboxes (BAL) of the Annuaire Santé's "extraction correspondance MSSanté" file.
// Each import is a generation: its rows are written batch by batch under a new generation number, and lookups read
// only the generation marked `current` in directory_import; the last batch's transaction switches `current` and
// deletes the older rows, so readers see the previous directory or the new one, never a half-import.
import type { Migration } from '../migration.js';

export const migration: Migration = {
  version: 9,
  name: 'mssante_directory',
  sql: `
CREATE TABLE directory_import (
  generation INTEGER PRIMARY KEY,
  source     TEXT NOT NULL,
  started    TEXT NOT NULL,
  finished   TEXT,
  state      TEXT NOT NULL, -- loading | current | replaced | failed
  records    INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE directory (
  generation      INTEGER NOT NULL,
  line            INTEGER NOT NULL,
  address         TEXT NOT NULL,
  bal_type        TEXT NOT NULL,
  pp_id           TEXT,
  pp_id_kind      TEXT,
  family          TEXT,
  given           TEXT,
  family_key      TEXT,
  given_key       TEXT,
  profession      TEXT,
  specialty       TEXT,
  structure_id    TEXT,
  structure_kind  TEXT,
  structure_name  TEXT,
  postcode        TEXT,
  city            TEXT,
  PRIMARY KEY (generation, line)
);
CREATE INDEX directory_pp ON directory (generation, pp_id);
CREATE INDEX directory_structure ON directory (generation, structure_id);
CREATE INDEX directory_name ON directory (generation, family_key, given_key);
`,
};
