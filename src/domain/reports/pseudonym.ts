// The patient pseudonym of the billing file (issue 20, docs/reports.md "Billing extraction"), pure: a keyed hash
// (HMAC-SHA-256, hex) of the federated patient id. The same patient keeps the same pseudonym from one quarter to the
// next as long as the key stays the same; without the key, the pseudonym cannot be traced back to the id (nor to a
// name or an INS, which never enter it).
import { createHmac } from 'node:crypto';

/** Minimum length of a pseudonym key (the configuration's own rule). */
export const PSEUDONYM_KEY_MIN = 32;

/** The pseudonym of federated patient `patientId` under `key`: 64 lowercase hex characters. */
export function patientPseudonym(patientId: string, key: string): string {
  if (key.length < PSEUDONYM_KEY_MIN) throw new Error(`the pseudonym key has at least ${PSEUDONYM_KEY_MIN} characters`);
  return createHmac('sha256', key).update(patientId, 'utf8').digest('hex');
}
