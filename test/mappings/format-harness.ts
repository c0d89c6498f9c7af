// STAND-IN for the mappings engine (issue 19) in tests and bench/mapping.bench.ts: parse a vendor input per the
// conventions of src/mappings/model.ts and evaluate the format's transform.jsonata. Replace by the engine's
// `loadMappingSet` + `run` when it lands; this file then goes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { XMLParser } from 'fast-xml-parser';
import jsonata from 'jsonata';
import { parse as parseYaml } from 'yaml';

/** Tiny code maps for the examples: the planned mappings/codemaps/lgo-routes.yaml must agree on these entries. */
export const TEST_CODE_MAPS: Record<string, Record<string, { target: string; display: string }>> = {
  'lgo-routes': {
    ORA: { target: '20053000', display: 'Voie orale' },
    CUT: { target: '20003000', display: 'Voie cutanée' },
    SC: { target: '20066000', display: 'Voie sous-cutanée' },
  },
};

interface FormatFile {
  name: string;
  kind: string;
  input: 'json' | 'xml' | 'csv';
  xml?: { arrays?: string[] };
  csv?: { delimiter?: string };
  transform?: string;
}

export interface LoadedFormat {
  def: FormatFile;
  parse(text: string): unknown;
  transform(parsed: unknown): Promise<unknown>;
}

export function loadFormat(dir: string): LoadedFormat {
  const def = parseYaml(readFileSync(join(dir, 'mapping.yaml'), 'utf8')) as FormatFile;
  const expr = jsonata(readFileSync(join(dir, def.transform ?? 'transform.jsonata'), 'utf8'));
  const lookup = (map: string, code: string) => (code === undefined ? undefined : TEST_CODE_MAPS[map]?.[code]);
  expr.registerFunction('codemap', (map: string, code: string) => lookup(map, code)?.target, '<ss?:s>');
  expr.registerFunction('codemapDisplay', (map: string, code: string) => lookup(map, code)?.display, '<ss?:s>');
  const arrays = new Set(def.xml?.arrays ?? []);
  const xml = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@',
    textNodeName: '#text',
    parseTagValue: false,
    parseAttributeValue: false,
    processEntities: false,
    ignoreDeclaration: true,
    isArray: (_name, jPath, _leaf, isAttribute) => !isAttribute && arrays.has(String(jPath)),
  });
  const parse = (text: string): unknown => {
    if (def.input === 'json') return JSON.parse(text);
    if (def.input === 'xml') {
      if (/<!DOCTYPE/i.test(text)) throw new Error('DOCTYPE refused');
      return xml.parse(text);
    }
    return parseCsv(text, { columns: true, delimiter: def.csv?.delimiter ?? ';', bom: true, trim: true, skip_empty_lines: true });
  };
  return { def, parse, transform: (parsed) => expr.evaluate(parsed) as Promise<unknown> };
}

export async function runFormat(dir: string, text: string): Promise<{ kind: string; document: unknown }> {
  const f = loadFormat(dir);
  const document = await f.transform(f.parse(text));
  // JSONata results carry a `sequence` flag on arrays and undefined members; compare plain JSON.
  return { kind: f.def.kind, document: JSON.parse(JSON.stringify(document)) };
}
