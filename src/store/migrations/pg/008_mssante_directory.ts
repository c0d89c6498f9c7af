// MSSanté directory (issue 17), SQLite migration 009 in PostgreSQL's idiom: import generations and the mailboxes.
import type { Migration } from '../migration.js';

export const migration: Migration = {
  version: 8,
  name: 'mssante_directory',
  sql: `
CREATE TABLE directory_import (
  generation bigint PRIMARY KEY,
  source     text NOT NULL,
  started    text COLLATE "C" NOT NULL,
  finished   text COLLATE "C",
  state      text NOT NULL,
  records    bigint NOT NULL DEFAULT 0
);

CREATE TABLE directory (
  generation      bigint NOT NULL,
  line            bigint NOT NULL,
  address         text NOT NULL,
  bal_type        text NOT NULL,
  pp_id           text COLLATE "C",
  pp_id_kind      text,
  family          text,
  given           text,
  family_key      text COLLATE "C",
  given_key       text COLLATE "C",
  profession      text,
  specialty       text,
  structure_id    text COLLATE "C",
  structure_kind  text,
  structure_name  text,
  postcode        text,
  city            text,
  PRIMARY KEY (generation, line)
);
CREATE INDEX directory_pp ON directory (generation, pp_id);
CREATE INDEX directory_structure ON directory (generation, structure_id);
CREATE INDEX directory_name ON directory (generation, family_key, given_key);
`,
};
