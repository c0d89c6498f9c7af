// Targeted behaviour of the canonical → FHIR mapping: identity rules, recommendations, validation Tasks,
// follow-ups, CTM divergences and validation, drug code systems, ids.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type {
  Encounter,
  Bundle,
  CarePlan,
  Communication,
  Composition,
  DetectedIssue,
  MedicationRequest,
  MedicationStatement,
  Patient,
  Provenance,
  Resource,
  Task,
} from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { parseDocument, type DocumentKind } from '../../src/domain/parse.js';
import type { Ctm } from '../../src/domain/ctm.js';
import type { Ppp } from '../../src/domain/ppp.js';
import { mapCtm, mapDocument, mapPpp } from '../../src/fhir/bundle.js';
import { addMinutes } from '../../src/fhir/map-ppp.js';
import { validateResource } from '../../src/fhir/validate.js';
import { CS, EXT, PROFILE, SYSTEM } from '../../src/fhir/canonical.js';
import { idFor, patientId } from '../../src/fhir/ids.js';
import { addDays } from '../../src/fhir/map-common.js';

const NOW = '2026-01-15T10:00:00+01:00';
const FIXTURES = path.resolve(import.meta.dirname, '../fixtures');
const INS_SYSTEMS: string[] = [SYSTEM.insNir, SYSTEM.insNia, SYSTEM.insNirTest, SYSTEM.insNirDemo];

function raw(kind: DocumentKind, name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path.join(FIXTURES, kind, `${name}.json`), 'utf8')) as Record<string, unknown>;
}
function ppp(name: string, patch: (d: Record<string, unknown>) => void = () => {}): Ppp {
  const d = raw('ppp', name);
  patch(d);
  return parseDocument('ppp', d);
}
function ctm(name: string): Ctm {
  return parseDocument('ctm', raw('ctm', name));
}
function all<T extends Resource>(b: Bundle, type: T['resourceType']): T[] {
  return (b.entry ?? []).map((e) => e.resource as Resource).filter((r): r is T => r.resourceType === type);
}
function one<T extends Resource>(b: Bundle, type: T['resourceType']): T {
  const found = all<T>(b, type);
  expect(found, type).toHaveLength(1);
  return found[0]!;
}
const key = (r: Resource): string => `${r.resourceType}/${r.id}`;
const hasCode = (c: { coding?: { system?: string; code?: string }[] } | undefined, system: string, code: string): boolean =>
  c?.coding?.some((x) => x.system === system && x.code === code) ?? false;

