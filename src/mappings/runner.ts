// Compiling and running one vendor format (issue 19): the JSONata expression compiled once, run with `$codemap` and
// `$codemapDisplay` bound, under a time limit (jsonata's guardrails: the clock is checked on every evaluation step,
// so an endless expression is stopped at the limit) and an output size limit; the output is checked as a canonical
// document. Every failure of a run is a MappingFailure (400, 413 for the input size, 422 for an unmapped code whose
// map says `unmapped: error`); nothing else is thrown.
//
// Unused fields (an approximation, documented in docs/mappings.md § Reference): we collect every field name the
// expression's syntax tree mentions (path steps, and string literals, which `$lookup` may use). A leaf of the input
// whose own field name is never mentioned cannot have been read by name; those leaves are reported, array indexes
// collapsed (`export.lignes.ligne[].remarque`). When the expression reads fields dynamically (wildcards `*`, `**`,
// `$keys`, `$lookup`, `$each`, `$sift`, `$spread`, `$string`, `$merge`, `$eval`) no field is reported. So a reported
// field is certainly unused by name; an unreported field may still be unused.
import jsonata from 'jsonata';
import { InputError, parseDocument } from '../domain/parse.js';
import { parseInput } from './parse-input.js';
import { type CodeMap, type CompiledMapping, type MappingDefinition, type MappingDiagnostic, MappingFailure, type MappingRunResult } from './model.js';

export interface MappingSpec extends MappingDefinition {
  xmlArrays: readonly string[];
  csvDelimiter: string;
}

/** Deepest recursion of an expression's functions. */
export const MAX_EXPRESSION_DEPTH = 500;
/** Longest sequence an expression may build (jsonata `sequence` guardrail, error D2015). */
export const MAX_SEQUENCE = 1_000_000;
/** Leaves of the input examined for unused fields. */
const MAX_LEAVES = 200_000;
/** Unused fields reported at most. */
const MAX_UNUSED = 200;

const DYNAMIC_FUNCTIONS = new Set(['keys', 'lookup', 'each', 'sift', 'spread', 'string', 'merge', 'eval']);

interface JsonataErrorLike {
  code?: string;
  message?: string;
  position?: number;
  token?: string;
}

/** `line L, column C` of a character index in `text`. */
export function position(text: string, index: number): string {
  const before = text.slice(0, Math.max(0, Math.min(index, text.length)));
  const line = before.split('\n').length;
  return `line ${line}, column ${before.length - before.lastIndexOf('\n')}`;
}

function snippet(text: string, index: number | undefined): string | undefined {
  if (typeof index !== 'number' || index < 0) return undefined;
  const start = text.lastIndexOf('\n', Math.max(0, index - 1)) + 1;
  const end = text.indexOf('\n', index);
  return text.slice(start, end === -1 ? undefined : end).trim().slice(0, 200) || undefined;
}

/** Field names an expression mentions, or undefined when it reads fields dynamically. */
export function referencedNames(ast: jsonata.ExprNode): Set<string> | undefined {
  const names = new Set<string>();
  let dynamic = false;
  const seen = new Set<object>();
  const stack: unknown[] = [ast];
  while (stack.length > 0 && !dynamic) {
    const node = stack.pop();
    if (node === null || typeof node !== 'object' || seen.has(node)) continue;
    seen.add(node);
    if (Array.isArray(node)) {
      for (const n of node) stack.push(n);
      continue;
    }
    const n = node as { type?: string; value?: unknown };
    if (n.type === 'name' && typeof n.value === 'string') names.add(n.value);
    else if (n.type === 'string' && typeof n.value === 'string') names.add(n.value);
    else if (n.type === 'wildcard' || n.type === 'descendant') dynamic = true;
    else if (n.type === 'variable' && typeof n.value === 'string' && DYNAMIC_FUNCTIONS.has(n.value)) dynamic = true;
    for (const [k, v] of Object.entries(n)) if (k !== 'value' || typeof v === 'object') stack.push(v);
  }
  return dynamic ? undefined : names;
}

