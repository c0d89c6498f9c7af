import { readdirSync, readFileSync } from 'node:fs';
import type {
  Bundle,
  CarePlan,
  Composition,
  MedicationRequest,
  OperationOutcomeIssue,
  Patient,
  Resource,
  StructureDefinition,
  Task,
  ValueSet,
} from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { artefactFileName, buildArtefacts, PROFILES_DIR, serialiseArtefact } from '../../scripts/build-profiles.js';
import { CS, DRUG_SYSTEM, EXT, PROFILE, SYSTEM } from '../../src/fhir/canonical.js';
import { OperationOutcomeError } from '../../src/fhir/outcome.js';
import { assertValid, validateBundle, validateResource } from '../../src/fhir/validate.js';

const ref = (type: string, id = '1') => ({ reference: `${type}/${id}` });
const coding = (system: string, code: string) => ({ system, code });
const cc = (system: string, code: string) => ({ coding: [coding(system, code)] });
const claim = (profile: string) => ({ meta: { profile: [profile] } });

const errors = (issues: OperationOutcomeIssue[]) => issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
const expressions = (issues: OperationOutcomeIssue[]) => errors(issues).flatMap((i) => i.expression ?? []);

const insPatient = (): Patient => ({
  resourceType: 'Patient',
  ...claim(PROFILE.patientIns),
  extension: [
    {
      url: SYSTEM.frCoreIdentityReliabilityExt,
      extension: [{ url: 'identityStatus', valueCoding: coding(SYSTEM.frCoreIdentityStatus, 'VALI') }],
    },
    {
      url: SYSTEM.birthPlaceExt,
      valueAddress: { extension: [{ url: SYSTEM.frCoreInseeCodeExt, valueCoding: coding(SYSTEM.inseeCommune, '75056') }] },
    },
  ],
  identifier: [
    { use: 'official', type: cc(SYSTEM.frCoreIdentifierType, 'INS-NIR'), system: SYSTEM.insNir, value: '279035121518989' },
    { use: 'usual', system: 'urn:oid:1.2.250.1.999.1', value: 'IPP-1' },
  ],
  name: [
    {
      use: 'official',
      family: 'PAT-TROIS',
      given: ['DOMINIQUE'],
      extension: [{ url: SYSTEM.frCoreBirthListGivenNameExt, valueString: 'DOMINIQUE MARIE-LOUISE' }],
    },
  ],
  gender: 'female',
  birthDate: '1979-03-28',
});

const pppCarePlan = (): CarePlan => ({
  resourceType: 'CarePlan',
  ...claim(PROFILE.pppCarePlan),
  extension: [
    {
      url: EXT.inclusion,
      extension: [
        { url: 'entryDoor', valueCoding: coding(CS.entryDoor, 'hopital') },
        { url: 'stayType', valueCoding: coding(CS.stayType, 'hdj') },
        { url: 'pathway', valueCoding: coding(CS.pathway, 'IATROPREV') },
      ],
    },
  ],
  status: 'active',
  intent: 'plan',
  category: [cc(SYSTEM.snomed, '736378000'), cc(CS.careplanCategory, 'ppp'), cc(CS.pathway, 'IATROPREV')],
  subject: ref('Patient'),
  author: ref('PractitionerRole'),
  supportingInfo: [ref('DetectedIssue')],
  activity: [
    { reference: ref('MedicationRequest'), outcomeCodeableConcept: [cc(CS.followupOutcome, 'implementee')] },
    { detail: { kind: 'Task', status: 'scheduled', description: 'Bilan rénal à J45' } },
  ],
});

const recommendation = (): MedicationRequest => ({
  resourceType: 'MedicationRequest',
  ...claim(PROFILE.recommendationMedicationRequest),
  status: 'draft',
  intent: 'proposal',
  doNotPerform: true,
  medicationCodeableConcept: { coding: [coding(DRUG_SYSTEM.CIS, '61902218')], text: 'ELIQUIS 5 mg' },
  subject: ref('Patient'),
  basedOn: [ref('CarePlan')],
  detectedIssue: [ref('DetectedIssue')],
});

