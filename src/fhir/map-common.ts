// Building blocks shared by the PPP, CTM and BPM mappings (medication-model.md §8): identities, actors, drug
// codings, dosages, medication lists, drug-related problems, recommendations and their validation Tasks.
// Pure: every value comes from the canonical document; ids come from src/fhir/ids.ts.
import type {
  CareTeam,
  CodeableConcept,
  Communication,
  Coding,
  Consent,
  DetectedIssue,
  Dosage,
  Extension,
  Identifier,
  List,
  MedicationRequest,
  MedicationStatement,
  Organization,
  Patient,
  Practitioner,
  PractitionerRole,
  Quantity,
  Resource,
  ServiceRequest,
  Task,
  TaskOutput,
  TimingRepeat,
} from '@medplum/fhirtypes';
import {
  CARE_TEAM_ROLES,
  COMMUNICATION_CATEGORIES,
  displayOf,
  PPP_DECISIONS,
  SFPC_INTERVENTIONS,
  SFPC_PROBLEMS,
  TASK_TYPES,
  type CodeDef,
} from '../domain/codes.js';
import type { Dosage as DomainDosage, Medication, MedicationLine } from '../domain/drug.js';
import type { PatientIdentity } from '../domain/identity.js';
import type { TeamMember } from '../domain/actors.js';
import type { Decision, DecisionActor, Problem, Recommendation } from '../domain/review.js';
import { BundleBuilder, ref, type IdentifiedResource, type Ref } from './bundle-builder.js';
import { CANONICAL_BASE, CS, DRUG_SYSTEM, PROFILE, SYSTEM } from './canonical.js';
import { idFor, organizationId, patientId, practitionerId, practitionerRoleId } from './ids.js';

export type DocumentKindKey = 'ppp' | 'ctm' | 'bpm';

// ---- small constructors -----------------------------------------------------------------------------

export function coding(system: string, code: string, display?: string): Coding {
  return display === undefined ? { system, code } : { system, code, display };
}

/** Coding of a code from one of the domain code lists, with its display. */
export function listCoding(system: string, list: readonly CodeDef[], code: string): Coding {
  return coding(system, code, displayOf(list, code));
}

export function concept(c: Coding, text?: string): CodeableConcept {
  return text === undefined ? { coding: [c] } : { coding: [c], text };
}

const meta = (profile: string): Resource['meta'] => ({ profile: [profile] });

/** A bare OID (dotted decimal, no leading zeros): `1.2.250.1.213.1.1.4.1`. */
export const OID_PATTERN = /^[0-2](\.(0|[1-9]\d*))+$/;

/** A bare OID is a URI only as `urn:oid:`. */
export function systemUri(system: string): string {
  return OID_PATTERN.test(system) ? `urn:oid:${system}` : system;
}

/** Cross-system business identifier: the resource's UUID in `urn:ietf:rfc:3986` (as CH EMED does). */
export function uuidIdentifier(id: string): Identifier {
  return { system: SYSTEM.uuid, value: `urn:uuid:${id}` };
}

/** Namespace of the establishment's own ids of one kind, e.g. `https://fhir.passerelle.fr/identifier/750712184/ppp`. */
export function localIdentifierSystem(finess: string, kind: string): string {
  return `${CANONICAL_BASE}/identifier/${finess}/${kind}`;
}

function isoDay(dateTime: string): string {
  return dateTime.slice(0, 10);
}

/** Calendar date `days` after the local date of `dateTime` (D45 / D90 are days, not 24-hour multiples). */
export function addDays(dateTime: string, days: number): string {
  const [y, m, d] = isoDay(dateTime).split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
}

// ---- document scope -----------------------------------------------------------------------------------

/** What every part of one document's mapping shares: the Bundle, the id scope and the actors. */
export class MapScope {
  readonly actors: Actors;
  patient!: Ref;

  constructor(
    readonly b: BundleBuilder,
    /** FINESS of the sender (establishment or pharmacy): first part of every document-scoped id. */
    readonly finess: string,
    readonly kind: DocumentKindKey,
    readonly docId: string,
  ) {
    this.actors = new Actors(b);
  }