/** Leaf paths of `input` whose field name is not in `names`, array indexes collapsed. */
export function unusedLeaves(input: unknown, names: ReadonlySet<string>): string[] {
  const out = new Set<string>();
  let budget = MAX_LEAVES;
  const walk = (v: unknown, path: string, name: string | undefined, depth: number): void => {
    if (budget-- <= 0 || out.size >= MAX_UNUSED || depth > 100) return;
    if (Array.isArray(v)) {
      for (const item of v) walk(item, `${path}[]`, name, depth + 1);
    } else if (v !== null && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) walk(child, path ? `${path}.${k}` : k, k, depth + 1);
    } else if (name !== undefined && !names.has(name)) out.add(path);
  };
  walk(input, '', undefined, 0);
  return [...out].sort();
}

/** Where a string value first appears among the input's leaves (`export.lignes.ligne[2].cip`), for diagnostics. */
function findValue(input: unknown, value: string): string | undefined {
  let budget = MAX_LEAVES;
  const walk = (v: unknown, path: string): string | undefined => {
    if (budget-- <= 0) return undefined;
    if (v === value) return path || '$';
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const r = walk(v[i], `${path}[${i}]`);
        if (r) return r;
      }
    } else if (v !== null && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) {
        const r = walk(child, path ? `${path}.${k}` : k);
        if (r) return r;
      }
    }
    return undefined;
  };
  return walk(input, '');
}

function errorMessage(e: JsonataErrorLike): string {
  return String(e.message ?? e.code ?? 'error').slice(0, 500);
}

export type CompileResult = { ok: true; mapping: CompiledMapping } | { ok: false; errors: string[] };

