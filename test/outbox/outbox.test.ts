// The transactional outbox on SQLite: enqueue in the submission's transaction, claims with leases and ordering per
// key, and the dispatcher against a real local HTTP receiver (retries with backoff, outage, poison, redrive).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Dispatcher } from '../../src/outbox/dispatcher.js';
import { httpConnector } from '../../src/outbox/http-connector.js';
import { retryDelayMs } from '../../src/outbox/policy.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { startReceiver, waitFor, type Receiver } from './receiver.js';

const dir = mkdtempSync(join(tmpdir(), 'passerelle-outbox-'));
let fileNo = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const msg = (i: number, key = `k${i}`) => ({ destination: 'sink', orderingKey: key, idempotencyKey: `m-${i}`, payload: { n: i } });

describe('outbox repository (SQLite)', () => {
  let store: ResourceStore;
  beforeEach(async () => {
    store = await openSqliteStore({ file: join(dir, `repo-${fileNo++}.db`) });
  });
  afterEach(async () => store.close());

  it('enqueues in the transaction: nothing when it rolls back, once per idempotency key', async () => {
    await expect(
      store.transaction(async (tx) => {
        await tx.outbox.enqueue(msg(1));
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect((await store.outbox.list({ limit: 10, offset: 0 })).total).toBe(0);
    const [a, b] = await store.transaction(async (tx) => [await tx.outbox.enqueue(msg(1)), await tx.outbox.enqueue(msg(1))]);
    expect(a.created).toBe(true);
    expect(b).toMatchObject({ created: false, message: { id: a.message.id } });
    expect(a.message).toMatchObject({ state: 'pending', attempts: 0, destination: 'sink', payload: { n: 1 } });
    await store.transaction(async (tx) => {
      expect(await tx.outbox.find('sink', 'm-1')).toMatchObject({ id: a.message.id });
      expect(await tx.outbox.find('sink', 'm-2')).toBeUndefined();
      expect(await tx.outbox.find('other', 'm-1')).toBeUndefined();
    });
  });

  it('claims due messages with a lease, one per ordering key at a time, and takes an expired lease back', async () => {
    await store.transaction(async (tx) => {
      await tx.outbox.enqueue(msg(1, 'patient-A'));
      await tx.outbox.enqueue(msg(2, 'patient-A'));
      await tx.outbox.enqueue(msg(3, 'patient-B'));
      await tx.outbox.enqueue({ ...msg(4, 'patient-C'), notBefore: new Date(Date.now() + 60_000) });
    });
    const first = await store.outbox.claim({ owner: 'p1', limit: 10, leaseMs: 50 });
    expect(first.map((m) => m.idempotencyKey)).toEqual(['m-1', 'm-3']);
    expect(first[0]).toMatchObject({ state: 'inflight', attempts: 1, leaseOwner: 'p1' });
    // Nothing more while the leases hold (m-2 waits for m-1, m-4 is not due).
    expect(await store.outbox.claim({ owner: 'p2', limit: 10, leaseMs: 50 })).toEqual([]);
    await new Promise((r) => setTimeout(r, 80));
    // p1 died: its leases expired, p2 takes the messages over (a second attempt).
    const taken = await store.outbox.claim({ owner: 'p2', limit: 10, leaseMs: 60_000 });
    expect(taken.map((m) => [m.idempotencyKey, m.attempts])).toEqual([
      ['m-1', 2],
      ['m-3', 2],
    ]);
    // p1's late outcome is refused: it no longer holds the lease.
    expect(await store.outbox.complete(first[0].id, 'p1')).toBe(false);
    expect(await store.outbox.complete(taken[0].id, 'p2')).toBe(true);
    expect((await store.outbox.claim({ owner: 'p2', limit: 10, leaseMs: 60_000 })).map((m) => m.idempotencyKey)).toEqual(['m-2']);
  });

  it('retries, goes dead with the last error, holds later messages of its key until then, and redrives', async () => {
    await store.transaction(async (tx) => {
      await tx.outbox.enqueue(msg(1, 'k'));
      await tx.outbox.enqueue(msg(2, 'k'));
      await tx.outbox.enqueue(msg(3, 'other'));
    });
    const claimOne = async (): Promise<string[]> => (await store.outbox.claim({ owner: 'p', limit: 10, leaseMs: 60_000 })).map((m) => m.idempotencyKey);
    expect(await claimOne()).toEqual(['m-1', 'm-3']);
    const m1 = (await store.outbox.list({ limit: 1, offset: 0 })).items[0];
    // A transient failure: pending again, due later; m-2 keeps waiting behind it.
    expect(await store.outbox.fail(m1.id, 'p', { error: 'HTTP 503', retryAt: new Date(Date.now() + 60_000) })).toBe(true);
    expect(await store.outbox.get(m1.id)).toMatchObject({ state: 'pending', lastError: 'HTTP 503', attempts: 1 });
    expect(await claimOne()).toEqual([]);
    expect(await store.outbox.redrive(m1.id)).toBe(false); // not dead
    // Due now: claimed (attempt 2) and failed for good.
    expect(await store.outbox.fail(m1.id, 'nobody', { error: 'x' })).toBe(false);
    await store.outbox.release((await store.outbox.get(m1.id))!.id, 'p'); // not in flight: no effect
    const due = await store.outbox.claim({ owner: 'p', limit: 10, leaseMs: 60_000 });
    expect(due).toEqual([]);
    await store.outbox.setPaused('sink', true);
    expect(await store.outbox.pausedDestinations()).toEqual(['sink']);
    await store.outbox.setPaused('sink', false);
    expect(await store.outbox.depth()).toEqual([
      { destination: 'sink', state: 'inflight', count: 1 },
      { destination: 'sink', state: 'pending', count: 2 },
    ]);
    const [m3] = (await store.outbox.list({ state: 'inflight', limit: 1, offset: 0 })).items;
    expect(await store.outbox.fail(m3.id, 'p', { error: 'HTTP 400: refused' })).toBe(true);
    expect(await store.outbox.get(m3.id)).toMatchObject({ state: 'dead', lastError: 'HTTP 400: refused', attempts: 1 });
    expect((await store.outbox.attempts(m3.id)).map((a) => [a.attempt, a.outcome, a.error])).toEqual([[1, 'dead', 'HTTP 400: refused']]);
    expect(await store.outbox.redrive(m3.id)).toBe(true);
    expect(await store.outbox.get(m3.id)).toMatchObject({ state: 'pending', attempts: 0 });
    expect(await store.outbox.redriveDead()).toBe(0);
  });
});

describe('Dispatcher against a real HTTP receiver', () => {
  let store: ResourceStore;
  let receiver: Receiver;
  let dispatcher: Dispatcher | undefined;
  beforeEach(async () => {
    store = await openSqliteStore({ file: join(dir, `dispatch-${fileNo++}.db`) });
    receiver = await startReceiver();
  });
  afterEach(async () => {
    await dispatcher?.stop(1000);
    dispatcher = undefined;
    await receiver.close();
    await store.close();
  });
  const start = (retry = { baseMs: 20, maxMs: 200, maxAttempts: 5 }, circuit = { failureThreshold: 1000, openMs: 100 }): Dispatcher => {
    dispatcher = new Dispatcher({
      outbox: store.outbox,
      destinations: { sink: { connector: httpConnector({ url: receiver.url, timeoutMs: 2000 }), retry, concurrency: 4, circuit } },
      pollMs: 10,
      leaseMs: 10_000,
    });
    dispatcher.start();
    return dispatcher;
  };
  const enqueue = (n: number, key: (i: number) => string = (i) => `k${i % 7}`) =>
    store.transaction(async (tx) => {
      for (let i = 0; i < n; i++) await tx.outbox.enqueue(msg(i, key(i)));
    });
  const delivered = async (): Promise<number> => (await store.outbox.list({ state: 'delivered', limit: 0, offset: 0 })).total;

  it('delivers everything once, passing the idempotency key, in order per ordering key', async () => {
    await enqueue(200);
    start();
    await waitFor(async () => (await delivered()) === 200, 20_000, '200 deliveries');
    expect(receiver.hits.size).toBe(200);
    expect([...receiver.hits.values()].every((n) => n === 1)).toBe(true);
    for (let k = 0; k < 7; k++) {
      const ofKey = receiver.accepted.filter((id) => Number(id.slice(2)) % 7 === k).map((id) => Number(id.slice(2)));
      expect(ofKey).toEqual([...ofKey].sort((a, b) => a - b));
    }
  });

  it('a delivery slower than the lease keeps its lease (heartbeat): a second dispatcher never takes it over', async () => {
    receiver.delayMs = 900; // three leases long
    await enqueue(4, (i) => `slow${i}`);
    const dispatchers = ['a', 'b'].map((owner) => {
      const d = new Dispatcher({
        outbox: store.outbox,
        owner,
        destinations: { sink: { connector: httpConnector({ url: receiver.url, timeoutMs: 5000 }), concurrency: 4 } },
        pollMs: 10,
        leaseMs: 300,
      });
      d.start();
      return d;
    });
    try {
      await waitFor(async () => (await delivered()) === 4, 20_000, '4 slow deliveries');
    } finally {
      await Promise.all(dispatchers.map((d) => d.stop(1000)));
    }
    expect([...receiver.hits.values()]).toEqual([1, 1, 1, 1]);
    for (const m of (await store.outbox.list({ limit: 10, offset: 0 })).items) expect(m).toMatchObject({ attempts: 1 });
  });

  it('outage: retries with backoff until the receiver is back, nothing dead, attempts recorded', async () => {
    receiver.down = true;
    await enqueue(20);
    start({ baseMs: 50, maxMs: 400, maxAttempts: 50 });
    await waitFor(() => receiver.requests >= 40, 20_000, 'refused attempts');
    receiver.down = false;
    await waitFor(async () => (await delivered()) === 20, 20_000, 'deliveries after the outage');
    expect((await store.outbox.list({ state: 'dead', limit: 0, offset: 0 })).total).toBe(0);
    const [first] = (await store.outbox.list({ limit: 1, offset: 0 })).items;
    const log = await store.outbox.attempts(first.id);
    expect(log.at(-1)?.outcome).toBe('delivered');
    const retries = log.filter((a) => a.outcome === 'retry');
    expect(retries.length).toBeGreaterThan(0);
    expect(retries.every((a) => a.error?.startsWith('HTTP 503'))).toBe(true);
    // Successive attempts are spaced by at least half the scheduled backoff (equal jitter).
    for (let i = 1; i < log.length; i++) {
      const gap = Date.parse(log[i].at) - Date.parse(log[i - 1].at);
      expect(gap).toBeGreaterThanOrEqual(Math.floor(retryDelayMs({ baseMs: 50, maxMs: 400, factor: 2, maxAttempts: 50 }, i, () => 0)) - 5);
    }
  });

  it('poison: goes dead without delaying others, its ordering key waits, redrive delivers it once fixed', async () => {
    receiver.poison.add('m-0');
    await store.transaction(async (tx) => {
      await tx.outbox.enqueue(msg(0, 'poisoned'));
      await tx.outbox.enqueue(msg(1, 'poisoned'));
      for (let i = 2; i < 30; i++) await tx.outbox.enqueue(msg(i, `k${i}`));
    });
    start({ baseMs: 20, maxMs: 100, maxAttempts: 3 });
    await waitFor(async () => (await delivered()) === 29, 20_000, 'everything but the poison');
    const dead = await store.outbox.list({ state: 'dead', limit: 10, offset: 0 });
    expect(dead.items.map((m) => m.idempotencyKey)).toEqual(['m-0']);
    // A 400 is permanent: dead at the first attempt, with the reason.
    expect(dead.items[0]).toMatchObject({ attempts: 1, lastError: 'HTTP 400: refused: bad payload' });
    // m-1 shares its key: it was held until m-0 went dead, then delivered after it.
    expect(receiver.accepted.indexOf('m-1')).toBeGreaterThan(-1);
    receiver.poison.delete('m-0');
    expect(await store.outbox.redrive(dead.items[0].id)).toBe(true);
    dispatcher?.notify();
    await waitFor(async () => (await delivered()) === 30, 20_000, 'the redriven message');
    expect(receiver.hits.get('m-0')).toBe(1);
  });

  it('a message that always fails transiently is retried up to the cap, then dead; the others are not held up', async () => {
    receiver.failing.add('m-3');
    await enqueue(12, (i) => `k${i}`);
    start({ baseMs: 10, maxMs: 40, maxAttempts: 4 });
    await waitFor(async () => (await store.outbox.list({ state: 'dead', limit: 0, offset: 0 })).total === 1, 20_000, 'the failing message to go dead');
    await waitFor(async () => (await delivered()) === 11, 20_000, 'the others');
    const [dead] = (await store.outbox.list({ state: 'dead', limit: 1, offset: 0 })).items;
    expect(dead).toMatchObject({ idempotencyKey: 'm-3', attempts: 4, lastError: 'HTTP 503: cannot process this one' });
    expect((await store.outbox.attempts(dead.id)).map((a) => a.outcome)).toEqual(['retry', 'retry', 'retry', 'dead']);
  });

  it('logs each delivery with the request id of the submission, never the payload', async () => {
    const lines: string[] = [];
    const { pino } = await import('pino');
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
    await store.transaction((tx) => tx.outbox.enqueue({ ...msg(1), requestId: 'req-42', payload: { secret: 'DUPONT Marie' } }));
    dispatcher = new Dispatcher({ outbox: store.outbox, destinations: { sink: { connector: httpConnector({ url: receiver.url }) } }, pollMs: 10, logger });
    dispatcher.start();
    await waitFor(async () => (await delivered()) === 1, 10_000, 'the delivery');
    const delivery = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'outbox: delivered');
    expect(delivery).toMatchObject({ reqId: 'req-42', destination: 'sink', attempt: 1, outcome: 'delivered' });
    expect(lines.join('\n')).not.toContain('DUPONT');
  });

  it('stops claiming on stop() and releases what it cannot finish in time', async () => {
    receiver.delayMs = 300;
    await enqueue(8, (i) => `k${i}`);
    start();
    await waitFor(() => (dispatcher?.busy ?? 0) > 0, 5000, 'deliveries in flight');
    await dispatcher?.stop(50);
    dispatcher = undefined;
    const states = (await store.outbox.list({ limit: 100, offset: 0 })).items.map((m) => m.state);
    expect(states.includes('inflight')).toBe(false);
    expect(states.filter((s) => s === 'pending').length + states.filter((s) => s === 'delivered').length).toBe(8);
  });
});

describe('circuit breaker', () => {
  it('opens after the threshold of transient failures in a row, lets one probe through after openMs, closes on success', async () => {
    const { CircuitBreaker } = await import('../../src/outbox/policy.js');
    const b = new CircuitBreaker(3, 60);
    expect(b.allowance()).toBe(Number.POSITIVE_INFINITY);
    b.failed();
    b.failed();
    expect(b.state).toBe('closed');
    b.failed();
    expect(b.state).toBe('open');
    expect(b.allowance()).toBe(0);
    await new Promise((r) => setTimeout(r, 80));
    expect(b.state).toBe('half-open');
    expect(b.allowance()).toBe(1);
    b.started();
    expect(b.allowance()).toBe(0); // one probe at a time
    b.failed();
    expect(b.state).toBe('open');
    await new Promise((r) => setTimeout(r, 80));
    b.started();
    b.succeeded();
    expect(b.state).toBe('closed');
  });

  it('stops hammering a destination that is down: far fewer requests than messages while the circuit is open', async () => {
    const store = await openSqliteStore({ file: join(dir, `circuit-${fileNo++}.db`) });
    const receiver = await startReceiver();
    receiver.down = true;
    const d = new Dispatcher({
      outbox: store.outbox,
      destinations: {
        sink: {
          connector: httpConnector({ url: receiver.url }),
          retry: { baseMs: 10, maxMs: 20, maxAttempts: 1000 },
          concurrency: 4,
          circuit: { failureThreshold: 3, openMs: 1000 },
        },
      },
      pollMs: 10,
    });
    try {
      await store.transaction(async (tx) => {
        for (let i = 0; i < 50; i++) await tx.outbox.enqueue(msg(i, `k${i}`));
      });
      d.start();
      await waitFor(() => d.circuitState('sink') === 'open', 5000, 'the circuit to open');
      // Deliveries already in flight when it opened (up to the concurrency) still reach the receiver: let them land.
      await new Promise((r) => setTimeout(r, 100));
      const opened = receiver.requests;
      await new Promise((r) => setTimeout(r, 300));
      // Open: no new request for 300 ms (without the breaker, 50 messages retried every 10–20 ms).
      expect(receiver.requests).toBe(opened);
      receiver.down = false;
      await waitFor(async () => (await store.outbox.list({ state: 'delivered', limit: 0, offset: 0 })).total === 50, 10_000, 'delivery after the probe');
      expect(d.circuitState('sink')).toBe('closed');
    } finally {
      await d.stop(1000);
      await receiver.close();
      await store.close();
    }
  });
});
