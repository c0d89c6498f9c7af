// Conformance with the official French definitions kept outside the repository (../shared/standards):
// our INS Patient validates against FR Core fr-core-patient-ins, and our SFPC / CTM value sets list exactly
// the codes of the Interop'Santé code systems.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { CodeSystem, OperationOutcomeIssue, Patient, ValueSet } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { PROFILE, SYSTEM } from '../../src/fhir/canonical.js';
import { PROFILES_DIR } from '../../scripts/build-profiles.js';
import { loadExtraDefinitions, validateResource, type ConformanceResource } from '../../src/fhir/validate.js';
import { SHARED_STANDARDS, sharedFile } from '../support/shared.js';

// ../shared/standards relative to the repository root; absent, these tests are skipped with a message, or fail
// under CI=true (test/support/shared.ts).
const FR_CORE = `${path.join(SHARED_STANDARDS, 'fr-core/package-2.2.0-ballot-2/selected')}/`;
const FR_MEDICATION = `${path.join(SHARED_STANDARDS, 'fr-medication-ig/codesystems')}/`;
const FR_CORE_PATIENT_INS = 'https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-ins';

const haveFrCore = sharedFile('fr-core/package-2.2.0-ballot-2/selected', 'the FR Core fr-core-patient-ins conformance test');
const haveFrMedication = sharedFile('fr-medication-ig/codesystems', "the Interop'Santé medication code systems test");

const readJsonDir = <T>(dir: string): T[] =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(dir + f, 'utf8')) as T);

const errors = (issues: OperationOutcomeIssue[]) => issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');

/** The fr-interop.md §4.5 example, as passerelle-patient-ins expects it (plus a local IPP). */
const insPatient = (): Patient => ({
  resourceType: 'Patient',
  meta: { profile: [PROFILE.patientIns] },
  extension: [
    {
      url: SYSTEM.frCoreIdentityReliabilityExt,
      extension: [
        { url: 'identityStatus', valueCoding: { system: SYSTEM.frCoreIdentityStatus, code: 'VALI' } },
        { url: 'methodCollection', valueCoding: { system: 'https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-method-collection', code: 'INSI' } },
        { url: 'validationMode', valueCoding: { system: 'https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-mode-validation-identity', code: 'CN' } },
      ],
    },
    {
      url: SYSTEM.birthPlaceExt,
      valueAddress: { extension: [{ url: SYSTEM.frCoreInseeCodeExt, valueCoding: { system: SYSTEM.inseeCommune, code: '75056' } }] },
    },
  ],
  identifier: [
    {
      use: 'official',
      type: { coding: [{ system: SYSTEM.frCoreIdentifierType, code: 'INS-NIR' }] },
      system: SYSTEM.insNir,
      value: '279035121518989',
    },
    {
      use: 'usual',
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'PI' }] },
      system: 'urn:oid:1.2.250.1.999.1.760000018.1',
      value: 'IPP-00412785',
    },
  ],
  name: [
    {
      use: 'official',
      family: 'PAT-TROIS',
      given: ['DOMINIQUE'],
      extension: [{ url: SYSTEM.frCoreBirthListGivenNameExt, valueString: 'DOMINIQUE MARIE-LOUISE' }],
    },
  ],
  gender: 'female',
  birthDate: '1979-03-28',
});