const task = (): Task => ({
  resourceType: 'Task',
  ...claim(PROFILE.task),
  status: 'completed',
  intent: 'order',
  code: cc(CS.taskType, 'reco-validation'),
  for: ref('Patient'),
  focus: ref('MedicationRequest'),
  output: [
    { type: { text: 'decision' }, valueCodeableConcept: cc(CS.pppDecision, 'retenu') },
    { type: { text: 'motif' }, valueString: 'Accord du MT' },
  ],
});

const bmo = (): Composition => ({
  resourceType: 'Composition',
  ...claim(PROFILE.bmoComposition),
  status: 'final',
  type: { coding: [{ system: SYSTEM.loinc, code: '10160-0', display: 'History of Medication use Narrative' }] },
  subject: ref('Patient'),
  date: '2026-01-10T10:00:00+01:00',
  author: [ref('PractitionerRole')],
  title: 'Bilan médicamenteux optimisé',
  attester: [{ mode: 'professional', party: ref('PractitionerRole', '2'), time: '2026-01-10T11:00:00+01:00' }],
  section: [
    {
      code: cc(SYSTEM.loinc, '10160-0'),
      mode: 'working',
      extension: [
        {
          url: EXT.medicationSources,
          extension: [
            { url: 'number', valuePositiveInt: 2 },
            { url: 'source', valueCoding: coding(SYSTEM.bmoSourceType, '10000001') },
            { url: 'source', valueCoding: coding(SYSTEM.bmoSourceType, '10000009') },
          ],
        },
      ],
      entry: [ref('MedicationStatement')],
    },
  ],
});