describe('Patient', () => {
  it('a qualified identity (QUAL) carries its INS in FR Core encoding, with the IPP as usual identifier', () => {
    const p = one<Patient>(mapPpp(ppp('ppp-12-medicines'), { now: NOW }), 'Patient');
    expect(p.meta?.profile).toEqual([PROFILE.patientIns]);
    const ins = p.identifier?.filter((i) => INS_SYSTEMS.includes(i.system ?? ''));
    expect(ins).toEqual([
      {
        use: 'official',
        type: { coding: [{ system: SYSTEM.frCoreIdentifierType, code: 'INS-NIR-TEST' }] },
        system: 'urn:oid:1.2.250.1.213.1.4.10',
        value: '240037654012380',
      },
    ]);
    expect(p.identifier?.find((i) => i.value === 'IPP-00412785')?.use).toBe('usual');
    const reliability = p.extension?.find((e) => e.url === SYSTEM.frCoreIdentityReliabilityExt);
    // FR Core table 0445 has no QUAL: VALI is its INS-bearing status (invariants fr-core-1/2).
    expect(reliability?.extension?.[0]?.valueCoding).toMatchObject({ system: SYSTEM.frCoreIdentityStatus, code: 'VALI' });
    const official = p.name?.find((n) => n.use === 'official');
    expect(official).toMatchObject({ family: 'ROUAULT', given: ['Emma'] });
    expect(official?.extension).toEqual([{ url: SYSTEM.frCoreBirthListGivenNameExt, valueString: 'Emma Louise' }]);
    expect(p.name?.find((n) => n.use === 'usual')).toMatchObject({ family: 'BOVARY' });
    const birthPlace = p.extension?.find((e) => e.url === SYSTEM.birthPlaceExt);
    expect(birthPlace?.valueAddress?.extension?.[0]?.valueCoding).toEqual({ system: SYSTEM.inseeCommune, code: '76540' });
    expect(p.gender).toBe('female');
  });

  it('an identity that is not qualified never carries the INS, even when the input has one', () => {
    const doc = ppp('town-async-rcp');
    expect(doc.patient.status).toBe('VALI');
    expect(doc.patient.ins).toBeDefined();
    const p = one<Patient>(mapPpp(doc, { now: NOW }), 'Patient');
    expect(p.meta?.profile).toEqual([PROFILE.patient]);
    expect(p.identifier?.filter((i) => INS_SYSTEMS.includes(i.system ?? '') || i.value === doc.patient.ins?.matricule)).toEqual([]);
    const reliability = p.extension?.find((e) => e.url === SYSTEM.frCoreIdentityReliabilityExt)?.extension ?? [];
    // Table 0445 VALI (checked against an ID document) on the plain profile and without INS: FR Core ties a
    // qualified identity to VALI *with* the INS (fr-core-1), and no INSi methodCollection is claimed.
    expect(reliability).toEqual([{ url: 'identityStatus', valueCoding: { system: SYSTEM.frCoreIdentityStatus, code: 'VALI', display: 'Identité validée' } }]);

    const recup = one<Patient>(mapCtm(ctm('admission-unvalidated-bmo'), { now: NOW }), 'Patient');
    expect(recup.meta?.profile).toEqual([PROFILE.patient]);
    expect(recup.identifier?.some((i) => INS_SYSTEMS.includes(i.system ?? ''))).toBe(false);
  });

  it('keeps partial birth dates, maps sex I to unknown (FR Core has no other) and a bare IPP OID to urn:oid', () => {
    const p = one<Patient>(mapPpp(ppp('map-draft-minimal'), { now: NOW }), 'Patient');
    expect(p.birthDate).toBe('1938-07');
    expect(p.gender).toBe('unknown');
    expect(p.identifier).toEqual([
      { use: 'usual', type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'PI', display: 'Patient internal identifier' }] }, system: 'urn:oid:1.2.250.1.999.1.590780193.1', value: 'IPP-77' },
    ]);
    // RECUP: not checked against an ID document (0445 PROV), traits from the INSi teleservice (methodCollection INSI).
    expect(p.extension?.find((e) => e.url === SYSTEM.frCoreIdentityReliabilityExt)?.extension?.map((x) => x.valueCoding?.code)).toEqual(['PROV', 'INSI']);
    expect(p.name).toEqual([
      { use: 'official', family: 'DUPONT', given: ['Camille'] },
      { use: 'usual', family: 'DUPONT', given: ['Cam'] },
    ]);
  });

  it('a birthplace abroad (99xxx) keeps its COG code in the FR Core INSEE system (required binding)', () => {
    const p = one<Patient>(mapPpp(ppp('consultation-born-abroad'), { now: NOW }), 'Patient');
    expect(p.extension?.find((e) => e.url === SYSTEM.birthPlaceExt)?.valueAddress?.extension?.[0]?.valueCoding).toEqual({
      system: SYSTEM.inseeCommune,
      code: '99134',
    });
  });

  it('takes its id from the source identifier, not from the INS', () => {
    const a = one<Patient>(mapPpp(ppp('ppp-12-medicines'), { now: NOW }), 'Patient');
    expect(a.id).toBe(patientId('urn:oid:1.2.250.1.999.1.760000018.1', 'IPP-00412785'));
    const otherIns = one<Patient>(
      mapPpp(ppp('ppp-12-medicines', (d) => ((d.patient as Record<string, unknown>).status = 'PROV')), { now: NOW }),
      'Patient',
    );
    expect(otherIns.id).toBe(a.id);
  });
});

