import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseMappingFile } from '../../src/mappings/format-file.js';
import { loadMappingSet } from '../../src/mappings/load.js';
import { type CodeMap, type InputFormat, MappingFailure } from '../../src/mappings/model.js';
import { parseInput } from '../../src/mappings/parse-input.js';
import { compileMapping, type MappingSpec } from '../../src/mappings/runner.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const example = (format: string, file: string) => readFileSync(join(FIXTURES, 'formats', format, 'examples', file));
const LIMITS = { timeoutMs: 1000, maxOutputBytes: 5 * 1024 * 1024, maxInputBytes: 20 * 1024 * 1024 };

function spec(input: InputFormat, over: Partial<MappingSpec> = {}): MappingSpec {
  return { name: 't', kind: 'bpm', input, mediaTypes: [], fileNames: [], codeMaps: [], limits: LIMITS, dir: '/nowhere', version: 'v1', xmlArrays: [], csvDelimiter: ';', ...over };
}

function compile(source: string, s: MappingSpec, maps: Map<string, CodeMap> = new Map()) {
  const c = compileMapping(s, source, 'transform.jsonata', maps);
  if (!c.ok) throw new Error(c.errors.join('\n'));
  return c.mapping;
}

async function failure(p: Promise<unknown>): Promise<MappingFailure> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(MappingFailure);
    return err as MappingFailure;
  }
  throw new Error('expected a MappingFailure');
}

const xmlFormatSource = readFileSync(join(FIXTURES, 'formats', 'test-xml', 'transform.jsonata'), 'utf8');
const validBpm = JSON.parse(readFileSync(join(FIXTURES, 'formats', 'test-xml', 'examples', 'one-line.expected.json'), 'utf8')) as Record<string, unknown>;

describe('mapping.yaml', () => {
  it('applies defaults and checks the name against the folder', () => {
    const r = parseMappingFile('f/mapping.yaml', 'x', { name: 'x', kind: 'bpm', input: 'xml' });
    expect(r.ok && r.value.limits).toEqual({ timeoutMs: 2000, maxOutputBytes: 5 * 1024 * 1024, maxInputBytes: 20 * 1024 * 1024 });
    expect(r.ok && r.value.transform).toBe('transform.jsonata');
    expect(parseMappingFile('f/mapping.yaml', 'y', { name: 'x', kind: 'bpm', input: 'xml' }).ok).toBe(false);
  });
  it('refuses unknown keys and bad values with the file and field path', () => {
    const r = parseMappingFile('f/mapping.yaml', 'x', { name: 'x', kind: 'bpm', input: 'xml', limits: { timeoutMs: 60000, retries: 2 }, select: { mediaType: 'a/b' } });
    expect(r.ok).toBe(false);
    const text = r.ok ? '' : r.errors.join('\n');
    expect(text).toContain('f/mapping.yaml: limits.timeoutMs');
    expect(text).toContain('retries');
    expect(text).toContain('select');
    expect(parseMappingFile('f', 'x', 'not an object').ok).toBe(false);
  });
});

