// The mappings in service (issue 19, docs/mappings.md "Deploying and reloading"): the last good version of every
// vendor format and code map under `mappings/`, reloaded when the folder changes.
//
// A change (debounced) reloads the WHOLE folder with the loader, then swaps per file: a format or code map that loads
// cleanly replaces the one served; one that now fails keeps its last good version serving and its error is reported
// (log at warn, `passerelle_mappings_broken`, `status()`); one whose file is gone is removed. Each swap publishes a new
// immutable `MappingSet`: a request reads `current()` once and runs against one consistent set.
//
// Several processes (PostgreSQL): nothing is shared between them; each process watches and reloads its own copy of
// the folder, and `GET /admin/mappings` of each process shows the version (content hash) it serves. Deploy the same
// files to every process; a process whose copy differs serves its own version until its files are updated.
import path from 'node:path';
import { watch as chokidarWatch, type FSWatcher } from 'chokidar';
import type { Logger } from 'pino';
import type { MetadataCodeMaps } from '../documents/settings.js';
import { metrics as processMetrics, type Metrics } from '../observability/metrics.js';
import { loadMappingSet } from './load.js';
import type { CodeMap, CompiledMapping, MappingSet, MappingSource } from './model.js';

export type MappingFileKind = 'format' | 'codemap';

export interface MappingFileStatus {
  name: string;
  kind: MappingFileKind;
  /** Content hash of the version served; absent when the file never loaded. */
  version?: string;
  /** When the version served was loaded. */
  loadedAt?: string;
  /** The file (format folder or code map file) it comes from. */
  file?: string;
  /** The file on disk does not load: why, and since when (the last good version, if any, keeps serving). */
  error?: { message: string; file: string; since: string };
}

export interface MappingRegistryStatus {
  dir: string;
  watching: boolean;
  /** The last reload: when and with what result. */
  lastReload: { at: string; result: 'ok' | 'partial' | 'error'; error?: string };
  files: MappingFileStatus[];
  /** Problems of the last load that belong to no format or code map. */
  problems: { file: string; message: string }[];
}

export interface MappingRegistryOptions {
  dir: string;
  watch: boolean;
  debounceMs: number;
  logger?: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Loads a whole folder (default: the engine's `loadMappingSet`). */
  load?: (dir: string) => Promise<MappingSet>;
  metrics?: Metrics;
}

type Served<T> = { value: T; loadedAt: string };
type Broken = { message: string; file: string; since: string };

/** `formats/<name>/…` → the format, `codemaps/<name>.<ext>` → the code map; anything else: undefined. */
export function ownerOf(dir: string, file: string): { kind: MappingFileKind; name: string } | undefined {
  const rel = (path.isAbsolute(file) ? path.relative(dir, file) : file).split(path.sep).join('/');
  let parts = rel.split('/').filter((p) => p !== '' && p !== '.');
  // A path given from elsewhere (`mappings/formats/x/mapping.yaml`, `../m/codemaps/u.csv`): from its last formats/ or codemaps/.
  if (parts[0] !== 'formats' && parts[0] !== 'codemaps') {
    const at = Math.max(parts.lastIndexOf('formats'), parts.lastIndexOf('codemaps'));
    if (at < 0) return undefined;
    parts = parts.slice(at);
  }
  if (parts[0] === 'formats' && parts.length >= 2 && parts[1]) return { kind: 'format', name: parts[1] };
  if (parts[0] === 'codemaps' && parts.length === 2 && parts[1]) return { kind: 'codemap', name: parts[1].replace(/\.[^.]*$/, '') };
  return undefined;
}

const keyOf = (kind: MappingFileKind, name: string): string => `${kind}:${name}`;

export class MappingRegistry implements MappingSource {
  private set: MappingSet;
  private readonly formats = new Map<string, Served<CompiledMapping>>();
  private readonly codeMaps = new Map<string, Served<CodeMap>>();
  private readonly broken = new Map<string, Broken & { kind: MappingFileKind; name: string }>();
  private otherProblems: { file: string; message: string }[] = [];
  private lastReload: MappingRegistryStatus['lastReload'] = { at: new Date(0).toISOString(), result: 'ok' };
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private readonly load: (dir: string) => Promise<MappingSet>;
  private readonly metrics: Metrics;
  /** Resolved after each reload (tests wait on it). */
  private listeners: (() => void)[] = [];

  private constructor(private readonly options: MappingRegistryOptions) {
    this.load = options.load ?? loadMappingSet;
    this.metrics = options.metrics ?? processMetrics;
    this.set = { mappings: new Map(), codeMaps: new Map(), problems: [], loadedAt: new Date().toISOString() };
  }

  /** Load `dir` once (problems logged) and, with `watch`, follow its changes. */
  static async open(options: MappingRegistryOptions): Promise<MappingRegistry> {
    const registry = new MappingRegistry(options);
    await registry.reload();
    if (options.watch) await registry.startWatching();
    return registry;
  }

  current(): MappingSet {
    return this.set;
  }

  /**
   * The code maps as document metadata reads them (documents.yaml `codeMaps`): the version served at the time of each
   * document, so a reloaded map applies to the next one. A FINESS a map does not list is logged and counted.
   */
  metadataCodeMaps(): MetadataCodeMaps {
    return {
      get: (name) => this.set.codeMaps.get(name),
      onUnmapped: (map, finess, field) => {
        this.metrics.codeMapUnmapped.inc({ map, use: 'document' });
        this.options.logger?.warn({ map, finess, field }, `FINESS ${finess} is not in code map ${map} (document ${field})`);
      },
    };
  }

