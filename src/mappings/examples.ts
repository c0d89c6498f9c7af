// Golden examples of a format (issue 19): `examples/<case>.<xml|csv|json>` beside `<case>.expected.json`; running
// them, and a path-based diff of the expected and actual canonical documents.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CompiledMapping, type MappingDiagnostic, MappingFailure, type MappingRunResult } from './model.js';

export interface ExampleCase {
  name: string;
  input: string;
  expected?: string;
}

/** The cases of a format's examples folder: inputs with the format's extension (sorted). */
export function exampleCases(mapping: Pick<CompiledMapping, 'dir' | 'input'>): ExampleCase[] {
  const dir = join(mapping.dir, 'examples');
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch {
    return [];
  }
  return files
    .filter((f) => f.endsWith(`.${mapping.input}`) && !f.endsWith('.expected.json'))
    .sort()
    .map((f) => {
      const name = f.slice(0, -(mapping.input.length + 1));
      const expected = join(dir, `${name}.expected.json`);
      return { name, input: join(dir, f), ...(existsSync(expected) ? { expected } : {}) };
    });
}

export type ExampleOutcome = { ok: true; result: MappingRunResult } | { ok: false; diagnostics: readonly MappingDiagnostic[] };

export async function runExample(mapping: CompiledMapping, c: ExampleCase): Promise<ExampleOutcome> {
  try {
    return { ok: true, result: await mapping.run(readFileSync(c.input)) };
  } catch (err) {
    if (err instanceof MappingFailure) return { ok: false, diagnostics: err.diagnostics };
    return { ok: false, diagnostics: [{ severity: 'error', code: 'internal-error', mapping: mapping.name, message: (err as Error)?.message ?? String(err) }] };
  }
}

/** JSON with object keys sorted, recursively: two equal documents have the same canonical text. */
export function canonicalJson(v: unknown): string {
  const sort = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(sort);
    if (x !== null && typeof x === 'object') {
      return Object.fromEntries(Object.keys(x).sort().map((k) => [k, sort((x as Record<string, unknown>)[k])]));
    }
    return x;
  };
  return JSON.stringify(sort(v)) ?? 'undefined';
}

export interface DiffLine {
  path: string;
  expected?: unknown;
  actual?: unknown;
}

/** The differing leaves of two JSON values, by path (`medications[0].dosage.text`); at most `limit`. */
export function jsonDiff(expected: unknown, actual: unknown, limit = 50): DiffLine[] {
  const out: DiffLine[] = [];
  const isObj = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
  const walk = (e: unknown, a: unknown, path: string): void => {
    if (out.length >= limit) return;
    if (Array.isArray(e) && Array.isArray(a)) {
      for (let i = 0; i < Math.max(e.length, a.length); i++) {
        if (i >= e.length) out.push({ path: `${path}[${i}]`, actual: a[i] });
        else if (i >= a.length) out.push({ path: `${path}[${i}]`, expected: e[i] });
        else walk(e[i], a[i], `${path}[${i}]`);
      }
      return;
    }
    if (isObj(e) && isObj(a)) {
      for (const k of [...new Set([...Object.keys(e), ...Object.keys(a)])].sort()) {
        const p = path ? `${path}.${k}` : k;
        if (!(k in a)) out.push({ path: p, expected: e[k] });
        else if (!(k in e)) out.push({ path: p, actual: a[k] });
        else walk(e[k], a[k], p);
      }
      return;
    }
    if (canonicalJson(e) !== canonicalJson(a)) out.push({ path: path || '(document)', expected: e, actual: a });
  };
  walk(expected, actual, '');
  return out;
}

function show(v: unknown): string {
  const s = JSON.stringify(v) ?? 'undefined';
  return s.length > 200 ? `${s.slice(0, 197)}...` : s;
}

/** A readable diff: one line per path, `- expected` / `+ actual`. */
export function formatDiff(lines: readonly DiffLine[]): string {
  return lines
    .map((l) => {
      if (!('actual' in l)) return `  ${l.path}: missing (expected ${show(l.expected)})`;
      if (!('expected' in l)) return `  ${l.path}: unexpected ${show(l.actual)}`;
      return `  ${l.path}:\n    - expected ${show(l.expected)}\n    + actual   ${show(l.actual)}`;
    })
    .join('\n');
}
