// CTM → FHIR R4 transaction Bundle (medication-model.md §8.3): BMO Composition over its line statements (+ List
// twin), the pharmacist's validation (attester + Provenance), the FCT Composition and a DetectedIssue per DNI.
import type {
  Bundle,
  CodeableConcept,
  Composition,
  CompositionSection,
  DetectedIssue,
  Extension,
  Provenance,
} from '@medplum/fhirtypes';
import {
  BMO_SOURCE_TYPES,
  BMO_VALIDATION_ACTIVITY,
  CTM_DIVERGENCES,
  FCT_DISCREPANCIES,
  FCT_ERROR_TYPES,
  FCT_LINE_STATUSES,
  FCT_RESOLUTIONS,
  FCT_SEVERITIES,
} from '../domain/codes.js';
import type { Ctm, FctLine } from '../domain/ctm.js';
import { BundleBuilder, type MapContext, type Ref } from './bundle-builder.js';
import { CS, EXT, PROFILE, SYSTEM } from './canonical.js';
import {
  coding,
  concept,
  listCoding,
  localIdentifierSystem,
  loincMedicationHistory,
  mapMedicationList,
  mapMedicationStatement,
  mapPatient,
  MapScope,
  uuidIdentifier,
  type StatementCategory,
} from './map-common.js';

/** Local divergence → Interop'Santé discrepancy (DID and DIND are both intentional). */
export const DISCREPANCY_OF_DIVERGENCE: Readonly<Record<FctLine['divergence'], string>> = {
  AUCUNE: '10000001',
  DID: '10000003',
  DIND: '10000003',
  DNI: '10000004',
};

/** Gravité → DetectedIssue.severity: mineure → low, significative → moderate, majeure and above → high. */
const SEVERITY_OF_GRAVITE: Readonly<Record<NonNullable<FctLine['severity']>, DetectedIssue['severity']>> = {
  '10000001': 'low',
  '10000002': 'moderate',
  '10000003': 'high',
  '10000004': 'high',
  '10000005': 'high',
};

const MOMENT: Readonly<Record<Ctm['moment'], string>> = { admission: 'admission', transfert: 'transfert', sortie: 'sortie' };

/** FCT line status "Arrêté" stops the drug; every other status keeps it going. */
const ARRETE = '10000003';

function sourcesExtension(types: readonly string[]): Extension {
  return {
    url: EXT.medicationSources,
    extension: [
      { url: 'number', valuePositiveInt: types.length },
      ...types.map((t) => ({ url: 'source', valueCoding: listCoding(SYSTEM.bmoSourceType, BMO_SOURCE_TYPES, t) })),
    ],
  };
}

function reconciliationExtension(l: FctLine): Extension {
  const ext: Extension[] = [
    { url: 'status', valueCoding: listCoding(SYSTEM.fctStatus, FCT_LINE_STATUSES, l.status) },
    { url: 'isDiscrepant', valueBoolean: l.divergence !== 'AUCUNE' },
    { url: 'discrepancy', valueCoding: listCoding(SYSTEM.fctDiscrepancy, FCT_DISCREPANCIES, DISCREPANCY_OF_DIVERGENCE[l.divergence]) },
    { url: 'divergence', valueCoding: listCoding(CS.ctmDivergence, CTM_DIVERGENCES, l.divergence) },
  ];
  if (l.errorType) ext.push({ url: 'type', valueCoding: listCoding(SYSTEM.fctErrorType, FCT_ERROR_TYPES, l.errorType) });
  if (l.severity) ext.push({ url: 'severity', valueCoding: listCoding(SYSTEM.fctSeverity, FCT_SEVERITIES, l.severity) });
  if (l.resolution) ext.push({ url: 'resolution', valueCoding: listCoding(SYSTEM.fctResolution, FCT_RESOLUTIONS, l.resolution) });
  if (l.comment) ext.push({ url: 'comment', valueString: l.comment });
  return { url: EXT.reconciliation, extension: ext };
}

