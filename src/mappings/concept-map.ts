// A code map compiled to its FHIR R4 ConceptMap (issue 19, docs/mappings.md "Code maps"), and `$translate` over it.
// Lives under mappings/ (not fhir/) since it reads the mappings model; the api layer serves it.
import type { ConceptMap, ConceptMapGroupElement } from '@medplum/fhirtypes';
import type { CodeMap, CodeMapEntry } from './model.js';

export function conceptMapOf(map: CodeMap): ConceptMap {
  const element: ConceptMapGroupElement[] = map.entries.map((e) => ({
    code: e.source,
    target: [{ code: e.target, ...(e.display !== undefined ? { display: e.display } : {}), equivalence: 'equivalent' }],
  }));
  return {
    resourceType: 'ConceptMap',
    id: map.name,
    url: map.url,
    version: map.version,
    name: map.name.replace(/(^|-)([a-z0-9])/g, (_m, _d, c: string) => c.toUpperCase()),
    ...(map.title !== undefined ? { title: map.title } : {}),
    status: 'active',
    publisher: 'Passerelle',
    description: `Code map ${map.name} (mappings/codemaps): ${map.sourceSystem} → ${map.targetSystem}; an unmapped code is ${map.unmapped === 'error' ? 'an error' : 'a warning'} in a mapping run.`,
    group: [
      {
        source: map.sourceSystem,
        target: map.targetSystem,
        // R4 has no unmapped mode saying "diagnostic": an unmapped code has no target (no pass-through).
        element,
      },
    ],
  };
}

export interface TranslateResult {
  result: boolean;
  message: string;
  match?: { equivalence: 'equivalent'; system: string; code: string; display?: string; source: string };
}

/** `$translate` of one code; `system`, when given, must be the map's source system (otherwise no match). */
export function translate(map: CodeMap, code: string, system?: string): TranslateResult {
  if (system !== undefined && system !== map.sourceSystem) {
    return { result: false, message: `ConceptMap ${map.name} maps codes of ${map.sourceSystem}, not ${system}` };
  }
  const entry: CodeMapEntry | undefined = map.lookup(code);
  if (!entry) return { result: false, message: `No mapping for code "${code}" in ConceptMap ${map.name} (unmapped: ${map.unmapped})` };
  return {
    result: true,
    message: `Mapped by ConceptMap ${map.name}`,
    match: { equivalence: 'equivalent', system: map.targetSystem, code: entry.target, ...(entry.display !== undefined ? { display: entry.display } : {}), source: map.url },
  };
}