  /** Id of a resource of this document: type + FINESS + document kind + local id + sub-ids. */
  id(type: string, ...parts: string[]): string {
    return idFor(type, this.finess, this.kind, this.docId, ...parts);
  }

  /** The document's own identifiers: the establishment's local id and the UUID. */
  documentIdentifiers(id: string, kind: string = this.kind): Identifier[] {
    return [{ use: 'official', system: localIdentifierSystem(this.finess, kind), value: this.docId }, uuidIdentifier(id)];
  }

  add<T extends IdentifiedResource>(resource: T): Ref {
    return this.b.add(resource);
  }
}

// ---- patient -------------------------------------------------------------------------------------------

const INS_TYPE_BY_OID: Record<string, string> = {
  '1.2.250.1.213.1.4.8': 'INS-NIR',
  '1.2.250.1.213.1.4.9': 'INS-NIA',
  '1.2.250.1.213.1.4.10': 'INS-NIR-TEST',
  '1.2.250.1.213.1.4.11': 'INS-NIR-DEMO',
};

/**
 * RNIV sex → Patient.gender. FR Core binds Patient.gender (required) to fr-core-vs-patient-gender = male | female |
 * unknown (FR Core 2.2.0-ballot-2, StructureDefinition fr-core-patient, element Patient.gender: « les valeurs M ou F
 * issues du téléservice sont à adapter à FHIR (male | female | unknown) »), so `other` is refused. FR Core defines no
 * extension for the RNIV `I` (indéterminé) and its value set points only to Gender Harmony for *other* kinds of sex
 * or gender; `unknown` is FR Core's only value for a sex that is neither M nor F, and as the RNIV has exactly these
 * three values the mapping stays one to one: `unknown` reads back as `I` (fhir-patient.ts). No data-absent-reason:
 * the value is present.
 */
const GENDER = { F: 'female', M: 'male', I: 'unknown' } as const;

/**
 * RNIV status → FR Core identity-reliability extension (fr-core-identity-reliability, FR Core 2.2.0-ballot-2). The
 * RNIV crosses two criteria (traits retrieved from the INSi teleservice; checked against a high-trust identity
 * document), and FR Core has one sub-extension for each:
 *  - `identityStatus`, bound (extensible) to fr-core-vs-identity-reliability = table 0445 fr-core-cs-v2-0445, whose
 *    statuses are PROV (not checked) and VALI (checked); fr-core-patient-ins (fr-core-1/2) makes VALI with the
 *    INS the way a qualified identity is sent;
 *  - `methodCollection` (fr-core-cs-method-collection, « mode d'obtention de l'INS »): `INSI` for the teleservice.
 * So PROV → PROV; RECUP → PROV + INSI; VALI → VALI (never an INS, plain profile); QUAL → VALI + INSI + the INS.
 * Every code is in a released FR Core code system (none is in the unreleased fr-core-cs-identity-status), and
 * fhir-patient.ts reads the four statuses back from these. docs/mapping.md, "Identity status".
 */
function identityReliabilityExtension(status: PatientIdentity['status']): Extension {
  const checked = status === 'QUAL' || status === 'VALI';
  const throughInsi = status === 'QUAL' || status === 'RECUP';
  const extension: Extension[] = [
    {
      url: 'identityStatus',
      valueCoding: checked ? coding(SYSTEM.frCoreIdentityStatus, 'VALI', 'Identité validée') : coding(SYSTEM.frCoreIdentityStatus, 'PROV', 'Identité provisoire'),
    },
  ];
  if (throughInsi) extension.push({ url: 'methodCollection', valueCoding: coding(SYSTEM.frCoreMethodCollection, 'INSI', 'Téléservice INSI') });
  return { url: SYSTEM.frCoreIdentityReliabilityExt, extension };
}

function birthPlaceExtension(insee: string): Extension {
  // FR Core binds the INSEE code to TRE-R13-CommuneOM (required), for a birth abroad too: the INSi returns the
  // COG code of the country (99xxx) in the same field, and fr-core-3 only forbids the unknown place 99999.
  const system = SYSTEM.inseeCommune;
  return {
    url: SYSTEM.birthPlaceExt,
    valueAddress: { extension: [{ url: SYSTEM.frCoreInseeCodeExt, valueCoding: { system, code: insee } }] },
  };
}

