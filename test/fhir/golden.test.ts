// Golden files and rule-based properties for every canonical fixture: map with a fixed `now`, compare with
// `<name>.expected.json` (UPDATE_GOLDEN=1 rewrites them: read the diff before accepting it), and check on every
// Bundle that references resolve, ids are unique, nothing is empty, every resource validates and re-mapping
// is deterministic.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { parseDocument, type DocumentKind } from '../../src/domain/parse.js';
import { mapDocument } from '../../src/fhir/bundle.js';
import { validateBundle, validateResource } from '../../src/fhir/validate.js';

const NOW = '2026-01-15T10:00:00+01:00';
const FIXTURES = path.resolve(import.meta.dirname, '../fixtures');
const KINDS: DocumentKind[] = ['ppp', 'ctm', 'bpm'];
const update = process.env.UPDATE_GOLDEN === '1';

/** Resource types shared across documents (same person, same organisation); every other id is document-scoped. */
const SHARED_TYPES = new Set(['Patient', 'Practitioner', 'PractitionerRole', 'Organization']);

function fixtures(kind: DocumentKind): string[] {
  const dir = path.join(FIXTURES, kind);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json') && !f.endsWith('.expected.json'))
    .sort()
    .map((f) => path.join(dir, f));
}

function load(file: string): unknown {
  return JSON.parse(readFileSync(file, 'utf8'));
}

/** Drop fields that may legitimately change between runs (none expected with a fixed `now`). */
function stripVolatile(bundle: Bundle): Bundle {
  const copy = structuredClone(bundle);
  if (copy.meta) delete copy.meta.lastUpdated;
  for (const e of copy.entry ?? []) if (e.resource?.meta) delete e.resource.meta.lastUpdated;
  return copy;
}

function resources(bundle: Bundle): Resource[] {
  return (bundle.entry ?? []).map((e) => e.resource as Resource);
}

/** Every `reference` string in a value, with its JSON path. */
function references(value: unknown, at: string, out: [string, string][] = []): [string, string][] {
  if (Array.isArray(value)) value.forEach((v, i) => references(v, `${at}[${i}]`, out));
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string') out.push([`${at}.reference`, v]);
      else references(v, `${at}.${k}`, out);
    }
  }
  return out;
}

/** Paths of empty elements: `[]`, `{}`, `""`, null or an explicit undefined. */
function emptyElements(value: unknown, at: string, out: string[] = []): string[] {
  if (value === undefined || value === null || value === '') out.push(at);
  else if (Array.isArray(value)) {
    if (value.length === 0) out.push(at);
    value.forEach((v, i) => emptyElements(v, `${at}[${i}]`, out));
  } else if (typeof value === 'object') {
    const entries = Object.entries(value);
    if (entries.length === 0) out.push(at);
    for (const [k, v] of entries) emptyElements(v, `${at}.${k}`, out);
  }
  return out;
}

for (const kind of KINDS) {
  for (const file of fixtures(kind)) {
    const name = path.basename(file, '.json');
    describe(`${kind}/${name}`, () => {
      const input = load(file);
      const bundle = mapDocument(kind, parseDocument(kind, input), { now: NOW });

      it('matches its golden file', () => {
        const expectedFile = file.replace(/\.json$/, '.expected.json');
        const actual = stripVolatile(bundle);
        if (update) {
          writeFileSync(expectedFile, `${JSON.stringify(actual, null, 2)}\n`);
          return;
        }
        expect(existsSync(expectedFile), `${expectedFile} is missing: run UPDATE_GOLDEN=1 npx vitest run test/fhir/golden.test.ts and review it`).toBe(true);
        expect(actual).toEqual(stripVolatile(load(expectedFile) as Bundle));
      });

      it('is a transaction of PUTs with unique ids, fullUrls matching the resources', () => {
        expect(bundle.type).toBe('transaction');
        const keys = new Set<string>();
        for (const e of bundle.entry ?? []) {
          const r = e.resource as Resource;
          const key = `${r.resourceType}/${r.id}`;
          expect(keys.has(key), `duplicate ${key}`).toBe(false);
          keys.add(key);
          expect(e.request).toEqual({ method: 'PUT', url: key });
          expect(e.fullUrl).toBe(key);
          expect(r.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        }
      });

      it('has every reference resolved inside the Bundle', () => {
        const keys = new Set(resources(bundle).map((r) => `${r.resourceType}/${r.id}`));
        const dangling = resources(bundle).flatMap((r) =>
          references(r, `${r.resourceType}/${r.id}`).filter(([, ref]) => !keys.has(ref)).map(([p, ref]) => `${p} → ${ref}`),
        );
        expect(dangling).toEqual([]);
      });

      it('has no empty element', () => {
        expect(emptyElements(bundle, 'Bundle')).toEqual([]);
      });

      it('claims one Passerelle profile per resource and validates against it', () => {
        const problems: string[] = [];
        for (const r of resources(bundle)) {
          expect(r.meta?.profile, `${r.resourceType}/${r.id}`).toHaveLength(1);
          for (const i of validateResource(r)) {
            if (i.severity === 'error' || i.severity === 'fatal') {
              problems.push(`${r.resourceType}/${r.id} ${i.expression?.join(',') ?? ''}: ${i.details?.text ?? i.diagnostics ?? i.code}`);
            }
          }
        }
        expect(problems).toEqual([]);
        expect(validateBundle(bundle).filter((i) => i.severity === 'error' || i.severity === 'fatal')).toEqual([]);
      });

      it('is deterministic: the same input maps to the same Bundle', () => {
        expect(mapDocument(kind, parseDocument(kind, load(file)), { now: NOW })).toEqual(bundle);
      });

      it('scopes document ids by the document id: another id shares only patient and actors', () => {
        const other = { ...(input as Record<string, unknown>), id: `${String((input as { id: string }).id)}-BIS` };
        const otherBundle = mapDocument(kind, parseDocument(kind, other), { now: NOW });
        const scoped = (b: Bundle): Set<string> =>
          new Set(resources(b).filter((r) => !SHARED_TYPES.has(r.resourceType)).map((r) => `${r.resourceType}/${r.id}`));
        const mine = scoped(bundle);
        const theirs = scoped(otherBundle);
        expect(mine.size).toBe(theirs.size);
        expect([...mine].filter((k) => theirs.has(k))).toEqual([]);
      });
    });
  }
}
