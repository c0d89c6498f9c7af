// The outbox dispatcher of one process: claims due messages (with a lease, so a dead process's messages come back),
// delivers each through its destination's connector, records the outcome, retries transient failures with backoff
// and jitter until the destination's cap, then marks the message dead. Per destination: a concurrency limit and a
// circuit breaker. Ordering per key and the leases are the store's (see OutboxRepository.claim).
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { OutboxMessage, OutboxRepository } from '../store/outbox-repository.js';
import { DeliveryError, type Connector } from './connector.js';
import { CircuitBreaker, DEFAULT_RETRY, nextAttempt, type RetryPolicy } from './policy.js';

/** What an attempt came to, as the dispatcher is about to record it in the outbox. */
export type AttemptOutcome =
  | { state: 'delivered' }
  | { state: 'retry'; error: string }
  /** `permanent`: failed for good at once (the receiver refused it); otherwise the last attempt allowed failed. */
  | { state: 'dead'; error: string; permanent: boolean };

export interface DestinationSettings {
  connector: Connector;
  /**
   * Records an attempt's outcome beside the outbox (a document's delivery status), just before the outbox records it,
   * while `owner` still holds the message's lease. Written first, so a crash in between leaves the message in flight
   * and attempted again (the same outcome is recorded again), never an outcome the outbox has and this lacks. A
   * failure to record counts as a transient failure of the attempt (a delivered message is sent again, and the
   * receiver deduplicates it on its idempotency key).
   */
  onOutcome?: (message: OutboxMessage, outcome: AttemptOutcome, owner: string) => Promise<void>;
  retry?: Partial<RetryPolicy>;
  /** Deliveries in flight at once from this process (default 4). */
  concurrency?: number;
  /** Transient failures in a row that open the circuit (default 5), and for how long (default 30 s). */
  circuit?: { failureThreshold?: number; openMs?: number };
}

export type DeliveryOutcome = 'delivered' | 'retry' | 'dead' | 'released' | 'lost-lease';

export interface DispatcherOptions {
  outbox: OutboxRepository;
  destinations: Record<string, DestinationSettings>;
  /** Lease owner name; default `<host>:<pid>:<random>`. */
  owner?: string;
  /** How long a claim holds a message before another process may take it (default 60 s). */
  leaseMs?: number;
  /** Idle poll interval (default 250 ms); `notify()` wakes the dispatcher at once. */
  pollMs?: number;
  /** Most messages claimed at once (default 64). */
  batch?: number;
  /** Attempts in a row without an outcome before a message is quarantined (default 3; see ClaimOptions). */
  maxInterrupted?: number;
  logger?: Logger;
  /** After each attempt, for metrics. */
  onAttempt?: (destination: string, outcome: DeliveryOutcome, seconds: number) => void;
}

interface Destination {
  name: string;
  connector: Connector;
  onOutcome: DestinationSettings['onOutcome'];
  retry: RetryPolicy;
  concurrency: number;
  breaker: CircuitBreaker;
  inFlight: number;
}

export class Dispatcher {
  readonly owner: string;
  private readonly destinations = new Map<string, Destination>();
  private readonly inFlight = new Map<string, { message: OutboxMessage; abort: AbortController; done: Promise<void> }>();
  private running = false;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private woken = false;

  constructor(private readonly options: DispatcherOptions) {
    this.owner = options.owner ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    for (const [name, d] of Object.entries(options.destinations)) {
      this.destinations.set(name, {
        name,
        connector: d.connector,
        onOutcome: d.onOutcome,
        retry: { ...DEFAULT_RETRY, ...d.retry },
        concurrency: Math.max(1, d.concurrency ?? 4),
        breaker: new CircuitBreaker(d.circuit?.failureThreshold ?? 5, d.circuit?.openMs ?? 30_000),
        inFlight: 0,
      });
    }
  }

  /** Deliveries running now. */
  get busy(): number {
    return this.inFlight.size;
  }

