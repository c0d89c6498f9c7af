// Passerelle's conformance resources as compact data: local CodeSystems, ValueSets, resource profiles and
// extensions. `npm run profiles` turns this into the JSON artefacts of `profiles/` (snapshots included).
import type { CodeableConcept } from '@medplum/fhirtypes';
import {
  BMO_SOURCE_TYPES,
  BMO_VALIDATION_ACTIVITY,
  BPM_STEPS,
  CARE_TEAM_ROLES,
  CAREPLAN_CATEGORIES,
  COMMUNICATION_CATEGORIES,
  CTM_DIVERGENCES,
  ENTRY_DOORS,
  FCT_DISCREPANCIES,
  FCT_ERROR_TYPES,
  FCT_LINE_STATUSES,
  FCT_RESOLUTIONS,
  IDENTITY_STATES,
  INCLUSION_CRITERIA,
  PLACES_OF_LIVING,
  FCT_SEVERITIES,
  FOLLOWUP_OUTCOMES,
  FOLLOWUP_WINDOWS,
  PATHWAY_STEPS,
  PATHWAYS,
  PPP_DECISIONS,
  RCP_MODES,
  SFPC_INTERVENTIONS,
  SFPC_OUTCOMES,
  SFPC_PROBLEMS,
  STAY_TYPES,
  TASK_TYPES,
  type CodeDef,
} from '../../domain/codes.js';
import { CS, DRUG_SYSTEM, EXT, PROFILE, SYSTEM, vs } from '../canonical.js';

/** Business version of every artefact; bump when a profile changes meaning. */
export const ARTEFACT_VERSION = '0.1.0';
export const PUBLISHER = 'Passerelle';

export type BindingStrength = 'required' | 'extensible' | 'preferred' | 'example';

/** A constraint on one element of the base snapshot, addressed by its element id. */
export interface ElementRule {
  /** Element id in the snapshot: `CarePlan.author`, `Task.output.value[x]`. */
  readonly id: string;
  readonly min?: number;
  readonly max?: string;
  /** Allowed types of a choice element (subset of the base types). */
  readonly types?: readonly string[];
  readonly binding?: { readonly strength: BindingStrength; readonly valueSet: string };
  readonly fixedCode?: string;
  readonly patternCodeableConcept?: CodeableConcept;
  readonly short?: string;
}

/** A FHIRPath rule evaluated on the resource; `target` is the element named in the issue when it fails. */
export interface InvariantSpec {
  readonly key: string;
  readonly human: string;
  readonly expression: string;
  readonly target: string;
  readonly severity?: 'error' | 'warning';
}

/** A slice of an `extension` element by url, typed with an extension definition. */
export interface ExtensionSlice {
  readonly name: string;
  readonly url: string;
  readonly min: number;
  readonly max: string;
  /** Id of the sliced `extension` element; default `<Type>.extension`. */
  readonly on?: string;
}

export interface ProfileSpec {
  readonly id: string;
  readonly url: string;
  readonly type: string;
  readonly title: string;
  readonly description: string;
  readonly elements?: readonly ElementRule[];
  readonly invariants?: readonly InvariantSpec[];
  readonly extensions?: readonly ExtensionSlice[];
}

/** One part of a complex extension (a sub-extension with url = `name`). */
export interface ExtensionPart {
  readonly name: string;
  readonly min: number;
  readonly max: string;
  readonly type: 'Coding' | 'boolean' | 'positiveInt' | 'unsignedInt' | 'string' | 'dateTime' | 'Reference';
  /** Required binding of the part's value (Coding parts). */
  readonly valueSet?: string;
  readonly short: string;
}

export interface ExtensionSpec {
  readonly id: string;
  readonly url: string;
  readonly title: string;
  readonly description: string;
  /** Element paths where the extension may appear. */
  readonly context: readonly string[];
  readonly parts: readonly ExtensionPart[];
}

export interface CodeSystemSpec {
  readonly url: string;
  readonly title: string;
  readonly description: string;
  readonly concepts: readonly CodeDef[];
}

export interface ValueSetSpec {
  readonly id: string;
  readonly title: string;
  readonly description: string;
  /** `concepts` absent: the whole code system. */
  readonly include: readonly { readonly system: string; readonly concepts?: readonly CodeDef[] }[];
}

// ---- FHIRPath helpers -------------------------------------------------------------------------------

const lit = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
/** FHIRPath collection literal `('a' | 'b')`. */
const oneOf = (values: readonly string[]): string => `(${values.map(lit).join(' | ')})`;
const hasCoding = (system: string, code: string): string =>
  `coding.where(system = ${lit(system)} and code = ${lit(code)}).exists()`;
