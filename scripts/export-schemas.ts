// `npm run schemas`: write docs/schemas/{ppp,ctm,bpm}.schema.json, the JSON Schemas of what vendors send
// (the INPUT side of the zod model). A test checks the committed files equal a fresh export.
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { DOCUMENT_SCHEMAS, type DocumentKind } from '../src/domain/parse.js';
import { CANONICAL_BASE } from '../src/fhir/canonical.js';

export const SCHEMA_DIR = fileURLToPath(new URL('../docs/schemas/', import.meta.url));

const HEADERS: Record<DocumentKind, { title: string; description: string }> = {
  ppp: {
    title: 'Passerelle PPP (Plan Pharmaceutique Personnalisé)',
    description:
      'Canonical JSON a hospital sends to POST /ppp: the dispositif d’appui’s medication review (problems and recommendations), the RCP and the MT/PHO decisions (OPTIMEDOC, IATROPREV).',
  },
  ctm: {
    title: 'Passerelle CTM (conciliation des traitements médicamenteux)',
    description:
      'Canonical JSON a hospital sends to POST /ctm: the BMO (with its pharmacist validation once done) and, when available, the FCT comparing it with the current prescription.',
  },
  bpm: {
    title: 'Passerelle BPM (bilan partagé de médication)',
    description:
      'Canonical JSON a community-pharmacy software sends to POST /bpm: steps, medication list with self-medication, problems, proposals to the MT, conclusions and advice.',
  },
};

/**
 * Cross-field rules (unique ids, references between lines, problems and recommendations, QUAL identities, code
 * shapes per drug code system) are checked by the gateway, not by these schemas; they describe the shape.
 */
const RULES_NOTE =
  ' Cross-field rules (unique ids, internal references, QUAL identity traits, code shape per drug code system) are enforced by the gateway and reported with the JSON path of the field.';

export function buildSchema(kind: DocumentKind): Record<string, unknown> {
  const generated = z.toJSONSchema(DOCUMENT_SCHEMAS[kind], {
    target: 'draft-2020-12',
    io: 'input',
    // Transforms (RPPS/FINESS/INS OID reduction, drug code normalisation) have no JSON Schema form: their
    // input side is emitted, and anything else unrepresentable becomes `{}` rather than failing the export.
    unrepresentable: 'any',
    reused: 'inline',
  }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  return {
    $schema,
    $id: `${CANONICAL_BASE}/schemas/${kind}.schema.json`,
    title: HEADERS[kind].title,
    description: HEADERS[kind].description + RULES_NOTE,
    ...rest,
  };
}

/** The file content for one document kind, byte for byte as committed. */
export function schemaFileContent(kind: DocumentKind): string {
  return `${JSON.stringify(buildSchema(kind), null, 2)}\n`;
}

export const SCHEMA_KINDS = Object.keys(DOCUMENT_SCHEMAS) as DocumentKind[];

function main(): void {
  mkdirSync(SCHEMA_DIR, { recursive: true });
  for (const kind of SCHEMA_KINDS) {
    const file = `${SCHEMA_DIR}${kind}.schema.json`;
    writeFileSync(file, schemaFileContent(kind));
    process.stdout.write(`wrote ${file}\n`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
