// The behaviour every IdentityRepository dialect must show (registry rows through `tx.identities`, reads through
// `store.identities`), as one reusable suite: SQLite calls it now, PostgreSQL will call it with its own `open`.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MatchResult, SourceIdentity } from '../../src/identity/types.js';
import type { ResourceStore } from '../../src/store/repository.js';
import { TestClock, type OpenStore } from './contract.js';

const traits = (value: string): SourceIdentity => ({
  sourceId: { system: 'urn:oid:1.2.250.1.999', value },
  status: 'PROV',
  birthName: 'DUPONT',
  firstBirthGivenName: 'MARIE',
  birthDate: '1969-05-12',
  sex: 'F',
});

const comparison: MatchResult = { federatedId: 'F1', weight: 30, score: 0.9, grade: 'probable', comparisons: [], reasons: ['test'], flag: 'DPOT' };

export function identityRepositoryContract(name: string, open: OpenStore): void {
  describe(`IdentityRepository contract: ${name}`, () => {
    let store: ResourceStore;

    beforeEach(async () => {
      store = await open({ now: new TestClock().now });
      // Three federated identities, two sources, one open review F2 vs F1.
      await store.transaction(async (tx) => {
        const keys: Record<string, string[]> = { F1: ['k:a', 'k:hot'], F2: ['k:b', 'k:hot'], F3: ['k:hot', 'k:hot'] };
        for (const id of ['F1', 'F2', 'F3']) {
          await tx.identities.putFederated({ id, status: 'PROV', flags: [], active: true, traits: traits(id), blockingKeys: keys[id] });
        }
        await tx.identities.putSource({ system: 'urn:oid:1.2.250.1.999', localId: 'S1', federatedId: 'F1', traits: traits('S1'), status: 'PROV', decision: 'new' });
        await tx.identities.putSource({ system: 'urn:oid:1.2.250.1.999', localId: 'S2', federatedId: 'F2', traits: traits('S2'), status: 'PROV', decision: 'review', score: 0.9 });
        await tx.identities.insertReview({ id: 'R1', sourceSystem: 'urn:oid:1.2.250.1.999', sourceId: 'S2', newFederatedId: 'F2', candidateFederatedId: 'F1', grade: 'probable', score: 0.9, comparison, flag: 'DPOT' });
      });
    });
    afterEach(async () => {
      await store.close();
    });

    it('reads back what it wrote, with store timestamps', async () => {
      const s = await store.identities.getSource('urn:oid:1.2.250.1.999', 'S2');
      expect(s).toMatchObject({ federatedId: 'F2', decision: 'review', score: 0.9, status: 'PROV', traits: traits('S2') });
      expect(s?.created).toMatch(/^2024-03-01T/);
      expect(await store.identities.getFederated('F1')).toMatchObject({ id: 'F1', active: true, flags: [], traits: traits('F1') });
      expect((await store.identities.getFederatedMany(['F3', 'nope', 'F1'])).map((f) => f.id)).toEqual(['F3', 'F1']);
      expect(await store.identities.getReview('R1')).toMatchObject({ state: 'open', comparison, flag: 'DPOT', grade: 'probable' });
      expect(await store.identities.countSources()).toBe(2);
    });

    it('keeps created and moves updated on upsert', async () => {
      const before = (await store.identities.getFederated('F1'))!;
      await store.transaction((tx) => tx.identities.putFederated({ ...before, flags: ['COLV'], active: false, replacedBy: 'F2' }));
      const after = (await store.identities.getFederated('F1'))!;
      expect(after).toMatchObject({ flags: ['COLV'], active: false, replacedBy: 'F2', created: before.created });
      expect(after.updated > before.updated).toBe(true);
      expect(await store.identities.mergedInto('F2')).toEqual(['F1']);
    });

    it('keeps blocking keys duplicate-free, files an inactive identity under none, and lists active identities in id order', async () => {
      expect((await store.identities.getFederated('F3'))?.blockingKeys).toEqual(['k:hot']);
      expect((await store.identities.getFederated('F1'))?.blockingKeys).toEqual(['k:a', 'k:hot']);
      const f1 = (await store.identities.getFederated('F1'))!;
      await store.transaction((tx) => tx.identities.putFederated({ ...f1, active: false, replacedBy: 'F2' }));
      expect((await store.identities.getFederated('F1'))?.blockingKeys).toEqual([]);
      const active = [];
      for await (const f of store.identities.activeFederated({ pageSize: 1 })) active.push(f.id);
      expect(active).toEqual(['F2', 'F3']);
    });

    it('gives every federated write the next change number and lists changes after a number', async () => {
      const start = await store.identities.identitySeq();
      expect(start).toBeGreaterThanOrEqual(3);
      const f2 = (await store.identities.getFederated('F2'))!;
      const seqs = await store.transaction(async (tx) => [
        await tx.identities.putFederated({ ...f2, flags: ['HOMD'] }),
        await tx.identities.putFederated({ id: 'F4', status: 'QUAL', flags: [], active: true, traits: traits('F4'), blockingKeys: [] }),
      ]);
      expect(seqs).toEqual([start + 1, start + 2]);
      expect(await store.identities.identitySeq()).toBe(start + 2);
      expect((await store.identities.federatedChangedSince(start, 10)).map((f) => [f.id, f.seq])).toEqual([
        ['F2', start + 1],
        ['F4', start + 2],
      ]);
      expect((await store.identities.federatedChangedSince(start, 1)).map((f) => f.id)).toEqual(['F2']);
      // A rolled back write gives its number back.
      await expect(
        store.transaction(async (tx) => {
          await tx.identities.putFederated({ ...f2, flags: [] });
          throw new Error('abort');
        }),
      ).rejects.toThrow('abort');
      expect(await store.identities.identitySeq()).toBe(start + 2);
    });

    it('files, counts and takes pending projections', async () => {
      await store.transaction((tx) => tx.identities.markProjectionPending(['F1', 'F2', 'F1']));
      expect(await store.identities.countProjectionPending()).toBe(2);
      const first = await store.transaction((tx) => tx.identities.takeProjectionPending(1));
      expect(first).toHaveLength(1);
      const rest = await store.transaction((tx) => tx.identities.takeProjectionPending(10));
      expect([...first, ...rest].sort()).toEqual(['F1', 'F2']);
      expect(await store.identities.countProjectionPending()).toBe(0);
    });

    it('lists and closes review items; a closed item cannot be closed again', async () => {
      expect(await store.identities.listReviews({ state: 'open', limit: 10, offset: 0 })).toMatchObject({ total: 1, items: [{ id: 'R1' }] });
      expect((await store.identities.openReviewsOf('F1')).map((r) => r.id)).toEqual(['R1']);
      expect(await store.transaction((tx) => tx.identities.closeReview('R1', { decision: 'different', decidedBy: 'dr', reason: 'twins' }))).toBe(true);
      expect(await store.transaction((tx) => tx.identities.closeReview('R1', { decision: 'same', decidedBy: 'dr' }))).toBe(false);
      expect(await store.identities.getReview('R1')).toMatchObject({ state: 'decided', decision: 'different', decidedBy: 'dr', reason: 'twins' });
      expect((await store.identities.listReviews({ state: 'open', limit: 10, offset: 0 })).total).toBe(0);
      expect((await store.identities.listReviews({ limit: 10, offset: 0 })).total).toBe(1);
      expect(await store.identities.openReviewsOf('F1')).toEqual([]);
    });

    it('stores pair decisions whatever the order, and never pairs an identity with itself', async () => {
      await store.transaction((tx) => tx.identities.putPairDecision({ a: 'F2', b: 'F1', decision: 'different', decidedBy: 'dr', reviewId: 'R1' }));
      expect(await store.identities.pairDecision('F1', 'F2')).toMatchObject({ a: 'F1', b: 'F2', decision: 'different', reviewId: 'R1' });
      expect(await store.identities.pairDecision('F2', 'F1')).toBeDefined();
      expect((await store.identities.pairDecisionsOf('F2')).map((d) => d.b)).toEqual(['F2']);
      await expect(store.transaction((tx) => tx.identities.putPairDecision({ a: 'F1', b: 'F1', decision: 'same', decidedBy: 'dr' }))).rejects.toThrow();
    });

    it('moves sources and retargets open items', async () => {
      const moved = await store.transaction(async (tx) => {
        const m = await tx.identities.moveSources('F2', 'F1', 'manual');
        await tx.identities.retargetOpenReviews('F2', 'F3');
        return m;
      });
      expect(moved.map((s) => [s.localId, s.federatedId, s.decision])).toEqual([['S2', 'F1', 'manual']]);
      expect((await store.identities.sourcesOf('F1')).map((s) => s.localId)).toEqual(['S1', 'S2']);
      expect(await store.identities.sourcesOf('F2')).toEqual([]);
      expect(await store.identities.getReview('R1')).toMatchObject({ newFederatedId: 'F3', candidateFederatedId: 'F1' });
    });

    it('writes nothing when the transaction fails', async () => {
      await expect(
        store.transaction(async (tx) => {
          await tx.identities.putFederated({ id: 'F9', status: 'PROV', flags: [], active: true, traits: traits('F9'), blockingKeys: ['k:a'] });
          await tx.identities.markProjectionPending(['F9']);
          throw new Error('abort');
        }),
      ).rejects.toThrow('abort');
      expect(await store.identities.getFederated('F9')).toBeUndefined();
      expect(await store.identities.countProjectionPending()).toBe(0);
    });

    it('iterates links by (system, local id)', async () => {
      const rows = [];
      for await (const r of store.identities.links({ pageSize: 1 })) rows.push(r);
      expect(rows).toEqual([
        { source_system: 'urn:oid:1.2.250.1.999', source_id: 'S1', federated_id: 'F1', decision: 'new' },
        { source_system: 'urn:oid:1.2.250.1.999', source_id: 'S2', federated_id: 'F2', decision: 'review', score: 0.9 },
      ]);
    });
  });
}