describe.skipIf(!haveFrCore)('FR Core 2.2.0-ballot-2: fr-core-patient-ins', () => {
  if (haveFrCore) {
    const definitions = readJsonDir<ConformanceResource>(FR_CORE).filter((r) =>
      ['StructureDefinition', 'ValueSet', 'CodeSystem'].includes(r.resourceType),
    );
    loadExtraDefinitions(definitions);
  }

  it('loads fr-core-patient-ins and its extensions with snapshots', () => {
    const sds = readJsonDir<ConformanceResource>(FR_CORE).filter((r) => r.resourceType === 'StructureDefinition');
    expect(sds.map((s) => s.url)).toEqual(
      expect.arrayContaining([FR_CORE_PATIENT_INS, SYSTEM.frCoreIdentityReliabilityExt, SYSTEM.frCoreBirthListGivenNameExt, SYSTEM.frCoreInseeCodeExt]),
    );
  });

  it('accepts our INS Patient against fr-core-patient-ins and against passerelle-patient-ins', () => {
    expect(errors(validateResource(insPatient(), { profile: FR_CORE_PATIENT_INS }))).toEqual([]);
    expect(errors(validateResource(insPatient()))).toEqual([]);
  });

  it('accepts the FR Core example Patient', () => {
    const example = JSON.parse(readFileSync(`${FR_CORE}examples/Patient-FRCorePatientExample.json`, 'utf8')) as Patient;
    expect(errors(validateResource(example))).toEqual([]);
  });

  it('rejects what FR Core rejects: no birth place, a validation mode outside the INS list', () => {
    const p = insPatient();
    p.extension = p.extension?.filter((e) => e.url !== SYSTEM.birthPlaceExt);
    expect(errors(validateResource(p, { profile: FR_CORE_PATIENT_INS })).map((i) => i.expression?.[0])).toEqual(['Patient.extension']);

    const q = insPatient();
    const reliability = q.extension?.[0].extension ?? [];
    reliability[2] = { url: 'validationMode', valueCoding: { system: 'https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-mode-validation-identity', code: 'XX' } };
    const issues = errors(validateResource(q, { profile: FR_CORE_PATIENT_INS }));
    expect(issues.map((i) => i.expression?.[0])).toEqual(['Patient.extension[0].extension[2].valueCoding']);
    expect(issues[0].details?.text).toContain('fr-core-vs-mode-validation-identity-ins');
  });

  it('fires FR Core invariant fr-core-2 (one official identifier for a VALI identity)', () => {
    const p = insPatient();
    p.identifier?.push({ use: 'official', system: SYSTEM.insNia, value: '779035121518989' });
    const issues = errors(validateResource(p, { profile: FR_CORE_PATIENT_INS }));
    expect(issues.map((i) => i.details?.text)).toEqual([expect.stringContaining('fr-core-2')]);
  });
});

describe.skipIf(!haveFrMedication)("Interop'Santé medication code systems", () => {
  const theirs = haveFrMedication ? readJsonDir<CodeSystem>(FR_MEDICATION) : [];
  const ourValueSets = readdirSync(PROFILES_DIR)
    .filter((f) => f.startsWith('ValueSet-'))
    .map((f) => JSON.parse(readFileSync(PROFILES_DIR + f, 'utf8')) as ValueSet);
  const codesOf = (cs: CodeSystem): string[] => (cs.concept ?? []).map((c) => c.code as string).sort();
  /** Our value sets whose only include is `system`. */
  const dedicated = (system: string) => ourValueSets.filter((v) => v.compose?.include.length === 1 && v.compose.include[0].system === system);

  const systems = [
    SYSTEM.sfpcProblem,
    SYSTEM.sfpcIntervention,
    SYSTEM.sfpcOutcome,
    SYSTEM.bmoSourceType,
    SYSTEM.fctStatus,
    SYSTEM.fctDiscrepancy,
    SYSTEM.fctErrorType,
    SYSTEM.fctSeverity,
    SYSTEM.fctResolution,
  ];

  it.each(systems)('our value set over %s lists exactly its codes', (system) => {
    const cs = theirs.find((c) => c.url === system);
    expect(cs, `no CodeSystem ${system} in ${FR_MEDICATION}`).toBeDefined();
    const mine = dedicated(system);
    expect(mine).toHaveLength(1);
    const codes = (mine[0].compose?.include[0].concept ?? []).map((c) => c.code).sort();
    expect(codes).toEqual(codesOf(cs as CodeSystem));
  });

  it('uses only existing codes of those systems in the union value sets', () => {
    for (const v of ourValueSets) {
      for (const inc of v.compose?.include ?? []) {
        const cs = theirs.find((c) => c.url === inc.system);
        if (!cs) continue;
        expect(codesOf(cs), v.url).toEqual(expect.arrayContaining((inc.concept ?? []).map((c) => c.code)));
      }
    }
  });
});
