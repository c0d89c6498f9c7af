// The search parameters the FHIR API supports, as data, and the pure functions every store dialect shares:
// resource → index rows on write, URL query → SearchQuery on read, and the meaning of each query value.
import { createHash } from 'node:crypto';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { invalid, issue } from './outcome.js';

// ---------------------------------------------------------------------------------------------------------
// Query shape (re-exported by src/store/repository.ts, which is where services meet it)

/** One parsed search predicate. `param` is a search parameter code defined in this file. */
export interface SearchPredicate {
  param: string;
  /**
   * Comparison prefix for dates (`eq`, `ne`, `lt`, `le`, `gt`, `ge`). Other params use `eq`, or `ne` for the `:not`
   * modifier of tokens (resources with no matching value).
   */
  prefix: 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';
  /**
   * Alternatives (comma-separated values in the URL): a match on any of them satisfies the predicate.
   * Each value keeps FHIR search syntax except the comma split: token `system|code` (with `\|` escapes),
   * reference `Type/id` or `id`, date without its prefix, string as given. Read them with `tokenCriterion`,
   * `referenceCriterion`, `dateCriterion`, `stringCriterion` and `ofTypeCriterion`. Empty for chains and `_has`.
   */
  values: string[];
  /**
   * `missing` (values `true` or `false`), `exact` / `contains` (string params; prefix match without), `of-type`
   * (token params on Identifiers: `type-system|type-code|value`). `:not` is `prefix: 'ne'`.
   */
  modifier?: SearchModifier;
  /** Chained parameter (`param[:Type].inner=…`): `param` is a reference param; `predicate` applies to its target. */
  chain?: { type: string; predicate: SearchPredicate };
  /** `_has:type:param:…` (`param` is then `_has`): some resource of `type` refers to this one through `param`, matching `predicate`. */
  has?: { type: string; param: string; predicate: SearchPredicate };
}

export type SearchModifier = 'missing' | 'exact' | 'contains' | 'of-type';

/** One `_sort` key: a parameter of the type (or `_id`, `_lastUpdated`). */
export interface SortKey {
  param: string;
  descending: boolean;
}

export interface SearchQuery {
  resourceType: string;
  /** ANDed. */
  predicates: SearchPredicate[];
  /** Page size (already clamped by the caller). */
  count: number;
  /** Zero-based offset of the page. */
  offset: number;
  /** Whether the caller wants `total`. */
  total?: boolean;
  /** `_sort` keys, most significant first; absent: newest first (`-_lastUpdated`). Ties are broken by id. */
  sort?: SortKey[];
  /**
   * Only the resources of the patients this tenant key may access (table `access_patient`): a Patient by its own id,
   * a resource of any other type by its literal references to a Patient (the `_ref` index rows). Set by the caller
   * (src/services/access/) for the types of a patient's record; the store applies it without knowing why. Counted in
   * `total` and applied before paging.
   */
  tenant?: string;
}

/** `_include` / `_revinclude` request: follow the reference search parameter `param` of `sourceType`. */
export interface IncludeSpec {
  sourceType: string;
  param: string;
  /** Only references to this type (third part of `Source:param:Target`). */
  targetType?: string;
  /** `:iterate` (or R4's older `:recurse`): apply to included resources as well. */
  iterate: boolean;
}

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 1000;
const MAX_OFFSET = 1_000_000_000;

// ---------------------------------------------------------------------------------------------------------
// Definitions

export type SearchParamType = 'token' | 'reference' | 'date' | 'uri' | 'string';

export interface SearchParamDefinition {
  readonly code: string;
  readonly type: SearchParamType;
  /** FHIRPath as in R4 (ours for `custom` params). Documents the parameter; tests pin the accessor to it. */
  readonly expression: string;
  /** Element paths read by the accessor; each step flattens arrays, as FHIRPath does. */
  readonly paths: readonly (readonly string[])[];
  /** Reference param limited to one target type (`patient`): bare ids mean this type; others are not indexed. */
  readonly target?: string;
  /** Not an R4 parameter: ours, so `_include` can follow the element. */
  readonly custom?: boolean;
  /** Answered from the resource row rather than the index. */
  readonly column?: 'id' | 'lastUpdated';
}

interface SpecOptions {
  /** Paths when the expression is a choice type without `as` (e.g. `MedicationStatement.effective`). */
  paths?: string[][];
  custom?: true;
}
type ParamSpec = readonly [code: string, type: SearchParamType, expression: string, options?: SpecOptions];

/** Derives the accessor paths and target restriction from simple R4 expressions. */
function define([code, type, expression, options]: ParamSpec): SearchParamDefinition {
  const where = /\.where\(resolve\(\) is (\w+)\)$/.exec(expression);
  const bare = expression.replace(/\.where\(resolve\(\) is \w+\)$/, '');
  const as = /^\((.+) as (\w+)\)$/.exec(bare);
  const dotted = (as ? as[1] : bare).split('.').slice(1);
  if (as) dotted[dotted.length - 1] += as[2].charAt(0).toUpperCase() + as[2].slice(1);
  if (!options?.paths && !/^[\w.]+$/.test(as ? as[1] : bare)) {
    throw new Error(`search parameter ${code}: expression "${expression}" needs explicit paths`);
  }
  return {
    code,
    type,
    expression,
    paths: options?.paths ?? [dotted],
    ...(where ? { target: where[1] } : {}),
    ...(options?.custom ? { custom: true } : {}),
  };
}

/** Parameters every resource type has (R4 `Resource` parameters). */
const COMMON: readonly SearchParamDefinition[] = [
  { code: '_id', type: 'token', expression: 'Resource.id', paths: [['id']], column: 'id' },
  {
    code: '_lastUpdated',
    type: 'date',
    expression: 'Resource.meta.lastUpdated',
    paths: [['meta', 'lastUpdated']],
    column: 'lastUpdated',
  },
  define(['_tag', 'token', 'Resource.meta.tag']),
  define(['_profile', 'uri', 'Resource.meta.profile']),
  define(['_security', 'token', 'Resource.meta.security']),
];

