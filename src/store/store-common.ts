// What both store dialects do the same way around their transactions and schema.
import type { Migration } from './migrations/migration.js';

/** After-commit hooks: the data is committed, so a failing hook is reported and the others still run. */
export function runAfterCommit(hooks: readonly (() => void)[]): void {
  for (const hook of hooks) {
    try {
      hook();
    } catch (err) {
      process.emitWarning(`store: after-commit hook failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

/** Throws unless the applied migrations (from `schema_migrations`, in version order) are a prefix of `migrations`. */
export function checkApplied(applied: readonly { version: number; name: string }[], migrations: readonly Migration[]): void {
  applied.forEach((row, i) => {
    const known = migrations[i];
    if (row.version !== i + 1 || !known) {
      throw new Error(
        `Database schema version ${row.version} is unknown to this Passerelle (it knows 1–${migrations.length}); upgrade Passerelle`,
      );
    }
    if (known.name !== row.name) {
      throw new Error(`Database migration ${row.version} is "${row.name}" but this Passerelle calls it "${known.name}"`);
    }
  });
}
