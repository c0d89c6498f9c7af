// Code maps (issue 19): loading YAML and CSV (+ .meta.yaml), every bad file a problem with its file and line/field,
// never an exception; the compiled ConceptMap valid for the R4 base definitions.
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { validateResource } from '../../src/fhir/validate.js';
import { loadCodeMaps, MAX_CODEMAP_BYTES } from '../../src/mappings/codemaps.js';
import { conceptMapOf, translate } from '../../src/mappings/concept-map.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A mappings folder with these files under codemaps/. */
function folder(files: Record<string, string | Buffer>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-codemaps-'));
  dirs.push(dir);
  mkdirSync(path.join(dir, 'codemaps'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, 'codemaps', name), text);
  return dir;
}

const YAML = `name: units
title: Units
source: https://lgo.example/units
target: http://unitsofmeasure.org
unmapped: warning
entries:
  - { source: MG, target: mg, display: milligram }
  - { source: "01", target: g }
`;
const META = 'name: units\nsource: https://lgo.example/units\ntarget: http://unitsofmeasure.org\n';

async function problemsOf(files: Record<string, string | Buffer>): Promise<string[]> {
  const r = await loadCodeMaps(folder(files));
  expect(r.codeMaps.size).toBe(0);
  return r.problems.map((p) => `${path.basename(p.file)}: ${p.message}`);
}

describe('loadCodeMaps', () => {
  it('loads a YAML map: url, version = sha256 of the file, O(1) lookup', async () => {
    const dir = folder({ 'units.yaml': YAML });
    const { codeMaps, problems } = await loadCodeMaps(dir);
    expect(problems).toEqual([]);
    const m = codeMaps.get('units');
    expect(m).toMatchObject({ name: 'units', title: 'Units', url: 'https://fhir.passerelle.fr/ConceptMap/units', sourceSystem: 'https://lgo.example/units', targetSystem: 'http://unitsofmeasure.org', unmapped: 'warning' });
    expect(m?.version).toBe(createHash('sha256').update(readFileSync(path.join(dir, 'codemaps', 'units.yaml'))).digest('hex'));
    expect(m?.lookup('MG')).toEqual({ source: 'MG', target: 'mg', display: 'milligram' });
    expect(m?.lookup('01')).toEqual({ source: '01', target: 'g' });
    expect(m?.lookup('mg')).toBeUndefined();
    expect(m?.lookup('toString')).toBeUndefined();
  });

  it('unmapped defaults to error; name may be omitted (the file name)', async () => {
    const { codeMaps } = await loadCodeMaps(folder({ 'r.yaml': 'source: urn:oid:1.2.3\ntarget: http://standardterms.edqm.eu\nentries: []\n' }));
    expect(codeMaps.get('r')?.unmapped).toBe('error');
  });

  it('loads a CSV map with its .meta.yaml (BOM, spaces, empty lines, optional display)', async () => {
    const { codeMaps, problems } = await loadCodeMaps(folder({ 'units.csv': '\uFEFFsource;target;display\n MG ; mg ;milligram\n\nCP;{tablet};\n', 'units.meta.yaml': META }));
    expect(problems).toEqual([]);
    const m = codeMaps.get('units');
    expect(m?.entries).toEqual([{ source: 'MG', target: 'mg', display: 'milligram' }, { source: 'CP', target: '{tablet}' }]);
    expect(m?.unmapped).toBe('error');
  });

  it('a missing codemaps folder is no map and no problem', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-codemaps-'));
    dirs.push(dir);
    expect(await loadCodeMaps(dir)).toEqual({ codeMaps: new Map(), problems: [] });
  });

  it('the shipped maps load', async () => {
    const { codeMaps, problems } = await loadCodeMaps('mappings');
    expect(problems).toEqual([]);
    expect([...codeMaps.keys()].sort()).toEqual(['establishment-sectors', 'lgo-routes', 'lgo-units']);
    expect(codeMaps.get('lgo-routes')?.unmapped).toBe('error');
    expect(codeMaps.get('lgo-units')?.unmapped).toBe('warning');
  });

  it('a good map loads beside a bad one', async () => {
    const r = await loadCodeMaps(folder({ 'units.yaml': YAML, 'bad.yaml': 'entries: [' }));
    expect([...r.codeMaps.keys()]).toEqual(['units']);
    expect(r.problems).toHaveLength(1);
  });

  it.each<[string, Record<string, string | Buffer>, RegExp]>([
    ['YAML syntax', { 'u.yaml': 'source: [\n' }, /u\.yaml: line \d/],
    ['not a mapping', { 'u.yaml': '- 1\n- 2\n' }, /expected a mapping/],
    ['duplicate key', { 'u.yaml': 'source: a\nsource: b\n' }, /line 2/],
    ['no source', { 'u.yaml': 'target: http://t.example\nentries: []\n' }, /field source: expected a system URI/],
    ['source not a URI', { 'u.yaml': 'source: lgo units\ntarget: http://t.example\nentries: []\n' }, /field source/],
    ['unmapped bad', { 'u.yaml': 'source: http://s.example\ntarget: http://t.example\nunmapped: ignore\nentries: []\n' }, /line 3, field unmapped: expected error or warning/],
    ['name differs', { 'u.yaml': 'name: v\nsource: http://s.example\ntarget: http://t.example\nentries: []\n' }, /field name: "v" differs/],
    ['bad file name', { 'Units Map.yaml': 'source: http://s.example\ntarget: http://t.example\nentries: []\n' }, /not a code-map name/],
    ['unknown field', { 'u.yaml': 'source: http://s.example\ntarget: http://t.example\ncolour: red\nentries: []\n' }, /unknown field "colour"/],
    ['entries not a list', { 'u.yaml': 'source: http://s.example\ntarget: http://t.example\nentries: { a: b }\n' }, /field entries: expected a list/],
    ['entry not a mapping', { 'u.yaml': 'source: http://s.example\ntarget: http://t.example\nentries:\n  - MG\n' }, /line 4, entries\[0\]: expected/],
    ['numeric code', { 'u.yaml': 'source: http://s.example\ntarget: http://t.example\nentries:\n  - { source: 12, target: a }\n' }, /line 4, entries\[0\]\.source: expected a non-empty string \(quote numeric codes\)/],
    ['empty target', { 'u.yaml': 'source: http://s.example\ntarget: http://t.example\nentries:\n  - { source: a, target: "" }\n' }, /entries\[0\]\.target/],
    ['control character', { 'u.yaml': 'source: http://s.example\ntarget: http://t.example\nentries:\n  - { source: "a\\u0007", target: b }\n' }, /control or bidirectional/],
    ['bidi character', { 'u.yaml': 'source: http://s.example\ntarget: http://t.example\nentries:\n  - { source: "a\u202eb", target: b }\n' }, /control or bidirectional/],
    ['entry unknown field', { 'u.yaml': 'source: http://s.example\ntarget: http://t.example\nentries:\n  - { source: a, target: b, comment: c }\n' }, /unknown field "comment"/],
    ['duplicate source', { 'u.yaml': 'source: http://s.example\ntarget: http://t.example\nentries:\n  - { source: a, target: b }\n  - { source: a, target: c }\n' }, /line 5, entries\[1\]\.source: duplicate source code "a" \(first at line 4/],
    ['aliases', { 'u.yaml': 'source: &s http://s.example\ntarget: *s\nentries: []\n' }, /u\.yaml/],
    ['CSV without metadata', { 'u.csv': 'source;target\na;b\n' }, /u\.meta\.yaml is missing/],
    ['metadata without CSV', { 'u.meta.yaml': META }, /metadata without its CSV/],
    ['CSV bad header', { 'units.csv': 'code;target\na;b\n', 'units.meta.yaml': META }, /line 1: the header/],
    ['CSV bad column count', { 'units.csv': 'source;target\na;b;c\n', 'units.meta.yaml': META }, /units\.csv/],
    ['CSV unclosed quote', { 'units.csv': 'source;target\n"a;b\n', 'units.meta.yaml': META }, /units\.csv: .*[Qq]uote/],
    ['CSV duplicate source', { 'units.csv': 'source;target\na;b\n\na;c\n', 'units.meta.yaml': META }, /line 4, column source: duplicate source code "a" \(first at line 2\)/],
    ['CSV empty target', { 'units.csv': 'source;target\na;\n', 'units.meta.yaml': META }, /line 2, column target/],
    ['CSV bad metadata', { 'units.csv': 'source;target\na;b\n', 'units.meta.yaml': 'source: x\n' }, /units\.meta\.yaml: line 1, field source/],
    ['not a code map', { 'notes.txt': 'hello' }, /not a code map/],
    ['binary garbage', { 'u.yaml': Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x9c, 0x22, 0x3a]) }, /u\.yaml/],
  ])('%s is a problem, not an exception', async (_what, files, expected) => {
    const problems = await problemsOf(files);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.join('\n')).toMatch(expected);
  });

  it('a huge file is refused without being read', async () => {
    const problems = await problemsOf({ 'u.csv': Buffer.alloc(MAX_CODEMAP_BYTES + 1, 0x61), 'u.meta.yaml': META.replace('units', 'u') });
    expect(problems.join()).toMatch(/too large/);
  });

  it('maps of 10,000 lines load and look up fast', async () => {
    const lines = ['source;target', ...Array.from({ length: 10_000 }, (_, i) => `L${i};T${i}`)];
    const { codeMaps, problems } = await loadCodeMaps(folder({ 'units.csv': lines.join('\n'), 'units.meta.yaml': META }));
    expect(problems).toEqual([]);
    const m = codeMaps.get('units');
    expect(m?.entries).toHaveLength(10_000);
    const t = performance.now();
    for (let i = 0; i < 10_000; i++) expect(m?.lookup(`L${i}`)?.target).toBe(`T${i}`);
    expect(performance.now() - t).toBeLessThan(1000);
  });
});

