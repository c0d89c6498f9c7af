// Bulk import of source identities: NDJSON of FHIR Patients (one per line, each with the sender's own identifier),
// read as a stream, converted, and registered in order through the identity service, one store transaction per
// batch. A bad line is reported with its number and skipped; the rest goes on. Shared by the CLI and HTTP.
// The registry (links, review items, audit) commits batch by batch; the FHIR Patients of the identities touched
// (federated and source) are filed as pending in the same transactions and written afterwards by
// `drainProjections`, at the end of the import (or at the next start if the process died before).
import { StringDecoder } from 'node:string_decoder';
import type { Patient } from '@medplum/fhirtypes';
import { issuesText, OperationOutcomeError } from '../fhir/outcome.js';
import { patientIdentityFromFhir } from '../fhir/fhir-patient.js';
import type { IdentityContext, RegistrationDecision } from '../services/identity-registry.js';
import type { SourceIdentity } from '../identity/types.js';
import type { ResourceStore } from '../store/repository.js';
import { identityServiceFor } from './patient-identity.js';
import { supportedIdentity, type IdentityAnomaly } from '../domain/identity-support.js';

/** Identities per transaction, one by one through `registerIn` (PostgreSQL, or the HTTP import). */
export const DEFAULT_IMPORT_BATCH = 500;
/** Identities per transaction on the bulk path (SQLite): larger transactions write each index page fewer times. */
export const DEFAULT_BULK_BATCH = 5000;
/**
 * Federated identities whose FHIR Patients are written per transaction at the end of an import (the store's other
 * writes wait anyway): each transaction rewrites the index pages its rows land on, all over the file, so a few large
 * ones write each page fewer times than many small ones.
 */
export const IMPORT_PROJECTION_BATCH = 10_000;
/** A line longer than this is refused (a Patient is a few kilobytes). */
export const MAX_LINE_BYTES = 1 << 20;
/** Failures listed one by one in the summary; beyond, they are only counted. */
const MAX_LISTED_ERRORS = 1000;

export interface NdjsonLine {
  /** 1-based line number in the input. */
  line: number;
  text: string;
  /** Bytes of input consumed up to the end of this line (progress). */
  bytes: number;
  /** Set when the line cannot be used as read (too long). */
  error?: string;
}

/** Splits a byte stream into lines (LF or CRLF, UTF-8), without holding more than one line in memory. */
export async function* ndjsonLines(source: AsyncIterable<Buffer | string>, maxLineBytes = MAX_LINE_BYTES): AsyncGenerator<NdjsonLine> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  let pendingBytes = 0;
  let tooLong = false;
  let line = 0;
  let bytes = 0;
  const emit = (): NdjsonLine => {
    line++;
    const text = pending.endsWith('\r') ? pending.slice(0, -1) : pending;
    const out: NdjsonLine = tooLong ? { line, text: '', bytes, error: `line longer than ${maxLineBytes} bytes` } : { line, text, bytes };
    pending = '';
    pendingBytes = 0;
    tooLong = false;
    return out;
  };
  /** Adds bytes of the current line; `last` when they end it (a newline never splits a UTF-8 sequence). */
  const take = (part: Buffer, last: boolean): void => {
    pendingBytes += part.length;
    if (!tooLong && pendingBytes > maxLineBytes) {
      tooLong = true;
      pending = '';
      decoder.end();
    }
    if (!tooLong) pending += last ? decoder.write(part) + decoder.end() : decoder.write(part);
  };
  for await (const chunk of source) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    let start = 0;
    for (let nl = buf.indexOf(0x0a, start); nl !== -1; nl = buf.indexOf(0x0a, start)) {
      take(buf.subarray(start, nl), true);
      bytes += nl - start + 1;
      yield emit();
      start = nl + 1;
    }
    take(buf.subarray(start), false);
    bytes += buf.length - start;
  }
  pending += decoder.end();
  if (pending !== '' || tooLong) yield emit();
}

