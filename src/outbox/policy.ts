// Retry policy of one destination: exponential backoff with full jitter, capped, and the attempt after which a
// message goes dead. Pure.

export interface RetryPolicy {
  /** Delay before the 2nd attempt (ms). */
  baseMs: number;
  /** Largest delay between two attempts (ms). */
  maxMs: number;
  /** Growth of the delay per attempt. */
  factor: number;
  /** Attempts in all (the first included); after the last failure the message is dead. */
  maxAttempts: number;
}

export const DEFAULT_RETRY: RetryPolicy = { baseMs: 1000, maxMs: 10 * 60_000, factor: 2, maxAttempts: 12 };

/**
 * Delay after failed attempt number `attempt` (1-based): a random value in [d/2, d] with
 * d = min(maxMs, baseMs × factor^(attempt − 1)) — "equal jitter", so retries of many messages spread out but a
 * retry never comes much earlier than the schedule says.
 */
export function retryDelayMs(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const d = Math.min(policy.maxMs, policy.baseMs * policy.factor ** Math.max(0, attempt - 1));
  return Math.round(d / 2 + random() * (d / 2));
}

/** When to try again after failed attempt `attempt`, or undefined: no attempt left (dead). */
export function nextAttempt(policy: RetryPolicy, attempt: number, now: Date, random?: () => number): Date | undefined {
  if (attempt >= policy.maxAttempts) return undefined;
  return new Date(now.getTime() + retryDelayMs(policy, attempt, random));
}

/**
 * Circuit breaker of one destination: after `failureThreshold` transient failures in a row it opens (no claim for
 * that destination) for `openMs`; then one probe is let through (half-open): its success closes the circuit, its
 * failure opens it again.
 */
export class CircuitBreaker {
  private failures = 0;
  private openUntil = 0;
  private probing = false;

  constructor(
    private readonly failureThreshold: number,
    private readonly openMs: number,
  ) {}

  get state(): 'closed' | 'open' | 'half-open' {
    if (this.failures < this.failureThreshold) return 'closed';
    return Date.now() < this.openUntil ? 'open' : 'half-open';
  }

  /** How many deliveries may start now (Infinity when closed). */
  allowance(): number {
    const s = this.state;
    if (s === 'closed') return Number.POSITIVE_INFINITY;
    if (s === 'open' || this.probing) return 0;
    return 1;
  }

  started(): void {
    if (this.state === 'half-open') this.probing = true;
  }

  succeeded(): void {
    this.failures = 0;
    this.probing = false;
  }

  failed(): void {
    this.failures++;
    this.probing = false;
    if (this.failures >= this.failureThreshold) this.openUntil = Date.now() + this.openMs;
  }
}