  /** Reload the whole folder now (what a change triggers after the debounce); reloads never overlap. */
  async reload(): Promise<void> {
    if (this.reloading) {
      this.again = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      do {
        this.again = false;
        await this.reloadOnce();
      } while (this.again && !this.closed);
    })().finally(() => {
      this.reloading = undefined;
      const listeners = this.listeners;
      this.listeners = [];
      for (const l of listeners) l();
    });
    return this.reloading;
  }

  /** Resolves after the next reload ends (a change seen by the watcher, after the debounce). */
  nextReload(): Promise<void> {
    return new Promise((resolve) => this.listeners.push(resolve));
  }

  status(): MappingRegistryStatus {
    const files = new Map<string, MappingFileStatus>();
    for (const [name, s] of this.formats) files.set(keyOf('format', name), { name, kind: 'format', version: s.value.version, loadedAt: s.loadedAt, file: s.value.dir });
    for (const [name, s] of this.codeMaps) files.set(keyOf('codemap', name), { name, kind: 'codemap', version: s.value.version, loadedAt: s.loadedAt, file: s.value.file });
    for (const [key, b] of this.broken) {
      const entry = files.get(key) ?? { name: b.name, kind: b.kind };
      files.set(key, { ...entry, error: { message: b.message, file: b.file, since: b.since } });
    }
    return {
      dir: this.options.dir,
      watching: this.watcher !== undefined,
      lastReload: this.lastReload,
      files: [...files.values()].sort((a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name)),
      problems: this.otherProblems,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const w = this.watcher;
    this.watcher = undefined;
    await w?.close();
    await this.reloading;
  }

  private async startWatching(): Promise<void> {
    const watcher = chokidarWatch(this.options.dir, { ignoreInitial: true, persistent: true });
    this.watcher = watcher;
    watcher.on('all', () => this.changed());
    watcher.on('error', (err) => this.options.logger?.warn({ err }, 'mappings: watching the folder failed'));
    await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  }

  private changed(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.reload();
    }, this.options.debounceMs);
  }

  private async reloadOnce(): Promise<void> {
    const { dir, logger } = this.options;
    const at = new Date().toISOString();
    let next: MappingSet;
    try {
      next = await this.load(dir);
    } catch (err) {
      // Nothing could be read: everything keeps serving.
      const message = (err as Error).message;
      this.lastReload = { at, result: 'error', error: message };
      this.metrics.mappingsReloads.inc({ result: 'error' });
      logger?.warn({ dir, err: message }, 'mappings: reloading the folder failed; the last good versions keep serving');
      return;
    }
    // Problems of this load, per format or code map.
    const problemsOf = new Map<string, { kind: MappingFileKind; name: string; file: string; message: string }>();
    const others: { file: string; message: string }[] = [];
    for (const p of next.problems) {
      const owner = ownerOf(dir, p.file);
      if (!owner) others.push(p);
      else if (!problemsOf.has(keyOf(owner.kind, owner.name))) problemsOf.set(keyOf(owner.kind, owner.name), { ...owner, file: p.file, message: p.message });
    }
    const swap = <T extends { version: string }>(kind: MappingFileKind, served: Map<string, Served<T>>, loaded: ReadonlyMap<string, T>): void => {
      for (const [name, value] of loaded) {
        const old = served.get(name);
        if (!old || old.value.version !== value.version) served.set(name, { value, loadedAt: at });
        else served.set(name, { value, loadedAt: old.loadedAt });
        this.broken.delete(keyOf(kind, name));
      }
      for (const name of [...served.keys()]) {
        if (loaded.has(name)) continue;
        // Broken now: the last good version keeps serving. Gone: removed.
        if (!problemsOf.has(keyOf(kind, name))) served.delete(name);
      }
    };
    swap('format', this.formats, next.mappings);
    swap('codemap', this.codeMaps, next.codeMaps);
    for (const key of [...this.broken.keys()]) if (!problemsOf.has(key)) this.broken.delete(key);
    for (const [key, p] of problemsOf) {
      const loaded = p.kind === 'format' ? next.mappings.has(p.name) : next.codeMaps.has(p.name);
      if (loaded) continue; // loaded with a remark: served, not broken
      const before = this.broken.get(key);
      const since = before && before.message === p.message ? before.since : (before?.since ?? at);
      this.broken.set(key, { ...p, since });
      const serving = (p.kind === 'format' ? this.formats : this.codeMaps).get(p.name);
      if (!before || before.message !== p.message) {
        logger?.warn(
          { file: p.file, kind: p.kind, name: p.name, servedVersion: serving?.value.version, err: p.message },
          serving ? `mappings: ${p.kind} ${p.name} does not load; its last good version keeps serving` : `mappings: ${p.kind} ${p.name} does not load; it is not served`,
        );
      }
    }
    this.otherProblems = others;
    for (const p of others) logger?.warn({ file: p.file, err: p.message }, 'mappings: a file does not load');
    const result = this.broken.size > 0 || others.length > 0 ? 'partial' : 'ok';
    this.lastReload = { at, result };
    this.metrics.mappingsReloads.inc({ result });
    this.metrics.mappingsBroken.set(this.broken.size);
    // The new set, published at once.
    this.set = {
      mappings: new Map([...this.formats].map(([n, s]) => [n, s.value])),
      codeMaps: new Map([...this.codeMaps].map(([n, s]) => [n, s.value])),
      problems: [...[...this.broken.values()].map((b) => ({ file: b.file, message: b.message })), ...others],
      loadedAt: at,
    };
    logger?.info({ dir, formats: this.formats.size, codeMaps: this.codeMaps.size, broken: this.broken.size }, 'mappings loaded');
  }
}