const lastSegment = (url: string): string => url.slice(url.lastIndexOf('/') + 1);

/** The codes of FR Core fr-core-vs-patient-gender (FR Core 2.2.0-ballot-2). */
const PATIENT_GENDERS: readonly CodeDef[] = [
  { code: 'male', display: 'Male' },
  { code: 'female', display: 'Female' },
  { code: 'unknown', display: 'Unknown' },
];

const INS_SYSTEMS = [SYSTEM.insNir, SYSTEM.insNia, SYSTEM.insNirTest, SYSTEM.insNirDemo];
const DRUG_SYSTEMS = Object.values(DRUG_SYSTEM);
const LOINC_MEDICATION_HISTORY: CodeableConcept = { coding: [{ system: SYSTEM.loinc, code: '10160-0' }] };

/** medication[x] as CodeableConcept: a coding from a French drug system, or text alone when no code is known. */
const drugCodeInvariant = (key: string, type: string): InvariantSpec => ({
  key,
  human:
    'medicationCodeableConcept carries a coding whose system is a French drug system (CIS, CIP13, UCD, MV, ATC), ' +
    'or only text when the drug has no known code',
  expression:
    `medication.ofType(CodeableConcept).all(coding.where(system in ${oneOf(DRUG_SYSTEMS)}).exists() ` +
    'or (coding.empty() and text.exists()))',
  target: `${type}.medication[x]`,
});

// ---- Code systems and value sets ----------------------------------------------------------------------

const csSpec = (url: string, title: string, description: string, concepts: readonly CodeDef[]): CodeSystemSpec => ({
  url,
  title,
  description,
  concepts,
});

export const CODE_SYSTEMS: readonly CodeSystemSpec[] = [
  csSpec(CS.pppDecision, 'Décision sur une recommandation du PPP', 'Réponse du MT ou du PHO à une recommandation (Retenu / Non retenu).', PPP_DECISIONS),
  csSpec(CS.taskType, 'Types de tâches Passerelle', 'Décisions et actions attendues des acteurs des parcours PPP, CTM et BPM.', TASK_TYPES),
  csSpec(CS.communicationCategory, 'Catégories de messages', 'Messages échangés autour d’un PPP ou d’un BPM.', COMMUNICATION_CATEGORIES),
  csSpec(CS.ctmDivergence, 'Qualification des divergences (CTM)', 'Divergence documentée, non documentée, non intentionnelle ou absente.', CTM_DIVERGENCES),
  csSpec(CS.followupOutcome, 'Résultat du suivi J45 / J90', 'Mise en œuvre constatée d’une recommandation lors du suivi.', FOLLOWUP_OUTCOMES),
  csSpec(CS.careplanCategory, 'Catégories de plans', 'Nature du plan : PPP ou BPM.', CAREPLAN_CATEGORIES),
  csSpec(CS.pathway, 'Parcours', 'Parcours régionaux de revue de la médication.', PATHWAYS),
  csSpec(CS.rcpMode, 'Modes de RCP', 'Concertation pluriprofessionnelle synchrone ou asynchrone.', RCP_MODES),
  csSpec(CS.bpmStep, 'Étapes du BPM', 'Étapes du bilan partagé de médication.', BPM_STEPS),
  csSpec(CS.careTeamRole, 'Rôles dans l’équipe de soins', 'Rôles des membres de l’équipe d’un PPP.', CARE_TEAM_ROLES),
  csSpec(CS.entryDoor, 'Porte d’entrée', 'Porte d’entrée de l’inclusion dans le parcours.', ENTRY_DOORS),
  csSpec(CS.stayType, 'Type de séjour', 'Séjour au cours duquel le patient a été inclus.', STAY_TYPES),
  csSpec(CS.placeOfLiving, 'Lieu de vie', 'Lieu de vie du patient à l’inclusion.', PLACES_OF_LIVING),
  csSpec(CS.inclusionCriterion, 'Critères d’inclusion', 'Critères d’inclusion dans le parcours (IATROPREV V2).', INCLUSION_CRITERIA),
  csSpec(CS.pathwayStep, 'Étapes du parcours', 'Où en est un PPP : RCP, attente des décisions du MT et du PHO, suivi J45, suivi J90, clos.', PATHWAY_STEPS),
  csSpec(CS.followupWindow, 'Suivis J45 / J90', 'Les deux temps du suivi après l’envoi du PPP.', FOLLOWUP_WINDOWS),
  csSpec(CS.provenanceActivity, 'Activités tracées', 'Activités enregistrées dans les Provenance de Passerelle.', BMO_VALIDATION_ACTIVITY),
  csSpec(CS.identityState, 'État du rapprochement d’identité', 'Étiquette (meta.tag) d’un document dont l’identité du patient attend une décision de la cellule d’identitovigilance.', IDENTITY_STATES),
];

