// XSD validation of XDS.b message bodies (ITI-41, ITI-18, ITI-43) against the IHE / OASIS ebXML RegRep 3.0 schemas,
// with xmllint compiled to WebAssembly. The schemas are read from a directory laid out like the IHE repository
// (`IHE/XDS.b_DocumentRepository.xsd`, `ebRS/*.xsd`, `w3c/xml.xsd`): the project does not ship them.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { validateXML, type XMLFileInfo } from 'xmllint-wasm';

const ENTRY = 'IHE/XDS.b_DocumentRepository.xsd';
const IMPORTS = ['ebRS/rim.xsd', 'ebRS/rs.xsd', 'ebRS/lcm.xsd', 'ebRS/query.xsd', 'w3c/xml.xsd'];
const XML_XSD_URL = 'http://www.w3.org/2001/xml.xsd';

export class XdsSchemas {
  private constructor(
    private readonly entry: XMLFileInfo,
    private readonly imports: XMLFileInfo[],
  ) {}

  /** Loads the schema set from `dir`; throws when a file is missing. */
  static async load(dir: string): Promise<XdsSchemas> {
    const read = async (file: string): Promise<XMLFileInfo> => {
      let contents = await readFile(path.join(dir, file), 'utf8');
      // rim.xsd imports xml.xsd by its W3C URL; WebAssembly xmllint has no network, so point it at the local copy
      // (what the repository's catalog.xml does for the xmllint command line).
      if (file === 'ebRS/rim.xsd') contents = contents.replace(`schemaLocation="${XML_XSD_URL}"`, 'schemaLocation="../w3c/xml.xsd"');
      return { fileName: file, contents };
    };
    const [entry, ...imports] = await Promise.all([ENTRY, ...IMPORTS].map(read));
    return new XdsSchemas(entry, imports);
  }

  /**
   * Validates one body element (serialised, namespaces declared on it; xop:Include already replaced by base64, as
   * the XSD types xdsb:Document as base64Binary). Returns the error messages, empty when valid.
   */
  async validate(xml: string): Promise<string[]> {
    const result = await validateXML({ xml: { fileName: 'body.xml', contents: xml }, schema: this.entry, preload: this.imports });
    return result.valid ? [] : result.errors.map((e) => (e.loc ? `line ${e.loc.lineNumber}: ${e.message}` : e.message).trim());
  }
}
