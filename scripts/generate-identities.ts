// `npx tsx scripts/generate-identities.ts --seed 1 --persons 1000 --out /tmp/p.ndjson [--truth truth.csv]`: synthetic
// French source identities as FHIR Patient NDJSON (what `passerelle identity import` reads) plus their ground truth.
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  iterateIdentities,
  toFhirPatient,
  TRUTH_CSV_HEADER,
  truthCsvRow,
  type GenerateOptions,
} from '../test/support/identity-generator.js';

export interface GenerateFilesOptions extends GenerateOptions {
  out: string;
  truth?: string;
  /** `fhir` (default): one FHIR Patient per line. `identity`: one `{identity, personId, corruptions, copy}` per line. */
  format?: 'fhir' | 'identity';
}

export interface GenerateFilesSummary {
  identities: number;
  duplicates: number;
  corrupted: number;
  seconds: number;
}

/** Buffers lines and writes them in chunks, waiting when the stream asks to. */
class LineWriter {
  private buffer: string[] = [];
  constructor(private readonly stream: WriteStream) {}

  /** True when the buffer is full: the caller awaits `flush()` (no promise per line on the hot path). */
  line(s: string): boolean {
    this.buffer.push(s);
    return this.buffer.length >= 2000;
  }

  async flush(): Promise<void> {
    if (this.buffer.length === 0) return;
    const chunk = `${this.buffer.join('\n')}\n`;
    this.buffer = [];
    if (!this.stream.write(chunk)) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    await this.flush();
    this.stream.end();
    await once(this.stream, 'finish');
  }
}

export async function generateFiles(o: GenerateFilesOptions): Promise<GenerateFilesSummary> {
  const started = performance.now();
  const out = new LineWriter(createWriteStream(o.out));
  const truth = o.truth ? new LineWriter(createWriteStream(o.truth)) : undefined;
  truth?.line(TRUTH_CSV_HEADER);
  const summary = { identities: 0, duplicates: 0, corrupted: 0, seconds: 0 };
  for (const g of iterateIdentities(o)) {
    summary.identities++;
    if (g.copy > 0) summary.duplicates++;
    if (g.corruptions.length > 0) summary.corrupted++;
    const line =
      o.format === 'identity'
        ? JSON.stringify({ identity: g.identity, personId: g.personId, corruptions: g.corruptions, copy: g.copy })
        : JSON.stringify(toFhirPatient(g.identity));
    if (out.line(line)) await out.flush();
    if (truth?.line(truthCsvRow(g))) await truth.flush();
  }
  await out.close();
  await truth?.close();
  summary.seconds = (performance.now() - started) / 1000;
  return summary;
}

function number(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new Error(`--${name}: expected a number, got "${value}"`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string', default: '1' },
      persons: { type: 'string' },
      out: { type: 'string' },
      truth: { type: 'string' },
      'duplicate-rate': { type: 'string', default: '0.3' },
      'twins-rate': { type: 'string' },
      'homonyms-rate': { type: 'string' },
      'corruption-rate': { type: 'string' },
      'nir-oid': { type: 'string' },
      format: { type: 'string', default: 'fhir' },
    },
    strict: true,
  });
  if (!values.persons || !values.out) {
    throw new Error('usage: generate-identities --persons N --out file.ndjson [--seed 1] [--truth truth.csv] [--duplicate-rate 0.3] [--twins-rate 0.01] [--homonyms-rate 0.01] [--corruption-rate 0.4] [--nir-oid OID] [--format fhir|identity]');
  }
  if (values.format !== 'fhir' && values.format !== 'identity') throw new Error(`--format: expected fhir or identity, got "${values.format}"`);
  const twinsRate = number('twins-rate', values['twins-rate']);
  const homonymsRate = number('homonyms-rate', values['homonyms-rate']);
  const corruptionRate = number('corruption-rate', values['corruption-rate']);
  const summary = await generateFiles({
    seed: number('seed', values.seed)!,
    persons: number('persons', values.persons)!,
    duplicateRate: number('duplicate-rate', values['duplicate-rate'])!,
    ...(twinsRate !== undefined ? { twinsRate } : {}),
    ...(homonymsRate !== undefined ? { homonymsRate } : {}),
    ...(corruptionRate !== undefined ? { corruptionRate } : {}),
    ...(values['nir-oid'] ? { nirOid: values['nir-oid'] } : {}),
    out: values.out,
    ...(values.truth ? { truth: values.truth } : {}),
    format: values.format,
  });
  process.stderr.write(
    `wrote ${summary.identities} identities (${summary.duplicates} duplicates, ${summary.corrupted} corrupted) to ${values.out}` +
      `${values.truth ? ` and the ground truth to ${values.truth}` : ''} in ${summary.seconds.toFixed(1)} s ` +
      `(${Math.round(summary.identities / Math.max(summary.seconds, 1e-6))}/s)\n`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
