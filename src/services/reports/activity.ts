// The activity figures of a period (issue 20 point 2, docs/reports.md "Activity figures"): the store's aggregates over
// the report rows, shaped by the domain (shares, rounding, months). Follow-up windows count as due when their date is
// at or before the end of the `to` day (UTC) or `now`, whichever comes first.
import { activityFigures, dueBy, type ActivityReport } from '../../domain/reports/activity.js';
import type { Period } from '../../domain/reports/period.js';
import type { ResourceStore } from '../../store/repository.js';

export async function activityReport(store: Pick<ResourceStore, 'reports'>, query: Period & { finess?: string }, options: { now: Date }): Promise<ActivityReport> {
  const period = { from: query.from, to: query.to, ...(query.finess !== undefined ? { finess: query.finess } : {}) };
  const raw = await store.reports.activity(period, dueBy(query.to, options.now));
  return activityFigures(raw, { from: query.from, to: query.to, ...(query.finess !== undefined ? { establishment: query.finess } : {}) });
}
