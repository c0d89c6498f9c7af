// The audit trail's hash chain on both dialects: rows written by transactions, access records and concurrent writers
// chain in id order; the append-only triggers refuse UPDATE and DELETE; an attacker who drops the triggers and alters,
// deletes or inserts a row is caught by verify at that row (or at the row after a deleted one). Rows from before the
// chain are unchained, not broken.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { recordAccess } from '../../src/services/audit/index.js';
import { verifyAuditChain } from '../../src/services/audit/verify.js';
import { withRequestContext } from '../../src/observability/request-context.js';
import { openPgStore } from '../../src/store/pg-store.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { PG_TEST_URL, pgUnreachable } from '../support/pg.js';
import { available } from '../support/shared.js';

const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-audit-chain-'));
const schemas: string[] = [];
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (schemas.length === 0) return;
  const c = new pg.Client({ connectionString: PG_TEST_URL });
  await c.connect();
  for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await c.end();
});

interface Dialect {
  open(): Promise<{ store: ResourceStore; sql(text: string, params?: unknown[]): Promise<Record<string, unknown>[]> }>;
}

let n = 0;
const sqlite: Dialect = {
  async open() {
    const file = path.join(dir, `audit-${n++}.db`);
    const store = await openSqliteStore({ file });
    return {
      store,
      async sql(text, params = []) {
        const db = new Database(file);
        try {
          const stmt = db.prepare(text);
          return stmt.reader ? (stmt.all(...params) as Record<string, unknown>[]) : (stmt.run(...params), []);
        } finally {
          db.close();
        }
      },
    };
  },
};

const pgDialect: Dialect = {
  async open() {
    const schema = `passerelle_audit_${process.pid}_${n++}_${Math.random().toString(36).slice(2, 6)}`;
    schemas.push(schema);
    const store = await openPgStore({ url: PG_TEST_URL, schema, poolSize: 4 });
    return {
      store,
      async sql(text, params = []) {
        const c = new pg.Client({ connectionString: PG_TEST_URL });
        await c.connect();
        try {
          await c.query(`SET search_path TO "${schema}"`);
          return (await c.query(text.replace(/\?/g, (() => { let i = 0; return () => `$${++i}`; })()), params)).rows;
        } finally {
          await c.end();
        }
      },
    };
  },
};

const entry = (i: number) => ({ action: 'fhir.read', actor: 'dpi-a', entities: [`Patient/p${i}`], outcome: 'success' as const, detail: `status 200; row ${i}` });

async function writeRows(store: ResourceStore, count: number): Promise<void> {
  for (let i = 1; i <= count; i++) {
    if (i % 2) await recordAccess(store, entry(i));
    else await store.transaction(async (tx) => tx.audit(entry(i)));
  }
}

