// The PPP document follows the decisions (issue 18 point 5): to be built. Run by the scheduler for the due items
// `document` (scheduled when the last decision arrives) and `decision-deadline` (the deadline after the send).
import type { ResourceStore } from '../../store/repository.js';
import type { PathwayContext } from './context.js';

/**
 * Merges the decisions recorded on the PPP's validation Tasks into its canonical document and submits it again: a new
 * CarePlan version, hence a new document version replacing (RPLC) the DMP copy for a qualified identity.
 */
export async function regenerateDocument(_store: ResourceStore, _carePlan: string, _ctx: PathwayContext): Promise<void> {
  throw new Error('regenerateDocument: not built yet');
}