/** Per stored type. R4 codes and expressions unless `custom`; other R4 types only have COMMON. */
const TYPE_PARAMS: Record<string, readonly ParamSpec[]> = {
  Patient: [
    ['identifier', 'token', 'Patient.identifier'],
    ['name', 'string', 'Patient.name'],
    ['family', 'string', 'Patient.name.family'],
    ['given', 'string', 'Patient.name.given'],
    ['address-city', 'string', 'Patient.address.city'],
    ['address-postalcode', 'string', 'Patient.address.postalCode'],
    ['active', 'token', 'Patient.active'],
    ['gender', 'token', 'Patient.gender'],
    ['birthdate', 'date', 'Patient.birthDate'],
    ['general-practitioner', 'reference', 'Patient.generalPractitioner'],
    ['organization', 'reference', 'Patient.managingOrganization'],
    ['link', 'reference', 'Patient.link.other'],
  ],
  Practitioner: [
    ['identifier', 'token', 'Practitioner.identifier'],
    ['name', 'string', 'Practitioner.name'],
    ['family', 'string', 'Practitioner.name.family'],
    ['given', 'string', 'Practitioner.name.given'],
    ['active', 'token', 'Practitioner.active'],
  ],
  PractitionerRole: [
    ['identifier', 'token', 'PractitionerRole.identifier'],
    ['active', 'token', 'PractitionerRole.active'],
    ['practitioner', 'reference', 'PractitionerRole.practitioner'],
    ['organization', 'reference', 'PractitionerRole.organization'],
    ['role', 'token', 'PractitionerRole.code'],
    ['specialty', 'token', 'PractitionerRole.specialty'],
  ],
  Organization: [
    ['identifier', 'token', 'Organization.identifier'],
    ['active', 'token', 'Organization.active'],
    ['type', 'token', 'Organization.type'],
    ['partof', 'reference', 'Organization.partOf'],
  ],
  CareTeam: [
    ['identifier', 'token', 'CareTeam.identifier'],
    ['patient', 'reference', 'CareTeam.subject.where(resolve() is Patient)'],
    ['subject', 'reference', 'CareTeam.subject'],
    ['status', 'token', 'CareTeam.status'],
    ['category', 'token', 'CareTeam.category'],
    ['participant', 'reference', 'CareTeam.participant.member'],
    ['encounter', 'reference', 'CareTeam.encounter'],
    ['date', 'date', 'CareTeam.period'],
  ],
  CarePlan: [
    ['identifier', 'token', 'CarePlan.identifier'],
    ['patient', 'reference', 'CarePlan.subject.where(resolve() is Patient)'],
    ['subject', 'reference', 'CarePlan.subject'],
    ['status', 'token', 'CarePlan.status'],
    ['intent', 'token', 'CarePlan.intent'],
    ['category', 'token', 'CarePlan.category'],
    ['activity-reference', 'reference', 'CarePlan.activity.reference'],
    ['supporting-info', 'reference', 'CarePlan.supportingInfo', { custom: true }],
    ['based-on', 'reference', 'CarePlan.basedOn'],
    ['part-of', 'reference', 'CarePlan.partOf'],
    ['replaces', 'reference', 'CarePlan.replaces'],
    ['care-team', 'reference', 'CarePlan.careTeam'],
    ['encounter', 'reference', 'CarePlan.encounter'],
    ['date', 'date', 'CarePlan.period'],
  ],
  DetectedIssue: [
    ['identifier', 'token', 'DetectedIssue.identifier'],
    ['patient', 'reference', 'DetectedIssue.patient'],
    ['status', 'token', 'DetectedIssue.status'],
    ['code', 'token', 'DetectedIssue.code'],
    ['implicated', 'reference', 'DetectedIssue.implicated'],
    ['author', 'reference', 'DetectedIssue.author'],
    ['identified', 'date', 'DetectedIssue.identified', { paths: [['identifiedDateTime'], ['identifiedPeriod']] }],
  ],
  MedicationRequest: [
    ['identifier', 'token', 'MedicationRequest.identifier'],
    ['patient', 'reference', 'MedicationRequest.subject.where(resolve() is Patient)'],
    ['subject', 'reference', 'MedicationRequest.subject'],
    ['status', 'token', 'MedicationRequest.status'],
    ['intent', 'token', 'MedicationRequest.intent'],
    ['code', 'token', '(MedicationRequest.medication as CodeableConcept)'],
    ['medication', 'reference', '(MedicationRequest.medication as Reference)'],
    ['requester', 'reference', 'MedicationRequest.requester'],
    ['encounter', 'reference', 'MedicationRequest.encounter'],
    ['based-on', 'reference', 'MedicationRequest.basedOn', { custom: true }],
    ['authoredon', 'date', 'MedicationRequest.authoredOn'],
  ],
  ServiceRequest: [
    ['identifier', 'token', 'ServiceRequest.identifier'],
    ['patient', 'reference', 'ServiceRequest.subject.where(resolve() is Patient)'],
    ['subject', 'reference', 'ServiceRequest.subject'],
    ['status', 'token', 'ServiceRequest.status'],
    ['intent', 'token', 'ServiceRequest.intent'],
    ['code', 'token', 'ServiceRequest.code'],
    ['category', 'token', 'ServiceRequest.category'],
    ['based-on', 'reference', 'ServiceRequest.basedOn'],
    ['requester', 'reference', 'ServiceRequest.requester'],
    ['performer', 'reference', 'ServiceRequest.performer'],
    ['encounter', 'reference', 'ServiceRequest.encounter'],
    ['authored', 'date', 'ServiceRequest.authoredOn'],
  ],
  MedicationStatement: [
    ['identifier', 'token', 'MedicationStatement.identifier'],
    ['patient', 'reference', 'MedicationStatement.subject.where(resolve() is Patient)'],
    ['subject', 'reference', 'MedicationStatement.subject'],
    ['status', 'token', 'MedicationStatement.status'],
    ['code', 'token', '(MedicationStatement.medication as CodeableConcept)'],
    ['medication', 'reference', '(MedicationStatement.medication as Reference)'],
    ['category', 'token', 'MedicationStatement.category'],
    ['context', 'reference', 'MedicationStatement.context'],
    ['part-of', 'reference', 'MedicationStatement.partOf'],
    ['source', 'reference', 'MedicationStatement.informationSource'],
    ['based-on', 'reference', 'MedicationStatement.basedOn', { custom: true }],
    ['derived-from', 'reference', 'MedicationStatement.derivedFrom', { custom: true }],
    ['effective', 'date', 'MedicationStatement.effective', { paths: [['effectiveDateTime'], ['effectivePeriod']] }],
  ],
  List: [
    ['identifier', 'token', 'List.identifier'],
    ['patient', 'reference', 'List.subject.where(resolve() is Patient)'],
    ['subject', 'reference', 'List.subject'],
    ['status', 'token', 'List.status'],
    ['code', 'token', 'List.code'],
    ['item', 'reference', 'List.entry.item'],
    ['source', 'reference', 'List.source'],
    ['encounter', 'reference', 'List.encounter'],
    ['date', 'date', 'List.date'],
  ],
  Composition: [
    ['identifier', 'token', 'Composition.identifier'],
    ['patient', 'reference', 'Composition.subject.where(resolve() is Patient)'],
    ['subject', 'reference', 'Composition.subject'],
    ['status', 'token', 'Composition.status'],
    ['type', 'token', 'Composition.type'],
    ['category', 'token', 'Composition.category'],
    ['author', 'reference', 'Composition.author'],
    ['attester', 'reference', 'Composition.attester.party'],
    ['encounter', 'reference', 'Composition.encounter'],
    ['entry', 'reference', 'Composition.section.entry'],
    ['related-ref', 'reference', '(Composition.relatesTo.target as Reference)'],
    ['date', 'date', 'Composition.date'],
  ],
  Provenance: [
    ['target', 'reference', 'Provenance.target'],
    ['patient', 'reference', 'Provenance.target.where(resolve() is Patient)'],
    ['agent', 'reference', 'Provenance.agent.who'],
    ['entity', 'reference', 'Provenance.entity.what'],
    ['recorded', 'date', 'Provenance.recorded'],
  ],
  Communication: [
    ['identifier', 'token', 'Communication.identifier'],
    ['patient', 'reference', 'Communication.subject.where(resolve() is Patient)'],
    ['subject', 'reference', 'Communication.subject'],
    ['status', 'token', 'Communication.status'],
    ['category', 'token', 'Communication.category'],
    ['based-on', 'reference', 'Communication.basedOn'],
    ['part-of', 'reference', 'Communication.partOf'],
    ['encounter', 'reference', 'Communication.encounter'],
    // Not in R4 (R5 has it): what a message is about, e.g. the CarePlan and DocumentReference of a document sent by
    // MSSanté (docs/mssante.md, "Receipts").
    ['about', 'reference', 'Communication.about', { custom: true }],
    ['recipient', 'reference', 'Communication.recipient'],
    ['sender', 'reference', 'Communication.sender'],
    ['sent', 'date', 'Communication.sent'],
    ['received', 'date', 'Communication.received'],
  ],
  Subscription: [
    ['status', 'token', 'Subscription.status'],
    ['type', 'token', 'Subscription.channel.type'],
    ['criteria', 'string', 'Subscription.criteria'],
    ['url', 'uri', 'Subscription.channel.endpoint'],
    ['payload', 'token', 'Subscription.channel.payload'],
  ],
  Task: [
    ['identifier', 'token', 'Task.identifier'],
    ['patient', 'reference', 'Task.for.where(resolve() is Patient)'],
    ['subject', 'reference', 'Task.for'],
    ['status', 'token', 'Task.status'],
    ['business-status', 'token', 'Task.businessStatus'],
    ['code', 'token', 'Task.code'],
    ['intent', 'token', 'Task.intent'],
    ['focus', 'reference', 'Task.focus'],
    ['based-on', 'reference', 'Task.basedOn'],
    ['part-of', 'reference', 'Task.partOf'],
    ['owner', 'reference', 'Task.owner'],
    ['requester', 'reference', 'Task.requester'],
    ['encounter', 'reference', 'Task.encounter'],
    ['authored-on', 'date', 'Task.authoredOn'],
    ['modified', 'date', 'Task.lastModified'],
  ],
  Consent: [
    ['identifier', 'token', 'Consent.identifier'],
    ['patient', 'reference', 'Consent.patient'],
    ['status', 'token', 'Consent.status'],
    ['category', 'token', 'Consent.category'],
    ['scope', 'token', 'Consent.scope'],
    ['actor', 'reference', 'Consent.provision.actor.reference'],
    ['data', 'reference', 'Consent.provision.data.reference'],
    ['organization', 'reference', 'Consent.organization'],
    ['consentor', 'reference', 'Consent.performer'],
    ['source-reference', 'reference', 'Consent.source', { paths: [['sourceReference']] }],
    ['date', 'date', 'Consent.dateTime'],
  ],
  DocumentReference: [
    ['identifier', 'token', 'DocumentReference.masterIdentifier | DocumentReference.identifier', { paths: [['masterIdentifier'], ['identifier']] }],
    ['patient', 'reference', 'DocumentReference.subject.where(resolve() is Patient)'],
    ['subject', 'reference', 'DocumentReference.subject'],
    ['status', 'token', 'DocumentReference.status'],
    ['type', 'token', 'DocumentReference.type'],
    ['category', 'token', 'DocumentReference.category'],
    ['date', 'date', 'DocumentReference.date'],
    ['author', 'reference', 'DocumentReference.author'],
    ['relatesto', 'reference', 'DocumentReference.relatesTo.target'],
    ['relation', 'token', 'DocumentReference.relatesTo.code'],
    ['related', 'reference', 'DocumentReference.context.related'],
    ['period', 'date', 'DocumentReference.context.period'],
    ['contenttype', 'token', 'DocumentReference.content.attachment.contentType'],
    // Ours: the status of any destination's delivery (passerelle-document-delivery; its only Coding sub-extension).
    [
      'delivery-status',
      'token',
      "DocumentReference.extension('https://fhir.passerelle.fr/StructureDefinition/passerelle-document-delivery').extension('status').value",
      { paths: [['extension', 'extension', 'valueCoding']], custom: true },
    ],
  ],
  Encounter: [
    ['identifier', 'token', 'Encounter.identifier'],
    ['patient', 'reference', 'Encounter.subject.where(resolve() is Patient)'],
    ['subject', 'reference', 'Encounter.subject'],
    ['status', 'token', 'Encounter.status'],
    ['class', 'token', 'Encounter.class'],
    ['type', 'token', 'Encounter.type'],
    ['part-of', 'reference', 'Encounter.partOf'],
    ['based-on', 'reference', 'Encounter.basedOn'],
    ['service-provider', 'reference', 'Encounter.serviceProvider'],
    ['participant', 'reference', 'Encounter.participant.individual'],
    ['date', 'date', 'Encounter.period'],
  ],
};

