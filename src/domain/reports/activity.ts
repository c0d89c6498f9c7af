// The activity figures (issue 20 point 2, docs/reports.md "Activity figures"), pure: the raw counts the store
// aggregates (store.reports.activity) turned into the report — shares rounded to 3 decimals, recommendations per
// patient to 2, decisions by MT and PHO, the PPPs per month summed over the establishments selected.
export type EntryDoors = { hopital: number; ville: number };

/** The raw counts, as the store answers them (src/store/report-repository.ts `ActivityCounts`). */
export interface RawActivity {
  establishments: {
    finess: string;
    name: string;
    ppp: number;
    pppWithRcp: number;
    rcpSync: number;
    rcpAsync: number;
    hopital: number;
    ville: number;
    recommendations: number;
    patients: number;
  }[];
  patients: number;
  months: { month: string; finess: string; ppp: number }[];
  decisions: { actor: 'MT' | 'PHO'; decision: string; count: number }[];
  followUp: { followup: 'd45' | 'd90'; due: number; done: number }[];
  activeProfessionals: { role: 'MT' | 'PHO'; count: number }[];
}

export interface DecisionCounts {
  retenu: number;
  nonRetenu: number;
  retenuModifie: number;
  pending: number;
  /** Validation Tasks the professional rejected without deciding. */
  declined: number;
}

export interface EstablishmentActivity {
  finess: string;
  name: string;
  ppp: number;
  pppWithRcp: number;
  rcpShare: number;
  rcpSync: number;
  rcpAsync: number;
  byEntryDoor: EntryDoors;
  recommendations: number;
  patients: number;
}

export interface ActivityReport {
  period: { from: string; to: string };
  establishment?: string;
  /** An establishment's figures over all of them, with the recommendations per patient. */
  total: Omit<EstablishmentActivity, 'finess' | 'name'> & { recommendationsPerPatient: number };
  establishments: EstablishmentActivity[];
  months: { month: string; ppp: number }[];
  decisions: { mt: DecisionCounts; pho: DecisionCounts };
  followUp: { d45: { due: number; done: number }; d90: { due: number; done: number } };
  activeProfessionals: { mt: number; pho: number };
}

/** `value` rounded to `decimals` places (half away from zero for the positive figures here). */
export function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

/** `part / whole` rounded to 3 decimals; 0 when `whole` is 0. */
export function share(part: number, whole: number): number {
  return whole === 0 ? 0 : round(part / whole, 3);
}

const DECISION_KEYS: Record<string, keyof DecisionCounts> = {
  retenu: 'retenu',
  'non-retenu': 'nonRetenu',
  'retenu-modifie': 'retenuModifie',
  pending: 'pending',
  declined: 'declined',
};

const noDecisions = (): DecisionCounts => ({ retenu: 0, nonRetenu: 0, retenuModifie: 0, pending: 0, declined: 0 });

/** The report of `period` (and `establishment` when one was asked) from the store's raw counts. */
export function activityFigures(raw: RawActivity, period: { from: string; to: string; establishment?: string }): ActivityReport {
  const establishments = raw.establishments
    .filter((e) => e.ppp > 0)
    .map(
      (e): EstablishmentActivity => ({
        finess: e.finess,
        name: e.name,
        ppp: e.ppp,
        pppWithRcp: e.pppWithRcp,
        rcpShare: share(e.pppWithRcp, e.ppp),
        rcpSync: e.rcpSync,
        rcpAsync: e.rcpAsync,
        byEntryDoor: { hopital: e.hopital, ville: e.ville },
        recommendations: e.recommendations,
        patients: e.patients,
      }),
    )
    .sort((a, b) => (a.finess < b.finess ? -1 : a.finess > b.finess ? 1 : 0));
  const sum = (f: (e: EstablishmentActivity) => number): number => establishments.reduce((s, e) => s + f(e), 0);
  const ppp = sum((e) => e.ppp);
  const pppWithRcp = sum((e) => e.pppWithRcp);
  const recommendations = sum((e) => e.recommendations);
  const byMonth = new Map<string, number>();
  for (const m of raw.months) byMonth.set(m.month, (byMonth.get(m.month) ?? 0) + m.ppp);
  const decisions = { mt: noDecisions(), pho: noDecisions() };
  for (const d of raw.decisions) {
    const key = DECISION_KEYS[d.decision];
    if (key) decisions[d.actor === 'MT' ? 'mt' : 'pho'][key] += d.count;
  }
  const window = (w: 'd45' | 'd90') => {
    const f = raw.followUp.find((x) => x.followup === w);
    return { due: f?.due ?? 0, done: f?.done ?? 0 };
  };
  const active = (role: 'MT' | 'PHO') => raw.activeProfessionals.find((a) => a.role === role)?.count ?? 0;
  return {
    period: { from: period.from, to: period.to },
    ...(period.establishment !== undefined ? { establishment: period.establishment } : {}),
    total: {
      ppp,
      pppWithRcp,
      rcpShare: share(pppWithRcp, ppp),
      rcpSync: sum((e) => e.rcpSync),
      rcpAsync: sum((e) => e.rcpAsync),
      byEntryDoor: { hopital: sum((e) => e.byEntryDoor.hopital), ville: sum((e) => e.byEntryDoor.ville) },
      recommendations,
      patients: raw.patients,
      recommendationsPerPatient: raw.patients === 0 ? 0 : round(recommendations / raw.patients, 2),
    },
    establishments,
    months: [...byMonth].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([month, n]) => ({ month, ppp: n })),
    decisions,
    followUp: { d45: window('d45'), d90: window('d90') },
    activeProfessionals: { mt: active('MT'), pho: active('PHO') },
  };
}

/** The instant the follow-up windows must be due by: the end of the `to` day (UTC), or now if earlier. */
export function dueBy(to: string, now: Date): string {
  const end = `${to}T23:59:59.999Z`;
  const n = now.toISOString();
  return n < end ? n : end;
}
