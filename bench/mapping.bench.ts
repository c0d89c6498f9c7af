// Vendor XML BPM (mappings/formats/officine-xml-bpm, example full.xml: 5 lines, 2 problems, 2 proposals) →
// canonical BPM → validated FHIR, one core: documents per second and the cost split per step.
// Baseline in the same run: a hand-written TypeScript mapping of the same XML format
// (bench/support/officine-xml-bpm-hand.ts), same parser, same canonical parse, same FHIR map + validation.
// Aim (issue 19): the JSONata path at ≥ 50 % of the hand-written one's rate.
//
// The JSONata path is the engine's: `loadMappingSet('mappings')` then `run(xml)` (parse, transform with the real code
// maps, output checked). The per-step figures and the hand-written path parse with the engine's `parseInput`.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { parseDocument } from '../src/domain/parse.js';
import { mapDocument } from '../src/fhir/bundle.js';
import { validateBundle } from '../src/fhir/validate.js';
import { loadMappingSet } from '../src/mappings/load.js';
import { parseInput } from '../src/mappings/parse-input.js';
import { parse as parseYaml } from 'yaml';
import { loadFormat } from '../test/mappings/format-harness.js';
import { mapOfficineXmlBpm } from './support/officine-xml-bpm-hand.js';
import { machine, peakRssMiB, timedLoopAsync, type LoopResult } from './stats.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const dir = fileURLToPath(new URL('../mappings/formats/officine-xml-bpm', import.meta.url));
const xml = readFileSync(`${dir}/examples/full.xml`, 'utf8');
const format = loadFormat(dir);
const set = await loadMappingSet(fileURLToPath(new URL('../mappings', import.meta.url)));
const mapping = set.mappings.get('officine-xml-bpm');
if (!mapping) throw new Error(`officine-xml-bpm did not load: ${JSON.stringify(set.problems)}`);
/** The format's always-array elements, as its mapping.yaml declares them. */
const xmlArrays = ((parseYaml(readFileSync(`${dir}/mapping.yaml`, 'utf8')) as { xml?: { arrays?: string[] } }).xml?.arrays ?? []);
const parse = (text: string): unknown => parseInput({ mapping: mapping.name, input: 'xml', maxInputBytes: mapping.limits.maxInputBytes, xmlArrays }, text);
const display = (map: string, code: string): string | undefined => set.codeMaps.get(map)?.lookup(code)?.display;
const ctx = { now: '2026-01-15T10:00:00+01:00' };

const fhir = (doc: ReturnType<typeof parseDocument<'bpm'>>): void => {
  const issues = validateBundle(mapDocument('bpm', doc, ctx));
  if (issues.some((i) => i.severity === 'error' || i.severity === 'fatal')) throw new Error('invalid bundle');
};
const viaJsonata = async (): Promise<void> => fhir(parseDocument('bpm', (await mapping.run(xml)).document));
const viaHand = (): void => fhir(parseDocument('bpm', mapOfficineXmlBpm(parse(xml) as never, display)));

// Same canonical document both ways (JSON round trip drops JSONata's undefined members and sequence flags).
const parsed = parse(xml);
const fromJsonata: unknown = JSON.parse(JSON.stringify((await mapping.run(xml)).document));
const fromHand: unknown = JSON.parse(JSON.stringify(mapOfficineXmlBpm(parsed as never, display)));
if (!isDeepStrictEqual(fromJsonata, fromHand)) throw new Error('the hand-written mapping and the JSONata disagree');
const canonical = parseDocument('bpm', fromJsonata);
await viaJsonata();

// Whole paths, alternated twice so that drift of a shared machine hits both.
const half = SECONDS / 2;
const j1 = await timedLoopAsync(viaJsonata, half);
const h1 = await timedLoopAsync(viaHand, half);
const j2 = await timedLoopAsync(viaJsonata, half);
const h2 = await timedLoopAsync(viaHand, half);
const rate = (a: LoopResult, b: LoopResult): number => (a.iterations + b.iterations) / (a.seconds + b.seconds);
const jsonataRate = rate(j1, j2);
const handRate = rate(h1, h2);

// Per step (each on the previous step's output, computed once).
const step = SECONDS / 4;
const sParse = await timedLoopAsync(() => parse(xml), step);
const sJsonata = await timedLoopAsync(() => format.transform(parsed as never), step);
const sHand = await timedLoopAsync(() => mapOfficineXmlBpm(parsed as never, display), step);
const sCanon = await timedLoopAsync(() => parseDocument('bpm', fromJsonata), step);
const sFhir = await timedLoopAsync(() => fhir(canonical), step);

const rss = peakRssMiB();
const ms2us = (r: LoopResult): string => `${((1e6 / r.perSecond) | 0).toString().padStart(6)} µs/doc  (${r.perSecond.toFixed(0)}/s, p50 ${(r.p50Ms * 1000).toFixed(0)} µs)`;
console.log(`machine: ${machine()}`);
console.log(`input: officine-xml-bpm examples/full.xml, ${xml.length} bytes, ${canonical.medications.length} lines`);
console.log(`JSONata path  engine run (parse, JSONata, check) + canonical + FHIR map/validate : ${jsonataRate.toFixed(0)} BPM/s`);
console.log(`hand-written  parse XML + TS map  + canonical + FHIR map/validate : ${handRate.toFixed(0)} BPM/s  (baseline)`);
console.log(`ratio JSONata/hand-written: ${(jsonataRate / handRate).toFixed(2)}  (aim ≥ 0.50)`);
console.log('cost per step:');
console.log(`  parse XML (fast-xml-parser)     ${ms2us(sParse)}`);
console.log(`  JSONata transform               ${ms2us(sJsonata)}`);
console.log(`  hand-written TS transform       ${ms2us(sHand)}`);
console.log(`  canonical parse (zod)           ${ms2us(sCanon)}`);
console.log(`  FHIR map + validate             ${ms2us(sFhir)}`);
console.log(`peak RSS: ${rss.toFixed(0)} MiB`);