/** One valid resource per profile, built the way the mapping emits them. */
const VALID: Record<string, Resource> = {
  [PROFILE.patient]: {
    resourceType: 'Patient',
    ...claim(PROFILE.patient),
    identifier: [{ system: 'urn:oid:1.2.250.1.999.1', value: 'IPP-2' }],
    name: [{ family: 'MARTIN', given: ['Jean'] }],
    gender: 'male',
    birthDate: '1941',
  },
  [PROFILE.patientIns]: insPatient(),
  [PROFILE.practitioner]: {
    resourceType: 'Practitioner',
    ...claim(PROFILE.practitioner),
    identifier: [{ system: SYSTEM.rpps, value: '10003461033' }, { system: SYSTEM.idnps, value: '810003461033' }],
    name: [{ family: 'DURAND' }],
  },
  [PROFILE.practitionerRole]: {
    resourceType: 'PractitionerRole',
    ...claim(PROFILE.practitionerRole),
    practitioner: ref('Practitioner'),
    organization: ref('Organization'),
  },
  [PROFILE.organization]: {
    resourceType: 'Organization',
    ...claim(PROFILE.organization),
    identifier: [{ system: SYSTEM.finess, value: '760000018' }],
    name: 'CHU de Rouen',
  },
  [PROFILE.careTeam]: {
    resourceType: 'CareTeam',
    ...claim(PROFILE.careTeam),
    status: 'active',
    subject: ref('Patient'),
    participant: [
      { role: [cc(CS.careTeamRole, 'medecin-traitant')], member: ref('PractitionerRole') },
      { role: [cc(CS.careTeamRole, 'pharmacien-officine')], member: ref('PractitionerRole', '2') },
    ],
  },
  [PROFILE.pppCarePlan]: pppCarePlan(),
  [PROFILE.bpmCarePlan]: {
    resourceType: 'CarePlan',
    ...claim(PROFILE.bpmCarePlan),
    status: 'active',
    intent: 'plan',
    category: [cc(CS.careplanCategory, 'bpm')],
    subject: ref('Patient'),
    author: ref('PractitionerRole'),
    activity: [{ reference: ref('Task') }],
  },
  [PROFILE.detectedIssue]: {
    resourceType: 'DetectedIssue',
    ...claim(PROFILE.detectedIssue),
    status: 'final',
    code: cc(SYSTEM.sfpcProblem, '6.3'),
    severity: 'high',
    patient: ref('Patient'),
    author: ref('PractitionerRole'),
    implicated: [ref('MedicationStatement')],
    detail: 'Association déconseillée',
    mitigation: [{ action: cc(SYSTEM.sfpcIntervention, '2') }],
  },
  [PROFILE.recommendationMedicationRequest]: recommendation(),
  [PROFILE.recommendationServiceRequest]: {
    resourceType: 'ServiceRequest',
    ...claim(PROFILE.recommendationServiceRequest),
    status: 'draft',
    intent: 'proposal',
    code: { text: 'Dosage de la kaliémie' },
    subject: ref('Patient'),
    supportingInfo: [ref('DetectedIssue')],
  },
  [PROFILE.medicationStatement]: {
    resourceType: 'MedicationStatement',
    ...claim(PROFILE.medicationStatement),
    extension: [
      {
        url: EXT.reconciliation,
        extension: [
          { url: 'status', valueCoding: coding(SYSTEM.fctStatus, '10000004') },
          { url: 'isDiscrepant', valueBoolean: true },
          { url: 'divergence', valueCoding: coding(CS.ctmDivergence, 'DNI') },
          { url: 'type', valueCoding: coding(SYSTEM.fctErrorType, '10000001') },
          { url: 'severity', valueCoding: coding(SYSTEM.fctSeverity, '10000002') },
          { url: 'comment', valueString: 'Dose doublée' },
        ],
      },
    ],
    status: 'active',
    medicationCodeableConcept: { text: 'Préparation magistrale' },
    subject: ref('Patient'),
    dosage: [{ text: '1 matin', timing: { repeat: { frequency: 1, period: 1, periodUnit: 'd' } } }],
  },
  [PROFILE.medicationList]: {
    resourceType: 'List',
    ...claim(PROFILE.medicationList),
    status: 'current',
    mode: 'snapshot',
    code: { coding: [{ system: SYSTEM.loinc, code: '10160-0', display: 'History of Medication use Narrative' }] },
    subject: ref('Patient'),
    entry: [{ item: ref('MedicationStatement') }],
  },
  [PROFILE.bmoComposition]: bmo(),
  [PROFILE.fctComposition]: {
    resourceType: 'Composition',
    ...claim(PROFILE.fctComposition),
    status: 'preliminary',
    type: { text: 'Fiche de conciliation des traitements' },
    subject: ref('Patient'),
    date: '2026-01-10T10:00:00+01:00',
    author: [ref('PractitionerRole')],
    title: 'Fiche de conciliation',
    section: [
      { title: 'Bilan médicamenteux', entry: [ref('Composition', 'bmo')] },
      { title: 'Traitement en cours', entry: [ref('MedicationRequest')] },
      { title: 'Conciliation', entry: [ref('MedicationStatement')] },
    ],
  },
  [PROFILE.validationProvenance]: {
    resourceType: 'Provenance',
    ...claim(PROFILE.validationProvenance),
    target: [{ reference: 'Composition/bmo/_history/2' }],
    recorded: '2026-01-10T11:00:00+01:00',
    activity: cc(CS.provenanceActivity, 'bmo-validation'),
    agent: [{ type: cc(SYSTEM.provenanceParticipantType, 'verifier'), who: ref('PractitionerRole', '2') }],
  },
  [PROFILE.communication]: {
    resourceType: 'Communication',
    ...claim(PROFILE.communication),
    status: 'completed',
    category: [cc(CS.communicationCategory, 'avis-mt')],
    subject: ref('Patient'),
    payload: [{ contentString: 'D’accord pour l’arrêt.' }],
  },
  [PROFILE.task]: task(),
  [PROFILE.consent]: {
    resourceType: 'Consent',
    ...claim(PROFILE.consent),
    status: 'active',
    scope: cc('http://terminology.hl7.org/CodeSystem/consentscope', 'treatment'),
    category: [cc(SYSTEM.loinc, '59284-0')],
    patient: ref('Patient'),
    dateTime: '2026-01-10T10:00:00+01:00',
    policyRule: cc('http://terminology.hl7.org/CodeSystem/v3-ActCode', 'OPTIN'),
  },
  [PROFILE.encounter]: {
    resourceType: 'Encounter',
    ...claim(PROFILE.encounter),
    status: 'finished',
    class: coding('http://terminology.hl7.org/CodeSystem/v3-ActCode', 'VR'),
    subject: ref('Patient'),
    period: { start: '2026-01-12T14:00:00+01:00', end: '2026-01-12T14:30:00+01:00' },
  },
};