describe('parsed input conventions', () => {
  const xml = (text: string, arrays: string[] = []) => parseInput({ mapping: 't', input: 'xml', maxInputBytes: 1e6, xmlArrays: arrays }, text);
  it('XML: attributes with @, #text only with attributes, strings only, declared arrays, predefined entities', () => {
    expect(xml('<a n="01"><b>007</b><c x="1">t &amp; &#233;</c><l><i>1</i></l></a>', ['a.l.i'])).toEqual({
      a: { '@n': '01', b: '007', c: { '@x': '1', '#text': 't & é' }, l: { i: ['1'] } },
    });
  });
  it('XML: a DOCTYPE or an entity declaration is refused before parsing', async () => {
    for (const bad of ['<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', '<?xml version="1.0"?>\n<!doctype a SYSTEM "file:///etc/passwd"><a/>', '<a><!ENTITY x "y"></a>']) {
      const f = await failure((async () => xml(bad))());
      expect(f.diagnostics[0]?.code).toBe('doctype-refused');
    }
  });
  it('XML: not well-formed is a parse-error with line and column', async () => {
    const f = await failure((async () => xml('<a>\n  <b></a>'))());
    expect(f.diagnostics[0]).toMatchObject({ code: 'parse-error' });
    expect(f.diagnostics[0]?.message).toMatch(/line 2, column \d+/);
  });
  it('XML: deep nesting is refused without a crash', async () => {
    const f = await failure((async () => xml(`${'<a>'.repeat(5000)}${'</a>'.repeat(5000)}`))());
    expect(f.status).toBe(400);
  });
  it('CSV: header, delimiter, BOM, trim, empty lines; a malformed line named', async () => {
    const csv = (t: string, d = ';') => parseInput({ mapping: 't', input: 'csv', maxInputBytes: 1e6, csvDelimiter: d }, Buffer.from(t));
    expect(csv('\ufeffa;b\n 1 ; x \n\n2;y\n')).toEqual([{ a: '1', b: 'x' }, { a: '2', b: 'y' }]);
    expect(csv('a,b\n1,2\n', ',')).toEqual([{ a: '1', b: '2' }]);
    const f = await failure((async () => csv('a;b\n1;2\n3;4;5\n'))());
    expect(f.diagnostics[0]).toMatchObject({ code: 'parse-error', inputPath: 'line 3' });
    const q = await failure((async () => csv('a;b\n"1;2\n'))());
    expect(q.diagnostics[0]?.code).toBe('parse-error');
  });
  it('hostile text: control and bidi characters kept as data, huge fields bounded by the input limit', async () => {
    const csv = (t: string, max = 1e6) => parseInput({ mapping: 't', input: 'csv', maxInputBytes: max }, t);
    expect(csv('a;b\n\u202eevil\u0007;x\n')).toEqual([{ a: '\u202eevil\u0007', b: 'x' }]);
    expect((csv(`a\n${'x'.repeat(500_000)}\n`) as { a: string }[])[0]?.a).toHaveLength(500_000);
    expect((await failure((async () => csv(`a\n${'x'.repeat(2_000_000)}\n`))())).status).toBe(413);
    const xml = parseInput({ mapping: 't', input: 'xml', maxInputBytes: 1e6 }, '<a b="\u202e">\u200f</a>');
    expect(xml).toEqual({ a: { '@b': '\u202e', '#text': '\u200f' } });
  });
  it('JSON: depth limit, invalid UTF-8, size limit 413', async () => {
    const json = (t: Buffer | string, max = 1e6) => parseInput({ mapping: 't', input: 'json', maxInputBytes: max }, t);
    expect(json('{"a":[1,"x"]}')).toEqual({ a: [1, 'x'] });
    expect((await failure((async () => json('['.repeat(100_000)))())).diagnostics[0]?.message).toContain('deeper');
    expect((await failure((async () => json(Buffer.from([0x7b, 0xff, 0x7d])))())).diagnostics[0]?.message).toContain('UTF-8');
    const big = await failure((async () => json('"' + 'x'.repeat(2000) + '"', 1000))());
    expect(big.status).toBe(413);
    expect(big.diagnostics[0]?.code).toBe('input-too-large');
  });
});