/** Value set id of a local code system (same id as the code system). */
const localVs = (csUrl: string): string => vs(lastSegment(csUrl));

export const VALUE_SETS: readonly ValueSetSpec[] = [
  ...CODE_SYSTEMS.map((c) => ({
    id: lastSegment(c.url),
    title: c.title,
    description: `Tous les codes de ${c.url}.`,
    include: [{ system: c.url }],
  })),
  // Interop'Santé code systems: we publish value sets over their canonicals, not the code systems themselves.
  { id: 'sfpc-problem', title: 'Problèmes liés à la thérapeutique (SFPC Act-IP)', description: 'Codes Interop’Santé fr-pharmaceutical-intervention-problem-code.', include: [{ system: SYSTEM.sfpcProblem, concepts: SFPC_PROBLEMS }] },
  { id: 'sfpc-intervention', title: 'Types d’intervention pharmaceutique (SFPC Act-IP)', description: 'Codes Interop’Santé fr-pharmaceutical-intervention-type-code.', include: [{ system: SYSTEM.sfpcIntervention, concepts: SFPC_INTERVENTIONS }] },
  { id: 'sfpc-outcome', title: 'Devenir de l’intervention (SFPC Act-IP)', description: 'Codes Interop’Santé fr-pharmaceutical-intervention-devenir-code.', include: [{ system: SYSTEM.sfpcOutcome, concepts: SFPC_OUTCOMES }] },
  { id: 'bmo-source-type', title: 'Sources du bilan médicamenteux', description: 'Codes Interop’Santé fr-medication-history-source-type.', include: [{ system: SYSTEM.bmoSourceType, concepts: BMO_SOURCE_TYPES }] },
  { id: 'fct-status', title: 'Statut d’une ligne de FCT', description: 'Codes Interop’Santé fr-medication-reconciliation-status.', include: [{ system: SYSTEM.fctStatus, concepts: FCT_LINE_STATUSES }] },
  { id: 'fct-discrepancy', title: 'Divergence (FCT)', description: 'Codes Interop’Santé fr-medication-reconciliation-discrepancy.', include: [{ system: SYSTEM.fctDiscrepancy, concepts: FCT_DISCREPANCIES }] },
  { id: 'fct-error-type', title: 'Type d’erreur médicamenteuse (FCT)', description: 'Codes Interop’Santé fr-medication-reconciliation-type.', include: [{ system: SYSTEM.fctErrorType, concepts: FCT_ERROR_TYPES }] },
  { id: 'fct-severity', title: 'Gravité de l’erreur médicamenteuse (FCT)', description: 'Codes Interop’Santé fr-medication-reconciliation-outcome.', include: [{ system: SYSTEM.fctSeverity, concepts: FCT_SEVERITIES }] },
  { id: 'fct-resolution', title: 'Résolution de la divergence (FCT)', description: 'Codes Interop’Santé fr-medication-reconciliation-resolution.', include: [{ system: SYSTEM.fctResolution, concepts: FCT_RESOLUTIONS }] },
  // FR Core fr-core-vs-patient-gender (required on fr-core-patient.gender): administrative gender without `other`.
  {
    id: 'patient-gender',
    title: 'Genre administratif du patient (FR Core)',
    description: 'male | female | unknown, comme fr-core-vs-patient-gender (FR Core) ; le sexe RNIV I (indéterminé) est unknown.',
    include: [{ system: SYSTEM.administrativeGender, concepts: PATIENT_GENDERS }],
  },
  // Unions used by DetectedIssue.
  {
    id: 'detectedissue-code',
    title: 'Nature d’un problème lié à la thérapeutique',
    description: 'Problème SFPC Act-IP, ou divergence non intentionnelle (DNI) relevée lors d’une CTM.',
    include: [
      { system: SYSTEM.sfpcProblem, concepts: SFPC_PROBLEMS },
      { system: CS.ctmDivergence, concepts: CTM_DIVERGENCES.filter((c) => c.code === 'DNI') },
    ],
  },
  {
    id: 'detectedissue-mitigation-action',
    title: 'Action proposée pour un problème',
    description: 'Intervention SFPC Act-IP (PPP, BPM) ou résolution d’une divergence (CTM).',
    include: [
      { system: SYSTEM.sfpcIntervention, concepts: SFPC_INTERVENTIONS },
      { system: SYSTEM.fctResolution, concepts: FCT_RESOLUTIONS },
    ],
  },
];