/**
 * Patient in FR Core style. Only a qualified identity (QUAL) carries its INS (profile patientIns); any other
 * status gives a plain patient without INS, whatever the input holds. The id comes from the sender's own id.
 */
export function mapPatient(p: PatientIdentity): Patient & { id: string } {
  const system = systemUri(p.sourceId.system);
  const id = patientId(system, p.sourceId.value);
  const qualified = p.status === 'QUAL' && p.ins !== undefined;

  const extension: Extension[] = [
    identityReliabilityExtension(p.status),
  ];
  if (p.birthPlaceInsee) extension.push(birthPlaceExtension(p.birthPlaceInsee));

  const identifier: Identifier[] = [];
  if (qualified && p.ins) {
    const code = INS_TYPE_BY_OID[p.ins.oid];
    identifier.push({
      use: 'official',
      ...(code ? { type: concept(coding(SYSTEM.frCoreIdentifierType, code)) } : {}),
      system: `urn:oid:${p.ins.oid}`,
      value: p.ins.matricule,
    });
  }
  identifier.push({
    use: 'usual',
    type: concept(coding(SYSTEM.v2IdentifierType, 'PI', 'Patient internal identifier')),
    system,
    value: p.sourceId.value,
  });

  const officialName: NonNullable<Patient['name']>[number] = { use: 'official', family: p.birthName, given: [p.firstBirthGivenName] };
  const birthList = p.birthGivenNames ?? (qualified ? [p.firstBirthGivenName] : undefined);
  if (birthList) officialName.extension = [{ url: SYSTEM.frCoreBirthListGivenNameExt, valueString: birthList.join(' ') }];
  const name = [officialName];
  if (p.usedName || p.usedGivenName) {
    name.push({ use: 'usual', family: p.usedName ?? p.birthName, given: [p.usedGivenName ?? p.firstBirthGivenName] });
  }

  return {
    resourceType: 'Patient',
    id,
    meta: meta(qualified ? PROFILE.patientIns : PROFILE.patient),
    extension,
    identifier,
    name,
    gender: GENDER[p.sex],
    birthDate: p.birthDate,
  };
}

// ---- actors -------------------------------------------------------------------------------------------

/** A health professional as the documents name them (the BMO validator has no profession: a pharmacist). */
export interface ActorInput {
  rpps: string;
  family?: string;
  given?: string;
  profession?: 'medecin' | 'pharmacien' | 'infirmier' | 'autre';
  email?: string;
}

const PROFESSION: Record<NonNullable<ActorInput['profession']>, Coding | undefined> = {
  medecin: coding(SYSTEM.professionSante, '10', 'Médecin'),
  pharmacien: coding(SYSTEM.professionSante, '21', 'Pharmacien'),
  infirmier: coding(SYSTEM.professionSante, '60', 'Infirmier'),
  autre: undefined,
};

const PROFESSION_TEXT: Record<NonNullable<ActorInput['profession']>, string> = {
  medecin: 'Médecin',
  pharmacien: 'Pharmacien',
  infirmier: 'Infirmier',
  autre: 'Autre professionnel',
};

export function mapOrganization(finess: string, name?: string): Organization & { id: string } {
  const org: Organization & { id: string } = {
    resourceType: 'Organization',
    id: organizationId(finess),
    meta: meta(PROFILE.organization),
    identifier: [
      { use: 'official', type: concept(coding(SYSTEM.frCoreIdentifierType, 'FINEG')), system: SYSTEM.finess, value: finess },
      { use: 'official', type: concept(coding(SYSTEM.frCoreIdentifierType, 'IDNST')), system: SYSTEM.idnst, value: `1${finess}` },
    ],
    active: true,
  };
  if (name) org.name = name;
  return org;
}

