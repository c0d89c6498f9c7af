// Outbox, second step (issue 13): ordering holds per destination — a message waits only for earlier messages of its
// key at its own destination — and attempts that never finished (the process died during them) are counted, so a
// message that keeps killing its process is quarantined instead of being claimed again and again.
import type { Migration } from '../migration.js';

export const migration: Migration = {
  version: 5,
  name: 'outbox_per_destination',
  sql: `
ALTER TABLE outbox ADD COLUMN interrupted INTEGER NOT NULL DEFAULT 0;
-- Whether the current attempt got past its queue (what a poison can only do once started): 1 unless the destination
-- says when it starts (document builds wait for a worker thread first).
ALTER TABLE outbox ADD COLUMN attempt_started INTEGER NOT NULL DEFAULT 1;
DROP INDEX outbox_key;
CREATE INDEX outbox_key ON outbox (destination, ordering_key, seq) WHERE state IN ('pending', 'inflight');
`,
};