/** Resource types of FHIR R4 (4.0.1). */
export const R4_RESOURCE_TYPES: ReadonlySet<string> = new Set(
  (
    'Account ActivityDefinition AdverseEvent AllergyIntolerance Appointment AppointmentResponse AuditEvent Basic ' +
    'Binary BiologicallyDerivedProduct BodyStructure Bundle CapabilityStatement CarePlan CareTeam CatalogEntry ' +
    'ChargeItem ChargeItemDefinition Claim ClaimResponse ClinicalImpression CodeSystem Communication ' +
    'CommunicationRequest CompartmentDefinition Composition ConceptMap Condition Consent Contract Coverage ' +
    'CoverageEligibilityRequest CoverageEligibilityResponse DetectedIssue Device DeviceDefinition DeviceMetric ' +
    'DeviceRequest DeviceUseStatement DiagnosticReport DocumentManifest DocumentReference EffectEvidenceSynthesis ' +
    'Encounter Endpoint EnrollmentRequest EnrollmentResponse EpisodeOfCare EventDefinition Evidence ' +
    'EvidenceVariable ExampleScenario ExplanationOfBenefit FamilyMemberHistory Flag Goal GraphDefinition Group ' +
    'GuidanceResponse HealthcareService ImagingStudy Immunization ImmunizationEvaluation ' +
    'ImmunizationRecommendation ImplementationGuide InsurancePlan Invoice Library Linkage List Location Measure ' +
    'MeasureReport Media Medication MedicationAdministration MedicationDispense MedicationKnowledge ' +
    'MedicationRequest MedicationStatement MedicinalProduct MedicinalProductAuthorization ' +
    'MedicinalProductContraindication MedicinalProductIndication MedicinalProductIngredient ' +
    'MedicinalProductInteraction MedicinalProductManufactured MedicinalProductPackaged ' +
    'MedicinalProductPharmaceutical MedicinalProductUndesirableEffect MessageDefinition MessageHeader ' +
    'MolecularSequence NamingSystem NutritionOrder Observation ObservationDefinition OperationDefinition ' +
    'OperationOutcome Organization OrganizationAffiliation Parameters Patient PaymentNotice PaymentReconciliation ' +
    'Person PlanDefinition Practitioner PractitionerRole Procedure Provenance Questionnaire QuestionnaireResponse ' +
    'RelatedPerson RequestGroup ResearchDefinition ResearchElementDefinition ResearchStudy ResearchSubject ' +
    'RiskAssessment RiskEvidenceSynthesis Schedule SearchParameter ServiceRequest Slot Specimen ' +
    'SpecimenDefinition StructureDefinition StructureMap Subscription Substance SubstanceNucleicAcid ' +
    'SubstancePolymer SubstanceProtein SubstanceReferenceInformation SubstanceSourceMaterial ' +
    'SubstanceSpecification SupplyDelivery SupplyRequest Task TerminologyCapabilities TestReport TestScript ' +
    'ValueSet VerificationResult VisionPrescription'
  ).split(' '),
);

