// PPP → FHIR R4 transaction Bundle (medication-model.md §8.2): CarePlan (SMP shape) with its CareTeam, reviewed
// List, DetectedIssues, proposals, MT/PHO validation Tasks, D45/D90 follow-ups, RCP and consent.
import type { Bundle, CarePlan, Encounter, Extension } from '@medplum/fhirtypes';
import { displayOf, ENTRY_DOORS, INCLUSION_CRITERIA, PATHWAYS, PLACES_OF_LIVING, RCP_MODES, STAY_TYPES, CAREPLAN_CATEGORIES } from '../domain/codes.js';
import { evaluateInclusion, type InclusionResult } from '../domain/pathway/inclusion.js';
import { rcpRule, type RcpRuleResult } from '../domain/pathway/rcp.js';
import type { Ppp } from '../domain/ppp.js';
import { BundleBuilder, type MapContext, type Ref } from './bundle-builder.js';
import { CS, EXT, PROFILE, SYSTEM } from './canonical.js';
import {
  addDays,
  coding,
  newCommunication,
  concept,
  listCoding,
  mapCareTeam,
  mapConsent,
  mapMedicationLines,
  mapPatient,
  mapProblems,
  mapRecommendations,
  mapValidationTasks,
  MapScope,
  newTask,
  openTaskStatus,
  teamMemberRole,
  uuidIdentifier,
  type ReviewContext,
} from './map-common.js';

/** The instant `minutes` after `iso`, written with the same offset as `iso` (FHIR dateTime, seconds precision). */
export function addMinutes(iso: string, minutes: number): string {
  const offset = /(Z|[+-]\d{2}:\d{2})$/.exec(iso)?.[1] ?? 'Z';
  const shift = offset === 'Z' ? 0 : (offset.startsWith('-') ? -1 : 1) * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6)));
  const local = new Date(Date.parse(iso) + (minutes + shift) * 60_000).toISOString().slice(0, 19);
  return `${local}${offset}`;
}

const FOLLOWUPS = [
  ['followup-d45', 45],
  ['followup-d90', 90],
] as const;