describe('conceptMapOf', () => {
  it('is a valid R4 ConceptMap for each shipped map', async () => {
    const { codeMaps } = await loadCodeMaps('mappings');
    for (const m of codeMaps.values()) {
      const cm = conceptMapOf(m);
      expect(cm).toMatchObject({ resourceType: 'ConceptMap', id: m.name, url: m.url, version: m.version, status: 'active' });
      expect(cm.group?.[0].element).toHaveLength(m.entries.length);
      expect(validateResource(cm).filter((i) => i.severity === 'error'), m.name).toEqual([]);
    }
  });

  it('an invalid ConceptMap is seen by the validator (the check is real)', () => {
    const issues = validateResource({ resourceType: 'ConceptMap', status: 'bogus', group: [{ element: [{ target: [{ equivalence: 'nope' }] }] }] } as never);
    expect(issues.filter((i) => i.severity === 'error').length).toBeGreaterThan(0);
  });

  it('translate: hit, miss, other system', async () => {
    const m = (await loadCodeMaps('mappings')).codeMaps.get('lgo-routes');
    if (!m) throw new Error('lgo-routes');
    expect(translate(m, 'IV').match?.code).toBe('20045000');
    expect(translate(m, 'IV', m.sourceSystem).result).toBe(true);
    expect(translate(m, 'IV', 'http://other.example').result).toBe(false);
    expect(translate(m, 'ZZ').result).toBe(false);
  });
});
