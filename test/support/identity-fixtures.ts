// Marie DUPONT, born 12 May 1969 in Saumur: the source identity the registry tests register from several senders.
import type { z } from 'zod';
import { PatientIdentity } from '../../src/domain/identity.js';
import type { SourceIdentity } from '../../src/identity/types.js';

/** Marie DUPONT as the source `system`/`value` names her (status PROV unless `over` says), checked by the domain schema. */
export function marieDupont(system: string, value: string, over: Partial<z.input<typeof PatientIdentity>> = {}): SourceIdentity {
  return PatientIdentity.parse({
    sourceId: { system, value },
    status: 'PROV',
    birthName: 'DUPONT',
    firstBirthGivenName: 'MARIE',
    birthDate: '1969-05-12',
    sex: 'F',
    birthPlaceInsee: '49588',
    ...over,
  });
}