export function mapCtm(ctm: Ctm, ctx: MapContext): Bundle {
  const s = new MapScope(new BundleBuilder(), ctm.establishment.finess, 'ctm', ctm.id);
  const finess = ctm.establishment.finess;
  const establishment = s.actors.organization(finess, ctm.establishment.name);
  const bmoAuthor = s.actors.role(ctm.bmo.author, ctm.bmo.author.organizationFiness ?? finess);
  const validation = ctm.bmo.validation;
  const validator = validation
    ? s.actors.role({ ...validation.pharmacist, profession: 'pharmacien' }, finess)
    : undefined;
  s.patient = s.add(mapPatient(ctm.patient));

  // BMO: one statement per line with its agreeing sources, the Composition, and a List twin for search.
  const bmoLineRefs = new Map<string, Ref>();
  for (const line of ctm.bmo.lines) {
    const ms = mapMedicationStatement(s, s.id('MedicationStatement', 'bmo-line', line.id), line, {
      dateAsserted: ctm.bmo.date,
      category: 'community',
      extension: [sourcesExtension(line.sources)],
    });
    bmoLineRefs.set(line.id, s.add(ms));
  }
  const bmoEntries = [...bmoLineRefs.values()];
  const bmoList = s.add(
    mapMedicationList(s, s.id('List', 'bmo'), bmoEntries, { date: ctm.bmo.date, source: bmoAuthor, title: 'Bilan médicamenteux optimisé', mode: 'working' }),
  );

  const bmoId = s.id('Composition', 'bmo');
  const bmo: Composition & { id: string } = {
    resourceType: 'Composition',
    id: bmoId,
    meta: { profile: [PROFILE.bmoComposition] },
    identifier: { use: 'official', system: localIdentifierSystem(s.finess, 'ctm-bmo'), value: ctm.id },
    status: validation ? 'final' : 'preliminary',
    type: concept(loincMedicationHistory()),
    subject: s.patient,
    date: ctm.bmo.date,
    author: [bmoAuthor],
    title: 'Bilan médicamenteux optimisé',
    custodian: establishment,
    section: [
      {
        title: 'Médicaments',
        code: concept(loincMedicationHistory()),
        extension: [sourcesExtension(ctm.bmo.sourcesConsulted)],
        mode: 'working',
        entry: bmoEntries,
      },
    ],
  };
  if (validation && validator) bmo.attester = [{ mode: 'professional', time: validation.date, party: validator }];
  const bmoRef = s.add(bmo);

  if (validation && validator) {
    s.add<Provenance & { id: string }>({
      resourceType: 'Provenance',
      id: s.id('Provenance', 'bmo-validation'),
      meta: { profile: [PROFILE.validationProvenance] },
      target: [bmoRef, bmoList],
      recorded: validation.date,
      activity: concept(listCoding(CS.provenanceActivity, BMO_VALIDATION_ACTIVITY, 'bmo-validation')),
      agent: [{ type: concept(coding(SYSTEM.provenanceParticipantType, 'verifier', 'Verifier')), who: validator }],
    });
  }

  if (ctm.fct) mapFct(s, ctm, ctm.fct, bmoRef, bmoLineRefs);

  return s.b.build(ctx);
}

