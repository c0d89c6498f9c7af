// The activity figures (services/reports/activity.ts) on a real SQLite file and on PostgreSQL, from PPPs submitted,
// decided (the Task door), followed up (recordOutcomes) and whose links were used as the pathway does: counts per
// establishment and in total, shares, months, decisions with their changes, follow-up due by the end of the period or
// now, active professionals per UTC day, one establishment, and an empty period.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activityReport } from '../../../src/services/reports/activity.js';
import { openPgStore } from '../../../src/store/pg-store.js';
import type { ResourceStore } from '../../../src/store/repository.js';
import { openSqliteStore } from '../../../src/store/sqlite-store.js';
import { dropPgSchema, PG_TEST_URL, pgUnreachable } from '../../support/pg.js';
import { available } from '../../support/shared.js';
import { activityData, decideSome, followSome, FROM, TO, useLinks, type ActivityData } from './activity-support.js';

const NOW = new Date();
const PG_SCHEMA = `activity_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;

function suite(dialect: 'sqlite' | 'postgresql'): void {
  let dir: string;
  let store: ResourceStore;
  let data: ActivityData;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'passerelle-activity-'));
    store = dialect === 'sqlite' ? await openSqliteStore({ file: path.join(dir, 'db.sqlite') }) : await openPgStore({ url: PG_TEST_URL, schema: PG_SCHEMA, poolSize: 4 });
    data = await activityData(store);
  }, 60_000);
  afterAll(async () => {
    await store?.close();
    if (dialect === 'postgresql') await dropPgSchema(PG_SCHEMA);
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts the PPPs created in the period per establishment (sorted by FINESS) and in total', async () => {
    const r = await activityReport(store, { from: FROM, to: TO }, { now: NOW });
    expect(r.period).toEqual({ from: FROM, to: TO });
    expect(r.establishments.map((e) => [e.finess, e.ppp, e.pppWithRcp, e.rcpShare, e.rcpSync, e.rcpAsync, e.byEntryDoor, e.recommendations, e.patients])).toEqual([
      ['140000787', 1, 1, 1, 0, 1, { hopital: 0, ville: 1 }, 3, 1],
      ['760000018', 1, 0, 0, 0, 0, { hopital: 1, ville: 0 }, 1, 1],
      ['800000317', 2, 2, 1, 2, 0, { hopital: 2, ville: 0 }, 6, 1],
    ]);
    expect(r.establishments[2]?.name).toBeTruthy();
    expect(r.total).toEqual({ ppp: 4, pppWithRcp: 3, rcpShare: 0.75, rcpSync: 2, rcpAsync: 1, byEntryDoor: { hopital: 3, ville: 1 }, recommendations: 10, patients: 3, recommendationsPerPatient: 3.33 });
    expect(r.months).toEqual([
      { month: '2025-04', ppp: 1 },
      { month: '2025-05', ppp: 2 },
      { month: '2025-06', ppp: 1 },
    ]);
    // March holds only ACT-EARLY.
    const march = await activityReport(store, { from: '2025-03-01', to: '2025-03-31' }, { now: NOW });
    expect(march.total).toMatchObject({ ppp: 1, pppWithRcp: 1, rcpShare: 1, recommendations: 6, patients: 1, recommendationsPerPatient: 6 });
    expect(march.establishments.map((e) => e.finess)).toEqual(['760000018']);
  });

  it('counts the decisions of the period’s PPPs as they are recorded, declined ones apart', async () => {
    const before = await activityReport(store, { from: FROM, to: TO }, { now: NOW });
    const asked = (d: typeof before.decisions.mt) => d.retenu + d.nonRetenu + d.retenuModifie + d.pending + d.declined;
    expect(before.decisions.mt).toMatchObject({ retenu: 0, nonRetenu: 0, retenuModifie: 0, declined: 0 });
    expect(before.decisions.mt.pending).toBeGreaterThan(2);
    expect(before.decisions.pho.pending).toBeGreaterThan(0);
    await decideSome(store, data);
    const after = await activityReport(store, { from: FROM, to: TO }, { now: NOW });
    expect(after.decisions.mt).toEqual({ ...before.decisions.mt, retenu: 1, declined: 1, pending: before.decisions.mt.pending - 2 });
    expect(after.decisions.pho).toEqual({ ...before.decisions.pho, retenuModifie: 1, pending: before.decisions.pho.pending - 1 });
    expect(asked(after.decisions.mt)).toBe(asked(before.decisions.mt));
    // ACT-EARLY's non-retenu is March's.
    expect((await activityReport(store, { from: '2025-03-01', to: '2025-03-31' }, { now: NOW })).decisions.mt.nonRetenu).toBe(1);
  });

  it('counts the follow-up windows due by the end of the period, or now when earlier, and those recorded', async () => {
    expect((await activityReport(store, { from: FROM, to: TO }, { now: NOW })).followUp).toEqual({ d45: { due: 2, done: 0 }, d90: { due: 0, done: 0 } });
    await followSome(store, data);
    expect((await activityReport(store, { from: FROM, to: TO }, { now: NOW })).followUp).toEqual({ d45: { due: 2, done: 1 }, d90: { due: 0, done: 0 } });
    // Seen on 29 June before 06:30Z, the D45 windows are not due yet.
    expect((await activityReport(store, { from: FROM, to: TO }, { now: new Date('2025-06-29T06:00:00Z') })).followUp.d45).toEqual({ due: 0, done: 0 });
    expect((await activityReport(store, { from: FROM, to: TO }, { now: new Date('2025-06-29T06:30:00Z') })).followUp.d45).toEqual({ due: 2, done: 1 });
    // A later end: ACT-TOWN's D45 (28 July) and the D90 of both sync PPPs (13 August) are due too.
    expect((await activityReport(store, { from: FROM, to: '2025-08-31' }, { now: NOW })).followUp).toEqual({ d45: { due: 3, done: 1 }, d90: { due: 2, done: 0 } });
  });

  it('counts the professionals who used a link on a day of the period, per establishment when one is asked', async () => {
    await useLinks(store, data);
    expect((await activityReport(store, { from: FROM, to: TO }, { now: NOW })).activeProfessionals).toEqual({ mt: 1, pho: 1 });
    expect((await activityReport(store, { from: FROM, to: '2025-07-01' }, { now: NOW })).activeProfessionals).toEqual({ mt: 2, pho: 1 });
    const one = await activityReport(store, { from: FROM, to: TO, finess: '800000317' }, { now: NOW });
    expect(one.establishment).toBe('800000317');
    expect(one.activeProfessionals).toEqual({ mt: 1, pho: 0 });
    expect(one.establishments.map((e) => e.finess)).toEqual(['800000317']);
    expect(one.total).toMatchObject({ ppp: 2, pppWithRcp: 2, rcpShare: 1, patients: 1, recommendations: 6, recommendationsPerPatient: 6 });
    expect(one.months).toEqual([{ month: '2025-05', ppp: 2 }]);
    expect(one.followUp.d45).toEqual({ due: 2, done: 1 });
    expect(one.decisions.mt).toMatchObject({ retenu: 1, declined: 1 });
  });

  it('answers zeros for a period without PPP', async () => {
    const r = await activityReport(store, { from: '2024-01-01', to: '2024-12-31' }, { now: NOW });
    expect(r.establishments).toEqual([]);
    expect(r.total).toMatchObject({ ppp: 0, rcpShare: 0, patients: 0, recommendationsPerPatient: 0 });
    expect(r.activeProfessionals).toEqual({ mt: 0, pho: 0 });
  });
}

describe('activity figures on SQLite', () => suite('sqlite'));

const pgDown = await pgUnreachable();
describe.skipIf(!available('PostgreSQL', pgDown === undefined, 'the activity figures on PostgreSQL'))('activity figures on PostgreSQL', () => suite('postgresql'));
