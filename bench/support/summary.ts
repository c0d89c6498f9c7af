// The summary of a scenario's timed runs (bench/fhir-api.bench.ts, bench/auth.bench.ts): the rate, the latency
// percentiles over every response of every run, the statuses and the errors.
import type { LoadRun } from './load-run.js';

export interface Summary {
  requests: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  statuses: Record<string, number>;
  errors: number;
}

export function summarise(runs: readonly LoadRun[]): Summary {
  const all = new Float64Array(runs.reduce((n, r) => n + r.latencies.length, 0));
  let at = 0;
  for (const r of runs) {
    all.set(r.latencies, at);
    at += r.latencies.length;
  }
  all.sort();
  const pct = (p: number): number => all[Math.min(all.length - 1, Math.floor(p * all.length))] ?? NaN;
  const statuses: Record<string, number> = {};
  for (const r of runs) for (const [k, n] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + n;
  const seconds = runs.reduce((t, r) => t + r.seconds, 0);
  return {
    requests: all.length,
    seconds,
    perSecond: all.length / seconds,
    p50Ms: pct(0.5),
    p99Ms: pct(0.99),
    maxMs: all[all.length - 1] ?? NaN,
    statuses,
    errors: runs.reduce((n, r) => n + r.errors + r.timeouts, 0),
  };
}