describe('running a mapping', () => {
  it('maps the XML example and reports unused fields', async () => {
    const m = compile(xmlFormatSource, spec('xml', { xmlArrays: ['export.lignes.ligne'] }));
    const r = await m.run(example('test-xml', 'one-line.xml'));
    expect(r.document).toEqual(validBpm);
    expect(r.unusedFields).toEqual(['export.@version', 'export.lignes.ligne[].remarque']);
    expect(r.diagnostics.filter((d) => d.code === 'unused-field').map((d) => d.inputPath)).toEqual(r.unusedFields);
    expect(r.version).toBe('v1');
  });
  it('reports no unused field when the expression reads fields dynamically', async () => {
    const m = compile('$merge([doc, {"medications": []}])', spec('json'));
    await failure(m.run('{"doc":{"a":1}}'));
    const m2 = compile('$lookup($, "x") ? {} : {}', spec('json'));
    await failure(m2.run('{"x":1}'));
  });
  it('a syntax error is a load problem with line and column', () => {
    const c = compileMapping(spec('json'), '(\n  $x := ;\n)', 'transform.jsonata', new Map());
    expect(c.ok).toBe(false);
    expect(!c.ok && c.errors[0]).toMatch(/transform\.jsonata: syntax error \(line 2, column \d+\)/);
  });
  it('an expression error names the rule', async () => {
    const m = compile('(\n  $x := "a" + 1;\n  $x\n)', spec('json'));
    const f = await failure(m.run('{}'));
    expect(f.diagnostics[0]).toMatchObject({ code: 'expression-error' });
    expect(f.diagnostics[0]?.rule).toContain('"a" + 1');
  });
  it('stops an endless expression at the time limit', async () => {
    const m = compile('($f := function($n) { $f($n + 1) }; $f(0))', spec('json', { limits: { ...LIMITS, timeoutMs: 200 } }));
    const t0 = Date.now();
    const f = await failure(m.run('{}'));
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(f.diagnostics[0]?.code).toBe('timeout');
    const deep = compile('($f := function($n) { 1 + $f($n + 1) }; $f(0))', spec('json', { limits: { ...LIMITS, timeoutMs: 2000 } }));
    const g = await failure(deep.run('{}'));
    expect(['timeout', 'expression-too-deep']).toContain(g.diagnostics[0]?.code);
    const t1 = Date.now();
    const big = compile('$count([1..10000000])', spec('json', { limits: { ...LIMITS, timeoutMs: 200 } }));
    expect((await failure(big.run('{}'))).diagnostics[0]?.code).toBe('expression-error');
    expect(Date.now() - t1).toBeLessThan(1000);
  });
  it('refuses an output over the size limit', async () => {
    const m = compile('{"id": $join([1..100000].$string($), ",")}', spec('json', { limits: { ...LIMITS, maxOutputBytes: 10_000 } }));
    const f = await failure(m.run('{}'));
    expect(f.diagnostics[0]?.code).toBe('output-too-large');
  });
  it('an invalid canonical document is invalid-output with the output path', async () => {
    const m = compile('$merge([$, {"medications": [{"id": "1", "medication": {"codes": "x", "text": "A"}, "dosage": {"text": "b"}}]}])', spec('json'));
    const f = await failure(m.run(JSON.stringify({ ...validBpm, medications: undefined })));
    expect(f.status).toBe(400);
    expect(f.diagnostics.map((d) => d.outputPath)).toContain('bpm.medications[0].medication.codes');
    expect((await failure(compile('undefined', spec('json')).run('{}'))).diagnostics[0]?.code).toBe('invalid-output');
  });
  it('$codemap: mapped codes, unmapped codes diagnosed with the map severity and the input path', async () => {
    const map = (unmapped: 'error' | 'warning'): CodeMap => {
      const entries = [{ source: 'CIP-A', target: '3400935601711', display: 'GLUCOPHAGE' }];
      return { name: 'cip', url: 'u', version: 'v', sourceSystem: 's', targetSystem: 't', unmapped, entries, lookup: (c) => entries.find((e) => e.source === c), file: 'f' };
    };
    const source = `$merge([doc, {"medications": [meds.{"id": n, "medication": {"codes": $codemap("cip", c) ? [{"kind": "CIP13", "code": $codemap("cip", c)}] : [], "text": $codemapDisplay("cip", c) ? $codemapDisplay("cip", c) : c}, "dosage": {"text": "x"}}]}])`;
    const doc = { ...validBpm, medications: undefined };
    const input = JSON.stringify({ doc, meds: [{ n: '1', c: 'CIP-A' }, { n: '2', c: 'LOCAL-9' }] });
    const warn = compile(source, spec('json', { codeMaps: ['cip'] }), new Map([['cip', map('warning')]]));
    const r = await warn.run(input);
    expect((r.document as { medications: { medication: unknown }[] }).medications[0]?.medication).toEqual({ codes: [{ kind: 'CIP13', code: '3400935601711' }], text: 'GLUCOPHAGE' });
    expect(r.diagnostics.filter((d) => d.code === 'unmapped-code')).toEqual([
      expect.objectContaining({ severity: 'warning', inputPath: 'meds[1].c', message: expect.stringContaining('LOCAL-9') }),
    ]);
    const err = compile(source, spec('json', { codeMaps: ['cip'] }), new Map([['cip', map('error')]]));
    const f = await failure(err.run(input));
    expect(f.status).toBe(422);
    expect(compileMapping(spec('json', { codeMaps: ['nope'] }), '$', 'transform.jsonata', new Map()).ok).toBe(false);
    const undeclared = compile('$codemap("cip", "x")', spec('json'), new Map([['cip', map('error')]]));
    expect((await failure(undeclared.run('{}'))).diagnostics[0]?.message).toContain('not listed');
  });
  it('maps a CSV of 10,000 lines within the limits', async () => {
    const set = await loadMappingSet(FIXTURES);
    const m = set.mappings.get('test-csv');
    if (!m) throw new Error('test-csv not loaded');
    const [header, row] = example('test-csv', 'two-lines.csv').toString('utf8').replace(/^\ufeff/, '').split('\n');
    const prefix = (row ?? '').split(';').slice(0, 16).join(';');
    const lines = Array.from({ length: 10_000 }, (_, i) => `${prefix};${i + 1};3400935601711;GLUCOPHAGE ${i};1 matin;`);
    const t0 = Date.now();
    const r = await m.run(`${header}\n${lines.join('\n')}\n`);
    expect((r.document as { medications: unknown[] }).medications).toHaveLength(10_000);
    expect(Date.now() - t0).toBeLessThan(m.limits.timeoutMs);
    expect(r.timings.transformMs).toBeLessThan(m.limits.timeoutMs);
    expect(r.unusedFields).toEqual(['[].commentaire']);
  });
  it('never throws anything but a MappingFailure, whatever the input bytes', async () => {
    const set = await loadMappingSet(FIXTURES);
    const mappings = [...set.mappings.values()];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...mappings), fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.string({ maxLength: 300 }).map((s) => Buffer.from(s)), fc.json().map((s) => Buffer.from(s)), fc.constantFrom('<export><bilan id="1"/></export>', 'a;b\n1;2', '{"doc":{},"meds":[{"n":[]}]}', '<a>\u202e\u0000</a>').map((s) => Buffer.from(s))), async (m, bytes) => {
        try {
          await m.run(Buffer.from(bytes));
        } catch (err) {
          expect(err).toBeInstanceOf(MappingFailure);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('loadMappingSet', () => {
  it('loads the fixture formats with versions, selection and no problem', async () => {
    const set = await loadMappingSet(FIXTURES);
    expect(set.problems).toEqual([]);
    expect([...set.mappings.keys()].sort()).toEqual(['test-csv', 'test-json', 'test-xml']);
    const x = set.mappings.get('test-xml');
    expect(x?.mediaTypes).toEqual(['application/vnd.test.bpm+xml']);
    expect(x?.fileNames).toEqual(['*.test.xml']);
    expect(x?.version).toMatch(/^[0-9a-f]{64}$/);
    expect(x?.limits.timeoutMs).toBe(1000);
  });
  it('a broken file is a problem naming it, never a throw; the other formats still load', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mappings-load-'));
    try {
      cpSync(FIXTURES, dir, { recursive: true });
      writeFileSync(join(dir, 'formats/test-json/mapping.yaml'), 'name: [unclosed\n');
      rmSync(join(dir, 'formats/test-csv/transform.jsonata'));
      mkdirSync(join(dir, 'formats/empty'));
      const set = await loadMappingSet(dir);
      expect([...set.mappings.keys()]).toEqual(['test-xml']);
      const text = set.problems.map((p) => `${p.file}: ${p.message}`).join('\n');
      expect(text).toMatch(/test-json\/mapping\.yaml is not valid YAML/);
      expect(text).toMatch(/cannot read .*test-csv\/transform\.jsonata/);
      expect(text).toMatch(/empty\/mapping\.yaml/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('a missing folder is an empty set', async () => {
    const set = await loadMappingSet(join(FIXTURES, 'missing'));
    expect(set.mappings.size).toBe(0);
  });
});
