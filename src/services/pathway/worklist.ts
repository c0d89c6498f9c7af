// The due-work list of the case managers (issue 18 point 6): to be built.
import type { ResourceStore } from '../../store/repository.js';

export interface WorklistItem {
  carePlan: string;
  pppId: string;
  finess: string;
  /** What is due: `prescription-request` (the PHO has not answered a D45/D90 request), `outcome` (outcomes to record). */
  kind: 'prescription-request' | 'outcome';
  window: 'd45' | 'd90';
  /** When it became due. */
  since: string;
  /** Overdue at the time asked (past the answer's delay). */
  overdue: boolean;
  /** French label for the pages. */
  label: string;
}

export async function worklist(_store: ResourceStore, _filter: { finess?: string; now: Date }): Promise<WorklistItem[]> {
  return [];
}
