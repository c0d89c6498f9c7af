// French code lists the canonical model is built on: SFPC Act-IP, HAS/Interop'Santé CTM vocabularies
// and Passerelle's local codes. Each list is the single source for zod enums, CodeSystems and ValueSets.

export interface CodeDef {
  readonly code: string;
  readonly display: string;
}

function codes<const T extends readonly CodeDef[]>(list: T): T {
  return list;
}

/** Codes of a list, as a non-empty tuple usable by `z.enum`. */
export function codeValues<T extends readonly CodeDef[]>(list: T): [T[number]['code'], ...T[number]['code'][]] {
  return list.map((c) => c.code) as [T[number]['code'], ...T[number]['code'][]];
}

export function displayOf(list: readonly CodeDef[], code: string): string | undefined {
  return list.find((c) => c.code === code)?.display;
}

/** SFPC Act-IP drug-related problems (Interop'Santé fr-pharmaceutical-intervention-problem-code). */
export const SFPC_PROBLEMS = codes([
  { code: '1', display: 'Non-conformité aux référentiels ou contre-indication' },
  { code: '2', display: 'Indication non traitée' },
  { code: '3', display: 'Sous-dosage' },
  { code: '4', display: 'Surdosage' },
  { code: '5', display: 'Médicament non indiqué' },
  { code: '6.1', display: 'Interaction : à prendre en compte' },
  { code: '6.2', display: "Interaction : précaution d'emploi" },
  { code: '6.3', display: 'Interaction : association déconseillée' },
  { code: '6.4', display: 'Interaction : association contre-indiquée' },
  { code: '6.5', display: 'Interaction : publiée (hors thésaurus ANSM)' },
  { code: '7', display: 'Effet indésirable' },
  { code: '8', display: 'Voie et/ou administration inappropriée' },
  { code: '9', display: 'Traitement non reçu' },
  { code: '10', display: 'Monitorage à suivre' },
] as const);

/** SFPC Act-IP intervention types (Interop'Santé fr-pharmaceutical-intervention-type-code). */
export const SFPC_INTERVENTIONS = codes([
  { code: '1', display: 'Ajout (prescription nouvelle)' },
  { code: '2', display: 'Arrêt' },
  { code: '3', display: 'Substitution / échange' },
  { code: '4', display: "Choix de la voie d'administration" },
  { code: '5', display: 'Suivi thérapeutique' },
  { code: '6', display: "Optimisation des modalités d'administration" },
  { code: '7', display: 'Adaptation posologique' },
] as const);

/** SFPC outcome ("devenir") of an intervention. */
export const SFPC_OUTCOMES = codes([
  { code: '1', display: 'Acceptée' },
  { code: '2', display: 'Non acceptée' },
] as const);

/** BMO information sources (Interop'Santé fr-medication-history-source-type). */
export const BMO_SOURCE_TYPES = codes([
  { code: '10000001', display: 'Entretien avec le patient' },
  { code: '10000002', display: 'Entretien avec les proches' },
  { code: '10000003', display: "Pharmacien d'officine" },
  { code: '10000004', display: 'Pharmacien hospitalier' },
  { code: '10000005', display: 'Médecin traitant' },
  { code: '10000006', display: 'Lettre du médecin traitant' },
  { code: '10000007', display: 'DMP' },
  { code: '10000008', display: 'Lettres de liaison' },
  { code: '10000009', display: 'Dossier Pharmaceutique' },
  { code: '10000010', display: "Bilan de médication du pharmacien d'officine" },
  { code: '10000011', display: 'Télé-expertise EHPAD' },
  { code: '10000012', display: 'Médicaments apportés par le patient' },
  { code: '10000013', display: 'Ordonnances apportées par le patient' },
  { code: '10000014', display: 'Fiche de liaison EHPAD' },
  { code: '10000015', display: 'Médecin spécialiste' },
  { code: '10000016', display: 'Fiche de liaison soins à domicile' },
  { code: '10000017', display: "Dossier d'une précédente hospitalisation" },
  { code: '10000018', display: 'Volet de synthèse médicale (VSM)' },
] as const);

