// Import of the Annuaire Santé's "extraction correspondance MSSanté" file into the local directory, and lookups.
// The file is read as a stream (connectors/annuaire/extraction.ts) and written batch by batch under a new import
// generation (store/directory-repository.ts); the generation replaces the previous directory only once the whole file
// is read. Bad lines are counted and reported with their number; the good ones are imported. A file that cannot be
// read, or has no `Adresse BAL` column, imports nothing and leaves the previous directory in place.
import type { Readable } from 'node:stream';
import { readExtraction, type LineError } from '../connectors/annuaire/extraction.js';
import type { DirectoryEntry, DirectoryRepository, DirectoryRow } from '../store/directory-repository.js';

export const DEFAULT_DIRECTORY_BATCH = 5000;

export interface DirectoryImportProgress {
  lines: number;
  imported: number;
  bad: number;
  bytes: number;
}

export interface DirectoryImportOptions {
  source: string;
  batchSize?: number;
  onProgress?: (p: DirectoryImportProgress) => void;
  onBadLine?: (e: LineError) => void;
}

export interface DirectoryImportSummary {
  generation: number;
  /** Data lines read (the header excluded). */
  lines: number;
  imported: number;
  bad: number;
  /** Imported records by BAL type (`''` → `unknown`). */
  byType: Record<string, number>;
  seconds: number;
  recordsPerSecond: number;
}

export async function importDirectory(directory: DirectoryRepository, input: Readable, options: DirectoryImportOptions): Promise<DirectoryImportSummary> {
  const started = performance.now();
  const batchSize = options.batchSize ?? DEFAULT_DIRECTORY_BATCH;
  const progress: DirectoryImportProgress = { lines: 0, imported: 0, bad: 0, bytes: 0 };
  const byType: Record<string, number> = {};
  const generation = await directory.beginImport(options.source);
  let batch: DirectoryRow[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const rows = batch;
    batch = [];
    await directory.addBatch(generation, rows);
    progress.imported += rows.length;
    options.onProgress?.({ ...progress });
  };
  try {
    for await (const item of readExtraction(input, { onBytes: (b) => (progress.bytes = b) })) {
      progress.lines++;
      if ('error' in item) {
        progress.bad++;
        options.onBadLine?.(item.error);
        continue;
      }
      const r = item.record;
      const type = r.balType || 'unknown';
      byType[type] = (byType[type] ?? 0) + 1;
      batch.push(r);
      if (batch.length >= batchSize) await flush();
    }
    await flush();
    await directory.finishImport(generation);
  } catch (err) {
    await directory.abortImport(generation).catch(() => undefined);
    throw err;
  }
  options.onProgress?.({ ...progress });
  const seconds = (performance.now() - started) / 1000;
  return { generation, lines: progress.lines, imported: progress.imported, bad: progress.bad, byType, seconds, recordsPerSecond: progress.imported / Math.max(seconds, 1e-6) };
}

export type DirectoryQuery = { rpps: string } | { finess: string } | { family: string; given?: string };

/** The mailboxes matching one query; the identifier's shape is checked first (an Error says what is wrong). */
export async function lookupDirectory(directory: DirectoryRepository, q: DirectoryQuery): Promise<DirectoryEntry[]> {
  if ('rpps' in q) {
    if (!/^\d{11}$/.test(q.rpps)) throw new Error(`RPPS "${q.rpps}": expected 11 digits`);
    return directory.byRpps(q.rpps);
  }
  if ('finess' in q) {
    if (!/^\d[\dAB]\d{7}$/i.test(q.finess)) throw new Error(`FINESS "${q.finess}": expected 9 characters (digits, 2A/2B)`);
    return directory.byFiness(q.finess.toUpperCase());
  }
  if (q.family.trim() === '') throw new Error('name: expected a family name');
  return directory.byName(q.family, q.given);
}
