// Loading a `mappings/` folder (issue 19): every format compiled against the code maps; a file that cannot be loaded
// is a problem of the set, never a crash. To be built (engine).
import { loadCodeMaps } from './codemaps.js';
import type { MappingSet } from './model.js';

export async function loadMappingSet(dir: string): Promise<MappingSet> {
  const codeMaps = await loadCodeMaps(dir);
  return { mappings: new Map(), codeMaps: codeMaps.codeMaps, problems: [...codeMaps.problems], loadedAt: new Date().toISOString() };
}
