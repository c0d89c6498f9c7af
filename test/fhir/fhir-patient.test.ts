// Reading a FHIR Patient back into identity traits: the inverse of mapPatient on generated French identities, FR
// Core details (birth list, 0445 VALI + INS = qualified, birthplace), and every missing trait named.
import type { Patient } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import type { PatientIdentity } from '../../src/domain/identity.js';
import { SYSTEM } from '../../src/fhir/canonical.js';
import { mapPatient } from '../../src/fhir/map-common.js';
import { MATCH_QUERY_SOURCE, patientIdentityFromFhir } from '../../src/fhir/fhir-patient.js';
import { generateIdentities } from '../support/identity-generator.js';
import { NIR_HELENE } from '../identity/identities.js';

const read = (p: Patient, requireSource = true): PatientIdentity => {
  const r = patientIdentityFromFhir(p, { requireSource });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.identity;
};

/**
 * What survives the trip: the INS only for a qualified identity (mapPatient); a one-item birth list, a used name
 * equal to the birth name, a used given name equal to the first one say nothing more and are dropped.
 */
function published(i: PatientIdentity): PatientIdentity {
  const { ins, birthGivenNames, usedName, usedGivenName, ...rest } = i;
  const differs = (a: string | undefined, b: string): a is string => a !== undefined && a.toUpperCase() !== b.toUpperCase();
  return {
    ...rest,
    sourceId: { ...i.sourceId },
    ...(i.status === 'QUAL' && ins ? { ins } : {}),
    ...(birthGivenNames && birthGivenNames.length > 1 ? { birthGivenNames } : {}),
    ...(differs(usedName, i.birthName) ? { usedName } : {}),
    ...(differs(usedGivenName, i.firstBirthGivenName) ? { usedGivenName } : {}),
  };
}

describe('patientIdentityFromFhir', () => {
  it('reads back what mapPatient wrote, for 2,000 generated identities (statuses, compound names, partial dates, abroad)', () => {
    const { identities } = generateIdentities({ seed: 42, persons: 1600, duplicateRate: 0.3 });
    for (const g of identities.slice(0, 2000)) {
      // FR Core's birth list is space-separated: a later compound given name written with a space (pre-1999
      // `JEAN JACQUES`) cannot be told from two names, so the lists are compared as written.
      const asWritten = (i: PatientIdentity) => ({ ...i, birthGivenNames: i.birthGivenNames?.join(' ') });
      expect(asWritten(read(mapPatient(g.identity)))).toEqual(asWritten(published(g.identity)));
    }
  });

  it('FR Core: birth list with a compound first name, 0445 VALI with an INS is qualified, birthplace INSEE code', () => {
    const p: Patient = {
      resourceType: 'Patient',
      identifier: [
        { use: 'official', system: SYSTEM.insNir, value: NIR_HELENE },
        { use: 'usual', type: { coding: [{ code: 'PI' }] }, system: 'urn:oid:1.2.250.1.999.1', value: 'IPP-9' },
      ],
      extension: [
        { url: SYSTEM.frCoreIdentityReliabilityExt, extension: [{ url: 'identityStatus', valueCoding: { system: SYSTEM.frCoreIdentityStatus, code: 'VALI' } }] },
        { url: SYSTEM.birthPlaceExt, valueAddress: { extension: [{ url: SYSTEM.frCoreInseeCodeExt, valueCoding: { code: '76540' } }] } },
      ],
      name: [
        { use: 'official', family: 'LEFÈVRE', given: ['ANNE SOPHIE'], extension: [{ url: SYSTEM.frCoreBirthListGivenNameExt, valueString: 'ANNE SOPHIE MARIE' }] },
        { use: 'usual', family: 'MARTIN', given: ['ANNE SOPHIE'] },
      ],
      gender: 'female',
      birthDate: '1979-03-08',
    };
    expect(read(p)).toEqual({
      sourceId: { system: 'urn:oid:1.2.250.1.999.1', value: 'IPP-9' },
      ins: { matricule: NIR_HELENE, oid: '1.2.250.1.213.1.4.8' },
      status: 'QUAL',
      birthName: 'LEFÈVRE',
      firstBirthGivenName: 'ANNE SOPHIE',
      birthGivenNames: ['ANNE SOPHIE', 'MARIE'],
      usedName: 'MARTIN',
      birthDate: '1979-03-08',
      sex: 'F',
      birthPlaceInsee: '76540',
    });
    // Without the INS, 0445 VALI is a validated identity; without any status, provisional.
    expect(read({ ...p, identifier: [p.identifier?.[1] as NonNullable<Patient['identifier']>[number]] }).status).toBe('VALI');
    expect(read({ ...p, extension: [] }).status).toBe('PROV');
  });

  it('names every missing trait; a $match query needs no source identifier, an import does', () => {
    const r = patientIdentityFromFhir({ resourceType: 'Patient', name: [{ use: 'usual', family: 'X' }] }, { requireSource: true });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.issues.map((i) => i.expression)).toEqual([
        "Patient.name.where(use='official').family",
        "Patient.name.where(use='official').given[0]",
        'Patient.birthDate',
        'Patient.gender',
        'Patient.identifier',
      ]);
      expect(r.issues.every((i) => i.code === 'required')).toBe(true);
    }
    const query = read({ resourceType: 'Patient', name: [{ family: 'Martin', given: ['Jeanne', 'Marie'] }], gender: 'female', birthDate: '1948-03' }, false);
    expect(query.sourceId).toEqual(MATCH_QUERY_SOURCE);
    expect(query.birthGivenNames).toEqual(['Jeanne', 'Marie']);
  });

  it('bad values are reported against the FHIR element (wrong INS key, impossible date)', () => {
    const p = mapPatient({
      sourceId: { system: 'urn:oid:1.2.250.1.999.1', value: 'IPP-1' },
      status: 'PROV',
      birthName: 'A',
      firstBirthGivenName: 'B',
      birthDate: '1950-01-01',
      sex: 'M',
    });
    const bad = patientIdentityFromFhir(
      { ...p, birthDate: '1950-02-30', identifier: [...(p.identifier ?? []), { system: SYSTEM.insNir, value: '123456789012345' }] },
      { requireSource: true },
    );
    expect(bad.ok).toBe(false);
    const exprs = bad.ok ? [] : bad.issues.map((i) => i.expression);
    expect(exprs).toHaveLength(2);
    expect(exprs).toContain('Patient.birthDate');
    expect(exprs.some((e) => e.startsWith('Patient.identifier'))).toBe(true);
  });
});
