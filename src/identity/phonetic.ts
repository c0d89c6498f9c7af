// French phonetic key and string similarity for birth names, from talisman (Phonex, Jaro-Winkler).
import phonex from 'talisman/phonetics/french/phonex.js';
import talismanJaroWinkler from 'talisman/metrics/jaro-winkler.js';

const PHONEX_CACHE_SIZE = 50_000;
const phonexCache = new Map<string, string>();

/**
 * Phonex code of a name key already upper-cased, deburred and stripped of particles (see `dropParticles`):
 * Phonex maps accented letters itself in a way that differs from their plain form (`LEFÈVRE` → `LEFIFRE` but
 * `LEFEVRE` → `LEFEFRE`), so it must only ever see the deburred key.
 */
export function frenchPhonetic(key: string): string {
  if (key === '') return '';
  let code = phonexCache.get(key);
  if (code === undefined) {
    // Surnames follow a Zipf law and Phonex costs ~3 µs (two dozen regex passes): remember recent ones.
    if (phonexCache.size >= PHONEX_CACHE_SIZE) phonexCache.clear();
    code = phonex(key);
    phonexCache.set(key, code);
  }
  return code;
}

/** Jaro-Winkler similarity in 0..1 (talisman: prefix scale 0.1 on up to 4 characters, boost above 0.7). */
export const jaroWinkler: (a: string, b: string) => number = talismanJaroWinkler;
