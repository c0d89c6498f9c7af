// `passerelle map <ppp|ctm|bpm> <file>`: canonical JSON → FHIR R4 transaction Bundle on stdout; input errors,
// one line per field, on stderr with exit code 2.
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { DOCUMENT_SCHEMAS, InputError, parseDocument, type DocumentKind } from '../../domain/parse.js';
import { mapDocument } from '../../fhir/bundle.js';

interface MapOptions {
  now?: string;
  baseUrl?: string;
}

const KINDS = Object.keys(DOCUMENT_SCHEMAS) as DocumentKind[];

function kindArg(value: string): DocumentKind {
  if (!(KINDS as string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${KINDS.join(', ')}`);
  return value as DocumentKind;
}

function nowOption(value: string): string {
  if (Number.isNaN(Date.parse(value))) throw new InvalidArgumentError('expected an ISO 8601 date-time, e.g. 2026-01-15T10:00:00+01:00');
  return value;
}

function fail(message: string): void {
  process.stderr.write(`${message}\n`);
  process.exitCode = 2;
}

export function register(program: Command): void {
  program
    .command('map')
    .description('map a canonical PPP, CTM or BPM (JSON) to a FHIR R4 transaction Bundle')
    .argument('<kind>', `document kind: ${KINDS.join(' | ')}`, kindArg)
    .argument('<file>', 'JSON file holding the canonical document')
    .option('--now <datetime>', 'mapping time (ISO 8601; default: the current time)', nowOption)
    .option('--base-url <url>', 'FHIR base URL for absolute fullUrls (default: relative Type/id)')
    .addHelpText('after', '\nPrints the Bundle as pretty JSON. Exit code 2 on unreadable or invalid input, one line per offending field.')
    .action((kind: DocumentKind, file: string, opts: MapOptions) => {
      let input: unknown;
      try {
        input = JSON.parse(readFileSync(file, 'utf8'));
      } catch (err) {
        fail(`${file}: ${(err as Error).message}`);
        return;
      }
      try {
        const doc = parseDocument(kind, input);
        const bundle = mapDocument(kind, doc, { now: opts.now ?? new Date().toISOString(), ...(opts.baseUrl ? { baseUrl: opts.baseUrl } : {}) });
        process.stdout.write(`${JSON.stringify(bundle, null, 2)}\n`);
      } catch (err) {
        if (err instanceof InputError) {
          fail(err.issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
          return;
        }
        throw err;
      }
    });
}