export function mapPpp(ppp: Ppp, ctx: MapContext): Bundle {
  const s = new MapScope(new BundleBuilder(), ppp.establishment.finess, 'ppp', ppp.id);
  const establishment = s.actors.organization(ppp.establishment.finess, ppp.establishment.name);
  const author = s.actors.role(ppp.author, ppp.author.organizationFiness ?? ppp.establishment.finess);
  const members = ppp.team.map((m) => ({ role: m.role, member: teamMemberRole(s, m, ppp.establishment.finess) }));
  const roleOf = (role: string): Ref | undefined => members.find((m) => m.role === role)?.member;
  const mt = roleOf('medecin-traitant');
  const pho = roleOf('pharmacien-officine');
  s.patient = s.add(mapPatient(ppp.patient));

  const carePlanId = s.id('CarePlan');
  const carePlan: Ref = { reference: `CarePlan/${carePlanId}` };
  const careTeam = mapCareTeam(s, members, establishment, `Équipe PPP ${ppp.id}`);

  const { list, lineRefs } = mapMedicationLines(s, ppp.medications, {
    date: ppp.created,
    source: author,
    title: 'Traitements revus (PPP)',
    category: 'community',
  });
  const rc: ReviewContext = {
    carePlan,
    author,
    date: ppp.created,
    lineRefs,
    issueStatus: ppp.status === 'draft' ? 'preliminary' : 'final',
    planStatus: ppp.status,
  };
  const issues = mapProblems(s, ppp.problems, rc);
  const proposals = mapRecommendations(s, ppp.recommendations, issues, rc);
  // Validation is asked for from the plan's creation: in an asynchronous RCP, decisions may come before it is sent.
  mapValidationTasks(s, ppp.recommendations, proposals, { ...rc, authoredOn: ppp.created }, { ...(mt ? { MT: mt } : {}), ...(pho ? { PHO: pho } : {}) });

  if (ppp.sentAt) {
    for (const [code, days] of FOLLOWUPS) {
      const t = newTask(s, s.id('Task', code), {
        code,
        status: openTaskStatus(ppp.status),
        authoredOn: ppp.sentAt,
        requester: author,
        focus: carePlan,
        basedOn: carePlan,
        ...(pho ? { owner: pho } : {}),
      });
      t.restriction = { period: { start: addDays(ppp.sentAt, days) } };
      if (proposals.size > 0) t.input = [...proposals.values()].map((p) => ({ type: { text: 'recommendation' }, valueReference: p }));
      s.add(t);
    }
  }

  const consent = ppp.consent
    ? mapConsent(s, { id: s.id('Consent'), date: ppp.consent.date, given: ppp.consent.given, organization: establishment })
    : undefined;

  // RCP: an Encounter when synchronous; opinion-request Tasks to the MT and the PHO when asynchronous.
  let rcpEncounter: Ref | undefined;
  const opinionTasks = new Map<string, Ref>();
  if (ppp.rcp) {
    const rcp = ppp.rcp;
    if (rcp.mode === 'sync') {
      const id = s.id('Encounter', 'rcp');
      rcpEncounter = s.add<Encounter & { id: string }>({
        resourceType: 'Encounter',
        id,
        meta: { profile: [PROFILE.encounter] },
        identifier: [uuidIdentifier(id)],
        status: Date.parse(rcp.date) <= Date.parse(ctx.now) ? 'finished' : 'planned',
        class: coding(SYSTEM.v3ActCode, 'VR', 'virtual'),
        type: [concept(listCoding(CS.rcpMode, RCP_MODES, 'sync'))],
        subject: s.patient,
        participant: [{ individual: author }, ...members.filter((m) => m.member.reference !== author.reference).map((m) => ({ individual: m.member }))],
        period: { start: rcp.date, ...(rcp.durationMinutes !== undefined ? { end: addMinutes(rcp.date, rcp.durationMinutes) } : {}) },
        ...(rcp.durationMinutes !== undefined ? { length: { value: rcp.durationMinutes, unit: 'min', system: SYSTEM.ucum, code: 'min' } } : {}),
        serviceProvider: establishment,
      });
    } else {
      for (const [role, owner] of [['medecin-traitant', mt], ['pharmacien-officine', pho]] as const) {
        if (!owner) continue;
        const rpps = ppp.team.find((m) => m.role === role)?.practitioner.rpps;
        const answered = rcp.messages.some((m) => m.fromRpps === rpps);
        const t = newTask(s, s.id('Task', 'rcp-opinion-request', role), {
          code: 'rcp-opinion-request',
          status: answered ? 'completed' : openTaskStatus(ppp.status),
          authoredOn: rcp.date,
          requester: author,
          owner,
          focus: carePlan,
          basedOn: carePlan,
        });
        if (rcp.deadline) t.restriction = { period: { end: rcp.deadline } };
        const ref = s.add(t);
        if (rpps) opinionTasks.set(rpps, ref);
      }
    }
    const messageIds = new Map(rcp.messages.map((m) => [m.id, s.id('Communication', 'rcp', m.id)]));
    for (const m of rcp.messages) {
      const id = messageIds.get(m.id)!;
      const opinion = opinionTasks.get(m.fromRpps);
      const parent = m.inResponseTo ? messageIds.get(m.inResponseTo) : undefined;
      s.add(
        newCommunication(s, id, {
          ...(opinion ? { basedOn: [opinion] } : {}),
          ...(parent ? { inResponseTo: [{ reference: `Communication/${parent}` }] } : {}),
          category: m.category,
          about: [carePlan],
          ...(rcpEncounter ? { encounter: rcpEncounter } : {}),
          sent: m.date,
          ...(m.toRpps.length > 0 ? { recipient: m.toRpps.map((r) => s.actors.byRpps(r)) } : {}),
          sender: s.actors.byRpps(m.fromRpps),
          text: m.text,
        }),
      );
    }
  }

  const inclusion = inclusionExtensions(ppp, evaluateInclusion(ppp), rcpRule(ppp));

  const supportingInfo: Ref[] = [...issues.values()];
  if (list) supportingInfo.push(list);
  if (consent) supportingInfo.push(consent);
  const contributors = members.filter((m) => m.role === 'geriatre' || m.role === 'pharmacien-clinicien').map((m) => m.member);

  const plan: CarePlan & { id: string } = {
    resourceType: 'CarePlan',
    id: carePlanId,
    meta: { profile: [PROFILE.pppCarePlan] },
    identifier: s.documentIdentifiers(carePlanId),
    extension: inclusion,
    status: ppp.status,
    intent: 'plan',
    category: [
      concept(coding(SYSTEM.snomed, '736378000', 'Medication management plan (record artifact)')),
      concept(coding(CS.careplanCategory, 'ppp', displayOf(CAREPLAN_CATEGORIES, 'ppp'))),
      concept(listCoding(CS.pathway, PATHWAYS, ppp.pathway)),
    ],
    title: 'Plan Pharmaceutique Personnalisé',
    subject: s.patient,
    created: ppp.created,
    author,
    careTeam: [careTeam],
  };
  if (ppp.sentAt) plan.period = { start: ppp.sentAt };
  if (rcpEncounter) plan.encounter = rcpEncounter;
  if (contributors.length > 0) plan.contributor = contributors;
  if (supportingInfo.length > 0) plan.supportingInfo = supportingInfo;
  if (proposals.size > 0) plan.activity = [...proposals.values()].map((reference) => ({ reference }));
  if (ppp.note) plan.note = [{ text: ppp.note }];
  s.add(plan);

  return s.b.build(ctx);
}

