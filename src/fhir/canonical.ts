// Canonical URLs: Passerelle's own profiles and code systems, and the national systems we emit.
// Everything that names a system or a profile takes it from here, so a rename is one edit.

export const CANONICAL_BASE = 'https://fhir.passerelle.fr';

export const sd = (id: string): string => `${CANONICAL_BASE}/StructureDefinition/${id}`;
export const cs = (id: string): string => `${CANONICAL_BASE}/CodeSystem/${id}`;
export const vs = (id: string): string => `${CANONICAL_BASE}/ValueSet/${id}`;

/** Profiles Passerelle emits; every resource produced by the mapping claims exactly one of these. */
export const PROFILE = {
  patient: sd('passerelle-patient'),
  patientIns: sd('passerelle-patient-ins'),
  practitioner: sd('passerelle-practitioner'),
  practitionerRole: sd('passerelle-practitioner-role'),
  organization: sd('passerelle-organization'),
  careTeam: sd('passerelle-careteam'),
  pppCarePlan: sd('passerelle-ppp-careplan'),
  bpmCarePlan: sd('passerelle-bpm-careplan'),
  detectedIssue: sd('passerelle-detectedissue'),
  recommendationMedicationRequest: sd('passerelle-recommendation-medicationrequest'),
  recommendationServiceRequest: sd('passerelle-recommendation-servicerequest'),
  medicationStatement: sd('passerelle-medicationstatement'),
  medicationList: sd('passerelle-medication-list'),
  bmoComposition: sd('passerelle-bmo-composition'),
  fctComposition: sd('passerelle-fct-composition'),
  validationProvenance: sd('passerelle-validation-provenance'),
  communication: sd('passerelle-communication'),
  task: sd('passerelle-task'),
  consent: sd('passerelle-consent'),
  encounter: sd('passerelle-encounter'),
} as const;

/** Passerelle extensions. */
export const EXT = {
  /** On a BMO MedicationStatement and Composition section: the agreeing / consulted sources. */
  medicationSources: sd('passerelle-medication-sources'),
  /** On an FCT MedicationStatement: reconciliation properties (status, divergence, type, severity, resolution). */
  reconciliation: sd('passerelle-reconciliation'),
  /** On a CarePlan: entry door, stay type, place of living, consent, the evaluated inclusion and the DAH billing. */
  inclusion: sd('passerelle-inclusion'),
  /** On a CarePlan, one per inclusion criterion: met or not, the figure and the reason. */
  inclusionCriterion: sd('passerelle-inclusion-criterion'),
  /** On a CarePlan: the pathway's step, first and last send, closure (docs/pathway.md). */
  pathwayStatus: sd('passerelle-pathway-status'),
  /** On a CarePlan, one per recommendation and follow-up (D45, D90): the outcome recorded, the proposal. */
  followupOutcome: sd('passerelle-followup-outcome'),
} as const;

/** Local code systems (content defined in src/domain/codes.ts). */
export const CS = {
  pppDecision: cs('ppp-decision'),
  taskType: cs('task-type'),
  communicationCategory: cs('communication-category'),
  ctmDivergence: cs('ctm-divergence'),
  followupOutcome: cs('followup-outcome'),
  careplanCategory: cs('careplan-category'),
  pathway: cs('pathway'),
  rcpMode: cs('rcp-mode'),
  bpmStep: cs('bpm-step'),
  careTeamRole: cs('careteam-role'),
  entryDoor: cs('entry-door'),
  stayType: cs('stay-type'),
  provenanceActivity: cs('provenance-activity'),
  identityState: cs('identity-state'),
  placeOfLiving: cs('place-of-living'),
  inclusionCriterion: cs('inclusion-criterion'),
  pathwayStep: cs('pathway-step'),
  followupWindow: cs('followup-window'),
} as const;