// ---- Extensions ----------------------------------------------------------------------------------------

export const EXTENSIONS: readonly ExtensionSpec[] = [
  {
    id: lastSegment(EXT.medicationSources),
    url: EXT.medicationSources,
    title: 'Sources du bilan médicamenteux',
    description: 'Sources d’information concordantes (ligne de BMO) ou consultées (section du BMO), et leur nombre.',
    context: ['MedicationStatement', 'Composition.section'],
    parts: [
      { name: 'number', min: 0, max: '1', type: 'positiveInt', short: 'Nombre de sources' },
      { name: 'source', min: 1, max: '*', type: 'Coding', valueSet: vs('bmo-source-type'), short: 'Type de source' },
    ],
  },
  {
    id: lastSegment(EXT.reconciliation),
    url: EXT.reconciliation,
    title: 'Propriétés de conciliation d’une ligne de FCT',
    description: 'Statut, divergence, type d’erreur, gravité et résolution d’une ligne de fiche de conciliation.',
    context: ['MedicationStatement'],
    parts: [
      { name: 'status', min: 1, max: '1', type: 'Coding', valueSet: vs('fct-status'), short: 'Statut de la ligne' },
      { name: 'isDiscrepant', min: 0, max: '1', type: 'boolean', short: 'Présence d’une divergence' },
      { name: 'discrepancy', min: 0, max: '1', type: 'Coding', valueSet: vs('fct-discrepancy'), short: 'Qualification Interop’Santé' },
      { name: 'divergence', min: 0, max: '1', type: 'Coding', valueSet: localVs(CS.ctmDivergence), short: 'Qualification DID / DIND / DNI' },
      { name: 'type', min: 0, max: '1', type: 'Coding', valueSet: vs('fct-error-type'), short: 'Type d’erreur' },
      { name: 'severity', min: 0, max: '1', type: 'Coding', valueSet: vs('fct-severity'), short: 'Gravité' },
      { name: 'resolution', min: 0, max: '1', type: 'Coding', valueSet: vs('fct-resolution'), short: 'Résolution' },
      { name: 'comment', min: 0, max: '*', type: 'string', short: 'Commentaire' },
    ],
  },
  {
    id: lastSegment(EXT.inclusion),
    url: EXT.inclusion,
    title: 'Inclusion dans le parcours',
    description:
      'Porte d’entrée, type de séjour, parcours, lieu de vie et consentement de l’inclusion du patient ; résultat des critères ' +
      'd’inclusion (indicatifs : un clinicien peut inclure quand même, avec un motif) et facturation du DAH (pas de RCP : pas de facturation).',
    context: ['CarePlan'],
    parts: [
      { name: 'entryDoor', min: 1, max: '1', type: 'Coding', valueSet: localVs(CS.entryDoor), short: 'Porte d’entrée' },
      { name: 'stayType', min: 0, max: '1', type: 'Coding', valueSet: localVs(CS.stayType), short: 'Type de séjour (entrée hôpital)' },
      { name: 'pathway', min: 0, max: '1', type: 'Coding', valueSet: localVs(CS.pathway), short: 'Parcours' },
      { name: 'placeOfLiving', min: 0, max: '1', type: 'Coding', valueSet: localVs(CS.placeOfLiving), short: 'Lieu de vie' },
      { name: 'consent', min: 0, max: '1', type: 'boolean', short: 'Consentement du patient (donné ou refusé)' },
      { name: 'eligible', min: 0, max: '1', type: 'boolean', short: 'Critères d’inclusion remplis' },
      { name: 'included', min: 0, max: '1', type: 'boolean', short: 'Patient inclus (critères remplis ou décision clinique)' },
      { name: 'overrideReason', min: 0, max: '1', type: 'string', short: 'Motif de l’inclusion malgré les critères' },
      { name: 'billableDah', min: 0, max: '1', type: 'boolean', short: 'PPP facturable par le DAH (avec RCP)' },
      { name: 'noRcpReason', min: 0, max: '1', type: 'string', short: 'Motif de l’envoi sans RCP' },
    ],
  },
  {
    id: lastSegment(EXT.inclusionCriterion),
    url: EXT.inclusionCriterion,
    title: 'Critère d’inclusion évalué',
    description: 'Un critère d’inclusion dans le parcours : rempli ou non, la valeur jugée (âge, nombre) et le motif en clair.',
    context: ['CarePlan'],
    parts: [
      { name: 'code', min: 1, max: '1', type: 'Coding', valueSet: localVs(CS.inclusionCriterion), short: 'Critère' },
      { name: 'met', min: 1, max: '1', type: 'boolean', short: 'Critère rempli' },
      { name: 'value', min: 0, max: '1', type: 'unsignedInt', short: 'Valeur jugée (âge en années, nombre)' },
      { name: 'reason', min: 1, max: '1', type: 'string', short: 'Motif' },
    ],
  },
  {
    id: lastSegment(EXT.pathwayStatus),
    url: EXT.pathwayStatus,
    title: 'Étape du parcours',
    description: 'Où en est le PPP dans le parcours : étape, premier et dernier envoi au MT et au PHO (ancre du suivi J45 / J90), clôture, dernière régénération du document avec les décisions.',
    context: ['CarePlan'],
    parts: [
      { name: 'step', min: 1, max: '1', type: 'Coding', valueSet: localVs(CS.pathwayStep), short: 'Étape' },
      { name: 'sentAt', min: 0, max: '1', type: 'dateTime', short: 'Premier envoi au MT et au PHO' },
      { name: 'lastSent', min: 0, max: '1', type: 'dateTime', short: 'Dernier envoi' },
      { name: 'closedAt', min: 0, max: '1', type: 'dateTime', short: 'Clôture du parcours' },
      { name: 'documentUpdated', min: 0, max: '1', type: 'dateTime', short: 'Document régénéré avec les décisions reçues' },
    ],
  },
  {
    id: lastSegment(EXT.followupOutcome),
    url: EXT.followupOutcome,
    title: 'Résultat du suivi d’une recommandation',
    description: 'À J45 ou J90, la mise en œuvre constatée d’une recommandation (et la proposition calculée depuis l’ordonnance structurée).',
    context: ['CarePlan'],
    parts: [
      { name: 'window', min: 1, max: '1', type: 'Coding', valueSet: localVs(CS.followupWindow), short: 'Suivi (J45, J90)' },
      { name: 'recommendation', min: 1, max: '1', type: 'Reference', short: 'La recommandation (activity du PPP)' },
      { name: 'outcome', min: 0, max: '1', type: 'Coding', valueSet: localVs(CS.followupOutcome), short: 'Résultat enregistré' },
      { name: 'proposed', min: 0, max: '1', type: 'Coding', valueSet: localVs(CS.followupOutcome), short: 'Résultat proposé (ordonnance structurée)' },
      { name: 'recorded', min: 0, max: '1', type: 'dateTime', short: 'Enregistré le' },
      { name: 'recorder', min: 0, max: '1', type: 'string', short: 'Enregistré par' },
      { name: 'note', min: 0, max: '1', type: 'string', short: 'Commentaire' },
    ],
  },
];

