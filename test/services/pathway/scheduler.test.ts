// The pathway scheduler and the D45/D90 windows (services/pathway/scheduler.ts, followup.ts) on a real SQLite file and
// on PostgreSQL: a window opens once at its date (PHO link, follow-up Task in progress, step, audit); a closed PPP
// or one without a PHO; failures back off and keep the item; polling catches up at start and stops cleanly; and on
// PostgreSQL two schedulers over one database run each due item exactly once.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { CarePlan } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFrom } from '../../../src/config.js';
import { pathwayStatusOf } from '../../../src/services/pathway/careplan-state.js';
import { followUpTask, recordPrescriptionAnswer } from '../../../src/services/pathway/followup.js';
import { retryDelayMs, startPathwayScheduler, type DueHandler } from '../../../src/services/pathway/scheduler.js';
import type { DueKind } from '../../../src/store/pathway-repository.js';
import { openPgStore } from '../../../src/store/pg-store.js';
import type { ResourceStore } from '../../../src/store/repository.js';
import { openSqliteStore } from '../../../src/store/sqlite-store.js';
import { dropPgSchema, PG_TEST_URL, pgUnreachable } from '../../support/pg.js';
import { available } from '../../support/shared.js';
import { contextAt, DAY, pppFixture, sentCase, silent } from './followup-support.js';

