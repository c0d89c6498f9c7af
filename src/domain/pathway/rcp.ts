// The no-RCP rule (issue 18, point 2): a PPP goes to the MT and the PHO after an RCP, or without one only with an
// explicit reason; without an RCP the DAH is not paid for the PPP. Pure: everything comes from the PPP.
import type { Ppp } from '../ppp.js';

export interface RcpRuleResult {
  /** The DAH may bill the PPP (an RCP took place or is planned). */
  billableDah: boolean;
  /** The PPP may be sent to the MT and the PHO: with an RCP, or with a reason for having none. */
  sendable: boolean;
  /** Why there is no RCP (the sender's words), or why the PPP may not be sent yet. */
  reason?: string;
}

export function rcpRule(ppp: Pick<Ppp, 'rcp' | 'noRcpReason'>): RcpRuleResult {
  if (ppp.rcp) return { billableDah: true, sendable: true };
  if (ppp.noRcpReason !== undefined) return { billableDah: false, sendable: true, reason: ppp.noRcpReason };
  return { billableDah: false, sendable: false, reason: 'Pas de RCP et pas de motif : le PPP ne peut être envoyé sans RCP qu’avec un motif (noRcpReason)' };
}
