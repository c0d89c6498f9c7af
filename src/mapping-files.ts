// The files under mappings/ (identity rules, document settings…): where the packaged copy is, and reading one as YAML
// with errors that name the file. Each loader then checks the content with its own zod schema.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

/** mappings/<name> of the package: the nearest ancestor of this module with package.json and that file (src/ or dist/). */
export function packagedMappingFile(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'mappings', name);
    if (existsSync(join(dir, 'package.json')) && existsSync(file)) return file;
    const up = dirname(dir);
    if (up === dir) return fileURLToPath(new URL(`../mappings/${name}`, import.meta.url));
    dir = up;
  }
}

/** The parsed YAML of `file`; `fail(message)` builds the error thrown when it is unreadable or not YAML. */
export function readYamlFile(file: string, what: string, fail: (message: string) => Error): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw fail(`cannot read ${what} ${file}: ${(err as Error).message}`);
  }
  try {
    return parseYaml(text);
  } catch (err) {
    throw fail(`${what} ${file} is not valid YAML: ${(err as Error).message}`);
  }
}
