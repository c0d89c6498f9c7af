// A FHIR Patient (FR Core style) read back into the canonical PatientIdentity the identity service compares: the
// inverse of `mapPatient`, for `Patient/$match` queries and bulk imports. Pure; problems name the FHIR element.
import type { Coding, Extension, HumanName, Identifier, Patient } from '@medplum/fhirtypes';
import { INS_OIDS, PatientIdentity, type IdentityStatus } from '../domain/identity.js';
import { CANONICAL_BASE, SYSTEM } from './canonical.js';
import { REGIONAL_ID_SYSTEM } from './federated-patient.js';

/** One problem with the Patient, named by a FHIRPath-like expression. */
export interface PatientTraitIssue {
  /** `required`: a trait the matcher needs is absent; `invalid`: present but unusable. */
  code: 'required' | 'invalid';
  expression: string;
  message: string;
}

export type PatientConversion =
  | {
      ok: true;
      /** The identity as declared (a status its traits do not support is left to identity-support.ts). */
      identity: PatientIdentity;
      /** The sender asserts a check against a high-trust identity document (`verifiedDocumentOf`). */
      verifiedDocument: boolean;
    }
  | { ok: false; issues: PatientTraitIssue[] };

export interface PatientConversionOptions {
  /** The sender's own identifier (system + value) must be present: bulk import needs it; `$match` does not. */
  requireSource: boolean;
}

/** Source id given to a `$match` query Patient that names none (never stored: matching writes nothing). */
export const MATCH_QUERY_SOURCE = { system: `${CANONICAL_BASE}/identifier/match-query`, value: 'query' } as const;

const OFFICIAL = "Patient.name.where(use='official')";
const USUAL = "Patient.name.where(use='usual')";
const EXPRESSIONS: Record<string, string> = {
  sourceId: 'Patient.identifier',
  ins: `Patient.identifier.where(system='urn:oid:${INS_OIDS.NIR}' or system='urn:oid:${INS_OIDS.NIA}')`,
  status: `Patient.extension('${SYSTEM.frCoreIdentityReliabilityExt}')`,
  birthName: `${OFFICIAL}.family`,
  firstBirthGivenName: `${OFFICIAL}.given[0]`,
  birthGivenNames: `${OFFICIAL}.extension('${SYSTEM.frCoreBirthListGivenNameExt}')`,
  usedName: `${USUAL}.family`,
  usedGivenName: `${USUAL}.given[0]`,
  birthDate: 'Patient.birthDate',
  sex: 'Patient.gender',
  birthPlaceInsee: `Patient.extension('${SYSTEM.birthPlaceExt}')`,
};

const INS_OID_SET: ReadonlySet<string> = new Set(Object.values(INS_OIDS));
const STATUSES: ReadonlySet<string> = new Set(['PROV', 'RECUP', 'VALI', 'QUAL']);
// FR Core allows male | female | unknown (mapPatient writes `unknown` for I); `other` from a non-FR Core sender is I too.
const SEX: Record<string, 'F' | 'M' | 'I'> = { female: 'F', male: 'M', unknown: 'I', other: 'I' };

const bareOid = (system: string | undefined): string | undefined => system?.replace(/^urn:oid:/, '');
const text = (s: string | undefined): string | undefined => (typeof s === 'string' && s.trim() !== '' ? s.trim() : undefined);
const same = (a: string | undefined, b: string | undefined): boolean => a !== undefined && b !== undefined && a.toUpperCase() === b.toUpperCase();

function insOf(identifiers: readonly Identifier[]): { matricule: string; oid: string } | undefined {
  const ins = identifiers.filter((i) => INS_OID_SET.has(bareOid(i.system) ?? '') && text(i.value) && i.use !== 'old');
  const best = ins.find((i) => i.use === 'official') ?? ins[0];
  return best && { matricule: (best.value as string).trim(), oid: bareOid(best.system) as string };
}