describe('actors', () => {
  it('a practitioner named as author and team member appears once, with RPPS and IDNPS', () => {
    const b = mapPpp(ppp('ppp-12-medicines'), { now: NOW });
    const practitioners = all<Resource & { identifier?: { system?: string; value?: string }[] }>(b, 'Practitioner');
    const clara = practitioners.filter((p) => p.identifier?.some((i) => i.value === '10100378222'));
    expect(clara).toHaveLength(1);
    expect(clara[0]?.identifier).toEqual([
      { use: 'official', type: { coding: [{ system: SYSTEM.frCoreIdentifierType, code: 'IDNPS' }] }, system: SYSTEM.idnps, value: '810100378222' },
      { use: 'official', type: { coding: [{ system: SYSTEM.frCoreIdentifierType, code: 'RPPS' }] }, system: SYSTEM.rpps, value: '10100378222' },
    ]);
    const orgs = all<Resource & { identifier?: { system?: string; value?: string }[] }>(b, 'Organization');
    expect(orgs.find((o) => o.identifier?.some((i) => i.value === '760000018'))?.identifier?.find((i) => i.system === SYSTEM.idnst)?.value).toBe(
      '1760000018',
    );
  });

  it('an IdNat_Struct given as establishment FINESS is reduced to the FINESS', () => {
    const b = mapPpp(ppp('town-async-rcp'), { now: NOW });
    const values = all<Resource & { identifier?: { system?: string; value?: string }[] }>(b, 'Organization').flatMap(
      (o) => o.identifier?.filter((i) => i.system === SYSTEM.finess).map((i) => i.value) ?? [],
    );
    expect(values).toContain('140000787');
  });
});