/**
 * The inclusion as the CarePlan carries it (docs/pathway.md): `passerelle-inclusion` (entry door, stay type, pathway,
 * place of living, consent, eligibility, override reason, DAH billing) then one `passerelle-inclusion-criterion` per
 * criterion, in the order of the rule.
 */
export function inclusionExtensions(ppp: Ppp, result: InclusionResult, rcp: RcpRuleResult): Extension[] {
  const parts: Extension[] = [{ url: 'entryDoor', valueCoding: listCoding(CS.entryDoor, ENTRY_DOORS, ppp.entryDoor) }];
  if (ppp.stayType) parts.push({ url: 'stayType', valueCoding: listCoding(CS.stayType, STAY_TYPES, ppp.stayType) });
  parts.push({ url: 'pathway', valueCoding: listCoding(CS.pathway, PATHWAYS, ppp.pathway) });
  const place = ppp.inclusion?.placeOfLiving;
  if (place) parts.push({ url: 'placeOfLiving', valueCoding: listCoding(CS.placeOfLiving, PLACES_OF_LIVING, place) });
  if (ppp.consent) parts.push({ url: 'consent', valueBoolean: ppp.consent.given });
  parts.push({ url: 'eligible', valueBoolean: result.eligible }, { url: 'included', valueBoolean: result.included });
  if (result.override) parts.push({ url: 'overrideReason', valueString: result.override.reason });
  parts.push({ url: 'billableDah', valueBoolean: rcp.billableDah });
  if (ppp.noRcpReason !== undefined) parts.push({ url: 'noRcpReason', valueString: ppp.noRcpReason });
  const criteria: Extension[] = result.criteria.map((c) => ({
    url: EXT.inclusionCriterion,
    extension: [
      { url: 'code', valueCoding: listCoding(CS.inclusionCriterion, INCLUSION_CRITERIA, c.code) },
      { url: 'met', valueBoolean: c.met },
      ...(c.value !== undefined ? [{ url: 'value', valueUnsignedInt: c.value }] : []),
      { url: 'reason', valueString: c.reason },
    ],
  }));
  return [{ url: EXT.inclusion, extension: parts }, ...criteria];
}