function chainSuite(name: string, d: Dialect): void {
  describe(`audit chain (${name})`, () => {
    it('chains every row; concurrent writers keep one chain; the who comes from the request context', async () => {
      const { store } = await d.open();
      try {
        await writeRows(store, 6);
        await Promise.all(Array.from({ length: 20 }, (_, i) => recordAccess(store, entry(100 + i))));
        await withRequestContext(
          { requestId: 'req-1', source: '10.0.0.7', principal: { id: 'person:abc', scopes: ['fhir.read'], roles: [], method: 'session', person: { sub: 'abc', rpps: '10101010101' }, tenant: { kind: 'establishment', finess: '750000001' } } },
          () => recordAccess(store, { action: 'identity.merge', actor: 'person:abc', entities: ['Patient/x'], outcome: 'success' }),
        );
        const report = await verifyAuditChain(store, { pageSize: 7 });
        expect(report).toMatchObject({ rows: 27, unchained: 0, firstId: 1, lastId: 27 });
        expect(report.broken).toBeUndefined();
        const [last] = await store.auditLog({ limit: 1 });
        expect(last).toMatchObject({ actor: 'person:abc', person: 'rpps:10101010101', tenant: 'establishment:750000001', source: '10.0.0.7', requestId: 'req-1' });
        expect(last.hash).toMatch(/^[0-9a-f]{64}$/);
      } finally {
        await store.close();
      }
    });

    it('the triggers refuse UPDATE and DELETE', async () => {
      const { store, sql } = await d.open();
      try {
        await writeRows(store, 2);
        await expect(sql("UPDATE audit SET detail = 'x' WHERE id = 1")).rejects.toThrow(/append-only/);
        await expect(sql('DELETE FROM audit WHERE id = 1')).rejects.toThrow(/append-only/);
      } finally {
        await store.close();
      }
    });

    it('an altered row (triggers dropped) is named by verify', async () => {
      const { store, sql } = await d.open();
      try {
        await writeRows(store, 8);
        await dropTriggers(name, sql);
        await sql("UPDATE audit SET detail = 'status 200; nothing to see' WHERE id = 5");
        const report = await verifyAuditChain(store);
        expect(report.broken).toMatchObject({ id: 5, action: 'fhir.read', reason: 'hash mismatch' });
        expect(report.rows).toBe(5);
      } finally {
        await store.close();
      }
    });

    it('a deleted row is detected at the row after it', async () => {
      const { store, sql } = await d.open();
      try {
        await writeRows(store, 8);
        await dropTriggers(name, sql);
        await sql('DELETE FROM audit_entities WHERE audit_id = 4');
        await sql('DELETE FROM audit WHERE id = 4');
        expect((await verifyAuditChain(store)).broken).toMatchObject({ id: 5, reason: 'hash mismatch' });
      } finally {
        await store.close();
      }
    });

    it('a row inserted by hand with a made-up hash is detected', async () => {
      const { store, sql } = await d.open();
      try {
        await writeRows(store, 3);
        const entities = name === 'sqlite' ? '["Patient/p1"]' : '{Patient/p1}';
        await sql(
          "INSERT INTO audit (recorded, action, actor, entities, outcome, hash) VALUES ('2026-12-05T00:00:00.000Z', 'fhir.read', 'dpi-a', ?, 'success', ?)",
          [entities, 'f'.repeat(64)],
        );
        await writeRows(store, 2);
        expect((await verifyAuditChain(store)).broken).toMatchObject({ id: 4, reason: 'hash mismatch' });
      } finally {
        await store.close();
      }
    });

    it('rows from before the chain are unchained, a later row without hash is broken', async () => {
      const { store, sql } = await d.open();
      try {
        const entities = name === 'sqlite' ? '[]' : '{}';
        await dropTriggers(name, sql);
        for (let i = 0; i < 3; i++) await sql("INSERT INTO audit (recorded, action, actor, entities, outcome) VALUES ('2026-01-01T00:00:00.000Z', 'ppp.submit', 'old', ?, 'success')", [entities]);
        await writeRows(store, 3);
        const intact = await verifyAuditChain(store);
        expect(intact).toMatchObject({ rows: 6, unchained: 3, firstId: 1, lastId: 6 });
        expect(intact.broken).toBeUndefined();
        await sql("INSERT INTO audit (recorded, action, actor, entities, outcome) VALUES ('2026-12-05T00:00:00.000Z', 'fhir.read', 'ghost', ?, 'success')", [entities]);
        expect((await verifyAuditChain(store)).broken).toMatchObject({ id: 7, reason: 'missing hash' });
      } finally {
        await store.close();
      }
    });
  });
}

async function dropTriggers(name: string, sql: (text: string) => Promise<unknown>): Promise<void> {
  if (name === 'sqlite') {
    await sql('DROP TRIGGER audit_append_only_update');
    await sql('DROP TRIGGER audit_append_only_delete');
  } else {
    await sql('DROP TRIGGER audit_append_only ON audit');
  }
}

chainSuite('sqlite', sqlite);
const pgDown = await pgUnreachable();
if (available(`PostgreSQL at ${PG_TEST_URL}`, pgDown === undefined, 'the audit chain on PostgreSQL')) chainSuite('postgresql', pgDialect);