const COMMON_MAP: ReadonlyMap<string, SearchParamDefinition> = new Map(COMMON.map((d) => [d.code, d]));
const BY_TYPE: ReadonlyMap<string, ReadonlyMap<string, SearchParamDefinition>> = new Map(
  Object.entries(TYPE_PARAMS).map(([type, specs]) => [
    type,
    new Map([...COMMON_MAP, ...specs.map((s): [string, SearchParamDefinition] => [s[0], define(s)])]),
  ]),
);
/** Per-type params that need the index (everything but `_id` / `_lastUpdated`), for the write path. */
const INDEXED_BY_TYPE = new Map<string, readonly SearchParamDefinition[]>();
const COMMON_INDEXED = COMMON.filter((d) => !d.column);

export function isResourceType(resourceType: string): boolean {
  return R4_RESOURCE_TYPES.has(resourceType);
}

/** The parameters supported for a type (COMMON only for R4 types we do not store); empty for unknown types. */
export function searchParamsOf(resourceType: string): ReadonlyMap<string, SearchParamDefinition> {
  return BY_TYPE.get(resourceType) ?? (R4_RESOURCE_TYPES.has(resourceType) ? COMMON_MAP : new Map());
}

export function getSearchParam(resourceType: string, code: string): SearchParamDefinition | undefined {
  if (code === REFERENCES_PARAM.code) return R4_RESOURCE_TYPES.has(resourceType) ? REFERENCES_PARAM : undefined;
  return searchParamsOf(resourceType).get(code);
}

/**
 * Internal index parameter `_ref`: every literal reference of the resource, wherever it sits (contained resources
 * included), as index rows (system = target type, value = id). The FHIR write rules look up who refers to a
 * resource before deleting it (src/services/referential-integrity.ts). Not a search parameter: `searchParamsOf`
 * leaves it out, so URLs cannot use it and the CapabilityStatement does not list it; only `getSearchParam` (what
 * the stores compile) knows it. Databases written before it need their index rows rebuilt.
 */
export const REFERENCES_PARAM: SearchParamDefinition = {
  code: '_ref',
  type: 'reference',
  expression: 'Resource.descendants().reference',
  paths: [],
  custom: true,
};

function indexedParamsOf(resourceType: string): readonly SearchParamDefinition[] {
  let list = INDEXED_BY_TYPE.get(resourceType);
  if (!list) {
    const defs = BY_TYPE.get(resourceType);
    list = [...(defs ? [...defs.values()].filter((d) => !d.column) : COMMON_INDEXED), REFERENCES_PARAM];
    INDEXED_BY_TYPE.set(resourceType, list);
  }
  return list;
}

// ---------------------------------------------------------------------------------------------------------
// Write side: resource → index rows

/**
 * One value of a search parameter of a resource. Tokens and uris: `system` ('' when none) and `value`.
 * References: `system` = target type, `value` = id. Dates: `[start, end)` as UTC ISO instants with
 * milliseconds (lexicographic order = time order), `value` null.
 */
export interface IndexRow {
  param: string;
  system: string;
  value: string | null;
  start: string | null;
  end: string | null;
}

type Json = unknown;

function isObject(v: Json): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Values at a path; arrays at any step are flattened (FHIRPath semantics for simple paths). */
function collect(node: Json, path: readonly string[], i: number, out: Json[]): void {
  if (node === undefined || node === null) return;
  if (Array.isArray(node)) {
    for (const item of node) collect(item, path, i, out);
    return;
  }
  if (i === path.length) {
    out.push(node);
    return;
  }
  if (isObject(node)) collect(node[path[i]], path, i + 1, out);
}

/** Raw element values of a parameter for a resource (Identifier, Coding, Reference, date strings…). */
export function elementValues(resource: Resource, def: SearchParamDefinition): unknown[] {
  const out: Json[] = [];
  if (def === REFERENCES_PARAM) {
    everyReference(resource, out);
    return out;
  }
  for (const path of def.paths) collect(resource, path, 0, out);
  return out;
}

/** Every object holding a string `reference` (a Reference), at any depth. */
function everyReference(node: Json, out: Json[]): void {
  if (Array.isArray(node)) {
    for (const item of node) everyReference(item, out);
  } else if (isObject(node)) {
    if (typeof node.reference === 'string') out.push(node);
    for (const [key, value] of Object.entries(node)) if (typeof value === 'object' && !key.startsWith('_')) everyReference(value, out);
  }
}