/** Compile `spec` with the expression `source` (read from `transformFile`) against the loaded code maps. */
export function compileMapping(spec: MappingSpec, source: string, transformFile: string, codeMaps: ReadonlyMap<string, CodeMap>): CompileResult {
  let expression: jsonata.Expression;
  try {
    expression = jsonata(source, { timeout: spec.limits.timeoutMs, stack: MAX_EXPRESSION_DEPTH, sequence: MAX_SEQUENCE } as jsonata.JsonataOptions);
  } catch (err) {
    const e = err as JsonataErrorLike;
    const where = typeof e.position === 'number' ? ` (${position(source, e.position - 1)})` : '';
    return { ok: false, errors: [`${transformFile}: syntax error${where}: ${errorMessage(e)}`] };
  }
  const missing = spec.codeMaps.filter((m) => !codeMaps.has(m));
  if (missing.length > 0) return { ok: false, errors: missing.map((m) => `${transformFile}: code map "${m}" is not defined under codemaps/`) };
  const names = referencedNames(expression.ast());
  const declared = new Set(spec.codeMaps);

  async function run(input: Buffer | string): Promise<MappingRunResult> {
    const mapping = spec.name;
    const t0 = performance.now();
    const parsed = parseInput({ mapping, input: spec.input, maxInputBytes: spec.limits.maxInputBytes, xmlArrays: spec.xmlArrays, csvDelimiter: spec.csvDelimiter }, input);
    const t1 = performance.now();
    const diagnostics: MappingDiagnostic[] = [];
    const reported = new Set<string>();
    const mapOf = (name: unknown): CodeMap => {
      const map = typeof name === 'string' && declared.has(name) ? codeMaps.get(name) : undefined;
      if (!map) throw { code: 'codemap', message: `code map "${String(name)}" is not listed in mapping.yaml codeMaps` };
      return map;
    };
    const lookup = (name: unknown, code: unknown) => {
      const map = mapOf(name);
      if (code === undefined || code === null || code === '') return undefined;
      const c = String(code);
      const entry = map.lookup(c);
      if (!entry) {
        const key = `${map.name}\u0000${c}`;
        if (!reported.has(key) && reported.size < 1000) {
          reported.add(key);
          const inputPath = findValue(parsed, c);
          diagnostics.push({
            severity: map.unmapped, code: 'unmapped-code', mapping, rule: `$codemap('${map.name}')`,
            message: `code "${c.slice(0, 100)}" is not in code map ${map.name}`, ...(inputPath ? { inputPath } : {}),
          });
        }
      }
      return entry;
    };
    const bindings = {
      codemap: (name: unknown, code: unknown) => lookup(name, code)?.target,
      codemapDisplay: (name: unknown, code: unknown) => lookup(name, code)?.display,
    };
    let output: unknown;
    try {
      output = await expression.evaluate(parsed, bindings);
    } catch (err) {
      const e = err as JsonataErrorLike;
      if (e?.code === 'D1012') {
        throw new MappingFailure(mapping, [{ severity: 'error', code: 'timeout', mapping, message: `the transformation ran longer than ${spec.limits.timeoutMs} ms and was stopped` }]);
      }
      const rule = snippet(source, e?.position);
      const code = e?.code === 'D1011' ? 'expression-too-deep' : 'expression-error';
      const where = typeof e?.position === 'number' ? ` (${transformFile} ${position(source, e.position - 1)})` : '';
      throw new MappingFailure(mapping, [{ severity: 'error', code, mapping, message: `${errorMessage(e ?? {})}${where}`, ...(rule ? { rule } : {}) }]);
    }
    let json: string | undefined;
    try {
      json = JSON.stringify(output);
    } catch (err) {
      throw new MappingFailure(mapping, [{ severity: 'error', code: 'invalid-output', mapping, message: `the output cannot be written as JSON: ${(err as Error).message}` }]);
    }
    const t2 = performance.now();
    if (json === undefined) {
      throw new MappingFailure(mapping, [{ severity: 'error', code: 'invalid-output', mapping, message: 'the transformation produced no document', outputPath: spec.kind }]);
    }
    const size = Buffer.byteLength(json);
    if (size > spec.limits.maxOutputBytes) {
      throw new MappingFailure(mapping, [{ severity: 'error', code: 'output-too-large', mapping, message: `the output is ${size} bytes, over the limit of ${spec.limits.maxOutputBytes}` }]);
    }
    const document = JSON.parse(json) as unknown;
    try {
      parseDocument(spec.kind, document);
    } catch (err) {
      if (!(err instanceof InputError)) throw new MappingFailure(mapping, [{ severity: 'error', code: 'invalid-output', mapping, message: String((err as Error)?.message) }]);
      throw new MappingFailure(mapping, [
        ...diagnostics,
        ...err.issues.slice(0, 100).map((i): MappingDiagnostic => ({ severity: 'error', code: 'invalid-output', mapping, message: `${i.path}: ${i.message}`, outputPath: i.path })),
      ]);
    }
    if (diagnostics.some((d) => d.severity === 'error')) throw new MappingFailure(mapping, diagnostics, 422);
    const unusedFields = names ? unusedLeaves(parsed, names) : [];
    for (const f of unusedFields) diagnostics.push({ severity: 'information', code: 'unused-field', mapping, message: `input field ${f} is not used by any rule`, inputPath: f });
    return { mapping, version: spec.version, kind: spec.kind, document, diagnostics, unusedFields, timings: { parseMs: t1 - t0, transformMs: t2 - t1 } };
  }

  const { xmlArrays: _x, csvDelimiter: _c, ...definition } = spec;
  const compiled: CompiledMapping = {
    ...definition,
    async run(input) {
      try {
        return await run(input);
      } catch (err) {
        if (err instanceof MappingFailure) throw err;
        throw new MappingFailure(spec.name, [{ severity: 'error', code: 'internal-error', mapping: spec.name, message: String((err as Error)?.message ?? err).slice(0, 500) }]);
      }
    },
  };
  return { ok: true, mapping: compiled };
}