export interface ImportFailure {
  line: number;
  message: string;
}

export interface ImportSummary {
  /** Non-blank lines read. */
  lines: number;
  /** Source identities registered. */
  registered: number;
  autoLinked: number;
  /** Registered as a separate identity with a review item opened. */
  review: number;
  new: number;
  /** Source identities seen before (same system and id). */
  known: number;
  /** Registered at a lower status than declared (a QUAL the traits do not support). */
  downgraded: number;
  /** Anomalies recorded for the senders, by code (docs/identity.md "Statuses the data does not support"). */
  anomalies: Record<string, number>;
  /** The establishment the anomalies were recorded for (`ImportOptions.finess`); absent: none. */
  finess?: string;
  failed: number;
  /** The first failures, by line (at most 1000; `failed` counts them all). */
  failures: ImportFailure[];
  /** Federated identities whose FHIR Patients (federated and sources) were written after the registry. */
  projected: number;
  /** Wall time of the whole import, FHIR Patients included. */
  seconds: number;
  /** Registered per second of the whole import. */
  identitiesPerSecond: number;
  /** Time to match and commit the registry (the identities are linked and matchable at its end). */
  registrySeconds: number;
  /** Registered per second of registry time. */
  registryIdentitiesPerSecond: number;
  /** Time spent writing the FHIR Patients afterwards. */
  projectionSeconds: number;
}

export interface ImportProgress {
  lines: number;
  registered: number;
  failed: number;
  bytes: number;
}

export interface ProjectionProgress {
  done: number;
  total: number;
}

export interface ImportOptions {
  ctx: IdentityContext;
  /**
   * The establishment whose feed the file is (a FINESS the caller validated): recorded with every anomaly, so that
   * they reach its conflict board. Without it they name no establishment, and only a sender whose system holds a
   * FINESS as an OID arc has them on a board (that establishment's).
   */
  finess?: string;
  /** Identities per transaction (default 5000 on the bulk path, 500 otherwise). */
  batchSize?: number;
  /** After each batch. */
  onProgress?: (p: ImportProgress) => void;
  /** For each bad line, as it is found. */
  onFailure?: (f: ImportFailure) => void;
  /** Write the pending FHIR Patients before returning (default true; false leaves them to the next drain). */
  project?: boolean;
  /**
   * While the FHIR Patients are written, after the registry: federated identities done so far, of `total` pending
   * when the phase began (called once with `done` 0 as it begins, then after each transaction).
   */
  onProjection?: (p: ProjectionProgress) => void;
  /**
   * Match the next batch while the previous one is written (`IdentityService.openBulk`: SQLite only, holds the
   * store's write lock for the whole import). Default true; the HTTP import turns it off so that the gateway's
   * other writes interleave with its batches.
   */
  pipeline?: boolean;
  /** The pipeline stopped (another process wrote the registry meanwhile, or a batch was refused): why. */
  onFallback?: (reason: string) => void;
}

interface Pending {
  line: number;
  identity: SourceIdentity;
  anomalies: IdentityAnomaly[];
}

/**
 * Why a Patient line cannot be registered, or its identity at the status its traits support (identity-support.ts)
 * with the anomalies of the declared one.
 */
export function identityOfLine(text: string): { identity: SourceIdentity; anomalies: IdentityAnomaly[] } | { error: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { error: `not valid JSON: ${(err as Error).message}` };
  }
  if (typeof json !== 'object' || json === null || (json as { resourceType?: unknown }).resourceType !== 'Patient') {
    return { error: 'expected a FHIR Patient (resourceType "Patient")' };
  }
  const read = patientIdentityFromFhir(json as Patient, { requireSource: true });
  if (read.ok) return supportedIdentity(read.identity, { verifiedDocument: read.verifiedDocument });
  return { error: read.issues.map((i) => `${i.expression}: ${i.message}`).join('; ') };
}