export function mapPractitioner(a: ActorInput): Practitioner & { id: string } {
  const pr: Practitioner & { id: string } = {
    resourceType: 'Practitioner',
    id: practitionerId(a.rpps),
    meta: meta(PROFILE.practitioner),
    identifier: [
      { use: 'official', type: concept(coding(SYSTEM.frCoreIdentifierType, 'IDNPS')), system: SYSTEM.idnps, value: `8${a.rpps}` },
      { use: 'official', type: concept(coding(SYSTEM.frCoreIdentifierType, 'RPPS')), system: SYSTEM.rpps, value: a.rpps },
    ],
  };
  if (a.family) pr.name = [a.given ? { family: a.family, given: [a.given] } : { family: a.family }];
  if (a.email) pr.telecom = [{ system: 'email', value: a.email, use: 'work' }];
  return pr;
}

/** The actors of one document: Organizations, Practitioners and PractitionerRoles, each added once. */
export class Actors {
  private readonly roleByRpps = new Map<string, Ref>();

  constructor(private readonly b: BundleBuilder) {}

  organization(finess: string, name?: string): Ref {
    const id = organizationId(finess);
    if (!this.b.has('Organization', id)) this.b.add(mapOrganization(finess, name));
    return ref('Organization', id);
  }

  practitioner(a: ActorInput): Ref {
    const id = practitionerId(a.rpps);
    if (!this.b.has('Practitioner', id)) this.b.add(mapPractitioner(a));
    return ref('Practitioner', id);
  }

  /** The practitioner acting for `finess` (or for no known organisation); the first role per RPPS is the default. */
  role(a: ActorInput, finess: string | undefined): Ref {
    const id = practitionerRoleId(a.rpps, finess);
    if (!this.b.has('PractitionerRole', id)) {
      const practitioner = this.practitioner(a);
      const role: PractitionerRole & { id: string } = {
        resourceType: 'PractitionerRole',
        id,
        meta: meta(PROFILE.practitionerRole),
        active: true,
        practitioner,
      };
      if (finess) role.organization = this.organization(finess);
      if (a.profession) {
        const c = PROFESSION[a.profession];
        role.code = [c ? concept(c, PROFESSION_TEXT[a.profession]) : { text: PROFESSION_TEXT[a.profession] }];
      }
      this.b.add(role);
    }
    const r = ref('PractitionerRole', id);
    if (!this.roleByRpps.has(a.rpps)) this.roleByRpps.set(a.rpps, r);
    return r;
  }

  /** Role already named in this document for an RPPS, or a bare Practitioner for an RPPS named nowhere else. */
  byRpps(rpps: string): Ref | Ref {
    return this.roleByRpps.get(rpps) ?? this.practitioner({ rpps });
  }
}

// ---- drugs ---------------------------------------------------------------------------------------------

/** One Coding per code, in the single emitted system of its kind; the sender's label always in `text`. */
export function medicationConcept(m: Medication): CodeableConcept {
  if (m.codes.length === 0) return { text: m.text };
  const codings: Coding[] = [];
  for (const c of m.codes) {
    const system = DRUG_SYSTEM[c.kind];
    if (codings.some((x) => x.system === system && x.code === c.code)) continue;
    codings.push(coding(system, c.code, c.display));
  }
  return { coding: codings, text: m.text };
}

const UCUM_UNITS: Readonly<Record<string, string>> = {
  mg: 'mg',
  g: 'g',
  µg: 'ug',
  μg: 'ug',
  ug: 'ug',
  mcg: 'ug',
  ng: 'ng',
  ml: 'mL',
  mL: 'mL',
  l: 'L',
  L: 'L',
  UI: '[iU]',
  IU: '[iU]',
  '%': '%',
  mmol: 'mmol',
};

function doseQuantity(dose: { value: number; unit: string }): Quantity {
  const code = UCUM_UNITS[dose.unit];
  return code ? { value: dose.value, unit: dose.unit, system: SYSTEM.ucum, code } : { value: dose.value, unit: dose.unit };
}

/** `n` times a day as a FHIR repeat (frequency is an integer: 0.5/day → once every 2 days, 1.5/day → 3 per 2 days). */
function dailyRepeat(perDay: number): TimingRepeat | undefined {
  for (let days = 1; days <= 28; days++) {
    const n = perDay * days;
    const rounded = Math.round(n);
    if (rounded >= 1 && Math.abs(n - rounded) < 1e-9) return { frequency: rounded, period: days, periodUnit: 'd' };
  }
  return undefined;
}

