// Integration engineers' mappings (issue 19, docs/mappings.md): what a vendor format, a code map and a run of a mapping
// are. The files live under `mappings/`:
//
//   mappings/formats/<name>/mapping.yaml      the format: name, kind (ppp|ctm|bpm), input (json|xml|csv), selection
//                                             (media types, file names), code maps used, limits, parser options
//   mappings/formats/<name>/transform.jsonata the JSONata expression: parsed input → canonical document
//   mappings/formats/<name>/examples/<case>.<xml|csv|json> + <case>.expected.json   golden examples
//   mappings/codemaps/<name>.yaml | <name>.csv  a code map: local code → target system code (+ display)
//
// Parsed input as the expression sees it (`$`):
// - json: the JSON value;
// - xml: fast-xml-parser with `ignoreAttributes: false`, attributes prefixed `@`, element text `#text` (only when the
//   element also has attributes or children), values kept as strings (no number/boolean guessing), entities and
//   DOCTYPE refused; the elements listed in mapping.yaml `xml.arrays` (dotted paths from the root, e.g.
//   `export.lignes.ligne`) are always arrays;
// - csv: csv-parse with a header row (`columns: true`), delimiter `csv.delimiter` (default `;`), BOM removed, values
//   trimmed, empty lines skipped: an array of records (column → string).
// Functions available in expressions: `$codemap(name, code)` → the target code (or undefined, with a diagnostic
// `unmapped-code` of the code map's severity), `$codemapDisplay(name, code)` → its display.
import type { DocumentKind } from '../domain/parse.js';

export const INPUT_FORMATS = ['json', 'xml', 'csv'] as const;
export type InputFormat = (typeof INPUT_FORMATS)[number];

export type DiagnosticSeverity = 'error' | 'warning' | 'information';

export interface MappingDiagnostic {
  severity: DiagnosticSeverity;
  /** `parse-error`, `doctype-refused`, `expression-error`, `timeout`, `output-too-large`, `invalid-output`, `unmapped-code`, `unused-field`… */
  code: string;
  message: string;
  /** The mapping's name. */
  mapping: string;
  /** The rule: the JSONata sub-expression or the code map involved, when known. */
  rule?: string;
  /** Where in the input (`export.lignes.ligne[2].cip`, `line 14, column cip`). */
  inputPath?: string;
  /** Where in the canonical output (`bpm.medications[0].codes`). */
  outputPath?: string;
}

export interface MappingRunResult {
  mapping: string;
  /** The mapping's version (content hash) that ran. */
  version: string;
  kind: DocumentKind;
  /** The canonical document produced (not yet parsed/validated by the submission). */
  document: unknown;
  diagnostics: MappingDiagnostic[];
  /** Input fields (paths) that no rule used. */
  unusedFields: string[];
  timings: { parseMs: number; transformMs: number };
}

/** A run that produced no usable document: the diagnostics say why (HTTP 400/413/422 with an OperationOutcome). */
export class MappingFailure extends Error {
  constructor(
    readonly mapping: string,
    readonly diagnostics: readonly MappingDiagnostic[],
    readonly status: 400 | 413 | 422 = 400,
  ) {
    super(`${mapping}: ${diagnostics.find((d) => d.severity === 'error')?.message ?? 'mapping failed'}`);
    this.name = 'MappingFailure';
  }
}

export interface CodeMapEntry {
  source: string;
  target: string;
  display?: string;
}

export interface CodeMap {
  name: string;
  /** Canonical URL of its FHIR ConceptMap (`https://fhir.passerelle.fr/ConceptMap/<name>`). */
  url: string;
  /** Content hash of the file. */
  version: string;
  title?: string;
  sourceSystem: string;
  targetSystem: string;
  /** What an unmapped code is in a mapping run. */
  unmapped: 'error' | 'warning';
  entries: readonly CodeMapEntry[];
  lookup(code: string): CodeMapEntry | undefined;
  /** The file it was read from. */
  file: string;
}

export interface MappingLimits {
  /** Wall time of one transformation. */
  timeoutMs: number;
  /** Size of the JSON output. */
  maxOutputBytes: number;
  /** Size of the input accepted. */
  maxInputBytes: number;
}

export interface MappingDefinition {
  name: string;
  kind: DocumentKind;
  input: InputFormat;
  description?: string;
  /** Media types that select it (`application/vnd.pharmagest.bpm+xml`). */
  mediaTypes: readonly string[];
  /** File-name patterns (MSSanté attachments), globs like `*.pgx.xml`. */
  fileNames: readonly string[];
  codeMaps: readonly string[];
  limits: MappingLimits;
  /** The folder of the format. */
  dir: string;
  /** Content hash of its files (mapping.yaml, transform.jsonata). */
  version: string;
}

export interface CompiledMapping extends MappingDefinition {
  run(input: Buffer | string): Promise<MappingRunResult>;
}

/** Everything loaded from a `mappings/` folder at one time; files that could not be loaded are problems. */
export interface MappingSet {
  mappings: ReadonlyMap<string, CompiledMapping>;
  codeMaps: ReadonlyMap<string, CodeMap>;
  problems: readonly { file: string; message: string }[];
  loadedAt: string;
}

/** Where the gateway reads the mappings in service: the last good set (hot reload keeps it on a broken file). */
export interface MappingSource {
  current(): MappingSet;
}
