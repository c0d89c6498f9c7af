// Our mapping's Patient output, for every fixture with a qualified identity, validates against the official
// FR Core fr-core-patient-ins definition (../shared/standards; skipped with a message when absent).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Patient } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { parseDocument, type DocumentKind } from '../../src/domain/parse.js';
import { mapDocument } from '../../src/fhir/bundle.js';
import { PROFILE } from '../../src/fhir/canonical.js';
import { loadExtraDefinitions, validateResource, type ConformanceResource } from '../../src/fhir/validate.js';

const FR_CORE = fileURLToPath(new URL('../../../shared/standards/fr-core/package-2.2.0-ballot-2/selected/', import.meta.url));
const FR_CORE_PATIENT_INS = 'https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-ins';
const haveFrCore = existsSync(FR_CORE);
if (!haveFrCore) console.warn(`fr-core-mapping: ${FR_CORE} not found, FR Core conformance of mapped patients skipped`);

const patients: [string, Patient][] = [];
for (const kind of ['ppp', 'ctm', 'bpm'] as const satisfies readonly DocumentKind[]) {
  const dir = `test/fixtures/${kind}/`;
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.json') && !n.endsWith('.expected.json'))) {
    const bundle = mapDocument(kind, parseDocument(kind, JSON.parse(readFileSync(dir + f, 'utf8'))), { now: '2026-01-15T10:00:00+01:00' });
    const p = bundle.entry?.map((e) => e.resource).find((r): r is Patient => r?.resourceType === 'Patient');
    if (p?.meta?.profile?.includes(PROFILE.patientIns)) patients.push([`${kind}/${f}`, p]);
  }
}

describe.skipIf(!haveFrCore)('mapped INS patients conform to FR Core fr-core-patient-ins', () => {
  if (haveFrCore) {
    loadExtraDefinitions(
      readdirSync(FR_CORE)
        .filter((f) => f.endsWith('.json'))
        .map((f) => JSON.parse(readFileSync(FR_CORE + f, 'utf8')) as ConformanceResource)
        .filter((r) => ['StructureDefinition', 'ValueSet', 'CodeSystem'].includes(r.resourceType)),
    );
  }

  it('the fixtures hold several qualified identities (including one born abroad)', () => {
    expect(patients.length).toBeGreaterThanOrEqual(3);
  });

  it.each(patients)('%s', (_name, patient) => {
    const errors = validateResource(patient, { profile: FR_CORE_PATIENT_INS }).filter((i) => i.severity === 'error');
    expect(errors).toEqual([]);
  });
});
