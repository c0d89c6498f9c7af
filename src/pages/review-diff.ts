// Why two traits of a review item differ, in the referent's words (issue 21, point 2): the same normalisations as
// the matcher (src/identity/normalise.ts: accents, separators, particles, day/month order), tried from the mildest,
// then the comparison's own level for the field (phonetic, Jaro-Winkler…), then a typo when one or two letters
// differ. Pure functions: the review page renders the result beside each aligned trait.
import { compareDates, deburr, dropParticles, nameForm, nameKey, parseBirthDate } from '../identity/normalise.js';
import type { FieldComparison } from '../identity/types.js';
import { LEVEL_LABELS } from './labels.js';

export type DiffKind = 'equal' | 'missing' | 'case' | 'accents' | 'separators' | 'particle' | 'day-month-swapped' | 'typo' | 'phonetic' | 'different';

/** What the page shows for each kind: a short French phrase. */
export const DIFF_LABELS: Record<DiffKind, string> = {
  equal: 'identique',
  missing: 'renseigné d’un seul côté',
  case: 'casse seulement',
  accents: 'accents seulement',
  separators: 'espaces, tirets ou apostrophes',
  particle: 'particule',
  'day-month-swapped': 'jour et mois inversés',
  typo: 'faute de frappe probable',
  phonetic: 'proche à l’oreille',
  different: 'différent',
};

/** Levenshtein distance, capped: only "one or two edits" matters here. */
function editDistance(a: string, b: string, cap = 3): number {
  if (Math.abs(a.length - b.length) >= cap) return cap;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return Math.min(prev[b.length]!, cap);
}

const safe = <T>(f: () => T): T | undefined => {
  try {
    return f();
  } catch {
    return undefined;
  }
};

/** How two values of a name trait differ (`—` or empty: absent). */
export function nameDiff(a: string, b: string, level?: string): DiffKind {
  const absent = (v: string) => v === '' || v === '—';
  if (a === b) return 'equal';
  if (absent(a) || absent(b)) return 'missing';
  if (a.toUpperCase() === b.toUpperCase()) return 'case';
  if (deburr(a).toUpperCase() === deburr(b).toUpperCase()) return 'accents';
  if (nameForm(a) === nameForm(b) || nameKey(a) === nameKey(b)) return 'separators';
  if (nameKey(dropParticles(nameForm(a))) === nameKey(dropParticles(nameForm(b)))) return 'particle';
  if (editDistance(nameKey(a), nameKey(b)) <= 2) return 'typo';
  if (level === 'phonetic') return 'phonetic';
  return 'different';
}

/** How two birth dates (YYYY[-MM[-DD]]) differ. */
export function dateDiff(a: string | undefined, b: string | undefined): DiffKind {
  if (a === b) return 'equal';
  if (!a || !b) return 'missing';
  const agreement = safe(() => compareDates(parseBirthDate(a), parseBirthDate(b)));
  if (agreement === 'day-month-swapped') return 'day-month-swapped';
  if (a.replace(/-/g, '').length === b.replace(/-/g, '').length && editDistance(a, b) === 1) return 'typo';
  return 'different';
}

/** Any other trait (sex, place, INS): equal, absent on one side, or different. */
export function plainDiff(a: string, b: string): DiffKind {
  if (a === b) return 'equal';
  if (a === '—' || b === '—' || a === '' || b === '') return 'missing';
  if (/^\d+$/.test(a) && /^\d+$/.test(b) && a.length === b.length && editDistance(a, b) === 1) return 'typo';
  return 'different';
}

/** The comparison's level for a field, in words (the matcher's view beside the page's). */
export function levelOf(comparisons: readonly FieldComparison[], field: FieldComparison['field'] | undefined): string | undefined {
  const c = field ? comparisons.find((f) => f.field === field) : undefined;
  return c ? (LEVEL_LABELS[c.level] ?? c.level) : undefined;
}