describe('validateResource: valid resources', () => {
  it('has a valid example for every profile', () => {
    expect(Object.keys(VALID).sort()).toEqual(Object.values(PROFILE).sort());
  });

  it.each(Object.entries(VALID))('%s accepts its example', (_profile, resource) => {
    expect(errors(validateResource(resource))).toEqual([]);
  });

  it('validates against the base R4 definition when nothing is claimed', () => {
    expect(errors(validateResource({ resourceType: 'Patient', gender: 'other' }))).toEqual([]);
  });
});

describe('validateResource: rejections name the field', () => {
  it('rejects a bogus Patient.gender (required binding)', () => {
    const issues = validateResource({ ...(VALID[PROFILE.patient] as Patient), gender: 'bogus' } as unknown as Patient);
    expect(expressions(issues)).toContain('Patient.gender');
    expect(errors(issues).find((i) => i.expression?.[0] === 'Patient.gender')).toMatchObject({
      code: 'code-invalid',
      details: { text: expect.stringMatching(/"bogus".*patient-gender/) },
    });
  });

  it('rejects a bogus CarePlan.status and a bogus nested activity status', () => {
    const cp = pppCarePlan();
    (cp as { status: string }).status = 'bogus';
    (cp.activity?.[1].detail as { status: string }).status = 'nonsense';
    const exprs = expressions(validateResource(cp));
    expect(exprs).toContain('CarePlan.status');
    expect(exprs).toContain('CarePlan.activity[1].detail.status');
  });

  it('rejects a Task whose code is not in task-type', () => {
    const t = task();
    t.code = cc(CS.taskType, 'make-coffee');
    const issues = errors(validateResource(t));
    expect(issues.map((i) => i.expression?.[0])).toEqual(['Task.code']);
    expect(issues[0].details?.text).toContain(`${CS.taskType}|make-coffee`);
    expect(issues[0].details?.text).toContain('ValueSet/task-type');
  });

  it('rejects a Task decision outside ppp-decision', () => {
    const t = task();
    t.output = [{ type: { text: 'decision' }, valueCodeableConcept: cc(CS.pppDecision, 'peut-etre') }];
    expect(expressions(validateResource(t))).toEqual(['Task.output[0].valueCodeableConcept']);
  });

  it('rejects a PPP CarePlan missing its categories', () => {
    const cp = pppCarePlan();
    cp.category = [cc(CS.pathway, 'OPTIMEDOC')];
    const issues = errors(validateResource(cp));
    expect(issues.length).toBeGreaterThan(0);
    expect(issues.every((i) => i.expression?.[0] === 'CarePlan.category')).toBe(true);
    expect(issues.map((i) => i.details?.text).join(' ')).toMatch(/ppp-1|ppp-2|expected 2\.\.\*/);
  });

  it('rejects a PPP CarePlan without its pathway category or its inclusion extension', () => {
    const cp = pppCarePlan();
    cp.category = [cc(SYSTEM.snomed, '736378000'), cc(CS.careplanCategory, 'ppp')];
    delete cp.extension;
    const issues = errors(validateResource(cp));
    expect(issues.find((i) => i.details?.text?.includes('ppp-3'))?.expression).toEqual(['CarePlan.category']);
    expect(issues.find((i) => i.details?.text?.includes('inclusion'))?.expression).toEqual(['CarePlan.extension']);
  });

  it('rejects a recommendation MedicationRequest with intent order', () => {
    const mr = recommendation();
    mr.intent = 'order';
    expect(expressions(validateResource(mr))).toEqual(['MedicationRequest.intent']);
  });

  it('rejects a recommendation whose drug is coded outside the French drug systems', () => {
    const mr = recommendation();
    mr.medicationCodeableConcept = cc('http://example.org/drugs', '42');
    expect(expressions(validateResource(mr))).toEqual(['MedicationRequest.medication[x]']);
  });

  it('rejects a non-INS Patient carrying an INS identifier', () => {
    const p = { ...VALID[PROFILE.patient], identifier: [{ system: SYSTEM.insNir, value: '279035121518989' }] } as Patient;
    const issues = errors(validateResource(p));
    expect(issues.map((i) => i.expression?.[0])).toEqual(['Patient.identifier']);
    expect(issues[0].details?.text).toContain('pat-no-ins');
  });

  it('rejects an INS Patient with two given names in its official name or no birth place', () => {
    const p = insPatient();
    p.name?.[0].given?.push('MARIE');
    p.extension = p.extension?.filter((e) => e.url !== SYSTEM.birthPlaceExt);
    const exprs = expressions(validateResource(p));
    expect(exprs).toContain('Patient.name');
    expect(exprs).toContain('Patient.extension');
  });

  it('rejects a final BMO Composition without attester', () => {
    const c = bmo();
    delete c.attester;
    const issues = errors(validateResource(c));
    expect(issues.map((i) => i.expression?.[0])).toEqual(['Composition.attester']);
    expect(issues[0].details?.text).toContain('bmo-1');
    expect(errors(validateResource({ ...c, status: 'preliminary' }))).toEqual([]);
  });

  it('checks the content of our extensions (sub-extension cardinality and bindings)', () => {
    const c = bmo();
    c.section![0].extension![0].extension = [
      { url: 'number', valuePositiveInt: 1 },
      // no `source` (1..*)
    ];
    expect(expressions(validateResource(c))).toEqual(['Composition.section[0].extension[0].extension']);

    const ms = structuredClone(VALID[PROFILE.medicationStatement]) as Resource & { extension: { extension: unknown[] }[] };
    ms.extension[0].extension[0] = { url: 'status', valueCoding: coding(SYSTEM.fctStatus, '99') };
    expect(expressions(validateResource(ms))).toEqual(['MedicationStatement.extension[0].extension[0].valueCoding']);
  });

  it('rejects a CareTeam role outside careteam-role', () => {
    const team = structuredClone(VALID[PROFILE.careTeam]) as Resource & { participant: { role: unknown[] }[] };
    team.participant[1].role = [cc(CS.careTeamRole, 'boulanger')];
    expect(expressions(validateResource(team))).toEqual(['CareTeam.participant[1].role[0]']);
  });

  it('rejects a DetectedIssue coded outside SFPC problems and CTM DNI', () => {
    const di = { ...VALID[PROFILE.detectedIssue], code: cc(CS.ctmDivergence, 'DID') } as Resource;
    expect(expressions(validateResource(di))).toEqual(['DetectedIssue.code']);
    const dni = { ...VALID[PROFILE.detectedIssue], code: { coding: [coding(CS.ctmDivergence, 'DNI'), coding(SYSTEM.fctErrorType, '10000001')] } };
    expect(errors(validateResource(dni as Resource))).toEqual([]);
  });

  it('checks bindings inside data types (HumanName.use)', () => {
    const p = { ...(VALID[PROFILE.patient] as Patient), name: [{ use: 'nickname-ish', family: 'X' }] } as unknown as Patient;
    expect(expressions(validateResource(p))).toEqual(['Patient.name[0].use']);
  });
});