export function mapDosage(d: DomainDosage): Dosage {
  const out: Dosage = { text: d.text };
  if (d.frequencyPerDay !== undefined) {
    const repeat = dailyRepeat(d.frequencyPerDay);
    if (repeat) out.timing = { repeat };
  }
  if (d.asNeeded !== undefined) out.asNeededBoolean = d.asNeeded;
  if (d.route) out.route = { text: d.route };
  if (d.dose) out.doseAndRate = [{ doseQuantity: doseQuantity(d.dose) }];
  return out;
}

// ---- medication lines ----------------------------------------------------------------------------------

const STATEMENT_CATEGORY_DISPLAY = {
  inpatient: 'Inpatient',
  outpatient: 'Outpatient',
  community: 'Community',
  // The R4 code is `patientspecified`, without a hyphen (CodeSystem medication-statement-category 4.0.1).
  patientspecified: 'Patient Specified',
} as const;
export type StatementCategory = keyof typeof STATEMENT_CATEGORY_DISPLAY;

export function statementCategory(c: StatementCategory): CodeableConcept {
  return concept(coding(SYSTEM.medicationStatementCategory, c, STATEMENT_CATEGORY_DISPLAY[c]));
}

export interface StatementOptions {
  dateAsserted: string;
  /** Category for a prescribed line (self-medication is always `patientspecified`, told by the patient). */
  category?: StatementCategory;
  context?: Ref;
  extension?: Extension[];
  derivedFrom?: Ref[];
  status?: MedicationStatement['status'];
}

/** A line of a medication list (PPP review list, BMO, BPM list) as a MedicationStatement. */
export function mapMedicationStatement(s: MapScope, id: string, line: Pick<MedicationLine, 'medication' | 'dosage' | 'status' | 'selfMedication' | 'comment'>, o: StatementOptions): MedicationStatement & { id: string } {
  const category = line.selfMedication ? 'patientspecified' : o.category;
  // Properties in FHIR element order, absent ones omitted (no empty elements).
  return {
    resourceType: 'MedicationStatement',
    id,
    meta: meta(PROFILE.medicationStatement),
    ...(o.extension ? { extension: o.extension } : {}),
    identifier: [uuidIdentifier(id)],
    status: o.status ?? line.status,
    ...(category ? { category: statementCategory(category) } : {}),
    medicationCodeableConcept: medicationConcept(line.medication),
    subject: s.patient,
    ...(o.context ? { context: o.context } : {}),
    dateAsserted: o.dateAsserted,
    ...(line.selfMedication ? { informationSource: s.patient } : {}),
    ...(o.derivedFrom && o.derivedFrom.length > 0 ? { derivedFrom: o.derivedFrom } : {}),
    ...(line.comment ? { note: [{ text: line.comment }] } : {}),
    ...(line.dosage ? { dosage: [mapDosage(line.dosage)] } : {}),
  };
}

export const loincMedicationHistory = (): Coding => coding(SYSTEM.loinc, '10160-0', 'History of Medication use Narrative');

/** The reviewed medication list (`snapshot`, LOINC 10160-0) over the line statements. */
export function mapMedicationList(
  s: MapScope,
  id: string,
  entries: readonly Ref[],
  o: { date: string; source?: Ref; title: string; encounter?: Ref; mode?: List['mode'] },
): List & { id: string } {
  const list: List & { id: string } = {
    resourceType: 'List',
    id,
    meta: meta(PROFILE.medicationList),
    identifier: [uuidIdentifier(id)],
    status: 'current',
    mode: o.mode ?? 'snapshot',
    title: o.title,
    code: concept(loincMedicationHistory()),
    subject: s.patient,
    date: o.date,
    entry: entries.map((item) => ({ item })),
  };
  if (o.encounter) list.encounter = o.encounter;
  if (o.source) list.source = o.source;
  return list;
}