/** Status of an FCT line (fr-medication-reconciliation-status). */
export const FCT_LINE_STATUSES = codes([
  { code: '10000001', display: 'Continué' },
  { code: '10000002', display: 'Équivalence' },
  { code: '10000003', display: 'Arrêté' },
  { code: '10000004', display: 'Modifié' },
  { code: '10000005', display: 'Initié' },
] as const);

/** Divergence qualification (fr-medication-reconciliation-discrepancy). */
export const FCT_DISCREPANCIES = codes([
  { code: '10000001', display: 'Pas de divergence' },
  { code: '10000002', display: 'Divergence non qualifiée' },
  { code: '10000003', display: 'Divergence intentionnelle' },
  { code: '10000004', display: 'Divergence non intentionnelle' },
] as const);

/** Error type of an unintentional divergence (fr-medication-reconciliation-type). */
export const FCT_ERROR_TYPES = codes([
  { code: '10000001', display: 'Erreur de posologie' },
  { code: '10000002', display: "Oubli d'un médicament prescrit" },
  { code: '10000003', display: "Oubli d'automédication" },
  { code: '10000004', display: 'Erreur de substitution' },
  { code: '10000005', display: 'Erreur de forme galénique' },
  { code: '10000006', display: 'Ajout' },
  { code: '10000007', display: 'Autre' },
] as const);

/** Severity (gravité) of a medication error (fr-medication-reconciliation-outcome). */
export const FCT_SEVERITIES = codes([
  { code: '10000001', display: 'Mineure' },
  { code: '10000002', display: 'Significative' },
  { code: '10000003', display: 'Majeure' },
  { code: '10000004', display: 'Critique' },
  { code: '10000005', display: 'Catastrophique' },
] as const);

/** Resolution of a divergence (fr-medication-reconciliation-resolution). */
export const FCT_RESOLUTIONS = codes([
  { code: '10000001', display: 'Dose corrigée' },
  { code: '10000002', display: 'Repris' },
  { code: '10000003', display: 'Spécialité corrigée' },
  { code: '10000004', display: 'Forme corrigée' },
  { code: '10000005', display: 'Arrêt' },
] as const);

// ---- Local Passerelle codes -------------------------------------------------------------------

export const PPP_DECISIONS = codes([
  { code: 'retenu', display: 'Retenu' },
  { code: 'non-retenu', display: 'Non retenu' },
  { code: 'retenu-modifie', display: 'Retenu avec modification' },
] as const);

export const TASK_TYPES = codes([
  { code: 'reco-validation', display: "Validation d'une recommandation" },
  { code: 'rcp-opinion-request', display: "Demande d'avis RCP asynchrone" },
  { code: 'bmo-validation', display: 'Validation du BMO par un pharmacien' },
  { code: 'followup-d45', display: 'Suivi à J45' },
  { code: 'followup-d90', display: 'Suivi à J90' },
  { code: 'bpm-step-adhesion', display: 'BPM : adhésion' },
  { code: 'bpm-step-recueil', display: 'BPM : entretien de recueil' },
  { code: 'bpm-step-analyse', display: 'BPM : analyse des traitements' },
  { code: 'bpm-step-conseil', display: 'BPM : entretien conseil' },
  { code: 'bpm-step-suivi-observance', display: "BPM : suivi de l'observance" },
] as const);

export const COMMUNICATION_CATEGORIES = codes([
  { code: 'rcp-message', display: 'Message de RCP' },
  { code: 'avis-mt', display: 'Avis du médecin traitant' },
  { code: 'avis-pho', display: "Avis du pharmacien d'officine" },
  { code: 'bpm-conclusions', display: 'Conclusions du BPM au médecin traitant' },
  { code: 'conseil-patient', display: 'Conseil au patient' },
] as const);

/** Field qualification of a divergence: documented / undocumented intentional, unintentional, none. */
export const CTM_DIVERGENCES = codes([
  { code: 'AUCUNE', display: 'Pas de divergence' },
  { code: 'DID', display: 'Divergence intentionnelle documentée' },
  { code: 'DIND', display: 'Divergence intentionnelle non documentée' },
  { code: 'DNI', display: 'Divergence non intentionnelle (erreur médicamenteuse)' },
] as const);

