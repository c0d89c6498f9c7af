// Canonical PPP (12 medicines, 6 problems, 6 recommendations) → validated FHIR transaction Bundle, one core.
// Baseline in the same run: the same resources validated by @medplum/core validateResource alone
// (structure + cardinality + invariants of the base spec; no profiles, no binding checks, no mapping).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { validateResource as medplumValidate } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { parseDocument } from '../src/domain/parse.js';
import { mapDocument } from '../src/fhir/bundle.js';
import { validateBundle } from '../src/fhir/validate.js';
import { machine, peakRssMiB, timedLoop } from './stats.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const input: unknown = JSON.parse(
  readFileSync(fileURLToPath(new URL('../test/fixtures/ppp/ppp-12-medicines.json', import.meta.url)), 'utf8'),
);
const ctx = { now: '2026-01-15T10:00:00+01:00' };
const sample = mapDocument('ppp', parseDocument('ppp', input), ctx);
const resources = (sample.entry ?? []).map((e) => e.resource as Resource);
if (validateBundle(sample).some((i) => i.severity === 'error')) throw new Error('fixture does not validate');

const full = timedLoop(() => {
  const bundle = mapDocument('ppp', parseDocument('ppp', input), ctx);
  const issues = validateBundle(bundle);
  if (issues.some((i) => i.severity === 'error')) throw new Error('invalid');
}, SECONDS);

const baseline = timedLoop(() => {
  for (const r of resources) medplumValidate(r);
}, SECONDS);

const rss = peakRssMiB();
console.log(`machine: ${machine()}`);
console.log(`PPP bundle: ${resources.length} resources`);
console.log(
  `passerelle parse+map+full validation : ${full.perSecond.toFixed(0)} PPP/s  p50 ${full.p50Ms.toFixed(3)} ms  p99 ${full.p99Ms.toFixed(3)} ms`,
);
console.log(
  `baseline medplum validateResource    : ${baseline.perSecond.toFixed(0)} PPP/s  p50 ${baseline.p50Ms.toFixed(3)} ms  p99 ${baseline.p99Ms.toFixed(3)} ms`,
);
console.log(`ratio passerelle/baseline: ${(full.perSecond / baseline.perSecond).toFixed(2)}  (target ≥ 1000 PPP/s per core)`);
console.log(`peak RSS: ${rss.toFixed(0)} MiB`);
