// A schema migration, as every dialect lists them: `src/store/migrations/<dialect>/NNN_name.ts`, applied in
// version order at open and recorded in the dialect's `schema_migrations` table.

export interface Migration {
  /** Positive integer, unique and increasing within a dialect; never renumbered once released. */
  readonly version: number;
  /** Short snake_case name, recorded with the version; a mismatch on open means the code and the file disagree. */
  readonly name: string;
  /** Statements run in one transaction. */
  readonly sql: string;
}

/** Throws when a dialect's list is out of order or has gaps, so a bad edit fails at the first open. */
export function checkMigrations(list: readonly Migration[]): void {
  list.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${m.name}: version ${m.version}, expected ${i + 1}`);
    if (!/^[a-z0-9_]+$/.test(m.name)) throw new Error(`migration ${m.version}: bad name "${m.name}"`);
  });
}