/** National and international code systems used by the mapping. */
export const SYSTEM = {
  sfpcProblem: 'https://hl7.fr/ig/fhir/medication/CodeSystem/fr-pharmaceutical-intervention-problem-code',
  sfpcIntervention: 'https://hl7.fr/ig/fhir/medication/CodeSystem/fr-pharmaceutical-intervention-type-code',
  sfpcOutcome: 'https://hl7.fr/ig/fhir/medication/CodeSystem/fr-pharmaceutical-intervention-devenir-code',
  bmoSourceType: 'https://hl7.fr/ig/fhir/medication/CodeSystem/fr-medication-history-source-type',
  fctStatus: 'https://hl7.fr/ig/fhir/medication/CodeSystem/fr-medication-reconciliation-status',
  fctDiscrepancy: 'https://hl7.fr/ig/fhir/medication/CodeSystem/fr-medication-reconciliation-discrepancy',
  fctErrorType: 'https://hl7.fr/ig/fhir/medication/CodeSystem/fr-medication-reconciliation-type',
  fctSeverity: 'https://hl7.fr/ig/fhir/medication/CodeSystem/fr-medication-reconciliation-outcome',
  fctResolution: 'https://hl7.fr/ig/fhir/medication/CodeSystem/fr-medication-reconciliation-resolution',
  loinc: 'http://loinc.org',
  snomed: 'http://snomed.info/sct',
  ucum: 'http://unitsofmeasure.org',
  edqm: 'http://standardterms.edqm.eu',
  provenanceParticipantType: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type',
  consentScope: 'http://terminology.hl7.org/CodeSystem/consentscope',
  v3ActCode: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
  v3ParticipationType: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType',
  medicationStatementCategory: 'http://terminology.hl7.org/CodeSystem/medication-statement-category',
  administrativeGender: 'http://hl7.org/fhir/administrative-gender',
  /** ANS TRE_G15 profession codes (PractitionerRole.code): 10 médecin, 21 pharmacien, 60 infirmier. */
  professionSante: 'https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante',
  // Identity (FR Core)
  frCoreIdentifierType: 'https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203',
  /** HL7 v2 table 0203 (identifier type `PI` of the sender's patient id). */
  v2IdentifierType: 'http://terminology.hl7.org/CodeSystem/v2-0203',
  listEmptyReason: 'http://terminology.hl7.org/CodeSystem/list-empty-reason',
  /**
   * FR Core RNIV identity-status code system (PROV/RECUP/VALI/QUAL), only on a development branch of FR Core, in no
   * released package. Read on input (Patients sent by earlier versions or partners); never emitted.
   */
  frCoreRnivStatus: 'https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-identity-status',
  /** Table 0445 (identity reliability status and attributes), bound to the identityStatus sub-extension. */
  frCoreIdentityStatus: 'https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0445',
  /** How the identity was collected (SM, CV, INSI…): the methodCollection sub-extension. */
  frCoreMethodCollection: 'https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-method-collection',
  frCoreIdentityReliabilityExt: 'https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability',
  frCoreBirthListGivenNameExt: 'https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-birth-list-given-name',
  frCoreInseeCodeExt: 'https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code',
  birthPlaceExt: 'http://hl7.org/fhir/StructureDefinition/patient-birthPlace',
  inseeCommune: 'https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM',
  // Identifiers
  insNir: 'urn:oid:1.2.250.1.213.1.4.8',
  insNia: 'urn:oid:1.2.250.1.213.1.4.9',
  insNirTest: 'urn:oid:1.2.250.1.213.1.4.10',
  insNirDemo: 'urn:oid:1.2.250.1.213.1.4.11',
  rpps: 'https://rpps.esante.gouv.fr',
  idnps: 'urn:oid:1.2.250.1.71.4.2.1',
  finess: 'https://finess.esante.gouv.fr',
  idnst: 'urn:oid:1.2.250.1.71.4.2.2',
  uuid: 'urn:ietf:rfc:3986',
} as const;

/** Drug code kinds and the single URI emitted for each (default: the `urn:oid:` form, as in ANS examples). */
export const DRUG_SYSTEM = {
  CIS: 'urn:oid:1.2.250.1.213.2.3.1',
  CIP13: 'urn:oid:1.2.250.1.213.2.3.2',
  UCD: 'urn:oid:1.2.250.1.213.2.61',
  MV: 'urn:oid:1.2.250.1.213.2.59',
  ATC: 'http://www.whocc.no/atc',
} as const;

export type DrugCodeKind = keyof typeof DRUG_SYSTEM;

// Aliases accepted on input are domain knowledge: see DRUG_SYSTEM_ALIASES in src/domain/drug.ts.
