// Golden examples of the shipped vendor formats (mappings/formats/*/examples): input → transform.jsonata → the
// expected canonical document, which must also pass parseDocument.
//
// STAND-IN HARNESS (issue 19): until the engine lands on this branch, `runFormat` below parses the input per the
// conventions of src/mappings/model.ts and evaluates the JSONata directly. Replace it by the engine's
// `loadMappingSet('mappings')` + `mapping.run(input)` (and the real code maps) when it does; the cases stay.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDocument, type DocumentKind } from '../../src/domain/parse.js';
import { runFormat } from './format-harness.js';

const root = join(import.meta.dirname, '../../mappings/formats');

for (const name of ['officine-xml-bpm', 'officine-csv-bpm']) {
  const dir = join(root, name);
  const cases = readdirSync(join(dir, 'examples')).filter((f) => !f.endsWith('.expected.json'));
  describe(`shipped format ${name}`, () => {
    it('has at least two examples', () => expect(cases.length).toBeGreaterThanOrEqual(2));
    for (const file of cases) {
      const base = file.replace(/\.(xml|csv|json)$/, '');
      it(`${base}: output equals ${base}.expected.json and is a valid canonical document`, async () => {
        const { kind, document } = await runFormat(dir, readFileSync(join(dir, 'examples', file), 'utf8'));
        const expected: unknown = JSON.parse(readFileSync(join(dir, 'examples', `${base}.expected.json`), 'utf8'));
        expect(document).toEqual(expected);
        expect(() => parseDocument(kind as DocumentKind, document)).not.toThrow();
      });
    }
  });
}
