// Distinct canonical PPPs for the write-path benches (bench/submit.bench.ts): the 12-medicine fixture (55 FHIR
// resources once mapped) with its own id and a new patient each — a VALI identity from the identity generator (no
// duplicates, no corruption), under its own IPP — as a DPI sends a morning's batch of new cases.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { iterateIdentities, type GeneratedIdentity } from '../../test/support/identity-generator.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const fixture = JSON.parse(readFileSync(join(root, 'test/fixtures/ppp/ppp-12-medicines.json'), 'utf8')) as Record<string, unknown> & {
  patient: { sourceId: { system: string; value: string } };
};

/** PPP documents (as JSON text) numbered from 0, each with its own id and its own new patient. `stamp` keeps runs apart. */
export function* distinctPpps(stamp: string, seed = 20261206): Generator<string, never> {
  const system = fixture.patient.sourceId.system;
  let i = 0;
  for (;;) {
    const people = iterateIdentities({ seed: seed + i, persons: 1_000_000, duplicateRate: 0, twinsRate: 0, homonymsRate: 0, corruptionRate: 0, statusMix: { VALI: 1 } });
    for (const g of people as Iterable<GeneratedIdentity>) {
      const p = g.person;
      const patient = {
        sourceId: { system, value: `IPP-${stamp}-${i}` },
        status: 'VALI',
        birthName: p.birthName,
        firstBirthGivenName: p.givenNames[0],
        birthGivenNames: [...p.givenNames],
        ...(p.usedName ? { usedName: p.usedName } : {}),
        birthDate: p.birthDate,
        sex: p.sex,
        birthPlaceInsee: p.birthPlaceInsee,
      };
      yield JSON.stringify({ ...fixture, id: `SUB-${stamp}-${i}`, patient });
      i++;
    }
  }
}
