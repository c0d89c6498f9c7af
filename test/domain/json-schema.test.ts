// The published JSON Schemas (docs/schemas) are exactly what the zod model exports, and are well-formed.
import { readdirSync, readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { SCHEMA_DIR, SCHEMA_KINDS, buildSchema, schemaFileContent } from '../../scripts/export-schemas.js';

// ajv-formats is CommonJS: its default export arrives wrapped under ESM.
type AddFormats = (ajv: Ajv2020) => Ajv2020;
const addFormats: AddFormats =
  (addFormatsModule as unknown as { default?: AddFormats }).default ?? (addFormatsModule as unknown as AddFormats);

function refsIn(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => refsIn(n, out));
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refsIn(v, out);
    }
  }
  return out;
}

describe.each(SCHEMA_KINDS)('docs/schemas/%s.schema.json', (kind) => {
  it('equals a fresh export (run `npm run schemas` after changing the domain)', () => {
    expect(readFileSync(`${SCHEMA_DIR}${kind}.schema.json`, 'utf8')).toBe(schemaFileContent(kind));
  });

  it('has $id, title and description, and every $ref points into $defs', () => {
    const schema = buildSchema(kind);
    expect(schema.$id).toBe(`https://fhir.passerelle.fr/schemas/${kind}.schema.json`);
    expect(schema.title).toEqual(expect.any(String));
    expect(schema.description).toEqual(expect.any(String));
    const defs = (schema.$defs ?? {}) as Record<string, unknown>;
    for (const ref of refsIn(schema)) expect(Object.keys(defs).map((d) => `#/$defs/${d}`)).toContain(ref);
  });

  it('accepts every valid fixture (ajv, draft 2020-12, formats checked)', () => {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    addFormats(ajv);
    const validate = ajv.compile(buildSchema(kind));
    const dir = `test/fixtures/${kind}/`;
    const files = readdirSync(dir).filter((f) => f.endsWith('.json') && !f.endsWith('.expected.json'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const ok = validate(JSON.parse(readFileSync(dir + f, 'utf8')));
      expect(ok, `${f}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
  });

  it('rejects a document with a wrong type where the schema is firm', () => {
    const ajv = new Ajv2020({ strict: false });
    addFormats(ajv);
    expect(ajv.compile(buildSchema(kind))({ id: 42 })).toBe(false);
  });
});
