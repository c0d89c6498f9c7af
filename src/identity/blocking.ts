// Multi-pass blocking: the few keys under which an identity is indexed and looked up, so that a query is
// scored against tens of candidates instead of the whole registry. Passes are unioned; any one can recall a pair.
import { birthDepartment, formatBirthDate, isFullDate } from './normalise.js';
import type { NormalisedIdentity } from './types.js';

/**
 * Blocking keys of an identity, deterministic and duplicate-free:
 * - `ins:<matricule>`;
 * - `bd-sex:<YYYY-MM-DD>|<sex>` (full dates only);
 * - `name-year:<key>|<year>` for the collapsed birth name, the particle-free birth name and the used name (the
 *   used name shares the birth-name key space, so a spouse's name entered as birth name meets it);
 * - `phon-init-year:<phonex>|<first given initial>|<year>`;
 * - `place-bd:<INSEE>|<YYYY-MM-DD>` (born in France, full date);
 * - `given-year-sex-dept:<given>|<year>|<sex>|<département or 99xxx country>`, once per birth given name: recalls a
 *   pair whose birth name has a typo AND whose date is damaged (day/month swap, partial or default date), even when
 *   one copy lists the second given name first — which no other pass meets.
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
  if (n.firstGivenKey && n.birthPlace) {
    const place = n.birthPlace.abroad ? n.birthPlace.code : birthDepartment(n.birthPlace.code);
    for (const given of n.birthGivenKeys) keys.push(`given-year-sex-dept:${given}|${year}|${n.sex}|${place}`);
  }

  return [...new Set(keys)];
}
