// The `passerelle` command. Each subcommand lives in `commands/<name>.ts` and exports `register(program)`;
// adding one is an import and a line in COMMANDS.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import * as annuaire from './commands/annuaire.js';
import * as audit from './commands/audit.js';
import * as db from './commands/db.js';
import * as demo from './commands/demo.js';
import * as document from './commands/document.js';
import * as identity from './commands/identity.js';
import * as map from './commands/map.js';
import * as mappings from './commands/mappings.js';
import * as mssante from './commands/mssante.js';
import * as outbox from './commands/outbox.js';
import * as pathway from './commands/pathway.js';
import * as report from './commands/report.js';
import * as sandbox from './commands/sandbox.js';
import * as serve from './commands/serve.js';
import * as validate from './commands/validate.js';

interface CommandModule {
  register(program: Command): void;
}

const COMMANDS: CommandModule[] = [annuaire, audit, db, demo, document, identity, map, mappings, mssante, outbox, pathway, report, sandbox, serve, validate];

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export function createProgram(): Command {
  const program = new Command('passerelle')
    .description('FHIR R4 gateway for the hospital ↔ community medication-review pathways (PPP, CTM, BPM)')
    .version(pkg.version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ sortSubcommands: true });
  for (const c of COMMANDS) c.register(program);
  return program;
}

await createProgram().parseAsync(process.argv);