  circuitState(destination: string): 'closed' | 'open' | 'half-open' | undefined {
    return this.destinations.get(destination)?.breaker.state;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
    // Heartbeat: the leases of deliveries still running are extended every third of a lease, so only a dead
    // process's messages are taken over (and counted as attempts that did not finish).
    const leaseMs = this.options.leaseMs ?? 60_000;
    this.heartbeat = setInterval(() => void this.renewLeases(leaseMs), Math.max(50, Math.floor(leaseMs / 3)));
    this.heartbeat.unref();
  }

  private heartbeat: NodeJS.Timeout | undefined;

  private async renewLeases(leaseMs: number): Promise<void> {
    const ids = [...this.inFlight.keys()];
    if (ids.length === 0) return;
    try {
      await this.options.outbox.renew(ids, this.owner, leaseMs);
    } catch (err) {
      this.options.logger?.warn({ err }, 'outbox: could not renew leases (they will expire if this goes on)');
    }
  }

  /** Something was enqueued (after its commit): look now instead of at the next poll. */
  notify(): void {
    this.woken = true;
    this.wake?.();
  }

  /**
   * Stops claiming; waits up to `graceMs` for the deliveries in flight, then aborts the rest and releases them (they
   * become pending again, their attempt not counted).
   */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.stopping = true;
    this.notify();
    await this.loop;
    const all = Promise.all([...this.inFlight.values()].map((f) => f.done));
    const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), graceMs).unref());
    if ((await Promise.race([all.then(() => 'done' as const), timer])) === 'timeout') {
      for (const f of this.inFlight.values()) f.abort.abort(new Error('dispatcher stopping'));
      await all;
    }
    clearInterval(this.heartbeat);
    this.running = false;
  }

  private async run(): Promise<void> {
    const log = this.options.logger;
    const pollMs = this.options.pollMs ?? 250;
    const batch = this.options.batch ?? 64;
    while (!this.stopping) {
      let claimed = 0;
      try {
        claimed = await this.claimAndStart(batch);
      } catch (err) {
        log?.error({ err }, 'outbox: claim failed');
      }
      if (this.stopping) break;
      if (claimed > 0 && this.capacity().total > 0) continue;
      await this.sleep(pollMs);
    }
  }

  private capacity(): { total: number; perDestination: Record<string, number>; names: string[] } {
    const perDestination: Record<string, number> = {};
    let total = 0;
    for (const d of this.destinations.values()) {
      const free = Math.min(d.concurrency - d.inFlight, d.breaker.allowance());
      if (free > 0) {
        perDestination[d.name] = free;
        total += free;
      }
    }
    return { total, perDestination, names: Object.keys(perDestination) };
  }

  private async claimAndStart(batch: number): Promise<number> {
    const cap = this.capacity();
    if (cap.total === 0) return 0;
    const messages = await this.options.outbox.claim({
      owner: this.owner,
      limit: Math.min(batch, cap.total),
      leaseMs: this.options.leaseMs ?? 60_000,
      destinations: cap.names,
      perDestination: cap.perDestination,
      ...(this.options.maxInterrupted !== undefined ? { maxInterrupted: this.options.maxInterrupted } : {}),
      staged: cap.names.filter((n) => this.destinations.get(n)?.connector.staged),
    });
    for (const m of messages) this.startDelivery(m);
    return messages.length;
  }

  private startDelivery(message: OutboxMessage): void {
    const d = this.destinations.get(message.destination);
    if (!d) return; // not claimed: the claim only takes our destinations
    d.inFlight++;
    d.breaker.started();
    const abort = new AbortController();
    const done = this.deliver(d, message, abort.signal).finally(() => {
      d.inFlight--;
      this.inFlight.delete(message.id);
      // Claim again once half the destination's slots are free (one claim per freed slot would cost a query per
      // message), or at once when nothing is left in flight; the poll covers the rest.
      if (d.inFlight <= d.concurrency / 2 || this.inFlight.size === 0) this.notify();
    });
    this.inFlight.set(message.id, { message, abort, done });
  }

  private async deliver(d: Destination, m: OutboxMessage, signal: AbortSignal): Promise<void> {
    const log = this.options.logger;
    const outbox = this.options.outbox;
    const started = performance.now();
    const seconds = (): number => (performance.now() - started) / 1000;
    const fields = { reqId: m.requestId, outboxId: m.id, destination: m.destination, attempt: m.attempts };
    const record = async (outcome: AttemptOutcome): Promise<string | undefined> => {
      if (!d.onOutcome) return undefined;
      try {
        await d.onOutcome(m, outcome, this.owner);
        return undefined;
      } catch (err) {
        log?.warn({ ...fields, err }, `outbox: could not record the outcome (${outcome.state}) beside the outbox`);
        return err instanceof Error ? err.message : String(err);
      }
    };
    let failure: { error: string; transient: boolean; delivered?: true } | undefined;
    try {
      const started = async (): Promise<void> => {
        await outbox.markStarted(m.id, this.owner).catch((err: unknown) => log?.warn({ ...fields, err }, 'outbox: could not mark the attempt started'));
      };
      await d.connector.deliver(m, { signal, started });
      d.breaker.succeeded();
    } catch (err) {
      if (signal.aborted) {
        const outcome: DeliveryOutcome = (await outbox.release(m.id, this.owner).catch(() => false)) ? 'released' : 'lost-lease';
        log?.warn({ ...fields, outcome }, 'outbox: delivery interrupted by shutdown, released');
        this.options.onAttempt?.(m.destination, outcome, seconds());
        return;
      }
      failure = { error: err instanceof Error ? err.message : String(err), transient: !(err instanceof DeliveryError) || err.transient };
      if (failure.transient) d.breaker.failed();
      else d.breaker.succeeded(); // the destination answered: it is up
    }
    let outcome: DeliveryOutcome;
    if (!failure) {
      const unrecorded = await record({ state: 'delivered' });
      // Not recorded: a transient failure; the next attempt sends it again and the receiver deduplicates it.
      if (unrecorded !== undefined) failure = { error: `delivered, but the outcome could not be recorded: ${unrecorded}`, transient: true, delivered: true };
    }
    if (!failure) {
      outcome = (await outbox.complete(m.id, this.owner, seconds() * 1000)) ? 'delivered' : 'lost-lease';
      log?.info({ ...fields, outcome, ms: Math.round(seconds() * 1000) }, 'outbox: delivered');
    } else {
      let { error } = failure;
      let retryAt = failure.transient ? nextAttempt(d.retry, m.attempts, new Date()) : undefined;
      if (!failure.delivered) {
        const unrecorded = await record(retryAt ? { state: 'retry', error } : { state: 'dead', error, permanent: !failure.transient });
        // A final outcome that could not be recorded is not final yet: retried like any transient failure.
        if (unrecorded !== undefined && !retryAt) {
          error = `${error} (and the outcome could not be recorded: ${unrecorded})`;
          retryAt = nextAttempt(d.retry, m.attempts, new Date());
        }
      }
      const recorded = await outbox
        .fail(m.id, this.owner, { error, ...(retryAt ? { retryAt } : {}), durationMs: seconds() * 1000 })
        .catch((e: unknown) => {
          log?.error({ ...fields, err: e }, 'outbox: could not record a failed attempt (the lease will expire)');
          return false;
        });
      outcome = !recorded ? 'lost-lease' : retryAt ? 'retry' : 'dead';
      const level = outcome === 'dead' ? 'error' : 'warn';
      log?.[level]({ ...fields, outcome, error, ...(retryAt ? { retryAt: retryAt.toISOString() } : {}) }, `outbox: attempt failed (${outcome})`);
    }
    this.options.onAttempt?.(m.destination, outcome, seconds());
  }

  private sleep(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        this.woken = false;
        done();
      };
    });
  }
}
