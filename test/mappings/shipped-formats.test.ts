// Golden examples of the shipped vendor formats (mappings/formats/*/examples): input → transform.jsonata → the
// expected canonical document, which must also pass parseDocument.
//
// The shipped formats run through the engine (`loadMappingSet('mappings')`, the real code maps, `run`); the tutorial's
// format of docs/mappings.md (a lone folder under test/fixtures) and the bench's equivalence check use the small
// harness of format-harness.ts (the model.ts conventions, jsonata called directly).
import { readdirSync, readFileSync } from 'node:fs';
import path, { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDocument, type DocumentKind } from '../../src/domain/parse.js';
import { mapOfficineXmlBpm } from '../../bench/support/officine-xml-bpm-hand.js';
import { loadMappingSet } from '../../src/mappings/load.js';
import { SHARED_STANDARDS, sharedFile } from '../support/shared.js';
import { loadFormat, runFormat, TEST_CODE_MAPS } from './format-harness.js';

const here = import.meta.dirname;
const root = join(here, '../../mappings/formats');
/** The shipped formats, and the tutorial's format of docs/mappings.md (kept here so the doc stays true). */
const formats = [join(root, 'officine-xml-bpm'), join(root, 'officine-csv-bpm'), join(here, '../fixtures/mappings/pharmanova-bpm')];
const shipped = loadMappingSet(join(here, '../../mappings'));

describe('the shipped mappings folder', () => {
  it('loads without a problem: both formats and the three code maps', async () => {
    const set = await shipped;
    expect(set.problems).toEqual([]);
    expect([...set.mappings.keys()].sort()).toEqual(['officine-csv-bpm', 'officine-xml-bpm']);
    expect([...set.codeMaps.keys()].sort()).toEqual(['establishment-sectors', 'lgo-routes', 'lgo-units']);
  });
});

for (const dir of formats) {
  const name = dir.split('/').pop() as string;
  const cases = readdirSync(join(dir, 'examples')).filter((f) => !f.endsWith('.expected.json'));
  describe(`shipped format ${name}`, () => {
    if (!dir.includes('fixtures')) it('has at least two examples', () => expect(cases.length).toBeGreaterThanOrEqual(2));
    for (const file of cases) {
      const base = file.replace(/\.(xml|csv|json)$/, '');
      it(`${base}: output equals ${base}.expected.json and is a valid canonical document`, async () => {
        const input = readFileSync(join(dir, 'examples', file), 'utf8');
        const { kind, document } = dir.includes('fixtures') ? await runFormat(dir, input) : await (await shipped).mappings.get(name)!.run(input);
        const expected: unknown = JSON.parse(readFileSync(join(dir, 'examples', `${base}.expected.json`), 'utf8'));
        expect(document).toEqual(expected);
        expect(() => parseDocument(kind as DocumentKind, document)).not.toThrow();
      });
    }
  });
}

describe('docs/mappings.md tutorial', () => {
  it('shows the transform and the mapping.yaml of test/fixtures/mappings/pharmanova-bpm', () => {
    const doc = readFileSync(join(here, '../../docs/mappings.md'), 'utf8');
    const dir = join(here, '../fixtures/mappings/pharmanova-bpm');
    expect(doc).toContain(readFileSync(join(dir, 'transform.jsonata'), 'utf8'));
    expect(doc).toContain(readFileSync(join(dir, 'examples/basic.xml'), 'utf8'));
  });
});

describe('bench baseline: the hand-written TS mapping of officine-xml-bpm', () => {
  const dir = join(root, 'officine-xml-bpm');
  const format = loadFormat(dir);
  for (const c of ['full', 'minimal']) {
    it(`${c}: produces what the JSONata produces`, async () => {
      const parsed = format.parse(readFileSync(join(dir, 'examples', `${c}.xml`), 'utf8'));
      const hand = mapOfficineXmlBpm(parsed, (m, code) => TEST_CODE_MAPS[m]?.[code]?.display);
      expect(JSON.parse(JSON.stringify(hand))).toEqual(JSON.parse(JSON.stringify(await format.transform(parsed))));
    });
  }
});

// The EDQM route codes of the shipped lgo-routes map against the ANS value set that lists some of them
// (JDV_ImmunizationRouteCodes_CISIS: codes and French displays of EDQM Standard Terms routes).
const JDV_ROUTES = 'ci-sis-schematrons/legacy-CI-SIS_StructurationMinimale-2024-05/jeuxDeValeurs/JDV_ImmunizationRouteCodes_CISIS.xml';
describe.runIf(sharedFile(JDV_ROUTES, 'the check of lgo-routes against the ANS route value set'))('lgo-routes against the ANS value set', () => {
  it('every EDQM code the ANS lists has the same French display in the map, and those codes are all mapped', async () => {
    const xml = readFileSync(path.join(SHARED_STANDARDS, JDV_ROUTES), 'utf8');
    const ans = new Map([...xml.matchAll(/code="(200\d{5})"[^>]*?displayName="([^"]+)"/g)].map((m) => [m[1], m[2]]));
    expect(ans.size).toBeGreaterThanOrEqual(5);
    const routes = (await shipped).codeMaps.get('lgo-routes');
    const targets = new Map(routes?.entries.map((e) => [e.target, e.display]));
    let compared = 0;
    for (const [code, display] of ans) {
      if (!targets.has(code)) continue;
      expect(targets.get(code), code).toBe(display);
      compared++;
    }
    // Oral, subcutaneous, intramuscular and inhaled use are in both (intradermal is not an LGO route here).
    expect(compared).toBeGreaterThanOrEqual(4);
  });
});
