// How access rows (reads, searches) reach the audit table. One writer per store (`accessAuditor(store)`):
// - `sync` (the default): each row in its own write transaction, committed before the response is sent; a failure to
//   record fails the request (the data is not served without its trace);
// - `buffered` (group commit): rows are queued with their who-fields (taken from the request context at once) and
//   written together in ONE transaction every `maxDelayMs`, or as soon as `maxPending` are queued; the request does
//   not wait. Known limit: a crash loses the rows of the last few milliseconds; `flush()` (and the store's close,
//   wrapped by `configureAccessAudit`) writes what is pending;
// - `none`: no access row at all — for benchmarks measuring the cost of the audit; the configuration cannot select it.
import { auditWho } from '../../store/audit-trail.js';
import type { AuditEntry, ResourceStore } from '../../store/repository.js';

export type AccessAuditMode = 'sync' | 'buffered' | 'none';

export interface AccessAuditOptions {
  mode: AccessAuditMode;
  /** Buffered: longest wait before pending rows are written (default 5 ms). */
  maxDelayMs?: number;
  /** Buffered: pending rows that trigger a write at once, and above which `record` waits for it (default 500). */
  maxPending?: number;
  /** Buffered: a write that failed (its rows are lost; default: a process warning). */
  onError?: (err: unknown, rows: number) => void;
}

export interface AccessAuditor {
  readonly mode: AccessAuditMode;
  /** Sync: resolves once committed, rejects when it could not be. Buffered: once queued. */
  record(entry: AuditEntry): Promise<void>;
  /** Writes what is pending (buffered); resolves when written. */
  flush(): Promise<void>;
}

const auditors = new WeakMap<ResourceStore, AccessAuditor>();

function syncAuditor(store: ResourceStore): AccessAuditor {
  return { mode: 'sync', record: (entry) => store.transaction(async (tx) => tx.audit(entry)), flush: async () => undefined };
}

function bufferedAuditor(store: ResourceStore, options: AccessAuditOptions): AccessAuditor {
  const maxDelayMs = options.maxDelayMs ?? 5;
  const maxPending = options.maxPending ?? 500;
  const onError = options.onError ?? ((err: unknown, rows: number) => process.emitWarning(`audit: ${rows} access rows could not be written: ${(err as Error).message}`));
  let pending: AuditEntry[] = [];
  let timer: NodeJS.Timeout | undefined;
  let writing: Promise<void> = Promise.resolve();
  const flush = (): Promise<void> => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const batch = pending;
    pending = [];
    if (batch.length > 0) {
      writing = writing.then(() =>
        store
          .transaction(async (tx) => {
            for (const e of batch) await tx.audit(e);
          })
          .catch((err: unknown) => onError(err, batch.length)),
      );
    }
    return writing;
  };
  return {
    mode: 'buffered',
    flush,
    record(entry) {
      // The who-fields now: the request context is gone by the time the batch is written.
      pending.push(auditWho(entry));
      if (pending.length >= maxPending) return flush();
      timer ??= setTimeout(() => void flush(), maxDelayMs);
      return Promise.resolve();
    },
  };
}

/** The access auditor of a store (`sync` unless configured). */
export function accessAuditor(store: ResourceStore): AccessAuditor {
  let a = auditors.get(store);
  if (!a) {
    a = syncAuditor(store);
    auditors.set(store, a);
  }
  return a;
}

/**
 * Chooses how the store's access rows are written (once, at start, before serving). With `buffered`, the store's
 * `close()` first writes what is pending.
 */
export function configureAccessAudit(store: ResourceStore, options: AccessAuditOptions): AccessAuditor {
  const previous = auditors.get(store);
  const a: AccessAuditor =
    options.mode === 'buffered'
      ? bufferedAuditor(store, options)
      : options.mode === 'none'
        ? { mode: 'none', record: async () => undefined, flush: async () => undefined }
        : syncAuditor(store);
  auditors.set(store, a);
  if (options.mode === 'buffered' && previous?.mode !== 'buffered') {
    const close = store.close.bind(store);
    Object.defineProperty(store, 'close', { configurable: true, value: async () => (await (auditors.get(store) ?? a).flush(), close()) });
  }
  return a;
}