/** Statements + List for a medication list; returns the List reference and the statement reference of each line id. */
export function mapMedicationLines(
  s: MapScope,
  lines: readonly MedicationLine[],
  o: { date: string; source?: Ref; title: string; context?: Ref; category: StatementCategory },
): { list?: Ref; lineRefs: Map<string, Ref> } {
  const lineRefs = new Map<string, Ref>();
  for (const line of lines) {
    const ms = mapMedicationStatement(s, s.id('MedicationStatement', 'line', line.id), line, {
      dateAsserted: o.date,
      category: o.category,
      ...(o.context ? { context: o.context } : {}),
    });
    lineRefs.set(line.id, s.add(ms));
  }
  if (lines.length === 0) return { lineRefs };
  const list = mapMedicationList(s, s.id('List', 'medications'), [...lineRefs.values()], {
    date: o.date,
    title: o.title,
    ...(o.source ? { source: o.source } : {}),
    ...(o.context ? { encounter: o.context } : {}),
  });
  return { list: s.add(list), lineRefs };
}

// ---- care team -----------------------------------------------------------------------------------------

/**
 * Members' roles: the dispositif d'appui acts for the establishment unless told otherwise; the MT and the PHO
 * are outside it, so without an explicit FINESS their role names no organisation.
 */
export function teamMemberRole(s: MapScope, m: TeamMember, establishmentFiness: string): Ref {
  const external = m.role === 'medecin-traitant' || m.role === 'pharmacien-officine';
  return s.actors.role(m.practitioner, m.practitioner.organizationFiness ?? (external ? undefined : establishmentFiness));
}

export function mapCareTeam(
  s: MapScope,
  members: readonly { role: TeamMember['role']; member: Ref }[],
  managingOrganization: Ref,
  name: string,
): Ref {
  const id = s.id('CareTeam');
  return s.add<CareTeam & { id: string }>({
    resourceType: 'CareTeam',
    id,
    meta: meta(PROFILE.careTeam),
    identifier: [uuidIdentifier(id)],
    status: 'active',
    name,
    subject: s.patient,
    participant: members.map((m) => ({ role: [concept(listCoding(CS.careTeamRole, CARE_TEAM_ROLES, m.role))], member: m.member })),
    managingOrganization: [managingOrganization],
  });
}

// ---- consent -------------------------------------------------------------------------------------------

export function mapConsent(
  s: MapScope,
  o: { id: string; date: string; given: boolean; organization: Ref; performer?: Ref },
): Ref {
  const consent: Consent & { id: string } = {
    resourceType: 'Consent',
    id: o.id,
    meta: meta(PROFILE.consent),
    status: o.given ? 'active' : 'rejected',
    scope: concept(coding(SYSTEM.consentScope, 'treatment', 'Treatment')),
    category: [concept(coding(SYSTEM.loinc, '59284-0', 'Patient Consent'))],
    patient: s.patient,
    dateTime: o.date,
    organization: [o.organization],
    // ppc-1: a Consent names its policy. Joining the pathway is opt-in; a refusal is the `rejected` status.
    policyRule: concept(coding(SYSTEM.v3ActCode, 'OPTIN', 'opt-in')),
  };
  if (o.performer) consent.performer = [o.performer];
  return s.add(consent);
}

// ---- problems (DetectedIssue) --------------------------------------------------------------------------

export interface ReviewContext {
  /** The plan the proposals are based on (PPP or BPM CarePlan). */
  carePlan: Ref;
  /** Who wrote the review (dispositif d'appui or community pharmacist). */
  author: Ref;
  /** When the problems were identified and the proposals written. */
  date: string;
  lineRefs: ReadonlyMap<string, Ref>;
  /** DetectedIssue status (preliminary for a draft plan). */
  issueStatus: DetectedIssue['status'];
  /** Status of the plan the proposals belong to. */
  planStatus: 'draft' | 'active' | 'completed' | 'revoked';
}