describe('validateResource: profile selection', () => {
  it('reports an unknown profile given as option', () => {
    const issues = errors(validateResource(VALID[PROFILE.patient], { profile: 'https://example.org/StructureDefinition/nope' }));
    expect(issues).toHaveLength(1);
    expect(issues[0].details?.text).toContain('Unknown profile');
  });

  it('reports an unknown profile claimed in meta.profile', () => {
    const issues = errors(validateResource({ resourceType: 'Patient', meta: { profile: ['https://example.org/x'] } }));
    expect(issues.map((i) => i.expression?.[0])).toEqual(['Patient.meta.profile']);
  });

  it('uses options.profile over meta.profile, and refuses a profile of another type', () => {
    const withoutProfile = { ...VALID[PROFILE.patient], meta: undefined } as Patient;
    expect(expressions(validateResource(withoutProfile, { profile: PROFILE.patientIns }))).toContain('Patient.extension');
    expect(errors(validateResource(withoutProfile, { profile: PROFILE.task }))[0].details?.text).toContain('constrains Task');
  });
});

describe('validateBundle and assertValid', () => {
  const bundle = (): Bundle => ({
    resourceType: 'Bundle',
    type: 'transaction',
    entry: structuredClone(Object.values(VALID)).map((resource, i) => ({
      fullUrl: `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      resource,
      request: { method: 'POST', url: resource.resourceType },
    })),
  });

  it('accepts a bundle of valid resources', () => {
    expect(errors(validateBundle(bundle()))).toEqual([]);
  });

  it('prefixes entry issues with Bundle.entry[i].resource', () => {
    const b = bundle();
    (b.entry![0].resource as { gender?: string }).gender = 'bogus';
    (b.entry![19].resource as { status?: string }).status = 'bogus';
    expect(expressions(validateBundle(b))).toEqual(['Bundle.entry[0].resource.gender', 'Bundle.entry[19].resource.status']);
  });

  it('checks the bundle itself (transaction entries need a request; a document starts with a Composition)', () => {
    const b = bundle();
    delete b.entry![0].request;
    const issues = errors(validateBundle(b));
    expect(issues.map((i) => i.expression?.[0])).toEqual(['Bundle']);
    expect(issues[0].details?.text).toContain('bdl-3');

    const doc: Bundle = {
      resourceType: 'Bundle',
      type: 'document',
      identifier: { system: SYSTEM.uuid, value: 'urn:uuid:6f1c0a52-3d0e-4a7e-9a51-0d6f8b3c1e11' },
      timestamp: '2026-01-10T11:00:00+01:00',
      entry: [
        { fullUrl: 'urn:uuid:6f1c0a52-3d0e-4a7e-9a51-0d6f8b3c1e12', resource: VALID[PROFILE.patient] },
        { fullUrl: 'urn:uuid:6f1c0a52-3d0e-4a7e-9a51-0d6f8b3c1e13', resource: bmo() },
      ],
    };
    expect(errors(validateBundle(doc)).map((i) => i.details?.text)).toEqual([expect.stringContaining('bdl-11')]);
    doc.entry?.reverse();
    expect(errors(validateBundle(doc))).toEqual([]);
  });

  it('assertValid throws an OperationOutcomeError listing only errors', () => {
    expect(() => assertValid(VALID[PROFILE.task])).not.toThrow();
    const t = task();
    t.code = cc(CS.taskType, 'nope');
    try {
      assertValid(t);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(OperationOutcomeError);
      const issues = (err as OperationOutcomeError).outcome.issue;
      expect(issues.map((i) => i.expression?.[0])).toEqual(['Task.code']);
    }
    const b = bundle();
    b.entry![0].resource = t;
    expect(() => assertValid(b)).toThrow(OperationOutcomeError);
  });
});

describe('profiles/ artefacts', () => {
  const files = readdirSync(PROFILES_DIR).filter((f) => f.endsWith('.json'));
  const artefacts = files.map((f) => JSON.parse(readFileSync(PROFILES_DIR + f, 'utf8')) as Resource);
  const sds = artefacts.filter((a): a is StructureDefinition => a.resourceType === 'StructureDefinition');
  const valueSets = new Set(artefacts.filter((a): a is ValueSet => a.resourceType === 'ValueSet').map((v) => v.url));

  it('holds one StructureDefinition per profile and extension, each with a snapshot and a differential', () => {
    expect(sds.map((s) => s.url).sort()).toEqual([...Object.values(PROFILE), ...Object.values(EXT)].sort());
    for (const sd of sds) {
      expect(sd.snapshot?.element?.length, sd.url).toBeGreaterThan(1);
      expect(sd.differential?.element?.length, sd.url).toBeGreaterThan(0);
      expect(sd.fhirVersion).toBe('4.0.1');
      expect(sd.derivation).toBe('constraint');
    }
  });

  it('binds every required binding of ours to a ValueSet in profiles/', () => {
    const ours = sds.flatMap((sd) =>
      (sd.snapshot?.element ?? [])
        .filter((e) => e.binding?.strength === 'required' && e.binding.valueSet?.startsWith('https://fhir.passerelle.fr/'))
        .map((e) => e.binding?.valueSet as string),
    );
    expect(ours.length).toBeGreaterThan(10);
    for (const url of ours) expect(valueSets, url).toContain(url);
  });

  it('is up to date with src/fhir/profiles/specs.ts (run `npm run profiles`)', () => {
    const expected = new Map(buildArtefacts().map((a) => [artefactFileName(a), serialiseArtefact(a)]));
    expect(files.sort()).toEqual([...expected.keys()].sort());
    for (const [name, text] of expected) {
      expect(readFileSync(PROFILES_DIR + name, 'utf8') === text, `${name} is stale: run npm run profiles`).toBe(true);
    }
  });
});