function messageOf(err: unknown): string {
  if (err instanceof OperationOutcomeError) {
    return issuesText(err.outcome.issue);
  }
  return err instanceof Error ? err.message : String(err);
}

export async function importPatients(store: ResourceStore, lines: AsyncIterable<NdjsonLine>, options: ImportOptions): Promise<ImportSummary> {
  const service = identityServiceFor(store);
  const started = process.hrtime.bigint();
  const counts: Record<RegistrationDecision, number> = { 'auto-linked': 0, review: 0, new: 0, known: 0 };
  const summary = { lines: 0, registered: 0, failed: 0, failures: [] as ImportFailure[] };
  let bytes = 0;
  let downgraded = 0;
  const anomalies: Record<string, number> = {};

  const fail = (f: ImportFailure): void => {
    summary.failed++;
    if (summary.failures.length < MAX_LISTED_ERRORS) summary.failures.push(f);
    options.onFailure?.(f);
  };
  const progress = (): void => options.onProgress?.({ lines: summary.lines, registered: summary.registered, failed: summary.failed, bytes });
  // Each batch one transaction; a batch the database refuses is replayed one identity at a time, so that only the
  // refused lines fail.
  const bulk = await service.openBulk<number>({
    ctx: options.ctx,
    ...(options.finess ? { finess: options.finess } : {}),
    pipeline: options.pipeline !== false,
    onCommitted: (items, results) => {
      for (const r of results) counts[r.decision]++;
      for (const i of items) {
        if (i.anomalies?.some((a) => a.code.startsWith('QUAL_'))) downgraded++;
        for (const a of i.anomalies ?? []) anomalies[a.code] = (anomalies[a.code] ?? 0) + 1;
      }
      summary.registered += results.length;
      progress();
    },
    onFailure: (item, err) => fail({ line: item.tag, message: messageOf(err) }),
    ...(options.onFallback ? { onFallback: options.onFallback } : {}),
  });
  const batchSize = Math.max(1, Math.trunc(options.batchSize ?? (bulk.pipelined ? DEFAULT_BULK_BATCH : DEFAULT_IMPORT_BATCH)));
  const submit = (items: Pending[]): Promise<void> => bulk.add(items.map((i) => ({ identity: i.identity, anomalies: i.anomalies, tag: i.line })));

  let batch: Pending[] = [];
  try {
    for await (const l of lines) {
      bytes = l.bytes;
      if (l.error === undefined && l.text.trim() === '') continue;
      summary.lines++;
      const read = l.error !== undefined ? { error: l.error } : identityOfLine(l.text);
      if ('error' in read) {
        fail({ line: l.line, message: read.error });
        continue;
      }
      batch.push({ line: l.line, identity: read.identity, anomalies: read.anomalies });
      if (batch.length >= batchSize) {
        await submit(batch);
        batch = [];
      }
    }
    await submit(batch);
  } finally {
    await bulk.finish();
  }
  const registered = process.hrtime.bigint();
  const projected =
    options.project === false
      ? 0
      : await service.drainProjections({ batchSize: IMPORT_PROJECTION_BATCH, ...(options.onProjection ? { onProgress: options.onProjection } : {}) });
  const ended = process.hrtime.bigint();

  const seconds = Number(ended - started) / 1e9;
  const registrySeconds = Number(registered - started) / 1e9;
  return {
    lines: summary.lines,
    registered: summary.registered,
    autoLinked: counts['auto-linked'],
    review: counts.review,
    new: counts.new,
    known: counts.known,
    downgraded,
    anomalies,
    ...(options.finess ? { finess: options.finess } : {}),
    failed: summary.failed,
    failures: summary.failures,
    projected,
    seconds,
    identitiesPerSecond: seconds > 0 ? summary.registered / seconds : 0,
    registrySeconds,
    registryIdentitiesPerSecond: registrySeconds > 0 ? summary.registered / registrySeconds : 0,
    projectionSeconds: Number(ended - registered) / 1e9,
  };
}
