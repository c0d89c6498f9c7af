// Multi-pass blocking: the few keys under which an identity is indexed and looked up, so that a query is
// scored against tens of candidates instead of the whole registry. Passes are unioned; any one can recall a pair.
import { formatBirthDate, isFullDate } from './normalise.js';
import type { NormalisedIdentity } from './types.js';

/**
 * Blocking keys of an identity, deterministic and duplicate-free:
 * - `ins:<matricule>`;
 * - `bd-sex:<YYYY-MM-DD>|<sex>` (full dates only);
 * - `name-year:<key>|<year>` for the collapsed birth name, the particle-free birth name and the used name (the
 *   used name shares the birth-name key space, so a spouse's name entered as birth name meets it);
 * - `phon-init-year:<phonex>|<first given initial>|<year>`;
 * - `place-bd:<INSEE>|<YYYY-MM-DD>` (born in France, full date).
 * Keys carry identity traits: they are index entries, not something to log.
 */
export function blockingKeys(n: NormalisedIdentity): string[] {
  const keys: string[] = [];
  const year = String(n.birthDate.year).padStart(4, '0');
  const fullDate = isFullDate(n.birthDate) ? formatBirthDate(n.birthDate) : undefined;

  if (n.ins) keys.push(`ins:${n.ins.matricule}`);
  if (fullDate) keys.push(`bd-sex:${fullDate}|${n.sex}`);
  for (const name of [n.birthNameKey, n.birthNameNoParticles, n.usedNameKey]) {
    if (name) keys.push(`name-year:${name}|${year}`);
  }
  const initial = n.firstGivenKey.charAt(0);
  if (n.birthNamePhonetic && initial) keys.push(`phon-init-year:${n.birthNamePhonetic}|${initial}|${year}`);
  if (fullDate && n.birthPlace && !n.birthPlace.abroad) keys.push(`place-bd:${n.birthPlace.code}|${fullDate}`);

  return [...new Set(keys)];
}
