// `passerelle mappings check|test` (issue 19): validate a mappings folder (files, expressions, code maps, examples'
// outputs as canonical documents) and run the golden examples with a readable diff.
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Command } from 'commander';
import { loadDocumentSettings, referencedCodeMaps, withCodeMaps } from '../../documents/settings.js';
import { loadMappingSet } from '../../mappings/load.js';
import { canonicalJson, exampleCases, formatDiff, jsonDiff, runExample } from '../../mappings/examples.js';
import type { MappingDiagnostic } from '../../mappings/model.js';

const out = (s: string): void => {
  process.stdout.write(`${s}\n`);
};
const rel = (f: string): string => relative(process.cwd(), f) || f;
const diag = (d: MappingDiagnostic): string =>
  `${d.severity} ${d.code}: ${d.message}${d.inputPath ? ` [input ${d.inputPath}]` : ''}${d.rule ? ` [rule ${d.rule}]` : ''}`;

export async function checkCommand(dir: string): Promise<number> {
  const set = await loadMappingSet(dir);
  let problems = 0;
  for (const p of set.problems) {
    out(`error  ${rel(p.file)}  ${p.message}`);
    problems++;
  }
  for (const m of set.mappings.values()) {
    const cases = exampleCases(m);
    if (cases.length === 0) out(`warning  ${rel(m.dir)}  no examples`);
    for (const c of cases) {
      const r = await runExample(m, c);
      if (r.ok) out(`ok     ${rel(c.input)}`);
      else {
        problems++;
        for (const d of r.diagnostics) out(`error  ${rel(c.input)}  ${diag(d)}`);
      }
    }
    out(`ok     ${rel(m.dir)}  ${m.kind} from ${m.input}, version ${m.version.slice(0, 12)}`);
  }
  for (const c of set.codeMaps.values()) out(`ok     ${rel(c.file)}  code map ${c.name} (${c.entries.length} entries)`);
  // The document settings of the folder, when it has them: the code maps they name must exist and code into an OID.
  const documents = join(dir, 'documents.yaml');
  if (existsSync(documents)) {
    try {
      const settings = withCodeMaps(loadDocumentSettings(documents), { get: (n) => set.codeMaps.get(n) });
      const refs = referencedCodeMaps(settings);
      out(`ok     ${rel(documents)}  document settings${refs.length ? ` (code maps: ${refs.join(', ')})` : ''}`);
    } catch (err) {
      for (const line of (err as Error).message.split('\n')) out(`error  ${rel(documents)}  ${line.trim()}`);
      problems++;
    }
  }
  out(problems ? `${problems} problem${problems > 1 ? 's' : ''}` : 'all mappings valid');
  return problems ? 1 : 0;
}

export async function testCommand(dir: string, format?: string): Promise<number> {
  const set = await loadMappingSet(dir);
  let failed = 0;
  let passed = 0;
  for (const p of set.problems) {
    if (format && !p.file.includes(format)) continue;
    out(`error  ${rel(p.file)}  ${p.message}`);
    failed++;
  }
  const mappings = [...set.mappings.values()].filter((m) => !format || m.name === format);
  if (format && mappings.length === 0 && failed === 0) {
    out(`error  no format named ${format} under ${rel(dir)}/formats`);
    return 1;
  }
  for (const m of mappings) {
    for (const c of exampleCases(m)) {
      const label = `${m.name}/${c.name}`;
      if (!c.expected) {
        out(`FAIL ${label}: no ${c.name}.expected.json`);
        failed++;
        continue;
      }
      let expected: unknown;
      try {
        expected = JSON.parse(readFileSync(c.expected, 'utf8'));
      } catch (err) {
        out(`FAIL ${label}: ${rel(c.expected)} is not valid JSON: ${(err as Error).message}`);
        failed++;
        continue;
      }
      const r = await runExample(m, c);
      if (!r.ok) {
        out(`FAIL ${label}: the mapping failed`);
        for (const d of r.diagnostics) out(`  ${diag(d)}`);
        failed++;
        continue;
      }
      if (canonicalJson(expected) === canonicalJson(r.result.document)) {
        out(`PASS ${label}`);
        passed++;
      } else {
        out(`FAIL ${label}: the output differs from ${rel(c.expected)}`);
        out(formatDiff(jsonDiff(expected, r.result.document)));
        failed++;
      }
    }
  }
  out(`${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

export function register(program: Command): void {
  const mappings = program.command('mappings').description('check and test the vendor formats and code maps of a mappings folder');
  mappings
    .command('check')
    .description('validate every file (schema, expressions, code maps) and the output of every example as a canonical document')
    .option('--dir <dir>', 'the mappings folder', 'mappings')
    .addHelpText('after', '\nPrints one line per file or problem. Exit code 1 when there is any problem.')
    .action(async (o: { dir: string }) => {
      process.exitCode = await checkCommand(o.dir);
    });
  mappings
    .command('test')
    .description('run each examples/<case> and compare its output with <case>.expected.json')
    .option('--dir <dir>', 'the mappings folder', 'mappings')
    .option('--format <name>', 'only this format')
    .addHelpText('after', '\nPrints PASS/FAIL per example and, on failure, the differing paths (expected vs actual). Exit code 1 on any failure.')
    .action(async (o: { dir: string; format?: string }) => {
      process.exitCode = await testCommand(o.dir, o.format);
    });
}
