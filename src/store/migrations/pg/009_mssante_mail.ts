// MSSanté mail (issue 17), SQLite migration 010 in PostgreSQL's idiom: messages taken in, messages sent and receipts.
import type { Migration } from '../migration.js';

export const migration: Migration = {
  version: 9,
  name: 'mssante_mail',
  sql: `
CREATE TABLE mssante_intake (
  message_id  text COLLATE "C" PRIMARY KEY,
  mailbox     text NOT NULL,
  uid         bigint,
  received    text COLLATE "C" NOT NULL,
  sender      text,
  state       text NOT NULL,
  code        text,
  detail      text,
  resource    text COLLATE "C"
);

CREATE TABLE mssante_sent (
  message_id     text COLLATE "C" PRIMARY KEY,
  outbox_id      text COLLATE "C" NOT NULL,
  destination    text NOT NULL,
  recipient      text NOT NULL,
  role           text,
  resource       text COLLATE "C" NOT NULL,
  communication  text COLLATE "C",
  status         text NOT NULL,
  detail         text,
  sent           text COLLATE "C" NOT NULL,
  updated        text COLLATE "C" NOT NULL
);
CREATE INDEX mssante_sent_outbox ON mssante_sent (outbox_id);
CREATE INDEX mssante_sent_resource ON mssante_sent (resource);
`,
};