/** The sender's own id: a `PI`-typed or `usual` identifier first, then any other that is neither INS nor regional. */
function sourceOf(identifiers: readonly Identifier[]): Identifier | undefined {
  const local = identifiers.filter((i) => !INS_OID_SET.has(bareOid(i.system) ?? '') && i.system !== REGIONAL_ID_SYSTEM && text(i.value));
  const pi = (i: Identifier): boolean => i.type?.coding?.some((c) => c.code === 'PI') ?? false;
  return local.find((i) => pi(i) && i.system) ?? local.find((i) => i.use === 'usual' && i.system) ?? local.find((i) => i.system) ?? local[0];
}

/**
 * RNIV status from the FR Core identity-reliability extension, the inverse of `mapPatient`: table 0445 `VALI` is a
 * checked identity (QUAL with an INS, else VALI), `PROV` an unchecked one (RECUP when `methodCollection` is `INSI`,
 * else PROV). A code of the unreleased RNIV status code system (fr-core-cs-identity-status, written by earlier
 * versions) is taken as is.
 */
function statusOf(extensions: readonly Extension[], hasIns: boolean): IdentityStatus | undefined {
  for (const e of extensions) {
    if (e.url !== SYSTEM.frCoreIdentityReliabilityExt) continue;
    const parts = e.extension ?? [];
    const codings: Coding[] = parts.filter((x) => x.url === 'identityStatus' && x.valueCoding).map((x) => x.valueCoding as Coding);
    const throughInsi = parts.some((x) => x.url === 'methodCollection' && x.valueCoding?.code === 'INSI');
    for (const c of codings) {
      if (!c.code || !STATUSES.has(c.code)) continue; // table 0445 flags (DPOT, DOUA…) are not statuses
      if (c.system === SYSTEM.frCoreIdentityStatus && c.code === 'VALI') return hasIns ? 'QUAL' : 'VALI';
      if (c.system === SYSTEM.frCoreIdentityStatus && c.code === 'PROV') return throughInsi ? 'RECUP' : 'PROV';
      return c.code as IdentityStatus;
    }
  }
  return undefined;
}

/**
 * The sender asserts the identity was checked against a high-trust identity document: the identity-reliability
 * extension carries table 0445 `VALI` ("identité validée"), the RNIV code `VALI`, or a `validationMode` (the document
 * checked). A bare RNIV `QUAL` code is not such an assertion on its own (docs/identity.md).
 */
function verifiedDocumentOf(extensions: readonly Extension[]): boolean {
  return extensions.some(
    (e) =>
      e.url === SYSTEM.frCoreIdentityReliabilityExt &&
      (e.extension ?? []).some(
        (x) =>
          (x.url === 'identityStatus' && x.valueCoding?.code === 'VALI') ||
          (x.url === 'validationMode' && (text(x.valueCoding?.code) !== undefined || (x.valueCodeableConcept?.coding ?? []).some((c) => text(c.code) !== undefined))),
      ),
  );
}

function birthPlaceOf(extensions: readonly Extension[]): string | undefined {
  for (const e of extensions) {
    if (e.url !== SYSTEM.birthPlaceExt) continue;
    for (const x of e.valueAddress?.extension ?? []) {
      if (x.url === SYSTEM.frCoreInseeCodeExt && text(x.valueCoding?.code)) return (x.valueCoding?.code as string).trim();
    }
  }
  return undefined;
}

/** Birth given names: the FR Core list (space-separated) with the official first given name as its first item. */
function birthGivenNamesOf(official: HumanName, first: string): string[] | undefined {
  const list = text(official.extension?.find((x) => x.url === SYSTEM.frCoreBirthListGivenNameExt)?.valueString);
  if (list) {
    // A compound first name may itself hold a space (`ANNE SOPHIE`): the official given name says where it ends.
    const rest = list.toUpperCase().startsWith(`${first.toUpperCase()} `) ? list.slice(first.length) : list.toUpperCase() === first.toUpperCase() ? '' : list;
    const tokens = rest.split(/\s+/).filter((t) => t !== '' && !same(t, first));
    // A list of one says nothing the first given name does not (mapPatient writes it for a qualified identity).
    return tokens.length > 0 ? [first, ...tokens] : undefined;
  }
  const given = (official.given ?? []).map(text).filter((g): g is string => g !== undefined);
  return given.length > 1 ? given : undefined;
}