export function mapProblems(s: MapScope, problems: readonly Problem[], rc: ReviewContext): Map<string, Ref> {
  const out = new Map<string, Ref>();
  for (const p of problems) {
    const id = s.id('DetectedIssue', 'problem', p.id);
    const implicated: Ref[] = [];
    for (const lineId of p.medicationLineIds) {
      const r = rc.lineRefs.get(lineId);
      if (r) implicated.push(r);
    }
    const di: DetectedIssue & { id: string } = {
      resourceType: 'DetectedIssue',
      id,
      meta: meta(PROFILE.detectedIssue),
      identifier: [uuidIdentifier(id)],
      status: rc.issueStatus,
      code: concept(listCoding(SYSTEM.sfpcProblem, SFPC_PROBLEMS, p.code)),
      ...(p.severity ? { severity: p.severity } : {}),
      patient: s.patient,
      identifiedDateTime: rc.date,
      author: rc.author,
      ...(implicated.length > 0 ? { implicated } : {}),
      // A criterion (STOPP/START…) is a reference, never the primary code (medication-model.md §6).
      ...(p.criterion ? { evidence: [{ code: [{ text: p.criterion }] }] } : {}),
      detail: p.detail,
      mitigation: [{ action: concept(listCoding(SYSTEM.sfpcIntervention, SFPC_INTERVENTIONS, p.intervention)), date: rc.date, author: rc.author }],
    };
    out.set(p.id, s.add(di));
  }
  return out;
}

// ---- recommendations (MedicationRequest / ServiceRequest proposals) -----------------------------------

export type ProposalRef = Ref | Ref;

/** Proposal status: draft with a draft plan, withdrawn with a revoked one, then settled by the MT's decision. */
function proposalStatus(planStatus: ReviewContext['planStatus'], decisions: readonly Decision[]): 'draft' | 'active' | 'completed' | 'cancelled' {
  if (planStatus === 'draft') return 'draft';
  if (planStatus === 'revoked') return 'cancelled';
  const mt = decisions.find((d) => d.actor === 'MT');
  if (!mt) return 'active';
  return mt.decision === 'non-retenu' ? 'cancelled' : 'completed';
}

export function mapRecommendations(
  s: MapScope,
  recommendations: readonly Recommendation[],
  issues: ReadonlyMap<string, Ref>,
  rc: ReviewContext,
): Map<string, ProposalRef> {
  const out = new Map<string, ProposalRef>();
  for (const r of recommendations) {
    const status = proposalStatus(rc.planStatus, r.decisions);
    const issue = issues.get(r.problemId);
    if (r.kind === 'medication') {
      const id = s.id('MedicationRequest', 'recommendation', r.id);
      const mr: MedicationRequest & { id: string } = {
        resourceType: 'MedicationRequest',
        id,
        meta: meta(PROFILE.recommendationMedicationRequest),
        identifier: [uuidIdentifier(id)],
        status,
        intent: 'proposal',
        ...(r.action === 'stop' ? { doNotPerform: true } : {}),
        medicationCodeableConcept: medicationConcept(r.medication),
        subject: s.patient,
        authoredOn: rc.date,
        requester: rc.author,
        basedOn: [rc.carePlan],
        note: [{ text: r.text }],
      };
      if (issue) mr.detectedIssue = [issue];
      const line = r.medicationLineId ? rc.lineRefs.get(r.medicationLineId) : undefined;
      if (line) mr.supportingInformation = [line];
      if (r.dosage) mr.dosageInstruction = [mapDosage(r.dosage)];
      out.set(r.id, s.add(mr));
    } else {
      const id = s.id('ServiceRequest', 'recommendation', r.id);
      const code: CodeableConcept = r.code ? concept(coding(systemUri(r.code.system), r.code.code, r.code.display), r.text) : { text: r.text };
      const sr: ServiceRequest & { id: string } = {
        resourceType: 'ServiceRequest',
        id,
        meta: meta(PROFILE.recommendationServiceRequest),
        identifier: [uuidIdentifier(id)],
        // ServiceRequest has no `cancelled`: a withdrawn or refused request is `revoked`.
        status: status === 'cancelled' ? 'revoked' : status,
        intent: 'proposal',
        code,
        subject: s.patient,
        authoredOn: rc.date,
        requester: rc.author,
        basedOn: [rc.carePlan],
      };
      if (issue) sr.supportingInfo = [issue];
      out.set(r.id, s.add(sr));
    }
  }
  return out;
}

