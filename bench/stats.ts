// Small helpers shared by the benchmarks: timed loops, percentiles, a one-line machine description.
import { cpus, totalmem } from 'node:os';

export interface LoopResult {
  iterations: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
}

/** The figures of a loop from its per-call latencies (ms) and its wall time (s). */
function loopResult(samples: number[], total: number): LoopResult {
  samples.sort((a, b) => a - b);
  const pct = (p: number): number => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))];
  return { iterations: samples.length, seconds: total, perSecond: samples.length / total, p50Ms: pct(0.5), p99Ms: pct(0.99) };
}

/** Run `fn` repeatedly for about `seconds` after `warmup` iterations; latency per call in ms. */
export function timedLoop(fn: () => void, seconds: number, warmup = 200): LoopResult {
  for (let i = 0; i < warmup; i++) fn();
  const samples: number[] = [];
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < deadline) {
    const t0 = process.hrtime.bigint();
    fn();
    now = process.hrtime.bigint();
    samples.push(Number(now - t0) / 1e6);
  }
  return loopResult(samples, Number(now - start) / 1e9);
}

/** `timedLoop` for a step that may be asynchronous (each call awaited before the next). */
export async function timedLoopAsync(fn: () => Promise<unknown> | unknown, seconds: number, warmup = 200): Promise<LoopResult> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < deadline) {
    const t0 = process.hrtime.bigint();
    await fn();
    now = process.hrtime.bigint();
    samples.push(Number(now - t0) / 1e6);
  }
  return loopResult(samples, Number(now - start) / 1e9);
}

export function machine(): string {
  const c = cpus();
  return `${c[0]?.model ?? 'unknown CPU'} (${c.length} cores), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
}

export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}