function mapFct(
  s: MapScope,
  ctm: Ctm,
  fct: NonNullable<Ctm['fct']>,
  bmoRef: Ref,
  bmoLineRefs: ReadonlyMap<string, Ref>,
): void {
  const author = s.actors.role(fct.author, fct.author.organizationFiness ?? ctm.establishment.finess);
  const bmoLines = new Map(ctm.bmo.lines.map((l) => [l.id, l]));
  // The current prescription is the hospital's on admission or transfer, the one taken home at discharge.
  const currentCategory: StatementCategory = ctm.moment === 'sortie' ? 'community' : 'inpatient';
  const currentEntries: Ref[] = [];
  const lineEntries: Ref[] = [];

  for (const l of fct.lines) {
    const bmoLine = l.bmoLineId ? bmoLines.get(l.bmoLineId) : undefined;
    const bmoRefOfLine = l.bmoLineId ? bmoLineRefs.get(l.bmoLineId) : undefined;
    let currentRef: Ref | undefined;
    if (l.current) {
      const current = mapMedicationStatement(
        s,
        s.id('MedicationStatement', 'fct-current', l.id),
        { medication: l.current.medication, dosage: l.current.dosage, status: 'active', selfMedication: false },
        { dateAsserted: fct.date, category: currentCategory },
      );
      currentRef = s.add(current);
      currentEntries.push(currentRef);
    }
    const medication = l.current?.medication ?? bmoLine!.medication;
    const dosage = l.current ? l.current.dosage : bmoLine?.dosage;
    const derivedFrom = [bmoRefOfLine, currentRef].filter((r): r is Ref => r !== undefined);
    const fctLine = mapMedicationStatement(
      s,
      s.id('MedicationStatement', 'fct-line', l.id),
      // The reconciled line is the pharmacist's statement, not the patient's: no self-medication flag here.
      { medication, dosage, status: 'active', selfMedication: false },
      {
        dateAsserted: fct.date,
        status: l.status === ARRETE ? 'stopped' : 'active',
        extension: [reconciliationExtension(l)],
        derivedFrom,
      },
    );
    lineEntries.push(s.add(fctLine));

    if (l.divergence === 'DNI') {
      const id = s.id('DetectedIssue', 'dni', l.id);
      const code: CodeableConcept = { coding: [listCoding(CS.ctmDivergence, CTM_DIVERGENCES, 'DNI')] };
      if (l.errorType) code.coding!.push(listCoding(SYSTEM.fctErrorType, FCT_ERROR_TYPES, l.errorType));
      s.add<DetectedIssue & { id: string }>({
        resourceType: 'DetectedIssue',
        id,
        meta: { profile: [PROFILE.detectedIssue] },
        identifier: [uuidIdentifier(id)],
        status: fct.status === 'final' ? 'final' : 'preliminary',
        code,
        ...(l.severity ? { severity: SEVERITY_OF_GRAVITE[l.severity] } : {}),
        patient: s.patient,
        identifiedDateTime: fct.date,
        author,
        ...(derivedFrom.length > 0 ? { implicated: derivedFrom } : {}),
        // The exact gravité, which severity only approximates.
        ...(l.severity ? { evidence: [{ code: [concept(listCoding(SYSTEM.fctSeverity, FCT_SEVERITIES, l.severity))] }] } : {}),
        ...(l.comment ? { detail: l.comment } : {}),
        ...(l.resolution ? { mitigation: [{ action: concept(listCoding(SYSTEM.fctResolution, FCT_RESOLUTIONS, l.resolution)), date: fct.date }] } : {}),
      });
    }
  }

  const section: CompositionSection[] = [
    { title: 'Bilan médicamenteux optimisé', code: concept(loincMedicationHistory()), entry: [bmoRef] },
  ];
  // The FCT always has its three sections; with every drug stopped the current-treatment one says so (cmp-1/cmp-2).
  section.push(
    currentEntries.length > 0
      ? { title: 'Traitement médicamenteux courant', mode: 'snapshot', entry: currentEntries }
      : {
          title: 'Traitement médicamenteux courant',
          text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Aucun médicament dans la prescription en cours.</div>' },
          emptyReason: concept(coding(SYSTEM.listEmptyReason, 'nilknown', 'Nil Known')),
        },
  );
  section.push({ title: 'Conciliation', mode: 'working', entry: lineEntries });

  const id = s.id('Composition', 'fct');
  s.add<Composition & { id: string }>({
    resourceType: 'Composition',
    id,
    meta: { profile: [PROFILE.fctComposition] },
    identifier: { use: 'official', system: localIdentifierSystem(s.finess, 'ctm-fct'), value: ctm.id },
    status: fct.status,
    type: concept(coding(SYSTEM.loinc, '80820-4')),
    subject: s.patient,
    date: fct.date,
    author: [author],
    title: `Fiche de conciliation des traitements médicamenteux (${MOMENT[ctm.moment]}, ${ctm.mode === 'proactive' ? 'proactive' : 'rétroactive'})`,
    custodian: s.actors.organization(ctm.establishment.finess),
    section,
  });
}