// ---- tasks ---------------------------------------------------------------------------------------------

export function taskCode(code: string): CodeableConcept {
  return concept(listCoding(CS.taskType, TASK_TYPES, code));
}

/** Task status from the plan's while nobody has acted on it. */
export function openTaskStatus(planStatus: ReviewContext['planStatus']): Task['status'] {
  return planStatus === 'draft' ? 'draft' : planStatus === 'revoked' ? 'cancelled' : 'requested';
}

export function newTask(
  s: MapScope,
  id: string,
  o: { code: string; status: Task['status']; authoredOn: string; requester?: Ref; owner?: Ref; focus?: Ref; basedOn?: Ref },
): Task & { id: string } {
  const t: Task & { id: string } = {
    resourceType: 'Task',
    id,
    meta: meta(PROFILE.task),
    identifier: [uuidIdentifier(id)],
    status: o.status,
    intent: 'order',
    code: taskCode(o.code),
    for: s.patient,
    authoredOn: o.authoredOn,
  };
  if (o.basedOn) t.basedOn = [o.basedOn];
  if (o.focus) t.focus = o.focus;
  if (o.requester) t.requester = o.requester;
  if (o.owner) t.owner = o.owner;
  return t;
}

/**
 * One validation Task per (recommendation × actor): the MT for every recommendation, the PHO for drug
 * recommendations only (medication-model.md §10 #4) or when the input carries a PHO decision. Completed with the
 * decision as output when one is known.
 */
export function mapValidationTasks(
  s: MapScope,
  recommendations: readonly Recommendation[],
  proposals: ReadonlyMap<string, ProposalRef>,
  rc: ReviewContext & { authoredOn: string },
  owners: Partial<Record<DecisionActor, Ref>>,
  actors: readonly DecisionActor[] = ['MT', 'PHO'],
): Ref[] {
  const out: Ref[] = [];
  for (const r of recommendations) {
    const focus = proposals.get(r.id);
    for (const actor of actors) {
      const decision = r.decisions.find((d) => d.actor === actor);
      // No PHO Task for a non-drug recommendation, unless the PHO has answered it anyway: never drop a decision.
      if (actor === 'PHO' && r.kind !== 'medication' && !decision) continue;
      const owner = owners[actor];
      const t = newTask(s, s.id('Task', 'reco-validation', r.id, actor), {
        code: 'reco-validation',
        status: decision ? 'completed' : openTaskStatus(rc.planStatus),
        authoredOn: rc.authoredOn,
        requester: rc.author,
        basedOn: rc.carePlan,
        ...(focus ? { focus } : {}),
        ...(owner ? { owner } : {}),
      });
      if (decision) {
        const c = listCoding(CS.pppDecision, PPP_DECISIONS, decision.decision);
        t.businessStatus = concept(c);
        if (Date.parse(decision.date) >= Date.parse(t.authoredOn ?? decision.date)) t.lastModified = decision.date;
        const output: TaskOutput[] = [{ type: { text: 'decision' }, valueCodeableConcept: concept(c) }];
        if (decision.reason) output.push({ type: { text: 'motif' }, valueString: decision.reason });
        t.output = output;
      }
      out.push(s.add(t));
    }
  }
  return out;
}

// ---- communications --------------------------------------------------------------------------------------

export function communicationCategory(code: string): CodeableConcept {
  return concept(listCoding(CS.communicationCategory, COMMUNICATION_CATEGORIES, code));
}

/** A completed message between people (RCP exchanges, BPM conclusions, advice to the patient). */
export function newCommunication(
  s: MapScope,
  id: string,
  o: { category: string; sent: string; sender: Ref; text: string } & Pick<Communication, 'basedOn' | 'inResponseTo' | 'about' | 'encounter' | 'recipient'>,
): Communication & { id: string } {
  const { category, text, ...rest } = o;
  return {
    resourceType: 'Communication',
    id,
    meta: meta(PROFILE.communication),
    identifier: [uuidIdentifier(id)],
    status: 'completed',
    category: [communicationCategory(category)],
    subject: s.patient,
    ...rest,
    payload: [{ contentString: text }],
  };
}
