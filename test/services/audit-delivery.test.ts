// Deliveries leave an audit row per attempt's outcome (delivered, retry, dead) naming the destination and what was
// sent, through the dispatcher's onOutcome as startDispatcher wires it (destinationsOf with the store).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DeliveryError, type Connector } from '../../src/outbox/connector.js';
import { Dispatcher } from '../../src/outbox/dispatcher.js';
import { auditedOutcome, deliveryEntities } from '../../src/services/audit/delivery.js';
import { verifyAuditChain } from '../../src/services/audit/verify.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';

const dir = mkdtempSync(join(tmpdir(), 'passerelle-audit-delivery-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function waitFor(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('delivery audit', () => {
  it('one row per outcome: retry then delivered, and dead when refused; ids only', async () => {
    const store = await openSqliteStore({ file: join(dir, 'd.sqlite') });
    let calls = 0;
    const connector: Connector = {
      async deliver(m) {
        calls++;
        if ((m.payload as { n: number }).n === 2) throw new DeliveryError('HTTP 400: Mme DUPONT refused', false);
        if (calls === 1) throw new DeliveryError('HTTP 503', true);
      },
    };
    await store.transaction(async (tx) => {
      await tx.outbox.enqueue({ destination: 'sink', orderingKey: 'a', idempotencyKey: 'm-1', payload: { n: 1, resource: 'CarePlan/cp-1', patient: 'Patient/p-1' }, requestId: 'req-9' });
    });
    const dispatcher = new Dispatcher({
      outbox: store.outbox,
      destinations: { sink: { connector, onOutcome: auditedOutcome(store, 'http'), retry: { baseMs: 10, maxMs: 20, maxAttempts: 3 } } },
      pollMs: 10,
      leaseMs: 10_000,
    });
    dispatcher.start();
    try {
      await waitFor(async () => (await store.outbox.list({ state: 'delivered', limit: 0, offset: 0 })).total === 1);
      await store.transaction(async (tx) => {
        await tx.outbox.enqueue({ destination: 'sink', orderingKey: 'b', idempotencyKey: 'm-2', payload: { n: 2, resource: 'CarePlan/cp-2' } });
      });
      dispatcher.notify();
      await waitFor(async () => (await store.outbox.list({ state: 'dead', limit: 0, offset: 0 })).total === 1);
    } finally {
      await dispatcher.stop(1000);
    }
    const rows = (await store.auditLog({ limit: 10 })).reverse();
    expect(rows.map((r) => [r.action, r.outcome])).toEqual([
      ['delivery.retry', 'failure'],
      ['delivery.delivered', 'success'],
      ['delivery.dead', 'failure'],
    ]);
    expect(rows[1]).toMatchObject({ actor: 'outbox', entities: ['CarePlan/cp-1', 'Patient/p-1'], requestId: 'req-9' });
    expect(rows[1].detail).toMatch(/^sink \(http\): delivered; attempt 2; message /);
    expect(rows[2].detail).toMatch(/^sink \(http\): dead, refused by the receiver; attempt 1/);
    // The receiver's words (which may quote a name) stay in the outbox, not in the audit trail.
    expect(rows.some((r) => r.detail?.includes('DUPONT'))).toBe(false);
    expect((await verifyAuditChain(store)).broken).toBeUndefined();
    await store.close();
  });

  it('entities: the payload’s resource and patient references, nothing from a payload that has none', () => {
    expect(deliveryEntities({ event: 'x', ids: { id: '1.2.3.4', setId: 's', version: 1 }, resource: 'CarePlan/c' })).toEqual(['CarePlan/c']);
    expect(deliveryEntities('nothing')).toEqual([]);
  });
});
