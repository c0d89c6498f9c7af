// Builders for the identity tests: source identities checked by the domain schema, then normalised.
import type { z } from 'zod';
import { PatientIdentity } from '../../src/domain/identity.js';
import { insKey } from '../../src/domain/ins.js';
import { normaliseIdentity } from '../../src/identity/normalise.js';
import { loadIdentityRules } from '../../src/identity/rules.js';
import type { Candidate, IdentityFlag, NormalisedIdentity } from '../../src/identity/types.js';

export type IdentityInput = z.input<typeof PatientIdentity>;

export const RULES = loadIdentityRules();

export const OID = { NIR: '1.2.250.1.213.1.4.8', NIA: '1.2.250.1.213.1.4.9', TEST: '1.2.250.1.213.1.4.10', DEMO: '1.2.250.1.213.1.4.11' } as const;

/** A 13-character body followed by its correct key. */
export function withKey(body: string): string {
  const key = insKey(body);
  if (key === undefined) throw new Error(`not a NIR body: ${body}`);
  return body + String(key).padStart(2, '0');
}

/** Hélène Marie LEFÈVRE, born 8 March 1979 in Rouen (76540): a NIR consistent with sex, year, month and place. */
export const NIR_HELENE = withKey('2790376540123');
export const NIR_OTHER = withKey('2790376540124');
export const NIA_HELENE = withKey('7790376540042');

export const HELENE: IdentityInput = {
  sourceId: { system: 'urn:oid:1.2.250.1.71.4.2.2.999', value: 'IPP-1' },
  status: 'VALI',
  birthName: 'Lefèvre',
  firstBirthGivenName: 'Hélène',
  birthGivenNames: ['Hélène', 'Marie'],
  birthDate: '1979-03-08',
  sex: 'F',
  birthPlaceInsee: '76540',
};

/** Parse with the domain schema (so every test identity is a valid input) and normalise. */
export function person(over: Partial<IdentityInput> = {}, base: IdentityInput = HELENE): NormalisedIdentity {
  return normaliseIdentity(PatientIdentity.parse({ ...base, ...over }));
}

export function candidate(identity: NormalisedIdentity, flags: IdentityFlag[] = [], federatedId = 'FED-1'): Candidate {
  return { federatedId, identity, flags };
}
