// The body of a document-building worker thread (see isolated-build.ts): builds one document — PDF, CDA R2 N1, XDS
// metadata — from a message's request. Content decides how much time and memory this takes, so it runs on a thread
// with its own heap limit that the gateway can terminate.
import { buildDocument, type BuildOptions, type BuiltDocument } from './pipeline.js';
import type { DocumentRequest } from './model.js';
import type { DocumentSettings } from './settings.js';

export interface BuildTask {
  request: DocumentRequest;
  settings: DocumentSettings;
  options: BuildOptions;
}

/** Sent once a thread is started: answered when its modules are loaded, so no document's time limit pays for that. */
export interface WarmUpTask {
  warmUp: true;
}

/** A build error crosses the thread as a plain value: the main thread tells it from a crash of the worker. */
export type BuildReply = { ok: true; built: BuiltDocument } | { ok: false; error: string };

export default async function build(task: BuildTask | WarmUpTask): Promise<BuildReply | 'ready'> {
  if ('warmUp' in task) return 'ready';
  try {
    return { ok: true, built: await buildDocument(task.request, task.settings, task.options) };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}