const REFERENCE_RE = /^(?:.*\/)?([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;

/** `Type/id` of a literal reference (relative or absolute URL); undefined for `#contained`, `urn:uuid:`… */
export function parseReference(reference: string): { type: string; id: string } | undefined {
  const m = REFERENCE_RE.exec(reference);
  if (!m || !R4_RESOURCE_TYPES.has(m[1])) return undefined;
  return { type: m[1], id: m[2] };
}

function pushToken(rows: IndexRow[], param: string, v: Json): void {
  if (typeof v === 'string') {
    if (v) rows.push({ param, system: '', value: v, start: null, end: null });
  } else if (typeof v === 'boolean') {
    rows.push({ param, system: '', value: String(v), start: null, end: null });
  } else if (isObject(v)) {
    if (Array.isArray(v.coding)) {
      for (const c of v.coding) pushToken(rows, param, c);
      return;
    }
    // Identifier (`value`) or Coding (`code`).
    const code = typeof v.value === 'string' ? v.value : typeof v.code === 'string' ? v.code : undefined;
    if (code) rows.push({ param, system: typeof v.system === 'string' ? v.system : '', value: code, start: null, end: null });
    // An Identifier's type, for `:of-type` (the INS: fr-core-cs-v2-0203|INS-NIR|<matricule>): one row per coding.
    if (typeof v.value === 'string' && v.value && isObject(v.type) && Array.isArray(v.type.coding)) {
      for (const c of v.type.coding) {
        if (isObject(c) && typeof c.code === 'string' && c.code) {
          const system = typeof c.system === 'string' ? c.system : '';
          rows.push({ param: ofTypeParam(param), system: ofTypeKey(system, c.code), value: v.value, start: null, end: null });
        }
      }
    }
  }
}

/** The index param holding the `:of-type` rows of a token param. */
export const ofTypeParam = (param: string): string => `${param}:of-type`;

/** `system|code` of an Identifier type as stored for `:of-type` (`\` and `|` escaped, so the split is unambiguous). */
export function ofTypeKey(system: string, code: string): string {
  const esc = (x: string): string => x.replace(/[\\|]/g, '\\$&');
  return `${esc(system)}|${esc(code)}`;
}

/**
 * String params: one row per part (`name` gives family, each given, prefix, suffix and text), the normalised text in
 * `value` (prefix, `:contains` and `_sort`) and the text as written in `system` (`:exact`). Storing both in the
 * existing columns keeps the schema, and the value index (type, param, value, …) serves a prefix as a range.
 */
function pushString(rows: IndexRow[], param: string, v: Json): void {
  if (typeof v === 'string') {
    const value = normaliseString(v);
    if (value) rows.push({ param, system: v, value, start: null, end: null });
  } else if (isObject(v)) {
    // HumanName or Address (`address`): every string part.
    for (const key of ['text', 'family', 'given', 'prefix', 'suffix', 'line', 'city', 'district', 'state', 'postalCode', 'country']) {
      const part = v[key];
      for (const item of Array.isArray(part) ? part : [part]) if (typeof item === 'string') pushString(rows, param, item);
    }
  }
}

/**
 * The form string search compares: accent- and case-insensitive (compatibility decomposition, combining marks
 * removed, lower case, œ æ ß ø ł đ spelt out), runs of spaces (tabs, line breaks), hyphens and apostrophes made one
 * space, other control and format characters (bidi marks, zero-width joiners, soft hyphens) dropped: `Lœtitia  D'Aubigné-Épée` →
 * `loetitia d aubigne epee`. Stored values and query values both go through it.
 */
export function normaliseString(text: string): string {
  return text
    .replace(/\p{Cs}/gu, '\ufffd') // lone surrogates: as the UTF-8 the stores write
    .normalize('NFKD')
    .toLowerCase()
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .replace(/[œæßøłđ]/g, (c) => LIGATURES[c] ?? c)
    .replace(/[\s\p{Z}\p{Pd}'‘’ʼ`´]+/gu, ' ')
    .replace(/[\p{Cc}\p{Cf}]+/gu, '')
    .replace(/ {2,}/g, ' ')
    .trim();
}
const LIGATURES: Record<string, string> = { 'œ': 'oe', 'æ': 'ae', 'ß': 'ss', 'ø': 'o', 'ł': 'l', 'đ': 'd' };

function pushReference(rows: IndexRow[], def: SearchParamDefinition, v: Json): void {
  if (!isObject(v) || typeof v.reference !== 'string') return;
  const ref = parseReference(v.reference);
  if (!ref || (def.target && ref.type !== def.target)) return;
  rows.push({ param: def.code, system: ref.type, value: ref.id, start: null, end: null });
}

function pushDate(rows: IndexRow[], param: string, v: Json): void {
  let range: DateRange | undefined;
  if (typeof v === 'string') {
    range = dateRangeOf(v);
  } else if (isObject(v)) {
    // Period: an open end is unbounded.
    const start = typeof v.start === 'string' ? dateRangeOf(v.start)?.start : MIN_INSTANT;
    const end = typeof v.end === 'string' ? dateRangeOf(v.end)?.end : MAX_INSTANT;
    if (start && end && (v.start !== undefined || v.end !== undefined)) range = { start, end };
  }
  if (range) rows.push({ param, system: '', value: null, start: range.start, end: range.end });
}

/**
 * Index rows for every indexed search parameter of the resource (pure; plain property access, no FHIRPath).
 * `_id` and `_lastUpdated` are not included: stores keep them as columns of the resource row.
 */
export function extractIndexValues(resource: Resource): IndexRow[] {
  const rows: IndexRow[] = [];
  for (const def of indexedParamsOf(resource.resourceType)) {
    for (const v of elementValues(resource, def)) {
      switch (def.type) {
        case 'token':
        case 'uri':
          pushToken(rows, def.code, v);
          break;
        case 'reference':
          pushReference(rows, def, v);
          break;
        case 'date':
          pushDate(rows, def.code, v);
          break;
        case 'string':
          pushString(rows, def.code, v);
          break;
      }
    }
  }
  return dedupe(rows);
}

/**
 * Bumped when the rows of unchanged parameters are computed differently (2: string params, `:of-type` rows), so that
 * stores rebuild the index rows written before.
 */
const INDEX_FORMAT = 2;

/**
 * A digest of how the index rows of a type are computed (its indexed parameters and INDEX_FORMAT). A store keeps the
 * fingerprint its rows were written with, and rebuilds the rows of a type whose fingerprint changed.
 */
export function indexFingerprint(resourceType: string): string {
  const defs = indexedParamsOf(resourceType).map((d) => [d.code, d.type, d.paths, d.target ?? null]);
  return createHash('sha256').update(JSON.stringify([INDEX_FORMAT, defs])).digest('hex').slice(0, 16);
}

function dedupe(rows: IndexRow[]): IndexRow[] {
  if (rows.length < 2) return rows;
  const seen = new Set<string>();
  return rows.filter((r) => {
    const key = `${r.param}\u0000${r.system}\u0000${r.value}\u0000${r.start}\u0000${r.end}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** `Type/id` references held by a reference parameter, for `_include` resolution. */
export function referencesOf(resource: Resource, param: string, targetType?: string): string[] {
  const def = getSearchParam(resource.resourceType, param);
  if (def?.type !== 'reference') return [];
  const rows: IndexRow[] = [];
  for (const v of elementValues(resource, def)) pushReference(rows, def, v);
  return [
    ...new Set(rows.filter((r) => !targetType || r.system === targetType).map((r) => `${r.system}/${r.value}`)),
  ];
}

// ---------------------------------------------------------------------------------------------------------
// Dates: every value is a range [start, end) of UTC instants

export interface DateRange {
  start: string;
  end: string;
}

export const MIN_INSTANT = '0001-01-01T00:00:00.000Z';
export const MAX_INSTANT = '9999-12-31T23:59:59.999Z';
const MAX_MS = Date.parse(MAX_INSTANT);

const DATE_RE =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

function utc(y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number): number {
  const date = new Date(0);
  date.setUTCFullYear(y, mo, d); // not Date.UTC: it maps years 0–99 to 1900–1999
  date.setUTCHours(h, mi, s, ms);
  return date.getTime();
}

function iso(ms: number): string {
  return ms >= MAX_MS ? MAX_INSTANT : new Date(ms).toISOString();
}

/**
 * The range a FHIR date, dateTime or instant covers at its precision (`2024` is the whole year). A time
 * without a zone is read as UTC. Returns undefined when the text is not a valid date.
 */
export function dateRangeOf(text: string): DateRange | undefined {
  const m = DATE_RE.exec(text);
  if (!m) return undefined;
  const year = Number(m[1]);
  const month = m[2] ? Number(m[2]) : 1;
  const day = m[3] ? Number(m[3]) : 1;
  const hour = m[4] ? Number(m[4]) : 0;
  const minute = m[5] ? Number(m[5]) : 0;
  const second = m[6] ? Number(m[6]) : 0;
  const ms = m[7] ? Number(m[7].slice(0, 3).padEnd(3, '0')) : 0;
  if (year < 1 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  if (day > new Date(utc(year, month, 0, 0, 0, 0, 0)).getUTCDate()) return undefined;
  let offset = 0;
  if (m[8] && m[8] !== 'Z') {
    const oh = Number(m[8].slice(1, 3));
    const om = Number(m[8].slice(4, 6));
    if (oh > 14 || om > 59) return undefined;
    offset = (m[8][0] === '-' ? -1 : 1) * (oh * 60 + om) * 60_000;
  }
  const start = utc(year, month - 1, day, hour, minute, second, ms);
  let end: number;
  if (m[7]) end = start + 1;
  else if (m[6]) end = start + 1000;
  else if (m[5]) end = start + 60_000;
  else if (m[3]) end = utc(year, month - 1, day + 1, 0, 0, 0, 0);
  else if (m[2]) end = utc(year, month, 1, 0, 0, 0, 0);
  else end = utc(year + 1, 0, 1, 0, 0, 0, 0);
  return { start: iso(start - offset), end: iso(end - offset) };
}

// ---------------------------------------------------------------------------------------------------------
// Read side: what one query value means (used by the store dialects)

/** Unescapes FHIR search escapes (`\,` `\|` `\$` `\\`). */
function unescape(s: string): string {
  return s.replace(/\\([\\,|$])/g, '$1');
}

/** Splits on `sep` not preceded by an escaping backslash; the parts keep their other escapes. */
function splitUnescaped(s: string, sep: string, unescapeSep: boolean): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && i + 1 < s.length) {
      const next = s[i + 1];
      cur += next === sep && unescapeSep ? next : c + next;
      i++;
    } else if (c === sep) {
      parts.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  parts.push(cur);
  return parts;
}

/**
 * A token value: `system|code` (both), `code` (any system), `system|` (any code of the system),
 * `|code` (code with no system: `system` is '').
 */
export function tokenCriterion(value: string): { system?: string; code?: string } {
  const parts = splitUnescaped(value, '|', false);
  if (parts.length === 1) return { code: unescape(parts[0]) };
  const system = unescape(parts[0]);
  const code = unescape(parts.slice(1).join('|'));
  return code ? { system, code } : { system };
}

/** A reference value: `Type/id` (or an absolute URL ending so) or a bare `id`; `type` is set when known. */
export function referenceCriterion(def: SearchParamDefinition, value: string): { type?: string; id: string } {
  const v = unescape(value);
  if (/^[A-Za-z0-9\-.]{1,64}$/.test(v)) return def.target ? { type: def.target, id: v } : { id: v };
  const ref = parseReference(v);
  if (!ref) throw invalid(`${def.code}: invalid reference "${truncate(v)}"`, def.code);
  if (def.target && ref.type !== def.target) {
    throw invalid(`${def.code}: expected a reference to ${def.target}, got "${truncate(v)}"`, def.code);
  }
  return ref;
}

/** A uri value (`_profile`): matched whole, versions included. */
export function uriCriterion(value: string): string {
  return unescape(value);
}

export function dateCriterion(code: string, value: string): DateRange {
  // An unencoded `+` of a zone offset arrives as a space from URL decoding.
  const range = dateRangeOf(value.replace(/ (\d{2}:\d{2})$/, '+$1'));
  if (!range) throw invalid(`${code}: invalid date "${truncate(value)}" (expected YYYY, YYYY-MM, YYYY-MM-DD or a dateTime)`, code);
  return range;
}

/**
 * A string value as compared: `normalised` for a prefix or `:contains`, `raw` (escapes read) for `:exact`. 400 when
 * nothing is left to compare (a value of only spaces, punctuation, control or bidi characters).
 */
export function stringCriterion(code: string, value: string, modifier?: SearchModifier): { raw: string; normalised: string } {
  const raw = unescape(value);
  const normalised = normaliseString(raw);
  if (modifier === 'exact' ? raw === '' : normalised === '') {
    throw invalid(`${code}: the value "${truncate(raw)}" has no letter or digit to search for`, code);
  }
  // No stored text holds a control character (PostgreSQL cannot even hold NUL): say so rather than match nothing.
  if (modifier === 'exact' && /\p{Cc}/u.test(raw)) throw invalid(`${code}:exact: the value holds control characters`, code);
  return { raw, normalised };
}

/** An `:of-type` value `type-system|type-code|value`, as the index keeps it (see `ofTypeKey`). */
export function ofTypeCriterion(code: string, value: string): { typeKey: string; value: string } {
  const parts = splitUnescaped(value, '|', false);
  if (parts.length !== 3 || parts[1] === '' || parts[2] === '') {
    throw invalid(`${code}:of-type: expected "type-system|type-code|value", got "${truncate(value)}"`, code);
  }
  return { typeKey: ofTypeKey(unescape(parts[0]), unescape(parts[1])), value: unescape(parts[2]) };
}

/** A value quoted in an error message, cut so that a 100 KB parameter does not make a 100 KB answer. */
function truncate(text: string, max = 80): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

// ---------------------------------------------------------------------------------------------------------
// URL query → SearchQuery

export type SearchParamsInput = URLSearchParams | Iterable<readonly [string, string]> | Record<string, unknown>;

const PREFIXES = new Set(['eq', 'ne', 'lt', 'le', 'gt', 'ge']);
const UNSUPPORTED_PREFIXES = new Set(['sa', 'eb', 'ap']);
/** Result parameters other layers handle; the parser accepts and ignores them. */
const PASS_THROUGH = new Set(['_format', '_pretty', '_include', '_revinclude']);
const RESULT_PARAMS = new Set(['_count', '_offset', '_total', '_summary', '_sort', '_elements']);
export const SUMMARY_MODES = ['true', 'text', 'data', 'count', 'false'] as const;
export type SummaryMode = (typeof SUMMARY_MODES)[number];
/** `_sort` keys at most: each is a correlated lookup per matching resource. */
export const MAX_SORT_KEYS = 8;
const ELEMENT_RE = /^[A-Za-z][A-Za-z0-9]{0,63}$/;

/**
 * The modifiers a parameter accepts (for the CapabilityStatement and the docs): `missing` everywhere; `exact` and
 * `contains` on strings; `not` on tokens and uris; `of-type` on `identifier`; a resource type on references
 * (`subject:Patient`), which is also how a chain names its target.
 */
export function searchModifiersOf(def: SearchParamDefinition): string[] {
  switch (def.type) {
    case 'string':
      return ['missing', 'exact', 'contains'];
    case 'token':
      return def.code === 'identifier' ? ['missing', 'not', 'of-type'] : ['missing', 'not'];
    case 'uri':
      return ['missing', 'not'];
    case 'reference':
      return ['missing', '[type]'];
    case 'date':
      return ['missing'];
  }
}

/** What a search request asks besides its predicates: how to shape the matches, and notes for the Bundle. */
export interface SearchRequest {
  query: SearchQuery;
  /** `_summary` (absent when not given). `count` is already reflected in `query` (count 0, total). */
  summary?: SummaryMode;
  /** `_elements`: top-level element names to keep. */
  elements?: string[];
  /** Warnings for the Bundle's `outcome` entry: `_count` capped, parameters ignored under lenient handling. */
  notes: OperationOutcomeIssue[];
  /** URL parameter names ignored under lenient handling (the `self` link leaves them out). */
  ignored: string[];
}

export interface SearchParseOptions {
  /** `Prefer: handling=lenient`: unknown parameters and unsupported modifiers are ignored and noted, not refused. */
  lenient?: boolean;
}

function entriesOf(input: SearchParamsInput): [string, string][] {
  if (input instanceof URLSearchParams || Symbol.iterator in input) {
    const out: [string, string][] = [];
    for (const entry of input as Iterable<readonly [unknown, unknown]>) {
      out.push([String(entry[0]), String(entry[1])]);
    }
    return out;
  }
  // A parsed query object (e.g. express `req.query`): strings or arrays of strings only.
  const out: [string, string][] = [];
  for (const [name, value] of Object.entries(input)) {
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) {
      if (v === undefined) continue;
      if (typeof v !== 'string') throw invalid(`Search parameter "${name}" has an unsupported value`, name);
      out.push([name, v]);
    }
  }
  return out;
}

function parseNonNegativeInt(name: string, value: string, max: number): number {
  if (!/^\d{1,10}$/.test(value) || Number(value) > max) {
    throw invalid(`${name}: expected an integer between 0 and ${max}, got "${truncate(value)}"`, name);
  }
  return Number(value);
}

/**
 * Parses a FHIR search query for `resourceType` (see `parseSearchRequest`) into what the stores run. Throws
 * OperationOutcomeError (400).
 */
export function parseSearchParams(resourceType: string, input: SearchParamsInput, options?: SearchParseOptions): SearchQuery {
  return parseSearchRequest(resourceType, input, options).query;
}

/**
 * Parses a FHIR search query for `resourceType`: validates parameter names (chained one level deep,
 * `param[:Type].inner`, and `_has:Type:param:inner`), modifiers, values and prefixes, and the result parameters
 * `_count` (default 20, capped at 1000 with a note), `_offset`, `_total`, `_summary`, `_elements` and `_sort`.
 * `_include`/`_revinclude` (see `parseIncludes`), `_format` and `_pretty` are left to the API layer. Empty values
 * are ignored. Throws OperationOutcomeError (400), naming the parameter in `expression`.
 */
export function parseSearchRequest(resourceType: string, input: SearchParamsInput, options: SearchParseOptions = {}): SearchRequest {
  const params = searchParamsOf(resourceType);
  if (params.size === 0) throw invalid(`Unknown resource type "${resourceType}"`);
  const query: SearchQuery = { resourceType, predicates: [], count: DEFAULT_COUNT, offset: 0 };
  const request: SearchRequest = { query, notes: [], ignored: [] };
  let elements: Set<string> | undefined;
  for (const [name, value] of entriesOf(input)) {
    // Unknown parameters and unsupported modifiers: refused, or noted and ignored when lenient.
    const skip = (text: string, expression: string): undefined => {
      if (!options.lenient) throw invalid(text, expression);
      request.notes.push(issue('not-supported', `${text}: ignored (Prefer: handling=lenient)`, expression, 'warning'));
      request.ignored.push(name);
      return undefined;
    };
    const [code, ...modifiers] = name.split(':');
    if (PASS_THROUGH.has(code)) continue;
    if (RESULT_PARAMS.has(code) && modifiers.length > 0) throw invalid(`Unsupported modifier in "${name}"`, name);
    switch (code) {
      case '_count': {
        const asked = parseNonNegativeInt(name, value, Number.MAX_SAFE_INTEGER);
        if (asked > MAX_COUNT) {
          request.notes.push(
            issue('too-costly', `_count=${asked} is over the maximum of ${MAX_COUNT}: pages hold at most ${MAX_COUNT} resources`, '_count', 'warning'),
          );
        }
        query.count = Math.min(asked, MAX_COUNT);
        if (query.count === 0) query.total = true;
        continue;
      }
      case '_offset':
        query.offset = parseNonNegativeInt(name, value, MAX_OFFSET);
        continue;
      case '_total':
        if (value === 'none') query.total = false;
        else if (value === 'estimate' || value === 'accurate') query.total = true;
        else throw invalid(`_total: expected none, estimate or accurate, got "${truncate(value)}"`, name);
        continue;
      case '_summary':
        if (!(SUMMARY_MODES as readonly string[]).includes(value)) {
          throw invalid(`_summary: expected true, text, data, count or false, got "${truncate(value)}"`, name);
        }
        request.summary = value as SummaryMode;
        continue;
      case '_elements':
        elements ??= new Set();
        for (const element of value.split(',').map((e) => e.trim())) {
          if (element === '') continue;
          if (!ELEMENT_RE.test(element)) {
            throw invalid(`_elements: "${truncate(element)}" is not the name of a top-level element`, name);
          }
          elements.add(element);
        }
        continue;
      case '_sort':
        if (value !== '') query.sort = parseSort(resourceType, value);
        continue;
      case '_has': {
        const predicate = parseHas(resourceType, name, value, skip);
        if (predicate) query.predicates.push(predicate);
        continue;
      }
    }
    if (name.includes('.')) {
      const predicate = parseChain(resourceType, name, value, skip);
      if (predicate) query.predicates.push(predicate);
      continue;
    }
    const def = params.get(code);
    if (!def) {
      skip(`Unknown search parameter "${truncate(code)}" for ${resourceType}`, code);
      continue;
    }
    if (modifiers.length > 1) {
      skip(`Unsupported modifier in "${truncate(name)}"`, name);
      continue;
    }
    const predicate = parsePredicate(def, modifiers[0], value, skip);
    if (predicate) query.predicates.push(predicate);
  }
  if (request.summary === 'count') {
    query.count = 0;
    query.total = true;
  }
  if (elements !== undefined && elements.size > 0) {
    if (request.summary !== undefined && request.summary !== 'false' && request.summary !== 'count') {
      throw invalid(`_elements cannot be combined with _summary=${request.summary}: ask for one or the other`, '_elements');
    }
    request.elements = [...elements];
  }
  return request;
}

/** A parameter a URL may name (not the internal `_ref`). */
const publicParam = (type: string, code: string): SearchParamDefinition | undefined => searchParamsOf(type).get(code);

function parseSort(resourceType: string, value: string): SortKey[] {
  const keys = value.split(',').map((k) => k.trim());
  if (keys.length > MAX_SORT_KEYS) throw invalid(`_sort: ${keys.length} keys; at most ${MAX_SORT_KEYS}`, '_sort');
  return keys.map((key) => {
    const descending = key.startsWith('-');
    const code = descending ? key.slice(1) : key;
    if (!publicParam(resourceType, code)) {
      throw invalid(`_sort: unknown search parameter "${truncate(code)}" for ${resourceType}`, '_sort');
    }
    return { param: code, descending };
  });
}

type Skip = (text: string, expression: string) => undefined;

/** `ref[:Type].inner[:modifier]=value`: the chain's target type is `:Type`, or the only type `ref` may refer to. */
function parseChain(resourceType: string, name: string, value: string, skip: Skip): SearchPredicate | undefined {
  const dot = name.indexOf('.');
  const [refCode, ...refModifiers] = name.slice(0, dot).split(':');
  const tail = name.slice(dot + 1);
  const refDef = publicParam(resourceType, refCode);
  if (!refDef) return skip(`Unknown search parameter "${truncate(refCode)}" for ${resourceType} (in the chain "${truncate(name)}")`, name);
  if (refDef.type !== 'reference') throw invalid(`${refCode} is not a reference parameter: "${truncate(name)}" cannot be chained`, name);
  if (tail.includes('.')) throw invalid(`"${truncate(name)}": chained parameters go one level deep`, name);
  if (refModifiers.length > 1 || (refModifiers[0] !== undefined && !R4_RESOURCE_TYPES.has(refModifiers[0]))) {
    return skip(`Unsupported modifier in "${truncate(name)}"`, name);
  }
  const asked = refModifiers[0];
  if (asked !== undefined && refDef.target !== undefined && asked !== refDef.target) {
    throw invalid(`${refCode} refers to ${refDef.target} only, not ${asked} ("${truncate(name)}")`, name);
  }
  const [innerCode, ...innerModifiers] = tail.split(':');
  const target = asked ?? refDef.target;
  if (target === undefined) {
    // `subject` may refer to a Patient, a Group…: the inner parameter means something else for each.
    throw invalid(`${refCode} may refer to several resource types: name the one of the chain, e.g. "${refCode}:Patient.${truncate(innerCode)}"`, name);
  }
  const innerDef = publicParam(target, innerCode);
  if (!innerDef) return skip(`Unknown search parameter "${truncate(innerCode)}" for ${target} (in the chain "${truncate(name)}")`, name);
  if (innerModifiers.length > 1) return skip(`Unsupported modifier in "${truncate(name)}"`, name);
  const inner = parsePredicate(innerDef, innerModifiers[0], value, skip);
  return inner && { param: refCode, prefix: 'eq', values: [], chain: { type: target, predicate: inner } };
}

/** `_has:Type:ref:inner[:modifier]=value`: resources of Type that refer to the searched one through `ref` and match. */
function parseHas(resourceType: string, name: string, value: string, skip: Skip): SearchPredicate | undefined {
  const parts = name.split(':');
  if (parts.length < 4 || parts.length > 5 || parts.some((p) => p === '')) {
    throw invalid(`"${truncate(name)}": expected _has:Type:reference-parameter:parameter`, name);
  }
  const [, sourceType, refCode, innerCode, modifier] = parts;
  if (innerCode === '_has' || name.includes('.')) throw invalid(`"${truncate(name)}": _has goes one level deep, without chains`, name);
  if (searchParamsOf(sourceType).size === 0) throw invalid(`"${truncate(name)}": unknown resource type "${truncate(sourceType)}"`, name);
  const refDef = publicParam(sourceType, refCode);
  if (!refDef) return skip(`Unknown search parameter "${truncate(refCode)}" for ${sourceType} (in "${truncate(name)}")`, name);
  if (refDef.type !== 'reference') throw invalid(`"${truncate(name)}": ${sourceType}.${refCode} is not a reference parameter`, name);
  if (refDef.target !== undefined && refDef.target !== resourceType) {
    throw invalid(`"${truncate(name)}": ${sourceType}.${refCode} refers to ${refDef.target} only, not ${resourceType}`, name);
  }
  const innerDef = publicParam(sourceType, innerCode);
  if (!innerDef) return skip(`Unknown search parameter "${truncate(innerCode)}" for ${sourceType} (in "${truncate(name)}")`, name);
  const inner = parsePredicate(innerDef, modifier, value, skip);
  return inner && { param: '_has', prefix: 'eq', values: [], has: { type: sourceType, param: refCode, predicate: inner } };
}

function parsePredicate(def: SearchParamDefinition, modifier: string | undefined, raw: string, skip: Skip): SearchPredicate | undefined {
  const values = splitUnescaped(raw, ',', true).filter((v) => v !== '');
  if (values.length === 0) return undefined;
  const unsupported = (): undefined => skip(`Unsupported modifier ":${truncate(modifier ?? '')}" on search parameter "${def.code}"`, def.code);
  if (modifier === 'missing') {
    if (values.length !== 1 || (values[0] !== 'true' && values[0] !== 'false')) {
      throw invalid(`${def.code}:missing: expected true or false, got "${truncate(raw)}"`, def.code);
    }
    return { param: def.code, prefix: 'eq', values, modifier: 'missing' };
  }
  switch (def.type) {
    case 'string': {
      if (modifier !== undefined && modifier !== 'exact' && modifier !== 'contains') return unsupported();
      for (const v of values) stringCriterion(def.code, v, modifier);
      return { param: def.code, prefix: 'eq', values, ...(modifier ? { modifier } : {}) };
    }
    case 'token':
    case 'uri': {
      if (modifier === 'of-type') {
        if (def.code !== 'identifier') return unsupported();
        for (const v of values) ofTypeCriterion(def.code, v);
        return { param: def.code, prefix: 'eq', values, modifier: 'of-type' };
      }
      if (modifier !== undefined && modifier !== 'not') return unsupported();
      if (def.column === 'id') {
        for (const v of values) {
          if (!/^[A-Za-z0-9\-.]{1,64}$/.test(v)) throw invalid(`_id: invalid id "${truncate(v)}"`, def.code);
        }
      }
      return { param: def.code, prefix: modifier === 'not' ? 'ne' : 'eq', values };
    }
    case 'reference': {
      if (modifier !== undefined && !R4_RESOURCE_TYPES.has(modifier)) return unsupported();
      const normalised = values.map((v) => {
        if (modifier !== undefined) {
          if (!/^[A-Za-z0-9\-.]{1,64}$/.test(v)) {
            throw invalid(`${def.code}:${modifier}: expected an id, got "${truncate(v)}"`, def.code);
          }
          v = `${modifier}/${v}`;
        }
        const ref = referenceCriterion(def, v);
        return ref.type ? `${ref.type}/${ref.id}` : ref.id;
      });
      return { param: def.code, prefix: 'eq', values: normalised };
    }
    case 'date': {
      if (modifier !== undefined) return unsupported();
      let prefix: SearchPredicate['prefix'] | undefined;
      const dates = values.map((v) => {
        let p = 'eq';
        if (/^[a-z]{2}/.test(v)) {
          p = v.slice(0, 2);
          v = v.slice(2);
          if (UNSUPPORTED_PREFIXES.has(p)) throw invalid(`${def.code}: prefix "${p}" is not supported`, def.code);
          if (!PREFIXES.has(p)) throw invalid(`${def.code}: unknown prefix "${p}"`, def.code);
        }
        if (prefix !== undefined && prefix !== p) {
          throw invalid(`${def.code}: comma-separated dates must share one prefix`, def.code);
        }
        prefix = p as SearchPredicate['prefix'];
        dateCriterion(def.code, v);
        return v;
      });
      return { param: def.code, prefix: prefix ?? 'eq', values: dates };
    }
  }
}

/** Parses `_include` and `_revinclude` (with `:iterate`) for a search on `resourceType`. */
export function parseIncludes(
  resourceType: string,
  input: SearchParamsInput,
): { include: IncludeSpec[]; revinclude: IncludeSpec[] } {
  const include: IncludeSpec[] = [];
  const revinclude: IncludeSpec[] = [];
  for (const [name, value] of entriesOf(input)) {
    const [code, ...modifiers] = name.split(':');
    if (code !== '_include' && code !== '_revinclude') continue;
    if (modifiers.length > 1 || (modifiers[0] !== undefined && modifiers[0] !== 'iterate' && modifiers[0] !== 'recurse')) {
      throw invalid(`Unsupported modifier in "${name}"`, name);
    }
    const iterate = modifiers.length === 1;
    const parts = value.split(':');
    if (value === '*' || parts.length < 2 || parts.length > 3 || parts[1] === '*') {
      throw invalid(`${name}: expected "SourceType:param[:TargetType]" (no wildcards), got "${value}"`, name);
    }
    const [sourceType, param, targetType] = parts;
    const def = getSearchParam(sourceType, param);
    if (!def || def === REFERENCES_PARAM) throw invalid(`${name}: unknown search parameter "${param}" for ${sourceType}`, name);
    if (def.type !== 'reference') throw invalid(`${name}: "${param}" is not a reference parameter`, name);
    if (targetType !== undefined && !R4_RESOURCE_TYPES.has(targetType)) {
      throw invalid(`${name}: unknown resource type "${targetType}"`, name);
    }
    if (targetType !== undefined && def.target && def.target !== targetType) {
      throw invalid(`${name}: ${sourceType}:${param} only refers to ${def.target}`, name);
    }
    if (!iterate && code === '_include' && sourceType !== resourceType) {
      throw invalid(`${name}: "${value}" does not start with the searched type ${resourceType}`, name);
    }
    if (!iterate && code === '_revinclude') {
      const target = targetType ?? def.target;
      if (target !== undefined && target !== resourceType) {
        throw invalid(`${name}: "${value}" cannot refer to the searched type ${resourceType}`, name);
      }
    }
    const spec: IncludeSpec = { sourceType, param, ...(targetType ? { targetType } : {}), iterate };
    (code === '_include' ? include : revinclude).push(spec);
  }
  return { include, revinclude };
}
