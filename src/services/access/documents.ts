// The domain endpoints on a stored PPP (link-ctm, unlink-ctm, medication-review) as a principal may use them.
import type { CarePlan } from '@medplum/fhirtypes';
import { mayWriteFor, ownFiness, type Principal } from '../../domain/access/model.js';
import { CANONICAL_BASE } from '../../fhir/canonical.js';
import { forbidden, notFound } from '../../fhir/outcome.js';
import type { ResourceStore } from '../../store/repository.js';
import { isFiltered, storeFor } from './visibility.js';

const PPP_IDENTIFIER = new RegExp(`^${CANONICAL_BASE.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/identifier/([0-9AB]{9})/ppp$`);

/** The FINESS of the establishment a stored PPP CarePlan belongs to (from its business identifier). */
export function pppFiness(carePlan: CarePlan): string | undefined {
  for (const i of carePlan.identifier ?? []) {
    const m = PPP_IDENTIFIER.exec(i.system ?? '');
    if (m) return m[1];
  }
  return undefined;
}

/**
 * A PPP the principal reads: another tenant's answers 404, as a missing one (medication-review, and the first check of
 * link-ctm / unlink-ctm).
 */
export async function assertPppVisible(store: ResourceStore, principal: Principal, carePlanId: string): Promise<void> {
  if (!isFiltered(principal)) return;
  if (!(await storeFor(store, principal).read('CarePlan', carePlanId))) throw notFound(`CarePlan/${carePlanId} not found`);
}

/**
 * A PPP the principal changes (link-ctm, unlink-ctm): 404 when it cannot see it (existence does not leak); 403 when it
 * sees it (its tenant is on the care team) but the PPP is another establishment's; the CTM named by FINESS must be
 * the principal's own too (403).
 */
export async function assertPppWritable(store: ResourceStore, principal: Principal, carePlanId: string, ctmFiness?: string): Promise<void> {
  if (!isFiltered(principal)) return;
  const cp = await storeFor(store, principal).read<CarePlan>('CarePlan', carePlanId);
  if (!cp) throw notFound(`CarePlan/${carePlanId} not found`);
  const finess = pppFiness(cp);
  if (finess !== undefined && !mayWriteFor(principal, finess)) {
    throw forbidden(`CarePlan/${carePlanId} is a PPP of FINESS ${finess}; client "${principal.id}" changes PPPs of ${ownFiness(principal) ? `FINESS ${ownFiness(principal)}` : 'no establishment'} only`);
  }
  if (ctmFiness !== undefined && !mayWriteFor(principal, ctmFiness)) {
    throw forbidden(`The CTM named is of FINESS ${ctmFiness}; client "${principal.id}" links CTMs of its own establishment only`);
  }
}
