// The activity figures from hand-built raw counts (src/domain/reports/activity.ts): shares and their rounding, the
// totals over the establishments, establishments sorted by FINESS and absent without PPP, months summed over the
// establishments, decisions by actor, follow-up and active professionals, and the zero cases.
import { describe, expect, it } from 'vitest';
import { activityFigures, dueBy, round, share, type RawActivity } from '../../../src/domain/reports/activity.js';

const est = (finess: string, c: Partial<RawActivity['establishments'][number]> = {}): RawActivity['establishments'][number] => ({
  finess,
  name: `Établissement ${finess}`,
  ppp: 0,
  pppWithRcp: 0,
  rcpSync: 0,
  rcpAsync: 0,
  hopital: 0,
  ville: 0,
  recommendations: 0,
  patients: 0,
  ...c,
});
const empty: RawActivity = { establishments: [], patients: 0, months: [], decisions: [], followUp: [], activeProfessionals: [] };

describe('activity figures', () => {
  it('rounds shares to 3 decimals and recommendations per patient to 2', () => {
    expect(share(2, 3)).toBe(0.667);
    expect(share(1, 3)).toBe(0.333);
    expect(share(7, 8)).toBe(0.875);
    expect(share(0, 0)).toBe(0);
    expect(share(5, 5)).toBe(1);
    expect(round(20 / 3, 2)).toBe(6.67);
  });

  it('totals the establishments, sorted by FINESS, with their shares', () => {
    const raw: RawActivity = {
      establishments: [
        est('800000317', { ppp: 3, pppWithRcp: 2, rcpSync: 1, rcpAsync: 1, hopital: 2, ville: 1, recommendations: 10, patients: 3 }),
        est('1140000787', { ppp: 8, pppWithRcp: 7, rcpAsync: 7, ville: 8, recommendations: 10, patients: 4 }),
      ],
      patients: 6,
      months: [
        { month: '2025-05', finess: '800000317', ppp: 3 },
        { month: '2025-03', finess: '1140000787', ppp: 5 },
        { month: '2025-05', finess: '1140000787', ppp: 3 },
      ],
      decisions: [
        { actor: 'MT', decision: 'retenu', count: 4 },
        { actor: 'MT', decision: 'declined', count: 1 },
        { actor: 'PHO', decision: 'non-retenu', count: 2 },
        { actor: 'PHO', decision: 'retenu-modifie', count: 3 },
        { actor: 'PHO', decision: 'pending', count: 5 },
      ],
      followUp: [{ followup: 'd45', due: 4, done: 1 }],
      activeProfessionals: [{ role: 'PHO', count: 2 }],
    };
    const r = activityFigures(raw, { from: '2025-01-01', to: '2025-12-31' });
    expect(r.establishments.map((e) => e.finess)).toEqual(['1140000787', '800000317']);
    expect(r.establishments[0]).toEqual({
      finess: '1140000787',
      name: 'Établissement 1140000787',
      ppp: 8,
      pppWithRcp: 7,
      rcpShare: 0.875,
      rcpSync: 0,
      rcpAsync: 7,
      byEntryDoor: { hopital: 0, ville: 8 },
      recommendations: 10,
      patients: 4,
    });
    expect(r.establishments[1]?.rcpShare).toBe(0.667);
    expect(r.total).toEqual({
      ppp: 11,
      pppWithRcp: 9,
      rcpShare: 0.818,
      rcpSync: 1,
      rcpAsync: 8,
      byEntryDoor: { hopital: 2, ville: 9 },
      recommendations: 20,
      patients: 6,
      recommendationsPerPatient: 3.33,
    });
    expect(r.months).toEqual([
      { month: '2025-03', ppp: 5 },
      { month: '2025-05', ppp: 6 },
    ]);
    expect(r.decisions).toEqual({
      mt: { retenu: 4, nonRetenu: 0, retenuModifie: 0, pending: 0, declined: 1 },
      pho: { retenu: 0, nonRetenu: 2, retenuModifie: 3, pending: 5, declined: 0 },
    });
    expect(r.followUp).toEqual({ d45: { due: 4, done: 1 }, d90: { due: 0, done: 0 } });
    expect(r.activeProfessionals).toEqual({ mt: 0, pho: 2 });
    expect(r.period).toEqual({ from: '2025-01-01', to: '2025-12-31' });
    expect('establishment' in r).toBe(false);
  });

  it('leaves out an establishment with no PPP and names the establishment asked for', () => {
    const r = activityFigures({ ...empty, establishments: [est('760000018'), est('800000317', { ppp: 1, patients: 1, recommendations: 3 })], patients: 1 }, { from: '2025-01-01', to: '2025-01-31', establishment: '800000317' });
    expect(r.establishments.map((e) => e.finess)).toEqual(['800000317']);
    expect(r.establishment).toBe('800000317');
    expect(r.total).toMatchObject({ ppp: 1, rcpShare: 0, recommendationsPerPatient: 3 });
  });

  it('answers zeros for an empty period', () => {
    const r = activityFigures(empty, { from: '2025-01-01', to: '2025-01-31' });
    expect(r.total).toEqual({ ppp: 0, pppWithRcp: 0, rcpShare: 0, rcpSync: 0, rcpAsync: 0, byEntryDoor: { hopital: 0, ville: 0 }, recommendations: 0, patients: 0, recommendationsPerPatient: 0 });
    expect(r.establishments).toEqual([]);
    expect(r.months).toEqual([]);
    expect(r.decisions.mt).toEqual({ retenu: 0, nonRetenu: 0, retenuModifie: 0, pending: 0, declined: 0 });
    expect(r.followUp).toEqual({ d45: { due: 0, done: 0 }, d90: { due: 0, done: 0 } });
    expect(r.activeProfessionals).toEqual({ mt: 0, pho: 0 });
  });

  it('counts follow-up due by the end of the last day, or now when earlier', () => {
    expect(dueBy('2025-03-31', new Date('2026-01-01T00:00:00Z'))).toBe('2025-03-31T23:59:59.999Z');
    expect(dueBy('2025-03-31', new Date('2025-03-31T10:00:00Z'))).toBe('2025-03-31T10:00:00.000Z');
  });
});
