// A tiny stand-in for the engine's loader (tests of the registry and of the upload selection): every
// `formats/<name>/format.json` is a format whose `run` returns the BPM fixture with `id` = `<prefix><input text>`, an
// input starting with `FAIL` throws a MappingFailure, one starting with `WARN` adds a warning; a file that is not JSON
// is a problem of the set. `codemaps/<name>.json` are code maps (content hash as version).
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { DocumentKind } from '../../src/domain/parse.js';
import { MappingFailure, type CodeMap, type CompiledMapping, type MappingSet } from '../../src/mappings/model.js';

export interface FakeFormat {
  kind?: DocumentKind;
  prefix?: string;
  mediaTypes?: string[];
  fileNames?: string[];
  maxInputBytes?: number;
}

const bpmFixture = JSON.parse(readFileSync('test/fixtures/bpm/self-medication-remote.json', 'utf8')) as Record<string, unknown>;

export function fakeMapping(name: string, f: FakeFormat, version = 'v-' + name): CompiledMapping {
  const kind = f.kind ?? 'bpm';
  return {
    name,
    kind,
    input: 'xml',
    mediaTypes: f.mediaTypes ?? [],
    fileNames: f.fileNames ?? [],
    codeMaps: [],
    limits: { timeoutMs: 1000, maxOutputBytes: 1_000_000, maxInputBytes: f.maxInputBytes ?? 10_000 },
    dir: `formats/${name}`,
    version,
    async run(input) {
      const text = Buffer.isBuffer(input) ? input.toString('utf8') : input;
      if (text.startsWith('FAIL')) {
        throw new MappingFailure(name, [
          { severity: 'error', code: 'expression-error', message: 'the date is not a date', mapping: name, rule: '$toMillis(date)', inputPath: 'export.entete.date', outputPath: 'adhesionDate' },
        ]);
      }
      if (text.startsWith('CRASH')) throw new TypeError('boom');
      if (text.startsWith('INVALID')) return { mapping: name, version, kind, document: { id: 'x' }, diagnostics: [], unusedFields: [], timings: { parseMs: 0, transformMs: 0 } };
      const diagnostics = text.startsWith('WARN')
        ? [{ severity: 'warning' as const, code: 'unmapped-code', message: 'code XYZ not in map units', mapping: name, rule: 'units', inputPath: 'lignes.ligne[0].unite' }]
        : [];
      return {
        mapping: name,
        version,
        kind,
        document: { ...bpmFixture, id: `${f.prefix ?? ''}${text.trim()}` },
        diagnostics,
        unusedFields: ['export.entete.logiciel'],
        timings: { parseMs: 0, transformMs: 0 },
      };
    },
  };
}

export function fakeSet(mappings: CompiledMapping[]): MappingSet {
  return { mappings: new Map(mappings.map((m) => [m.name, m])), codeMaps: new Map(), problems: [], loadedAt: new Date().toISOString() };
}

const hash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 12);

export async function fakeLoad(dir: string): Promise<MappingSet> {
  const mappings = new Map<string, CompiledMapping>();
  const codeMaps = new Map<string, CodeMap>();
  const problems: { file: string; message: string }[] = [];
  const formats = path.join(dir, 'formats');
  if (existsSync(formats)) {
    for (const name of readdirSync(formats)) {
      const file = path.join(formats, name, 'format.json');
      if (!existsSync(file)) continue;
      const text = readFileSync(file, 'utf8');
      try {
        mappings.set(name, fakeMapping(name, JSON.parse(text) as FakeFormat, hash(text)));
      } catch (err) {
        problems.push({ file, message: (err as Error).message });
      }
    }
  }
  const cm = path.join(dir, 'codemaps');
  if (existsSync(cm)) {
    for (const f of readdirSync(cm)) {
      const file = path.join(cm, f);
      const text = readFileSync(file, 'utf8');
      const name = f.replace(/\.[^.]*$/, '');
      try {
        JSON.parse(text);
        codeMaps.set(name, { name, url: `https://fhir.passerelle.fr/ConceptMap/${name}`, version: hash(text), sourceSystem: 's', targetSystem: 't', unmapped: 'warning', entries: [], lookup: () => undefined, file });
      } catch (err) {
        problems.push({ file, message: (err as Error).message });
      }
    }
  }
  return { mappings, codeMaps, problems, loadedAt: new Date().toISOString() };
}
