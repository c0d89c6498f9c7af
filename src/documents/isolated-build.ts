// Building a document where its content cannot take the gateway down: a pool of worker threads (piscina), each with
// its own heap limit, and a time limit per document after which its thread is terminated. A document that blows
// either limit fails with `DocumentBuildLimitError` (the same content will blow it again: not worth a retry); an
// ordinary build error keeps its message. The gateway's event loop and heap are never the ones at stake.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import type { BuildReply, BuildTask, WarmUpTask } from './build-worker.js';
import type { DocumentRequest } from './model.js';
import { buildDocument, type BuildOptions, type BuiltDocument } from './pipeline.js';
import { clonableSettings, documentOrganization, type DocumentSettings } from './settings.js';

export interface IsolationLimits {
  /** Longest time one document may take to build (PDF, CDA, metadata), in ms. */
  timeoutMs: number;
  /** Heap of a building thread (V8 old generation), in MiB. */
  maxMemoryMb: number;
  /** Building threads at most (they exit when idle). */
  threads: number;
}

export const DEFAULT_ISOLATION: IsolationLimits = { timeoutMs: 60_000, maxMemoryMb: 512, threads: 1 };

/** The document blew the time or memory limit: its content is the cause, so it will again. */
export class DocumentBuildLimitError extends Error {
  override readonly name = 'DocumentBuildLimitError';
}

/** The builder itself failed (a thread could not start, the pool was closed): not the document's fault. */
export class DocumentBuilderUnavailable extends Error {
  override readonly name = 'DocumentBuilderUnavailable';
}

export interface DocumentBuilder {
  /** `onStart` is awaited when the build leaves the queue and starts (its time limit starts then too). */
  build(request: DocumentRequest, settings: DocumentSettings, options: BuildOptions, onStart?: () => Promise<void>): Promise<BuiltDocument>;
  close(): Promise<void>;
}

/** Builds in the calling thread, without limits (the CLI, tests; the dispatcher uses `isolatedDocumentBuilder`). */
export const inThreadDocumentBuilder: DocumentBuilder = {
  async build(request, settings, options, onStart) {
    await onStart?.();
    return buildDocument(request, settings, options);
  },
  close: async () => undefined,
};

/** The worker module, and what a thread needs to load it: the TypeScript source under tsx or vitest, else the compiled file. */
function workerModule(): { filename: string; execArgv: string[] } {
  const ts = import.meta.url.endsWith('.ts');
  const filename = new URL(ts ? './build-worker.ts' : './build-worker.js', import.meta.url).href;
  if (!ts) return { filename, execArgv: [] };
  // A worker does not inherit the loader hooks of this thread: tsx's ES module loader is imported there first.
  const manifest = createRequire(import.meta.url).resolve('tsx/package.json');
  const { exports } = JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, unknown> };
  const entry = exports['.'];
  if (typeof entry !== 'string') throw new Error(`${manifest}: no "." export to load TypeScript in a worker`);
  return { filename, execArgv: ['--import', pathToFileURL(join(dirname(manifest), entry)).href] };
}

/** A Buffer again: structured cloning hands Uint8Arrays back. */
const asBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

function revive(built: BuiltDocument): BuiltDocument {
  return {
    ...built,
    pdf: asBuffer(built.pdf),
    cda: asBuffer(built.cda),
    submission: { ...built.submission, documents: built.submission.documents.map((d) => ({ ...d, content: asBuffer(d.content) })) },
  };
}

export function isolatedDocumentBuilder(limits: Partial<IsolationLimits> = {}): DocumentBuilder {
  const l = { ...DEFAULT_ISOLATION, ...limits };
  const { filename, execArgv } = workerModule();
  const pool = new Piscina<BuildTask | WarmUpTask, BuildReply | 'ready'>({
    filename,
    execArgv,
    // Started at once and kept (idle threads do not hold the process open), so a document's time is not a thread's start.
    minThreads: Math.max(1, l.threads),
    maxThreads: Math.max(1, l.threads),
    idleTimeout: 30_000,
    resourceLimits: { maxOldGenerationSizeMb: l.maxMemoryMb, maxYoungGenerationSizeMb: Math.min(64, Math.max(8, Math.floor(l.maxMemoryMb / 8))), stackSizeMb: 4 },
  });
  // Tasks are admitted one per thread, so a document's time limit runs while it is being built, never while it
  // waits behind another (a poison document must not make the ones queued after it time out too).
  const threads = Math.max(1, l.threads);
  let running = 0;
  const waiting: (() => void)[] = [];
  const admit = (): Promise<void> => {
    if (running < threads) {
      running++;
      return Promise.resolve();
    }
    return new Promise((resolve) => waiting.push(resolve)); // the slot passes from the task that leaves
  };
  const leave = (): void => {
    const next = waiting.shift();
    if (next) next();
    else running--;
  };
  // A thread loads its modules (pdfkit, fonts, the mapping) before its first document: wait for that outside the
  // time limit, at start and after a thread was stopped (its replacement starts afresh).
  const warmUp = (): Promise<unknown> => pool.run({ warmUp: true }).catch(() => undefined);
  let ready = warmUp();
  return {
    async build(request, settings, options, onStart) {
      await admit();
      let reply: BuildReply | 'ready';
      try {
        await ready;
        await onStart?.();
      } catch (err) {
        leave();
        throw err;
      }
      const signal = AbortSignal.timeout(l.timeoutMs);
      try {
        // Code maps are functions on this thread: the worker gets the entry of this document's organisation as data.
        reply = await pool.run({ request, settings: clonableSettings(settings, documentOrganization(request.source).finess), options }, { signal });
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (signal.aborted || code === 'ERR_WORKER_OUT_OF_MEMORY') ready = warmUp();
        if (signal.aborted) throw new DocumentBuildLimitError(`building the document took longer than ${l.timeoutMs} ms (its thread was stopped)`);
        if (code === 'ERR_WORKER_OUT_OF_MEMORY') throw new DocumentBuildLimitError(`building the document needed more than ${l.maxMemoryMb} MiB (its thread was stopped)`);
        throw new DocumentBuilderUnavailable(`document builder: ${(err as Error).message}`);
      } finally {
        leave();
      }
      if (reply === 'ready') throw new DocumentBuilderUnavailable('document builder: no document in the answer');
      if (!reply.ok) throw new Error(reply.error);
      return revive(reply.built);
    },
    close: () => pool.close({ force: true }),
  };
}
