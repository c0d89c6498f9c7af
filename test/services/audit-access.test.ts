// The read audit's group commit: rows queued with the who of their request, written together (one transaction) after
// a few ms or once `maxPending` are queued, all written by the store's close; the chain stays intact.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { withRequestContext } from '../../src/observability/request-context.js';
import { accessAuditor, configureAccessAudit } from '../../src/services/audit/access.js';
import { verifyAuditChain } from '../../src/services/audit/verify.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';

const dir = mkdtempSync(join(tmpdir(), 'passerelle-audit-access-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const entry = (i: number) => ({ action: 'fhir.read', actor: 'dpi-a', entities: [`Patient/p${i}`], outcome: 'success' as const, detail: 'status 200' });

describe('access audit modes', () => {
  it('sync by default: committed when record resolves', async () => {
    const store = await openSqliteStore({ file: join(dir, 'sync.sqlite') });
    expect(accessAuditor(store).mode).toBe('sync');
    await accessAuditor(store).record(entry(1));
    expect(await store.auditLog()).toHaveLength(1);
    await store.close();
  });

  it('buffered: one transaction for many rows, the request context kept, everything written by close()', async () => {
    const file = join(dir, 'buffered.sqlite');
    const store = await openSqliteStore({ file });
    const a = configureAccessAudit(store, { mode: 'buffered', maxDelayMs: 50, maxPending: 100 });
    await withRequestContext({ requestId: 'req-b', source: '10.1.2.3' }, async () => {
      for (let i = 0; i < 30; i++) await a.record(entry(i));
    });
    expect(await store.auditLog()).toHaveLength(0); // queued, not written yet
    await a.flush();
    const rows = await store.auditLog({ limit: 1000 });
    expect(rows).toHaveLength(30);
    expect(rows[0]).toMatchObject({ requestId: 'req-b', source: '10.1.2.3' });
    for (let i = 0; i < 250; i++) await a.record(entry(i)); // 2 writes at maxPending, 50 pending
    for (let i = 0; i < 5; i++) await a.record(entry(i));
    await store.close(); // flushes
    const again = await openSqliteStore({ file });
    expect((await again.auditTrail.search({ filter: {}, count: 0, offset: 0, order: 'asc' })).total).toBe(285);
    expect((await verifyAuditChain(again)).broken).toBeUndefined();
    await again.close();
  });

  it('none: nothing written (benchmarks only)', async () => {
    const store = await openSqliteStore({ file: join(dir, 'none.sqlite') });
    await configureAccessAudit(store, { mode: 'none' }).record(entry(1));
    expect(await store.auditLog()).toHaveLength(0);
    await store.close();
  });
});
