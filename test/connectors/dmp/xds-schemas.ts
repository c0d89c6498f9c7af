// Validation against the IHE XDS.b / ebRS 3.0 schemas of ../shared (read, never copied into the repository), with
// xmllint-wasm. rim.xsd imports http://www.w3.org/2001/xml.xsd; the collector's OASIS catalog maps that URL to a
// local copy, and since xmllint-wasm runs offline with no catalog support, the mapping is applied by rewriting the
// schemaLocation in memory to the catalog's target, relative to the importing schema.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { validateXML, type XMLValidationResult } from 'xmllint-wasm';
import { available, SHARED_STANDARDS } from '../../support/shared.js';

export { SHARED_STANDARDS };
export const SCHEMA_DIR = path.join(SHARED_STANDARDS, 'ihe-xds-ebrs-schemas');
export const ANS_SAMPLE = path.join(SHARED_STANDARDS, 'ans-drim-m-samples', 'XDS.xml');
export const haveShared = available(
  `${SCHEMA_DIR}/catalog.xml and ${ANS_SAMPLE}`,
  existsSync(path.join(SCHEMA_DIR, 'catalog.xml')) && existsSync(ANS_SAMPLE),
  'the XDS.b XSD and ANS-sample comparisons',
);

const SCHEMA_FILES = ['IHE/XDS.b_DocumentRepository.xsd', 'ebRS/rim.xsd', 'ebRS/rs.xsd', 'ebRS/lcm.xsd', 'ebRS/query.xsd', 'w3c/xml.xsd'];

function catalogMappings(): { url: string; target: string }[] {
  const catalog = readFileSync(path.join(SCHEMA_DIR, 'catalog.xml'), 'utf8');
  return [...catalog.matchAll(/<uri\s+name="([^"]+)"\s+uri="([^"]+)"/g)].map((m) => ({ url: m[1], target: m[2] }));
}

function schemaFiles(): { fileName: string; contents: string }[] {
  const mappings = catalogMappings();
  return SCHEMA_FILES.map((file) => {
    let contents = readFileSync(path.join(SCHEMA_DIR, file), 'utf8');
    for (const { url, target } of mappings) {
      contents = contents.replaceAll(`schemaLocation="${url}"`, `schemaLocation="${path.posix.relative(path.posix.dirname(file), target)}"`);
    }
    return { fileName: file, contents };
  });
}

/** Validates `xml` (an xdsb:ProvideAndRegisterDocumentSetRequest, or any element of the schema set). */
export async function validateXds(xml: string): Promise<XMLValidationResult> {
  const [main, ...preload] = schemaFiles();
  return validateXML({ xml: [{ fileName: 'body.xml', contents: xml }], schema: [main], preload });
}