describe('PPP', () => {
  const doc = ppp('ppp-12-medicines');
  const b = mapPpp(doc, { now: NOW });
  const plan = one<CarePlan>(b, 'CarePlan');

  it('builds the CarePlan with its categories, inclusion, team, problems and proposals', () => {
    expect(plan.meta?.profile).toEqual([PROFILE.pppCarePlan]);
    expect(plan.intent).toBe('plan');
    expect(plan.category?.map((c) => c.coding?.[0]?.code)).toEqual(['736378000', 'ppp', 'OPTIMEDOC']);
    const inclusion = plan.extension?.find((e) => e.url === EXT.inclusion);
    expect(inclusion?.extension?.filter((e) => e.valueCoding).map((e) => [e.url, e.valueCoding?.code])).toEqual([
      ['entryDoor', 'hopital'],
      ['stayType', 'hospitalisation'],
      ['pathway', 'OPTIMEDOC'],
    ]);
    expect(plan.period).toEqual({ start: doc.sentAt });
    expect(plan.identifier?.[0]).toEqual({ use: 'official', system: 'https://fhir.passerelle.fr/identifier/760000018/ppp', value: 'PPP-2025-0412' });
    expect(plan.activity).toHaveLength(doc.recommendations.length);
    const issues = all<DetectedIssue>(b, 'DetectedIssue');
    expect(issues).toHaveLength(doc.problems.length);
    for (const di of issues) expect(plan.supportingInfo).toContainEqual({ reference: key(di) });
    expect(plan.encounter?.reference).toMatch(/^Encounter\//);
  });

  it('a synchronous RCP is an Encounter with the team and the meeting’s date and duration', () => {
    const withDuration = mapPpp(ppp('ppp-12-medicines', (d) => ((d.rcp as Record<string, unknown>).durationMinutes = 40)), { now: NOW });
    const enc = one<Encounter>(withDuration, 'Encounter');
    expect(enc.length).toEqual({ value: 40, unit: 'min', system: SYSTEM.ucum, code: 'min' });
    expect(Date.parse(enc.period!.end!) - Date.parse(enc.period!.start!)).toBe(40 * 60_000);
    // Written in the meeting's own offset, so that the period reads naturally and per-1 (start ≤ end) holds.
    expect(enc.period!.end!.slice(-6)).toBe(enc.period!.start!.slice(-6));
    expect(validateResource(enc).filter((i) => i.severity === 'error')).toEqual([]);
    expect(addMinutes('2026-12-02T12:30:00+01:00', 45)).toBe('2026-12-02T13:15:00+01:00');
    expect(addMinutes('2026-12-02T23:50:00-03:30', 20)).toBe('2026-12-03T00:10:00-03:30');
    expect(addMinutes('2026-12-02T23:50:00Z', 10)).toBe('2026-12-03T00:00:00Z');
    // The DAH (author), the MT, the PHO and the rest of the team take part.
    expect(enc.participant?.length).toBe(doc.team.length);
    const without = one<Encounter>(b, 'Encounter');
    expect(without.length).toBeUndefined();
    expect(without.period).toEqual({ start: doc.rcp!.date });
  });

  it('a stop recommendation is a doNotPerform proposal; others are not', () => {
    const requests = all<MedicationRequest>(b, 'MedicationRequest');
    for (const r of doc.recommendations) {
      if (r.kind !== 'medication') continue;
      const mr = requests.find((m) => m.id === idFor('MedicationRequest', '760000018', 'ppp', doc.id, 'recommendation', r.id))!;
      expect(mr.intent).toBe('proposal');
      expect(mr.doNotPerform).toBe(r.action === 'stop' ? true : undefined);
      expect(mr.basedOn).toEqual([{ reference: key(plan) }]);
      expect(mr.detectedIssue).toHaveLength(1);
      if (r.medicationLineId) expect(mr.supportingInformation?.[0]?.reference).toMatch(/^MedicationStatement\//);
    }
  });

  it('one MT Task per recommendation, a PHO Task per drug recommendation (or when the PHO answered)', () => {
    const tasks = new Map(all<Task>(b, 'Task').filter((t) => hasCode(t.code, CS.taskType, 'reco-validation')).map((t) => [t.id, t]));
    const taskOf = (recoId: string, actor: string): Task | undefined => tasks.get(idFor('Task', '760000018', 'ppp', doc.id, 'reco-validation', recoId, actor));
    let expected = 0;
    for (const r of doc.recommendations) {
      const proposal = r.kind === 'medication' ? 'MedicationRequest' : 'ServiceRequest';
      const focus = { reference: `${proposal}/${idFor(proposal, '760000018', 'ppp', doc.id, 'recommendation', r.id)}` };
      expect(taskOf(r.id, 'MT')?.focus).toEqual(focus);
      const phoExpected = r.kind === 'medication' || r.decisions.some((d) => d.actor === 'PHO');
      expect(taskOf(r.id, 'PHO') !== undefined, `${r.id} (${r.kind})`).toBe(phoExpected);
      expected += phoExpected ? 2 : 1;
    }
    expect(tasks.size).toBe(expected);
    // r4 is a service recommendation without PHO decision: MT Task only.
    expect(taskOf('r4', 'PHO')).toBeUndefined();
    expect(taskOf('r4', 'MT')?.owner).toEqual(taskOf('r6', 'MT')?.owner);
    expect(taskOf('r6', 'PHO')?.owner).not.toEqual(taskOf('r6', 'MT')?.owner);
  });

  it('a decision completes the Task with the decision and its reason as output; no decision leaves it requested', () => {
    const r4 = all<Task>(b, 'Task').find((t) => t.id === idFor('Task', '760000018', 'ppp', doc.id, 'reco-validation', 'r4', 'MT'))!;
    expect(r4.status).toBe('completed');
    expect(r4.output).toEqual([
      { type: { text: 'decision' }, valueCodeableConcept: { coding: [{ system: CS.pppDecision, code: 'non-retenu', display: 'Non retenu' }] } },
      { type: { text: 'motif' }, valueString: 'Suivi cardiologique déjà programmé' },
    ]);
    const r6 = all<Task>(b, 'Task').find((t) => t.id === idFor('Task', '760000018', 'ppp', doc.id, 'reco-validation', 'r6', 'MT'))!;
    expect(r6.status).toBe('requested');
    expect(r6.output).toBeUndefined();
    expect(r6.owner?.reference).toMatch(/^PractitionerRole\//);
  });

  it('schedules D45 and D90 follow-ups from sentAt, owned by the PHO', () => {
    const followups = all<Task>(b, 'Task').filter((t) => hasCode(t.code, CS.taskType, 'followup-d45') || hasCode(t.code, CS.taskType, 'followup-d90'));
    expect(followups.map((t) => [t.code?.coding?.[0]?.code, t.restriction?.period?.start])).toEqual([
      ['followup-d45', '2025-05-05'],
      ['followup-d90', '2025-06-19'],
    ]);
    for (const t of followups) {
      expect(t.focus).toEqual({ reference: key(plan) });
      expect(t.input).toHaveLength(doc.recommendations.length);
    }
    expect(addDays('2025-12-20T23:30:00-10:00', 45)).toBe('2026-02-03');
    const unsent = mapPpp(ppp('ppp-12-medicines', (d) => delete d.sentAt), { now: NOW });
    expect(all<Task>(unsent, 'Task').filter((t) => t.code?.coding?.[0]?.code?.startsWith('followup'))).toEqual([]);
  });

  it('emits drug codes in the urn:oid form whatever alias came in (smt.esante.gouv.fr URIs included)', () => {
    const m2 = all<MedicationStatement>(b, 'MedicationStatement').find((m) => m.medicationCodeableConcept?.text === 'CORDARONE 200 mg cp sécable')!;
    expect(m2.medicationCodeableConcept?.coding).toEqual([
      { system: 'urn:oid:1.2.250.1.213.2.3.1', code: '60308369', display: 'CORDARONE 200 mg, comprimé sécable' },
      { system: 'http://www.whocc.no/atc', code: 'C01BD01', display: 'amiodarone' },
    ]);
    expect(JSON.stringify(b)).not.toContain('smt.esante.gouv.fr');
  });

  it('flags self-medication as patientspecified, told by the patient', () => {
    const m6 = all<MedicationStatement>(b, 'MedicationStatement').find((m) => m.medicationCodeableConcept?.text === 'NUROFEN 400 mg')!;
    expect(m6.category?.coding?.[0]?.code).toBe('patientspecified');
    expect(m6.informationSource?.reference).toMatch(/^Patient\//);
    expect(m6.dosage?.[0]).toMatchObject({ asNeededBoolean: true, doseAndRate: [{ doseQuantity: { value: 400, unit: 'mg', system: SYSTEM.ucum, code: 'mg' } }] });
  });

  it('a draft plan gives draft proposals and Tasks, a refused consent is rejected, RCP messages thread', () => {
    const d = mapPpp(ppp('map-draft-minimal'), { now: NOW });
    expect(one<CarePlan>(d, 'CarePlan').status).toBe('draft');
    expect(all<DetectedIssue>(d, 'DetectedIssue').map((i) => i.status)).toEqual(['preliminary']);
    expect(all<Task>(d, 'Task').filter((t) => t.code?.coding?.[0]?.code === 'reco-validation').map((t) => t.status)).toEqual(['draft', 'draft', 'draft']);
    expect(one<Resource & { status: string }>(d, 'Consent').status).toBe('rejected');
    expect(all<MedicationRequest>(d, 'MedicationRequest')[0]?.dosageInstruction?.[0]?.timing).toEqual({ repeat: { frequency: 1, period: 2, periodUnit: 'd' } });
    const [m1, m2] = all<Communication>(d, 'Communication');
    expect(m2?.inResponseTo).toEqual([{ reference: key(m1!) }]);
    // An RPPS named nowhere else in the document still resolves (a bare Practitioner).
    expect(m1?.sender?.reference).toMatch(/^Practitioner\//);
    expect(m2?.basedOn?.[0]?.reference).toMatch(/^Task\//);
    expect(d.entry?.some((e) => e.resource?.resourceType === 'List')).toBe(false);
  });

  it('uses absolute fullUrls under baseUrl', () => {
    const withBase = mapPpp(doc, { now: NOW, baseUrl: 'https://gw.example.fr/fhir/' });
    for (const e of withBase.entry ?? []) expect(e.fullUrl).toBe(`https://gw.example.fr/fhir/${e.request?.url}`);
  });
});

describe('CTM', () => {
  it('a DNI becomes a DetectedIssue; every FCT line carries its reconciliation properties', () => {
    const doc = ctm('admission-divergences');
    const b = mapCtm(doc, { now: NOW });
    const dni = doc.fct!.lines.filter((l) => l.divergence === 'DNI');
    const issues = all<DetectedIssue>(b, 'DetectedIssue');
    expect(issues).toHaveLength(dni.length);
    expect(dni.length).toBeGreaterThan(0);
    for (const di of issues) expect(hasCode(di.code, CS.ctmDivergence, 'DNI')).toBe(true);
    const f5 = issues.find((i) => i.id === idFor('DetectedIssue', '760000018', 'ctm', doc.id, 'dni', 'f5'))!;
    expect(f5.severity).toBe('low');
    expect(hasCode(f5.mitigation?.[0]?.action, SYSTEM.fctResolution, '10000002')).toBe(true);

    const discrepancy = (lineId: string): string | undefined =>
      all<MedicationStatement>(b, 'MedicationStatement')
        .find((m) => m.id === idFor('MedicationStatement', '760000018', 'ctm', doc.id, 'fct-line', lineId))
        ?.extension?.find((e) => e.url === EXT.reconciliation)
        ?.extension?.find((e) => e.url === 'discrepancy')?.valueCoding?.code;
    expect(discrepancy('f1')).toBe('10000001'); // AUCUNE
    expect(discrepancy('f2')).toBe('10000003'); // DID
    expect(discrepancy('f4')).toBe('10000003'); // DIND
    expect(discrepancy('f5')).toBe('10000004'); // DNI
  });

  it('a validated BMO is final with an attester and a verifier Provenance', () => {
    const b = mapCtm(ctm('admission-divergences'), { now: NOW });
    const bmo = all<Composition>(b, 'Composition').find((c) => c.meta?.profile?.[0] === PROFILE.bmoComposition)!;
    expect(bmo.status).toBe('final');
    expect(bmo.attester?.[0]?.mode).toBe('professional');
    const prov = one<Provenance>(b, 'Provenance');
    expect(prov.target).toContainEqual({ reference: key(bmo) });
    expect(prov.agent[0]?.who).toEqual(bmo.attester?.[0]?.party);
    expect(hasCode(prov.agent[0]?.type, SYSTEM.provenanceParticipantType, 'verifier')).toBe(true);
  });

  it('an unvalidated BMO is preliminary, without attester nor Provenance', () => {
    const b = mapCtm(ctm('admission-unvalidated-bmo'), { now: NOW });
    const bmo = one<Composition>(b, 'Composition');
    expect(bmo.status).toBe('preliminary');
    expect(bmo.attester).toBeUndefined();
    expect(all<Provenance>(b, 'Provenance')).toEqual([]);
    expect(bmo.section?.[0]?.extension?.[0]?.url).toBe(EXT.medicationSources);
  });

  it('the FCT keeps three sections even when no drug remains in the current prescription', () => {
    const b = mapCtm(ctm('map-fct-all-stopped'), { now: NOW });
    const fct = all<Composition>(b, 'Composition').find((c) => c.meta?.profile?.[0] === PROFILE.fctComposition)!;
    expect(fct.section?.map((s) => s.title)).toEqual(['Bilan médicamenteux optimisé', 'Traitement médicamenteux courant', 'Conciliation']);
    expect(fct.section?.[1]?.entry).toBeUndefined();
    expect(fct.section?.[1]?.emptyReason?.coding?.[0]?.code).toBe('nilknown');
    expect(one<DetectedIssue>(b, 'DetectedIssue').severity).toBe('high');
  });
});

describe('mapDocument', () => {
  it('dispatches on the kind', () => {
    const b = mapDocument('bpm', parseDocument('bpm', raw('bpm', 'self-medication-remote')), { now: NOW });
    const plan = one<CarePlan>(b, 'CarePlan');
    expect(plan.meta?.profile).toEqual([PROFILE.bpmCarePlan]);
    expect(plan.activity?.some((a) => a.reference?.reference?.startsWith('Task/'))).toBe(true);
  });
});

describe('ids', () => {
  it('are RFC 9562 UUID v5 (SHA-1 of namespace + name, version 5, variant 10)', async () => {
    const { createHash } = await import('node:crypto');
    const { ID_NAMESPACE, uuidV5 } = await import('../../src/fhir/ids.js');
    for (const name of ['Patient\u001fa\u001fb', 'CarePlan\u001f760000018\u001fppp\u001fPPP-1', 'é']) {
      const h = createHash('sha1').update(Buffer.from(ID_NAMESPACE.replace(/-/g, ''), 'hex')).update(name, 'utf8').digest();
      h[6] = (h[6]! & 0x0f) | 0x50;
      h[8] = (h[8]! & 0x3f) | 0x80;
      const hex = h.toString('hex', 0, 16);
      expect(uuidV5(name)).toBe(`${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`);
    }
  });

  it('do not collide when parts shift between positions', () => {
    expect(idFor('Task', 'ab', 'c')).not.toBe(idFor('Task', 'a', 'bc'));
    expect(idFor('Task', 'a')).not.toBe(idFor('List', 'a'));
  });
});
