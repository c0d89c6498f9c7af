// Deterministic resource ids: a UUID v5 (RFC 9562, SHA-1 name-based) of the business identifier parts, so
// re-sending the same PPP/CTM/BPM yields the same ids and the server updates instead of duplicating.
import { createHash } from 'node:crypto';

/** Passerelle's UUID v5 namespace (fixed forever: changing it would re-key every stored resource). */
export const ID_NAMESPACE = '5b3e2a4c-8d2f-4e61-9a57-3f0c7d1e9b24';

const namespaceBytes = Buffer.from(ID_NAMESPACE.replace(/-/g, ''), 'hex');
// Unit separator: cannot occur in the parts we hash (ids, RPPS, FINESS, URIs), so ('a', 'bc') ≠ ('ab', 'c').
const SEP = '\u001f';

const VARIANT = ['8', '9', 'a', 'b'] as const;

/** UUID v5 of `name` under the Passerelle namespace (version nibble 5, variant 10xx), lower-case. */
export function uuidV5(name: string): string {
  const hex = createHash('sha1').update(namespaceBytes).update(name, 'utf8').digest('hex');
  const variant = VARIANT[parseInt(hex[16]!, 16) & 0x3]!;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

// Actor ids recur in every document: keep the recent ones (bounded, so memory stays flat).
const actorIds = new Map<string, string>();
function memo(name: string): string {
  let id = actorIds.get(name);
  if (id === undefined) {
    if (actorIds.size >= 10_000) actorIds.clear();
    id = uuidV5(name);
    actorIds.set(name, id);
  }
  return id;
}

/**
 * Id of a resource of type `kind` named by business identifier parts, e.g.
 * `idFor('CarePlan', finess, 'ppp', pppId)` or `idFor('MedicationStatement', finess, 'ppp', pppId, 'line', lineId)`.
 * The resource type is part of the name, so a CarePlan and a List of the same document never share an id.
 */
export function idFor(kind: string, ...parts: readonly string[]): string {
  return uuidV5(kind + SEP + parts.join(SEP));
}

/** Practitioner: from the RPPS alone (one resource per person, whatever document names them). */
export const practitionerId = (rpps: string): string => memo(`Practitioner${SEP}rpps${SEP}${rpps}`);

/** Organization: from the FINESS alone. */
export const organizationId = (finess: string): string => memo(`Organization${SEP}finess${SEP}${finess}`);

/** PractitionerRole: a practitioner acting for an organisation (or for no known organisation). */
export const practitionerRoleId = (rpps: string, finess: string | undefined): string =>
  memo(`PractitionerRole${SEP}rpps${SEP}${rpps}${SEP}finess${SEP}${finess ?? ''}`);

/**
 * Patient: from the sender's own identifier (system + value), never from the INS: the identity service
 * federates local identities later, and an INS may be corrected without changing the local record.
 */
export const patientId = (system: string, value: string): string => idFor('Patient', system, value);