export const FOLLOWUP_OUTCOMES = codes([
  { code: 'implementee', display: 'Implémentée' },
  { code: 'non-implementee', display: 'Non implémentée' },
  { code: 'inconnue', display: 'Inconnue' },
] as const);

/** The two follow-up windows after the PPP is sent (docs/pathway.md). */
export const FOLLOWUP_WINDOWS = codes([
  { code: 'd45', display: 'Suivi à J45' },
  { code: 'd90', display: 'Suivi à J90' },
] as const);

/** Where a PPP stands in the pathway (docs/pathway.md). */
export const PATHWAY_STEPS = codes([
  { code: 'rcp', display: 'RCP' },
  { code: 'attente-decisions', display: 'En attente des décisions MT / PHO' },
  { code: 'suivi-j45', display: 'Suivi J45' },
  { code: 'suivi-j90', display: 'Suivi J90' },
  { code: 'clos', display: 'Clos' },
] as const);

export const CAREPLAN_CATEGORIES = codes([
  { code: 'ppp', display: 'Plan Pharmaceutique Personnalisé' },
  { code: 'bpm', display: 'Bilan Partagé de Médication' },
] as const);

export const PATHWAYS = codes([
  { code: 'OPTIMEDOC', display: 'OPTIMEDOC (Normandie)' },
  { code: 'IATROPREV', display: 'IATROPREV (Hauts-de-France)' },
] as const);

export const RCP_MODES = codes([
  { code: 'sync', display: 'RCP synchrone' },
  { code: 'async', display: 'RCP asynchrone' },
] as const);

export const BPM_STEPS = codes([
  { code: 'adhesion', display: 'Adhésion' },
  { code: 'recueil', display: 'Entretien de recueil' },
  { code: 'analyse', display: 'Analyse des traitements' },
  { code: 'conseil', display: 'Entretien conseil' },
  { code: 'suivi-observance', display: "Suivi de l'observance" },
] as const);

export const CARE_TEAM_ROLES = codes([
  { code: 'geriatre', display: 'Gériatre du dispositif d’appui' },
  { code: 'pharmacien-clinicien', display: 'Pharmacien clinicien (PHC)' },
  { code: 'medecin-traitant', display: 'Médecin traitant (MT)' },
  { code: 'pharmacien-officine', display: "Pharmacien d'officine (PHO)" },
  { code: 'gestionnaire-cas', display: 'Gestionnaire de cas' },
] as const);

export const ENTRY_DOORS = codes([
  { code: 'hopital', display: "Inclusion à l'hôpital" },
  { code: 'ville', display: 'Inclusion en ville (adressé par MT/PHO)' },
] as const);

export const STAY_TYPES = codes([
  { code: 'hospitalisation', display: 'Hospitalisation complète' },
  { code: 'hdj', display: 'Hôpital de jour' },
  { code: 'consultation', display: 'Consultation' },
] as const);

export const BMO_VALIDATION_ACTIVITY = codes([{ code: 'bmo-validation', display: 'Validation du BMO' }] as const);

/** Tags (meta.tag) on a document whose patient identity the SRI has not settled yet. */
export const IDENTITY_STATES = codes([{ code: 'awaiting-identity', display: 'En attente de rapprochement d’identité (SRI)' }] as const);

/** Where the patient lives (IATROPREV V2 inclusion: at home, or in an EHPAD without a pharmacy of its own). */
export const PLACES_OF_LIVING = codes([
  { code: 'home', display: 'Domicile' },
  { code: 'ehpad-sans-pui', display: 'EHPAD sans pharmacie à usage intérieur (PUI)' },
] as const);

/** The inclusion criteria of the pathway (docs/pathway.md): age, then any one of the four others. */
export const INCLUSION_CRITERIA = codes([
  { code: 'age-65', display: 'Âge de 65 ans ou plus' },
  { code: 'medicines-10', display: 'Au moins 10 médicaments' },
  { code: 'modifications-3', display: 'Au moins 3 modifications thérapeutiques pendant le séjour' },
  { code: 'drug-related-hospitalisation', display: 'Hospitalisation liée à un médicament' },
  { code: 'iatrogenic-event', display: 'Événement iatrogène pendant le séjour' },
] as const);