const config = configFrom({ baseUrl: 'https://passerelle.example.fr' });
const PG_SCHEMA = `sched_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;

function suite(dialect: 'sqlite' | 'postgresql'): void {
  let dir: string;
  let store: ResourceStore;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'passerelle-sched-'));
    store = dialect === 'sqlite' ? await openSqliteStore({ file: path.join(dir, 'db.sqlite') }) : await openPgStore({ url: PG_TEST_URL, schema: PG_SCHEMA, poolSize: 4 });
  });
  afterAll(async () => {
    await store?.close();
    if (dialect === 'postgresql') await dropPgSchema(PG_SCHEMA);
    rmSync(dir, { recursive: true, force: true });
  });

  it('opens D45 at its date, once: the PHO link (purpose prescription), the Task in progress, the step, the audit', async () => {
    const { carePlan, d45, d90 } = await sentCase(store, pppFixture('SCHED-1'));
    const s = startPathwayScheduler({ store, config, logger: silent, poll: false, workerId: 'w1' });
    expect(await s.runDue(new Date(d45.getTime() - 1000))).toEqual({ ran: 0, failed: 0 });
    expect(await s.runDue(d45)).toEqual({ ran: 1, failed: 0 });
    expect(await s.runDue(d45)).toEqual({ ran: 0, failed: 0 });

    const links = await store.links.live(carePlan, d45.toISOString());
    expect(links.map((l) => [l.role, l.rpps, l.purpose])).toEqual([['PHO', '10101523388', 'prescription']]);
    const task = await store.transaction((tx) => followUpTask(tx, carePlan, 'd45'));
    expect(task?.status).toBe('in-progress');
    expect((await store.transaction((tx) => followUpTask(tx, carePlan, 'd90')))?.status).toBe('requested');
    const cp = (await store.read<CarePlan>('CarePlan', carePlan))!;
    expect(pathwayStatusOf(cp)?.step).toBe('suivi-j45');
    const audit = (await store.auditLog({ entity: `CarePlan/${carePlan}`, limit: 50 })).find((a) => a.action === 'pathway.followup-open');
    expect(audit).toMatchObject({ actor: 'scheduler', outcome: 'success', entities: [`CarePlan/${carePlan}`, `Task/${task!.id}`] });
    expect(audit!.detail).toMatch(/^window=d45 pho=10101523388 delivery=not-configured task=in-progress$/);
    expect((await store.pathway.dueOf(carePlan)).map((d) => [d.kind, d.state])).toEqual([
      ['d45', 'done'],
      ['d90', 'scheduled'],
    ]);

    expect(await s.runDue(d90)).toEqual({ ran: 1, failed: 0 });
    expect(pathwayStatusOf((await store.read<CarePlan>('CarePlan', carePlan))!)?.step).toBe('suivi-j90');
    // The D90 link replaced the D45 one.
    expect((await store.links.live(carePlan, d90.toISOString())).length).toBe(1);
    await s.stop();
  });

  it('a PPP without a PHO opens for the case manager only (no link); a closed PPP: nothing, the item done', async () => {
    const noPho = await sentCase(
      store,
      pppFixture('SCHED-2', (p) => {
        p.team = (p.team as { role: string }[]).filter((m) => m.role !== 'pharmacien-officine');
        delete p.recommendations;
        delete p.rcp;
        p.noRcpReason = 'Test.';
      }),
    );
    const closed = await sentCase(store, pppFixture('SCHED-3'));
    await store.pathway.close(closed.carePlan, closed.sentAt.toISOString());
    const s = startPathwayScheduler({ store, config, logger: silent, poll: false });
    expect(await s.runDue(noPho.d45)).toEqual({ ran: 2, failed: 0 });
    expect(await store.links.live(noPho.carePlan, noPho.d45.toISOString())).toEqual([]);
    expect(pathwayStatusOf((await store.read<CarePlan>('CarePlan', noPho.carePlan))!)?.step).toBe('suivi-j45');
    const audit = (await store.auditLog({ entity: `CarePlan/${noPho.carePlan}`, limit: 50 })).find((a) => a.action === 'pathway.followup-open');
    expect(audit!.detail).toContain('no PHO: case manager only');
    expect(await store.links.live(closed.carePlan, closed.d45.toISOString())).toEqual([]);
    expect(pathwayStatusOf((await store.read<CarePlan>('CarePlan', closed.carePlan))!)).toBeUndefined();
    expect((await store.pathway.dueOf(closed.carePlan)).find((d) => d.kind === 'd45')?.state).toBe('done');
    expect(await s.runDue(noPho.d90)).toEqual({ ran: 2, failed: 0 });
    await s.stop();
  });

  it('two answers sent at once with the same form: one stored with its proposals, the other refused as a replay', async () => {
    const { carePlan, d45 } = await sentCase(store, pppFixture('SCHED-4'));
    const s = startPathwayScheduler({ store, config, logger: silent, poll: false });
    await s.runDue(d45);
    await s.stop();
    const answer = (label: string) =>
      recordPrescriptionAnswer(store, { carePlan, window: 'd45', rpps: '10101523388', answer: { kind: 'lines', lines: [{ label }] }, expectedAnswers: 0 }, contextAt(d45, config));
    const results = await Promise.all([answer('KARDEGIC'), answer('DITROPAN'), answer('TAHOR')]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok).map((r) => (r.ok ? '' : r.reason))).toEqual(['replayed', 'replayed']);
    expect(await store.pathway.uploads(carePlan)).toHaveLength(1);
    const audits = (await store.auditLog({ entity: `CarePlan/${carePlan}`, limit: 100 })).filter((a) => a.action === 'pathway.prescription');
    expect(audits).toHaveLength(1);
    await store.pathway.cancelDue(carePlan);
  });

  it('a failing handler gives the item back with a backoff and the error; it runs again once the delay is over', async () => {
    const at = new Date('2030-01-01T00:00:00.000Z');
    await store.pathway.schedule('cp-fail', 'document', at.toISOString());
    let calls = 0;
    const document: DueHandler = async () => {
      calls++;
      if (calls === 1) throw new Error('DMP unreachable');
    };
    const s = startPathwayScheduler({ store, config, logger: silent, poll: false, handlers: { document } });
    expect(await s.runDue(at)).toEqual({ ran: 0, failed: 1 });
    const [item] = await store.pathway.dueOf('cp-fail');
    expect(item).toMatchObject({ state: 'scheduled', attempts: 1, lastError: 'DMP unreachable', dueAt: new Date(at.getTime() + retryDelayMs(1)).toISOString() });
    expect(await s.runDue(new Date(at.getTime() + 59_000))).toEqual({ ran: 0, failed: 0 });
    expect(await s.runDue(new Date(at.getTime() + 60_000))).toEqual({ ran: 1, failed: 0 });
    expect((await store.pathway.dueOf('cp-fail'))[0]).toMatchObject({ state: 'done', attempts: 2 });
    expect(calls).toBe(2);
    expect([1, 2, 3, 30].map(retryDelayMs)).toEqual([60_000, 120_000, 240_000, 6 * 3_600_000]);
    await s.stop();
  });

  it('polling: everything past due is run at start (catch-up, more than one batch), then stop() waits and stops', async () => {
    const past = new Date(Date.now() - 10 * DAY);
    for (let i = 0; i < 7; i++) await store.pathway.schedule(`cp-late-${i}`, 'decision-deadline', new Date(past.getTime() + i * 1000).toISOString());
    const seen: string[] = [];
    const handler: DueHandler = async (_s, item) => {
      seen.push(item.carePlan);
    };
    const s = startPathwayScheduler({ store, config: { ...config, pathway: { ...config.pathway, scheduler: { ...config.pathway.scheduler, batch: 3, pollMs: 100 } } }, logger: silent, handlers: { 'decision-deadline': handler } });
    for (let i = 0; i < 100 && seen.length < 7; i++) await new Promise((r) => setTimeout(r, 20));
    await s.stop();
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `cp-late-${i}`));
    // Stopped: a new due item is left for the next process.
    await store.pathway.schedule('cp-after-stop', 'decision-deadline', past.toISOString());
    await new Promise((r) => setTimeout(r, 250));
    expect(seen).not.toContain('cp-after-stop');
    expect((await store.pathway.dueOf('cp-after-stop'))[0]?.state).toBe('scheduled');
    await store.pathway.cancelDue('cp-after-stop');
  });
}

describe('pathway scheduler on SQLite', () => suite('sqlite'));

const pgDown = await pgUnreachable();
describe.runIf(available('PostgreSQL at ' + PG_TEST_URL, !pgDown, 'the pathway scheduler on PostgreSQL'))('pathway scheduler on PostgreSQL', () => {
  suite('postgresql');

  describe('two gateway processes', () => {
    const schema = `sched2_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    let a: ResourceStore;
    let b: ResourceStore;
    beforeAll(async () => {
      a = await openPgStore({ url: PG_TEST_URL, schema, poolSize: 4 });
      b = await openPgStore({ url: PG_TEST_URL, schema, poolSize: 4 });
    });
    afterAll(async () => {
      await a?.close();
      await b?.close();
      await dropPgSchema(schema);
    });

    it('two schedulers racing over 120 due items run each handler exactly once', async () => {
      const at = new Date('2031-06-01T00:00:00.000Z');
      const kinds: DueKind[] = ['d45', 'd90', 'document', 'decision-deadline'];
      for (let i = 0; i < 30; i++) for (const k of kinds.slice(0, 4)) await a.pathway.schedule(`cp-race-${i}`, k, new Date(at.getTime() - i * 1000).toISOString());
      const runs = new Map<string, number>();
      const count: DueHandler = async (_s, item) => {
        await new Promise((r) => setTimeout(r, Math.random() * 3));
        const key = `${item.carePlan} ${item.kind}`;
        runs.set(key, (runs.get(key) ?? 0) + 1);
      };
      const handlers = Object.fromEntries(kinds.map((k) => [k, count])) as Record<DueKind, DueHandler>;
      const small = { ...config, pathway: { ...config.pathway, scheduler: { ...config.pathway.scheduler, batch: 7 } } };
      const s1 = startPathwayScheduler({ store: a, config: small, logger: silent, poll: false, handlers, workerId: 'gw-1' });
      const s2 = startPathwayScheduler({ store: b, config: small, logger: silent, poll: false, handlers, workerId: 'gw-2' });
      const results = await Promise.all([s1.runDue(at), s2.runDue(at), s1.runDue(at), s2.runDue(at)]);
      expect(results.reduce((n, r) => n + r.ran, 0)).toBe(120);
      expect(results.every((r) => r.failed === 0)).toBe(true);
      expect(runs.size).toBe(120);
      expect([...runs.values()].every((n) => n === 1)).toBe(true);
      // Both took part (each claim skips the rows the other holds).
      expect(results[0]!.ran + results[2]!.ran).toBeGreaterThan(0);
      expect(results[1]!.ran + results[3]!.ran).toBeGreaterThan(0);
      expect(await a.pathway.openDue({ limit: 1000 })).toEqual([]);
      await s1.stop();
      await s2.stop();
    });
  });
});
