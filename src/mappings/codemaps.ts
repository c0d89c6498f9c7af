// Code maps (issue 19): `mappings/codemaps/<name>.yaml|csv`, local code → target code. To be built.
import type { CodeMap } from './model.js';

export async function loadCodeMaps(_dir: string): Promise<{ codeMaps: Map<string, CodeMap>; problems: { file: string; message: string }[] }> {
  return { codeMaps: new Map(), problems: [] };
}
