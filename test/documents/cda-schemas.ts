// Validation against the ANS CI-SIS extended CDA schema of ../shared (read, never copied into the repository), with
// xmllint-wasm. CDA_extended.xsd includes its parts by relative path: every .xsd of the folder is preloaded under its
// path relative to the main schema, so the includes resolve in xmllint's in-memory file system.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { validateXML, type XMLValidationResult } from 'xmllint-wasm';
import { available, SHARED_STANDARDS } from '../support/shared.js';

export { available, SHARED_STANDARDS };
export const CDA_SCHEMA_DIR = path.join(SHARED_STANDARDS, 'cda-r2-schemas', 'ans-ci-sis-extended', 'cda');
export const ANS_N1_SAMPLE = path.join(SHARED_STANDARDS, 'ans-cda-samples', 'DOC_NON_STRUCTURE_CDA-R2-N1.xml');

export const haveCdaSchema = available(path.join(CDA_SCHEMA_DIR, 'CDA_extended.xsd'), existsSync(path.join(CDA_SCHEMA_DIR, 'CDA_extended.xsd')), 'the CDA schema validation');
export const haveAnsSample = available(ANS_N1_SAMPLE, existsSync(ANS_N1_SAMPLE), 'the comparison with the ANS N1 sample');

function xsdFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const full = path.join(dir, f);
    if (statSync(full).isDirectory()) return xsdFiles(full);
    return f.endsWith('.xsd') ? [full] : [];
  });
}

let schemas: { fileName: string; contents: string }[] | undefined;

/** Validates a CDA document against CDA_extended.xsd. */
export async function validateCda(xml: string): Promise<XMLValidationResult> {
  schemas ??= xsdFiles(CDA_SCHEMA_DIR).map((f) => ({ fileName: path.relative(CDA_SCHEMA_DIR, f), contents: readFileSync(f, 'utf8') }));
  const main = schemas.find((s) => s.fileName === 'CDA_extended.xsd');
  if (!main) throw new Error(`CDA_extended.xsd not found in ${CDA_SCHEMA_DIR}`);
  return validateXML({ xml: [{ fileName: 'document.xml', contents: xml }], schema: [main], preload: schemas.filter((s) => s !== main) });
}
