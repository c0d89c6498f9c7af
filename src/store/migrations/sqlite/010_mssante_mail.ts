// MSSanté mail (issue 17): every incoming message taken in (its Message-ID is the dedupe key: a mail is ingested at
// most once, in the transaction that stores its data), and every message sent with the receipts (MDN/DSN) that came
// back for it.
import type { Migration } from '../migration.js';

export const migration: Migration = {
  version: 10,
  name: 'mssante_mail',
  sql: `
CREATE TABLE mssante_intake (
  message_id  TEXT PRIMARY KEY,
  mailbox     TEXT NOT NULL,
  uid         INTEGER,
  received    TEXT NOT NULL,
  sender      TEXT,
  state       TEXT NOT NULL, -- processed | error | report
  code        TEXT,          -- MSSanté application code (902–906) of an error
  detail      TEXT,
  resource    TEXT
);

CREATE TABLE mssante_sent (
  message_id     TEXT PRIMARY KEY,
  outbox_id      TEXT NOT NULL,
  destination    TEXT NOT NULL,
  recipient      TEXT NOT NULL,
  role           TEXT,
  resource       TEXT NOT NULL,
  communication  TEXT,
  status         TEXT NOT NULL, -- sent | delivered | read | failed
  detail         TEXT,
  sent           TEXT NOT NULL,
  updated        TEXT NOT NULL
);
CREATE INDEX mssante_sent_outbox ON mssante_sent (outbox_id);
CREATE INDEX mssante_sent_resource ON mssante_sent (resource);
`,
};
