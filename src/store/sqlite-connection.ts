// Settings of the SQLite connections: the store's own, and the bulk registry writer's on its worker thread.
import type Database from 'better-sqlite3';

/** Page cache per connection, in KiB (SQLite's default is 2 MiB). */
export const CACHE_KIB = 64 * 1024;
/** WAL pages after which a commit checkpoints (SQLite's default is 1000). */
const WAL_AUTOCHECKPOINT_PAGES = 16_384;
/**
 * The store's own writer, whose WAL a background worker checkpoints (sqlite-checkpointer.ts): its commits checkpoint
 * only past ~256 MiB of WAL, a bound should the worker fall behind; and the WAL file is cut back to 64 MiB when it
 * restarts, so a burst does not leave a large file behind.
 */
export function configureStoreWriter(db: Database.Database): void {
  db.pragma(`wal_autocheckpoint = ${4 * WAL_AUTOCHECKPOINT_PAGES}`);
  db.pragma(`journal_size_limit = ${64 * 2 ** 20}`);
}

/** Settings of a connection that writes (the store's, or the bulk registry writer's on its worker thread). */
export function configureWriter(db: Database.Database, memory: boolean, busyTimeoutMs: number): void {
  db.pragma(`busy_timeout = ${busyTimeoutMs}`);
  if (!memory) db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('temp_store = MEMORY');
  // A bulk write touches index pages all over the file: keep them in the page cache (default 2 MiB).
  db.pragma(`cache_size = -${CACHE_KIB}`);
  // Checkpoint every ~64 MiB of WAL rather than every 4 MiB: a page rewritten by several batch
  // transactions is copied back to the database once. Durability is unchanged (WAL + synchronous=NORMAL).
  if (!memory) db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
}