function expressionOf(path: readonly PropertyKey[]): string {
  const head = String(path[0] ?? '');
  return EXPRESSIONS[head] ?? 'Patient';
}

/** Reads the identity traits of `patient`; every missing or bad trait is reported, not only the first. */
export function patientIdentityFromFhir(patient: Patient, options: PatientConversionOptions): PatientConversion {
  const issues: PatientTraitIssue[] = [];
  const required = (key: keyof typeof EXPRESSIONS, message: string): void => {
    issues.push({ code: 'required', expression: EXPRESSIONS[key], message });
  };
  if (patient.resourceType !== 'Patient') {
    return { ok: false, issues: [{ code: 'invalid', expression: 'resourceType', message: `expected a Patient, got ${String(patient.resourceType)}` }] };
  }
  const names = patient.name ?? [];
  // The birth name is the official name; a name without `use` stands for it when no name says `official`.
  const official = names.find((n) => n.use === 'official') ?? names.find((n) => n.use === undefined);
  const usual = names.find((n) => n.use === 'usual');
  const birthName = text(official?.family);
  const firstGiven = text(official?.given?.[0]);
  if (!birthName) required('birthName', 'birth name is missing: Patient.name with use "official" and a family');
  if (!firstGiven) required('firstBirthGivenName', 'first birth given name is missing: Patient.name with use "official" and a given');
  if (!text(patient.birthDate)) required('birthDate', 'birth date is missing: Patient.birthDate');
  const sex = patient.gender ? SEX[patient.gender] : undefined;
  if (!patient.gender) required('sex', 'sex is missing: Patient.gender');

  const identifiers = patient.identifier ?? [];
  const source = sourceOf(identifiers);
  if (options.requireSource && !source) {
    required('sourceId', "the sender's own patient identifier is missing: Patient.identifier with system and value");
  } else if (options.requireSource && source && !source.system) {
    const message = `identifier "${source.value ?? ''}" has no system: the source identifier needs both system and value`;
    issues.push({ code: 'required', expression: EXPRESSIONS.sourceId, message });
  }
  if (issues.length > 0) return { ok: false, issues };

  const ins = insOf(identifiers);
  const extensions = patient.extension ?? [];
  const usedName = text(usual?.family);
  const usedGivenName = text(usual?.given?.[0]);
  const birthGivenNames = birthGivenNamesOf(official as HumanName, firstGiven as string);
  const birthPlaceInsee = birthPlaceOf(extensions);
  const raw = {
    sourceId: source?.system && source.value ? { system: source.system, value: source.value.trim() } : { ...MATCH_QUERY_SOURCE },
    ...(ins ? { ins } : {}),
    status: statusOf(extensions, ins !== undefined) ?? 'PROV',
    birthName,
    firstBirthGivenName: firstGiven,
    ...(birthGivenNames ? { birthGivenNames } : {}),
    // The usual name is kept only where it says something the official name does not.
    ...(usedName && !same(usedName, birthName) ? { usedName } : {}),
    ...(usedGivenName && !same(usedGivenName, firstGiven) ? { usedGivenName } : {}),
    birthDate: patient.birthDate?.trim(),
    sex,
    ...(birthPlaceInsee ? { birthPlaceInsee } : {}),
  };
  const parsed = PatientIdentity.safeParse(raw);
  if (parsed.success) return { ok: true, identity: parsed.data, verifiedDocument: verifiedDocumentOf(extensions) };
  return {
    ok: false,
    issues: parsed.error.issues.map((i) => ({ code: 'invalid' as const, expression: expressionOf(i.path), message: i.message })),
  };
}
