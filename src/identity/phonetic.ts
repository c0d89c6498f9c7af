// French phonetic key and string similarity for birth names, from talisman (Phonex, Jaro-Winkler).
import phonex from 'talisman/phonetics/french/phonex.js';
import talismanJaroWinkler from 'talisman/metrics/jaro-winkler.js';
import { memo } from './memo.js';

/** Phonex costs ~3 µs (two dozen regex passes): recent surnames are remembered. */
const phonexOf = memo(50_000, phonex);

/**
 * Phonex code of a name key already upper-cased, deburred and stripped of particles (see `dropParticles`):
 * Phonex maps accented letters itself in a way that differs from their plain form (`LEFÈVRE` → `LEFIFRE` but
 * `LEFEVRE` → `LEFEFRE`), so it must only ever see the deburred key.
 */
export function frenchPhonetic(key: string): string {
  return key === '' ? '' : phonexOf(key);
}

/** Jaro-Winkler similarity in 0..1 (talisman: prefix scale 0.1 on up to 4 characters, boost above 0.7). */
export const jaroWinkler: (a: string, b: string) => number = talismanJaroWinkler;
