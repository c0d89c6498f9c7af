// `passerelle validate <file>`: check a FHIR resource or Bundle against our profiles, one issue per line.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { Bundle, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { validateBundle, validateResource } from '../../fhir/validate.js';

function line(i: OperationOutcomeIssue): string {
  const expression = i.expression?.join(', ') || i.location?.join(', ') || '-';
  const text = i.details?.text ?? i.diagnostics ?? i.code;
  return `${i.severity}  ${expression}  ${text}`;
}

function load(file: string): Resource {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || typeof (json as { resourceType?: unknown }).resourceType !== 'string') {
    throw new Error(`${file} does not hold a FHIR resource (no resourceType)`);
  }
  return json as Resource;
}

export function register(program: Command): void {
  program
    .command('validate')
    .description('validate a FHIR resource or Bundle (JSON) against the Passerelle profiles')
    .argument('<file>', 'JSON file holding a resource or a Bundle')
    .addHelpText('after', '\nPrints one issue per line: severity  expression  text. Exit code 1 when any issue is an error.')
    .action((file: string) => {
      let resource: Resource;
      try {
        resource = load(file);
      } catch (err) {
        process.stdout.write(`error  -  ${(err as Error).message}\n`);
        process.exitCode = 1;
        return;
      }
      const issues = resource.resourceType === 'Bundle' ? validateBundle(resource as Bundle) : validateResource(resource);
      for (const i of issues) process.stdout.write(`${line(i)}\n`);
      const errors = issues.filter((i) => i.severity === 'error' || i.severity === 'fatal').length;
      if (errors > 0) {
        process.stdout.write(`${file}: invalid (${errors} error${errors > 1 ? 's' : ''})\n`);
        process.exitCode = 1;
      } else {
        const warnings = issues.length;
        process.stdout.write(`${file}: valid ${resource.resourceType}${warnings ? ` (${warnings} warning${warnings > 1 ? 's' : ''})` : ''}\n`);
      }
    });
}
