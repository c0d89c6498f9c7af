// BPM → FHIR R4 transaction Bundle (medication-model.md §8.4): the pharmacist's CarePlan over one Task per step,
// adhesion Consent, interview Encounters, the gathered medication List, the analysis (as in the PPP), the
// conclusions to the GP and the advice to the patient.
import type { Bundle, CarePlan, Encounter, Task } from '@medplum/fhirtypes';
import { BPM_STEPS, CAREPLAN_CATEGORIES } from '../domain/codes.js';
import type { Bpm, BpmStep } from '../domain/bpm.js';
import { BundleBuilder, type MapContext, type Ref } from './bundle-builder.js';
import { CS, PROFILE, SYSTEM } from './canonical.js';
import {
  coding,
  newCommunication,
  concept,
  listCoding,
  mapConsent,
  mapMedicationLines,
  mapPatient,
  mapProblems,
  mapRecommendations,
  mapValidationTasks,
  MapScope,
  newTask,
  uuidIdentifier,
  type ReviewContext,
} from './map-common.js';

/** Steps held as a meeting with the patient (an Encounter); adhesion and analysis are not. */
const INTERVIEW_STEPS: ReadonlySet<BpmStep['step']> = new Set(['recueil', 'conseil', 'suivi-observance']);

const TASK_STATUS: Readonly<Record<BpmStep['status'], Task['status']>> = { completed: 'completed', planned: 'requested', cancelled: 'cancelled' };
const ENCOUNTER_STATUS: Readonly<Record<BpmStep['status'], Encounter['status']>> = { completed: 'finished', planned: 'planned', cancelled: 'cancelled' };

export function mapBpm(bpm: Bpm, ctx: MapContext): Bundle {
  const finess = bpm.pharmacy.finess;
  const s = new MapScope(new BundleBuilder(), finess, 'bpm', bpm.id);
  const pharmacy = s.actors.organization(finess, bpm.pharmacy.name);
  const pharmacist = s.actors.role(bpm.pharmacist, bpm.pharmacist.organizationFiness ?? finess);
  // The GP is outside the pharmacy: without an explicit FINESS their role names no organisation.
  const gp = s.actors.role(bpm.gp, bpm.gp.organizationFiness);
  s.patient = s.add(mapPatient(bpm.patient));

  const carePlanId = s.id('CarePlan');
  const carePlan: Ref = { reference: `CarePlan/${carePlanId}` };
  const supportingInfo: Ref[] = [];
  const activities: Ref[] = [];

  supportingInfo.push(
    mapConsent(s, { id: s.id('Consent', 'adhesion'), date: bpm.adhesionDate, given: true, organization: pharmacy, performer: s.patient }),
  );

  // One Task per step; interviews also get their Encounter. Step ids use the step and its date (a step may recur).
  let firstRecueil: Ref | undefined;
  const stepTasks: (Task & { id: string })[] = [];
  for (const step of bpm.steps) {
    const task = newTask(s, s.id('Task', 'step', step.step, step.date), {
      code: `bpm-step-${step.step}`,
      status: TASK_STATUS[step.status],
      authoredOn: bpm.adhesionDate,
      requester: pharmacist,
      owner: pharmacist,
      basedOn: carePlan,
    });
    // The billing code is the pharmacy software's, kept as received (the gateway does not bill).
    if (step.billingCode) task.input = [{ type: { text: 'billing-code' }, valueString: step.billingCode }];
    if (step.status === 'completed') task.executionPeriod = { start: step.date };
    else if (step.status === 'planned') task.restriction = { period: { start: step.date } };
    if (INTERVIEW_STEPS.has(step.step)) {
      const id = s.id('Encounter', 'step', step.step, step.date);
      const enc = s.add<Encounter & { id: string }>({
        resourceType: 'Encounter',
        id,
        meta: { profile: [PROFILE.encounter] },
        identifier: [uuidIdentifier(id)],
        status: ENCOUNTER_STATUS[step.status],
        class: step.remote ? coding(SYSTEM.v3ActCode, 'VR', 'virtual') : coding(SYSTEM.v3ActCode, 'AMB', 'ambulatory'),
        type: [concept(listCoding(CS.bpmStep, BPM_STEPS, step.step))],
        subject: s.patient,
        participant: [{ individual: pharmacist }],
        period: { start: step.date },
        serviceProvider: pharmacy,
      });
      task.encounter = enc;
      supportingInfo.push(enc);
      if (step.step === 'recueil' && !firstRecueil) firstRecueil = enc;
    }
    stepTasks.push(task);
  }

  const { list, lineRefs } = mapMedicationLines(s, bpm.medications, {
    date: bpm.steps.find((st) => st.step === 'recueil')?.date ?? bpm.adhesionDate,
    source: pharmacist,
    title: 'Traitements recueillis (BPM)',
    category: 'community',
    ...(firstRecueil ? { context: firstRecueil } : {}),
  });
  if (list) supportingInfo.push(list);

  const rc: ReviewContext = {
    carePlan,
    author: pharmacist,
    date: bpm.steps.find((st) => st.step === 'analyse')?.date ?? bpm.adhesionDate,
    lineRefs,
    issueStatus: 'final',
    planStatus: 'active',
  };
  const issues = mapProblems(s, bpm.problems, rc);
  const proposals = mapRecommendations(s, bpm.proposals, issues, rc);
  // The pharmacist proposes to the GP: only the GP's decision is awaited.
  mapValidationTasks(s, bpm.proposals, proposals, { ...rc, authoredOn: bpm.conclusions?.date ?? rc.date }, { MT: gp }, ['MT']);
  supportingInfo.push(...issues.values());

  for (const task of stepTasks) activities.push(s.add(task));
  activities.push(...proposals.values());

  if (bpm.conclusions) {
    const id = s.id('Communication', 'conclusions');
    const about: Ref[] = [...issues.values(), ...proposals.values()];
    const c = newCommunication(s, id, {
      basedOn: [carePlan],
      category: 'bpm-conclusions',
      about: about.length > 0 ? about : [carePlan],
      sent: bpm.conclusions.date,
      recipient: [gp],
      sender: pharmacist,
      text: bpm.conclusions.text,
    });
    supportingInfo.push(s.add(c));
  }
  bpm.advice.forEach((a, i) => {
    const id = s.id('Communication', 'advice', a.date, String(i));
    supportingInfo.push(
      s.add(
        newCommunication(s, id, {
          basedOn: [carePlan],
          category: 'conseil-patient',
          sent: a.date,
          recipient: [s.patient],
          sender: pharmacist,
          text: a.text,
        }),
      ),
    );
  });

  const plan: CarePlan & { id: string } = {
    resourceType: 'CarePlan',
    id: carePlanId,
    meta: { profile: [PROFILE.bpmCarePlan] },
    identifier: s.documentIdentifiers(carePlanId),
    status: 'active',
    intent: 'plan',
    category: [concept(listCoding(CS.careplanCategory, CAREPLAN_CATEGORIES, 'bpm'))],
    title: `Bilan partagé de médication ${bpm.year}`,
    subject: s.patient,
    period: { start: bpm.adhesionDate },
    created: bpm.adhesionDate,
    author: pharmacist,
    supportingInfo,
    activity: activities.map((reference) => ({ reference })),
  };
  s.add(plan);

  return s.b.build(ctx);
}
