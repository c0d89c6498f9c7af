// What both store dialects do the same way around their transactions and schema.
import type { Resource } from '@medplum/fhirtypes';
import type { Migration } from './migrations/migration.js';
import type { StoreTransaction, WriteObserver } from './repository.js';

/** The write observers of one store (`ResourceStore.observeWrites`). */
export class WriteObservers {
  private readonly observers: WriteObserver[] = [];

  add(observer: WriteObserver): () => void {
    this.observers.push(observer);
    return () => {
      const i = this.observers.indexOf(observer);
      if (i >= 0) this.observers.splice(i, 1);
    };
  }

  /** Tells every observer of a put's result (only when it wrote a new version); returns the result unchanged. */
  async after<T extends Resource>(tx: StoreTransaction, result: { resource: T; created: boolean; changed: boolean }): Promise<{ resource: T; created: boolean; changed: boolean }> {
    if (!result.changed || this.observers.length === 0) return result;
    for (const observer of [...this.observers]) await observer(tx, { resource: result.resource, created: result.created });
    return result;
  }
}

/** The hooks a `StoreTransaction` collects: `beforeCommit` ones run in its callback's stead, `afterCommit` ones once it committed. */
export interface CommitHooks {
  beforeCommit(hook: () => Promise<void>): void;
  afterCommit(hook: () => void): void;
  /** Runs the before-commit hooks in order (a hook may add more). */
  runBefore(): Promise<void>;
  /** Runs the after-commit hooks (see `runAfterCommit`). */
  runAfter(): void;
}

/** Hook lists of one transaction; `guard` throws once the transaction ended. */
export function commitHooks(guard: () => void): CommitHooks {
  const before: (() => Promise<void>)[] = [];
  const after: (() => void)[] = [];
  return {
    beforeCommit: (hook) => {
      guard();
      before.push(hook);
    },
    afterCommit: (hook) => {
      guard();
      after.push(hook);
    },
    runBefore: async () => {
      for (let i = 0; i < before.length; i++) await before[i]();
    },
    runAfter: () => runAfterCommit(after),
  };
}

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
