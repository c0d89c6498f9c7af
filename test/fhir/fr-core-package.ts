// The FR Core FHIR package (../shared/standards/fr-core, the complete 2.2.0-ballot-2 NPM package, not only the
// `selected/` extract) read for the conformance tests: its StructureDefinitions, ValueSets and CodeSystems.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { CodeSystem, StructureDefinition, ValueSet } from '@medplum/fhirtypes';
import { SHARED_STANDARDS, sharedFile } from '../support/shared.js';

export const FR_CORE_TGZ = 'fr-core/package-2.2.0-ballot-2/hl7.fhir.fr.core-2.2.0-ballot-2.tgz';
export const FR_CORE_SD = 'https://hl7.fr/ig/fhir/core/StructureDefinition/';
export const FR_CORE_PATIENT = `${FR_CORE_SD}fr-core-patient`;
export const FR_CORE_PATIENT_INS = `${FR_CORE_SD}fr-core-patient-ins`;

export type FrCoreResource = StructureDefinition | ValueSet | CodeSystem;

/** Whether the package is there (false: skipped with a message; under CI=true the caller's file fails). */
export const haveFrCorePackage = (consequence: string): boolean => sharedFile(FR_CORE_TGZ, consequence);

/** Files of a .tgz (ustar; PAX and directory entries skipped), by path. */
function untar(tgz: Buffer): Map<string, Buffer> {
  const tar = gunzipSync(tgz);
  const files = new Map<string, Buffer>();
  const field = (at: number, len: number): string => tar.subarray(at, at + len).toString('utf8').replace(/\0.*$/s, '');
  for (let at = 0; at + 512 <= tar.length; ) {
    const name = field(at, 100);
    if (name === '') break;
    const size = parseInt(field(at + 124, 12).trim() || '0', 8);
    const type = field(at + 156, 1);
    const prefix = field(at + 345, 155);
    if (type === '0' || type === '') files.set(prefix ? `${prefix}/${name}` : name, tar.subarray(at + 512, at + 512 + size));
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

let cache: FrCoreResource[] | undefined;

/** The package's conformance resources (`package/*.json`, examples excluded). */
export function frCoreConformance(): FrCoreResource[] {
  if (cache) return cache;
  const files = untar(readFileSync(path.join(SHARED_STANDARDS, FR_CORE_TGZ)));
  cache = [...files.entries()]
    .filter(([name]) => /^package\/[^/]+\.json$/.test(name) && !name.endsWith('package.json') && !name.endsWith('.index.json'))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([, body]) => JSON.parse(body.toString('utf8')) as { resourceType?: string })
    .filter((r): r is FrCoreResource => ['StructureDefinition', 'ValueSet', 'CodeSystem'].includes(r.resourceType ?? ''));
  return cache;
}
