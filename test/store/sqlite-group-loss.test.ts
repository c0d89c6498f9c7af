// A SQLite write group that is lost after some of its transactions completed (the group's COMMIT fails, or SQLite
// rolls the whole group back for a later member's I/O error): every member is rejected, the store tells its
// lost-commit listeners, and the identity registry drops the matcher's in-memory index — a later member had caught
// it up, through the group's own connection, with identities an earlier member registered and that never committed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SourceIdentity } from '../../src/identity/types.js';
import { IdentityService } from '../../src/services/identity-registry.js';
import type { RegistrationResult } from '../../src/services/identity-registration.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { marieDupont } from '../support/identity-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'passerelle-group-loss-'));
let fileNo = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HOSPITAL = 'urn:oid:1.2.250.1.71.4.2.2.760000001';
const PHARMACY = 'urn:oid:1.2.250.1.71.4.2.2.760000002';
const ctx = { actor: 'client-test', requestId: 'req-1' };

const identity = (system: string, value: string, over: Parameters<typeof marieDupont>[2] = {}): SourceIdentity => marieDupont(system, value, { status: 'VALI', ...over });

/** The store's writer connection: only a test reaches it, to play the database failing under a group. */
const writerOf = (store: ResourceStore): Database.Database => (store as unknown as { writer: { db: Database.Database } }).writer.db;

describe('a lost SQLite write group and the matcher index', () => {
  let store: ResourceStore;
  let svc: IdentityService;
  let ids: number;
  let lost: number[];

  beforeEach(async () => {
    store = await openSqliteStore({ file: join(dir, `loss-${fileNo++}.db`) });
    ids = 0;
    svc = new IdentityService(store, { newId: () => `fed-${String(++ids).padStart(4, '0')}` });
    lost = [];
    store.onLostCommits?.((n) => lost.push(n));
    // Rules and index loaded, and one registration done: A then takes a few milliseconds, well inside a group's time.
    await store.transaction((tx) => svc.registerIn(tx, identity(HOSPITAL, 'WARM-1', { birthName: 'LEGRAND', birthDate: '1950-01-02' }), ctx));
  });
  afterEach(async () => {
    await store.close();
  });

  /**
   * A registers Marie DUPONT; B, queued behind it so that both run in one group, registers the same person from
   * another source (so B must see A's identity to link to it), then `fail` plays the database failing.
   */
  async function groupWith(fail: (db: Database.Database) => void): Promise<{ a: PromiseSettledResult<RegistrationResult>; b: PromiseSettledResult<RegistrationResult>; seenByB: RegistrationResult | undefined }> {
    let seenByB: RegistrationResult | undefined;
    // Queued back to back: B is waiting when A's group starts, so it runs in the same group (A is quick: warmed).
    const a = store.transaction((tx) => svc.registerIn(tx, identity(HOSPITAL, 'IPP-1'), ctx));
    const b = store.transaction(async (tx) => {
      seenByB = await svc.registerIn(tx, identity(PHARMACY, 'PH-1'), ctx);
      fail(writerOf(store));
      return seenByB;
    });
    const [ra, rb] = await Promise.allSettled([a, b]);
    return { a: ra, b: rb, seenByB };
  }

  const ioFailure = (db: Database.Database): void => {
    // What SQLite does on an I/O error or a full disk: the whole transaction is rolled back.
    db.exec('ROLLBACK');
    throw new Error('disk I/O error (simulated)');
  };

  const commitFailure = (db: Database.Database): void => {
    // A deferred foreign-key violation: the member completes, the group's COMMIT fails.
    db.exec('PRAGMA defer_foreign_keys = ON');
    db.prepare("UPDATE identity_federated SET replaced_by = 'no-such-identity' WHERE id = (SELECT min(id) FROM identity_federated)").run();
  };

  for (const [name, fail] of [
    ['SQLite rolls the whole group back (a later member’s I/O error)', ioFailure],
    ['the group’s COMMIT fails', commitFailure],
  ] as const) {
    it(`${name}: every member rejected, nothing stored, the identity of the lost member is not proposed afterwards`, async () => {
      const { a, b, seenByB } = await groupWith(fail);
      // B saw A's identity inside the group (it linked to it): what the index learned there is what must be undone.
      expect(seenByB?.decision).toBe('auto-linked');
      expect(a.status).toBe('rejected');
      expect(b.status).toBe('rejected');
      // The I/O error leaves A lost (B failed itself); the failed COMMIT loses both.
      expect(lost).toEqual([fail === ioFailure ? 1 : 2]);
      const phantom = seenByB?.federatedId as string;
      expect(await store.identities.getFederated(phantom)).toBeUndefined();
      // The matcher does not propose an identity that does not exist.
      expect((await svc.match(identity('https://gp.example/patients', 'Q-1'))).map((r) => r.federatedId)).not.toContain(phantom);
      // Registered again, A is a new identity, and B then links to that one.
      const again = await store.transaction((tx) => svc.registerIn(tx, identity(HOSPITAL, 'IPP-1'), ctx));
      expect(again.decision).toBe('new');
      const linked = await store.transaction((tx) => svc.registerIn(tx, identity(PHARMACY, 'PH-1'), ctx));
      expect(linked).toMatchObject({ decision: 'auto-linked', federatedId: again.federatedId });
    });
  }

  it('a member that fails alone (its savepoint rolled back, the group commits) loses nothing: no listener call, the index kept', async () => {
    const { a, b, seenByB } = await groupWith(() => {
      throw new Error('refused after registering (e.g. the document failed its validation)');
    });
    expect(seenByB?.decision).toBe('auto-linked');
    expect(a.status).toBe('fulfilled');
    expect(b.status).toBe('rejected');
    expect(lost).toEqual([]);
    const kept = (a as PromiseFulfilledResult<RegistrationResult>).value.federatedId;
    expect((await svc.match(identity('https://gp.example/patients', 'Q-1'))).map((r) => r.federatedId)).toContain(kept);
  });
});
