// Loading a `mappings/` folder (issue 19): every format of `formats/*/mapping.yaml` compiled against the code maps; a
// file that cannot be loaded is a problem of the set, never a crash.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadCodeMaps } from './codemaps.js';
import { parseMappingFile } from './format-file.js';
import type { CompiledMapping, MappingSet } from './model.js';
import { compileMapping } from './runner.js';

/** Largest mapping.yaml / transform file read. */
const MAX_FILE_BYTES = 1024 * 1024;

function readSmall(file: string): string {
  const size = statSync(file).size;
  if (size > MAX_FILE_BYTES) throw new Error(`${file} is ${size} bytes, over ${MAX_FILE_BYTES}`);
  return readFileSync(file, 'utf8');
}

/** The format folders under `<dir>/formats` (sorted). */
export function formatFolders(dir: string): string[] {
  try {
    return readdirSync(join(dir, 'formats'), { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

export async function loadMappingSet(dir: string): Promise<MappingSet> {
  const loadedAt = new Date().toISOString();
  const { codeMaps, problems: codeMapProblems } = await loadCodeMaps(dir);
  const problems: { file: string; message: string }[] = [...codeMapProblems];
  const mappings = new Map<string, CompiledMapping>();
  for (const folder of formatFolders(dir)) {
    const formatDir = join(dir, 'formats', folder);
    const file = join(formatDir, 'mapping.yaml');
    try {
      let text: string;
      try {
        text = readSmall(file);
      } catch (err) {
        problems.push({ file, message: `cannot read ${file}: ${(err as Error).message}` });
        continue;
      }
      let raw: unknown;
      try {
        raw = parseYaml(text, { maxAliasCount: 100 });
      } catch (err) {
        problems.push({ file, message: `${file} is not valid YAML: ${(err as Error).message}` });
        continue;
      }
      const parsed = parseMappingFile(file, folder, raw);
      if (!parsed.ok) {
        for (const message of parsed.errors) problems.push({ file, message });
        continue;
      }
      const m = parsed.value;
      const transformFile = join(formatDir, m.transform);
      let source: string;
      try {
        source = readSmall(transformFile);
      } catch (err) {
        problems.push({ file: transformFile, message: `cannot read ${transformFile}: ${(err as Error).message}` });
        continue;
      }
      const version = createHash('sha256').update(text).update('\u0000').update(source).digest('hex');
      const compiled = compileMapping(
        {
          name: m.name, kind: m.kind, input: m.input, ...(m.description !== undefined ? { description: m.description } : {}),
          mediaTypes: m.select.mediaTypes, fileNames: m.select.fileNames, codeMaps: m.codeMaps, limits: m.limits,
          dir: formatDir, version, xmlArrays: m.xml.arrays, csvDelimiter: m.csv.delimiter,
        },
        source,
        transformFile,
        codeMaps,
      );
      if (!compiled.ok) {
        for (const message of compiled.errors) problems.push({ file: transformFile, message });
        continue;
      }
      mappings.set(m.name, compiled.mapping);
    } catch (err) {
      problems.push({ file, message: `cannot load ${file}: ${(err as Error)?.message ?? String(err)}` });
    }
  }
  // Two formats selected by the same media type: the request could not choose; both are reported.
  const byType = new Map<string, string[]>();
  for (const m of mappings.values()) for (const t of m.mediaTypes) byType.set(t, [...(byType.get(t) ?? []), m.name]);
  for (const [type, names] of byType) {
    if (names.length > 1) {
      for (const n of names) problems.push({ file: join(dir, 'formats', n, 'mapping.yaml'), message: `media type ${type} is claimed by several formats: ${names.join(', ')}` });
    }
  }
  return { mappings, codeMaps, problems, loadedAt };
}