// ---- Profiles --------------------------------------------------------------------------------------------

const required = (valueSet: string) => ({ strength: 'required', valueSet }) as const;
const extensible = (valueSet: string) => ({ strength: 'extensible', valueSet }) as const;

const careplanCategoryInvariant = (key: string, code: string): InvariantSpec => ({
  key,
  human: `category contains ${CS.careplanCategory}#${code}`,
  expression: `category.where(${hasCoding(CS.careplanCategory, code)}).exists()`,
  target: 'CarePlan.category',
});

const insSystemsLiteral = oneOf(INS_SYSTEMS);

export const PROFILES: readonly ProfileSpec[] = [
  {
    id: 'passerelle-patient',
    url: PROFILE.patient,
    type: 'Patient',
    title: 'Patient (identité non qualifiée)',
    description: 'Patient dont l’identité n’est pas qualifiée : identifiants locaux (IPP…) seulement, jamais l’INS.',
    elements: [
      { id: 'Patient.name', min: 1 },
      { id: 'Patient.gender', min: 1, binding: required(vs('patient-gender')) },
      { id: 'Patient.birthDate', min: 1 },
    ],
    invariants: [
      {
        key: 'pat-no-ins',
        human: 'An INS may only be carried by a qualified identity (profile passerelle-patient-ins)',
        expression: `identifier.where(system in ${insSystemsLiteral}).empty()`,
        target: 'Patient.identifier',
      },
    ],
  },
  {
    id: 'passerelle-patient-ins',
    url: PROFILE.patientIns,
    type: 'Patient',
    title: 'Patient (identité qualifiée, INS)',
    description:
      'Patient à l’identité qualifiée portant son INS, selon les règles de FR Core fr-core-patient-ins : ' +
      'fiabilité de l’identité, lieu de naissance (code INSEE), un seul INS officiel, nom de naissance avec un seul prénom et la liste des prénoms.',
    elements: [
      { id: 'Patient.identifier', min: 1 },
      { id: 'Patient.name', min: 1 },
      { id: 'Patient.gender', min: 1, binding: required(vs('patient-gender')) },
      { id: 'Patient.birthDate', min: 1 },
    ],
    extensions: [
      { name: 'identityReliability', url: SYSTEM.frCoreIdentityReliabilityExt, min: 1, max: '*' },
      { name: 'birthPlace', url: SYSTEM.birthPlaceExt, min: 1, max: '1' },
    ],
    invariants: [
      {
        key: 'pins-1',
        human: 'Exactly one official INS identifier (system = an INS OID)',
        expression: `identifier.where(use = 'official' and system in ${insSystemsLiteral}).count() = 1`,
        target: 'Patient.identifier',
      },
      {
        key: 'pins-2',
        human: 'An INS matricule has 15 characters',
        expression: `identifier.where(system in ${insSystemsLiteral}).all(value.length() = 15)`,
        target: 'Patient.identifier',
      },
      {
        key: 'pins-3',
        human: 'Exactly one official name, with a family name, one given name (the first birth given name) and the birth-list-given-name extension',
        expression:
          "name.where(use = 'official').count() = 1 and name.where(use = 'official').all(family.exists() and given.count() = 1 and " +
          `extension(${lit(SYSTEM.frCoreBirthListGivenNameExt)}).exists())`,
        target: 'Patient.name',
      },
      {
        key: 'pins-4',
        human: 'The birth place carries its INSEE (COG) code',
        expression: `extension(${lit(SYSTEM.birthPlaceExt)}).value.extension(${lit(SYSTEM.frCoreInseeCodeExt)}).value.code.exists()`,
        target: 'Patient.extension',
      },
      {
        key: 'pins-5',
        human: 'The identity reliability extension states a validated/qualified identity (VALI or QUAL)',
        expression:
          `extension(${lit(SYSTEM.frCoreIdentityReliabilityExt)}).extension('identityStatus').value` +
          `.where(code in ('VALI' | 'QUAL')).exists()`,
        target: 'Patient.extension',
      },
      {
        key: 'pins-6',
        human: 'An INS identity is male or female',
        expression: "gender = 'male' or gender = 'female'",
        target: 'Patient.gender',
      },
    ],
  },
  {
    id: 'passerelle-practitioner',
    url: PROFILE.practitioner,
    type: 'Practitioner',
    title: 'Professionnel de santé',
    description: 'Professionnel identifié par son RPPS (11 chiffres) ou son IDNPS.',
    elements: [{ id: 'Practitioner.identifier', min: 1 }],
    invariants: [
      {
        key: 'prac-1',
        human: 'One identifier is an RPPS (11 digits) or an IDNPS',
        expression:
          `identifier.where((system = ${lit(SYSTEM.rpps)} and value.matches('^[0-9]{11}$')) or ` +
          `(system = ${lit(SYSTEM.idnps)} and value.exists())).exists()`,
        target: 'Practitioner.identifier',
      },
    ],
  },
  {
    id: 'passerelle-practitioner-role',
    url: PROFILE.practitionerRole,
    type: 'PractitionerRole',
    title: 'Rôle d’un professionnel',
    description: 'Professionnel agissant pour une structure.',
    elements: [{ id: 'PractitionerRole.practitioner', min: 1 }],
  },
  {
    id: 'passerelle-organization',
    url: PROFILE.organization,
    type: 'Organization',
    title: 'Structure',
    description: 'Établissement, officine ou cabinet identifié par son FINESS ou son IdNat_Struct.',
    elements: [{ id: 'Organization.identifier', min: 1 }],
    invariants: [
      {
        key: 'org-fr-1',
        human: 'One identifier is a FINESS (9 characters) or an IdNat_Struct',
        expression:
          `identifier.where((system = ${lit(SYSTEM.finess)} and value.length() = 9) or ` +
          `(system = ${lit(SYSTEM.idnst)} and value.exists())).exists()`,
        target: 'Organization.identifier',
      },
    ],
  },
  {
    id: 'passerelle-careteam',
    url: PROFILE.careTeam,
    type: 'CareTeam',
    title: 'Équipe du PPP',
    description: 'Dispositif d’appui (gériatre, pharmacien clinicien), MT, PHO et gestionnaire de cas.',
    elements: [
      { id: 'CareTeam.subject', min: 1 },
      { id: 'CareTeam.participant.role', binding: required(localVs(CS.careTeamRole)) },
    ],
  },
  {
    id: 'passerelle-ppp-careplan',
    url: PROFILE.pppCarePlan,
    type: 'CarePlan',
    title: 'Plan Pharmaceutique Personnalisé (PPP)',
    description:
      'Plan de gestion de la médication (SNOMED 736378000) du parcours OPTIMEDOC / IATROPREV : problèmes en supportingInfo, recommandations en activity.',
    elements: [
      { id: 'CarePlan.intent', fixedCode: 'plan' },
      { id: 'CarePlan.category', min: 2 },
      { id: 'CarePlan.subject', min: 1 },
      { id: 'CarePlan.author', min: 1 },
      { id: 'CarePlan.activity.outcomeCodeableConcept', binding: required(localVs(CS.followupOutcome)) },
    ],
    extensions: [
      { name: 'inclusion', url: EXT.inclusion, min: 1, max: '1' },
      { name: 'inclusionCriterion', url: EXT.inclusionCriterion, min: 0, max: '*' },
      { name: 'pathwayStatus', url: EXT.pathwayStatus, min: 0, max: '1' },
      { name: 'followupOutcome', url: EXT.followupOutcome, min: 0, max: '*' },
    ],
    invariants: [
      {
        key: 'ppp-1',
        human: 'category contains SNOMED CT 736378000 (Medication management plan)',
        expression: `category.where(${hasCoding(SYSTEM.snomed, '736378000')}).exists()`,
        target: 'CarePlan.category',
      },
      careplanCategoryInvariant('ppp-2', 'ppp'),
      {
        key: 'ppp-3',
        human: `category names the pathway (${CS.pathway})`,
        expression: `category.where(coding.where(system = ${lit(CS.pathway)} and code in ${oneOf(PATHWAYS.map((p) => p.code))}).exists()).exists()`,
        target: 'CarePlan.category',
      },
    ],
  },
  {
    id: 'passerelle-bpm-careplan',
    url: PROFILE.bpmCarePlan,
    type: 'CarePlan',
    title: 'Bilan Partagé de Médication (BPM)',
    description: 'Épisode de BPM du pharmacien d’officine ; une tâche par étape en activity.',
    elements: [
      { id: 'CarePlan.intent', fixedCode: 'plan' },
      { id: 'CarePlan.category', min: 1 },
      { id: 'CarePlan.subject', min: 1 },
      { id: 'CarePlan.author', min: 1 },
    ],
    invariants: [careplanCategoryInvariant('bpm-1', 'bpm')],
  },
  {
    id: 'passerelle-detectedissue',
    url: PROFILE.detectedIssue,
    type: 'DetectedIssue',
    title: 'Problème lié à la thérapeutique',
    description: 'Problème SFPC Act-IP (PPP, BPM) ou divergence non intentionnelle de CTM ; l’intervention en mitigation.',
    elements: [
      { id: 'DetectedIssue.code', min: 1, binding: required(vs('detectedissue-code')) },
      { id: 'DetectedIssue.patient', min: 1 },
      { id: 'DetectedIssue.author', min: 1 },
      { id: 'DetectedIssue.mitigation.action', binding: extensible(vs('detectedissue-mitigation-action')) },
    ],
  },
  {
    id: 'passerelle-recommendation-medicationrequest',
    url: PROFILE.recommendationMedicationRequest,
    type: 'MedicationRequest',
    title: 'Recommandation médicamenteuse',
    description: 'Proposition de modification d’un traitement (ajout, arrêt = doNotPerform, substitution, dose, voie, horaire).',
    elements: [
      { id: 'MedicationRequest.intent', fixedCode: 'proposal' },
      { id: 'MedicationRequest.medication[x]', min: 1 },
      { id: 'MedicationRequest.subject', min: 1 },
      { id: 'MedicationRequest.basedOn', min: 1 },
      { id: 'MedicationRequest.detectedIssue', min: 1 },
    ],
    invariants: [drugCodeInvariant('reco-drug-1', 'MedicationRequest')],
  },
  {
    id: 'passerelle-recommendation-servicerequest',
    url: PROFILE.recommendationServiceRequest,
    type: 'ServiceRequest',
    title: 'Recommandation non médicamenteuse',
    description: 'Proposition de surveillance, de bilan biologique ou d’orientation.',
    elements: [
      { id: 'ServiceRequest.intent', fixedCode: 'proposal' },
      { id: 'ServiceRequest.code', min: 1 },
      { id: 'ServiceRequest.supportingInfo', min: 1 },
    ],
  },
  {
    id: 'passerelle-medicationstatement',
    url: PROFILE.medicationStatement,
    type: 'MedicationStatement',
    title: 'Ligne de traitement',
    description: 'Ligne d’une liste de médicaments, d’un BMO ou d’une FCT.',
    elements: [
      { id: 'MedicationStatement.subject', min: 1 },
      // R4's preferred binding made required: a misspelt category (`patient-specified`) is refused, not sent.
      { id: 'MedicationStatement.category', binding: required('http://hl7.org/fhir/ValueSet/medication-statement-category') },
    ],
    extensions: [
      { name: 'medicationSources', url: EXT.medicationSources, min: 0, max: '1' },
      { name: 'reconciliation', url: EXT.reconciliation, min: 0, max: '1' },
    ],
    invariants: [drugCodeInvariant('ms-drug-1', 'MedicationStatement')],
  },
  {
    id: 'passerelle-medication-list',
    url: PROFILE.medicationList,
    type: 'List',
    title: 'Liste des médicaments revus',
    description: 'Liste (LOINC 10160-0) des lignes de traitement revues.',
    elements: [
      { id: 'List.code', min: 1, patternCodeableConcept: LOINC_MEDICATION_HISTORY },
      { id: 'List.subject', min: 1 },
    ],
  },
  {
    id: 'passerelle-bmo-composition',
    url: PROFILE.bmoComposition,
    type: 'Composition',
    title: 'Bilan médicamenteux optimisé (BMO)',
    description: 'BMO de la CTM ; validé par un pharmacien (attester professional) avant de nourrir un PPP.',
    elements: [
      { id: 'Composition.type', patternCodeableConcept: LOINC_MEDICATION_HISTORY },
      { id: 'Composition.subject', min: 1 },
    ],
    extensions: [{ name: 'medicationSources', url: EXT.medicationSources, min: 0, max: '1', on: 'Composition.section.extension' }],
    invariants: [
      {
        key: 'bmo-1',
        human: 'A final BMO has been validated: an attester with mode professional',
        expression: "status = 'final' implies attester.where(mode = 'professional').exists()",
        target: 'Composition.attester',
      },
    ],
  },
  {
    id: 'passerelle-fct-composition',
    url: PROFILE.fctComposition,
    type: 'Composition',
    title: 'Fiche de conciliation des traitements (FCT)',
    description: 'Trois sections : bilan médicamenteux, traitement en cours, conciliation (lignes de FCT).',
    elements: [
      { id: 'Composition.subject', min: 1 },
      { id: 'Composition.section', min: 3, max: '3' },
    ],
  },
  {
    id: 'passerelle-validation-provenance',
    url: PROFILE.validationProvenance,
    type: 'Provenance',
    title: 'Validation par un pharmacien',
    description: 'Trace de la validation d’un BMO : un agent vérificateur (verifier).',
    elements: [
      { id: 'Provenance.target', min: 1 },
      { id: 'Provenance.agent', min: 1 },
    ],
    invariants: [
      {
        key: 'valprov-1',
        human: 'One agent is the verifier',
        expression: `agent.where(type.${hasCoding(SYSTEM.provenanceParticipantType, 'verifier')}).exists()`,
        target: 'Provenance.agent',
      },
    ],
  },
  {
    id: 'passerelle-communication',
    url: PROFILE.communication,
    type: 'Communication',
    title: 'Message entre acteurs',
    description: 'Message de RCP, avis du MT ou du PHO, conclusions de BPM, conseil au patient.',
    elements: [{ id: 'Communication.category', min: 1, binding: required(localVs(CS.communicationCategory)) }],
  },
  {
    id: 'passerelle-task',
    url: PROFILE.task,
    type: 'Task',
    title: 'Tâche',
    description: 'Décision ou action attendue : validation d’une recommandation, avis RCP, validation du BMO, suivi J45/J90, étape de BPM.',
    elements: [
      { id: 'Task.code', min: 1, binding: required(localVs(CS.taskType)) },
      { id: 'Task.for', min: 1 },
      { id: 'Task.output.value[x]', binding: required(localVs(CS.pppDecision)) },
    ],
  },
  {
    id: 'passerelle-consent',
    url: PROFILE.consent,
    type: 'Consent',
    title: 'Consentement au parcours',
    description: 'Consentement du patient au parcours (LOINC 59284-0).',
    elements: [{ id: 'Consent.patient', min: 1 }],
    invariants: [
      {
        key: 'consent-1',
        human: 'category contains LOINC 59284-0 (Patient consent)',
        expression: `category.where(${hasCoding(SYSTEM.loinc, '59284-0')}).exists()`,
        target: 'Consent.category',
      },
    ],
  },
  {
    id: 'passerelle-encounter',
    url: PROFILE.encounter,
    type: 'Encounter',
    title: 'Rencontre',
    description: 'RCP synchrone ou entretien de BPM.',
    elements: [{ id: 'Encounter.subject', min: 1 }],
  },
];
