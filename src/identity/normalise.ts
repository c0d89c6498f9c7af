// Normalisation of the strict traits for comparison: upper case, accents removed, separator and particle
// variants, compound given names, partial birth dates. The originals stay untouched in `source`.
import { parseIns } from './ins.js';
import { memo } from './memo.js';
import { frenchPhonetic } from './phonetic.js';
import type { MatchTraits, NormalisedIdentity, PartialBirthDate, SourceIdentity } from './types.js';

const APOSTROPHES = /['\u2018\u2019\u201B\u02BC\u02B9\u0060\u00B4\u2032\uFF07]/g;
const HYPHENS = /[\u2010-\u2015\u2212\uFE63\uFF0D]/g;
const COMBINING_MARKS = /\p{M}+/gu;
/** Letters that NFKD does not decompose. */
const LIGATURES: Readonly<Record<string, string>> = {
  Œ: 'OE', œ: 'oe', Æ: 'AE', æ: 'ae', ß: 'SS', ẞ: 'SS', Ø: 'O', ø: 'o', Ł: 'L', ł: 'l', Đ: 'D', đ: 'd', Þ: 'TH', þ: 'th', ı: 'i',
};
const LIGATURE_CHARS = /[ŒœÆæßẞØøŁłĐđÞþı]/g;

/**
 * Particles dropped by the no-particle key: the French DE, DU, DES, DE LA, LE, LA, LES, D', L' (elided forms become
 * the one-letter tokens D and L), plus the Portuguese, Italian, Dutch and German ones common in France
 * (`DA SILVA`, `DOS SANTOS`, `DI MARIA`, `VAN DER BERG`). Used only for blocking and the non-strict `collapsed` level.
 */
const PARTICLES: ReadonlySet<string> = new Set(['DE', 'DU', 'DES', 'LA', 'LE', 'LES', 'D', 'L', 'DA', 'DAS', 'DOS', 'DI', 'DEL', 'DELLA', 'VAN', 'VON', 'DER']);

/** Upper case with diacritics removed (NFKD + combining marks stripped) and Œ → OE, Æ → AE, ß → SS…. */
export function deburr(s: string): string {
  return s
    .replace(APOSTROPHES, "'")
    .replace(HYPHENS, '-')
    .normalize('NFKD')
    .replace(COMBINING_MARKS, '')
    .replace(APOSTROPHES, "'")
    .replace(LIGATURE_CHARS, (c) => LIGATURES[c] ?? c)
    .toUpperCase();
}

/**
 * A name as compared at the `exact` level: `deburr`, then every run of non-letters becomes one separator — an
 * apostrophe if the run holds one, else a hyphen if it holds one, else a space — and none at either end
 * (`  de  la Fontaine` → `DE LA FONTAINE`, `Jean – Pierre` → `JEAN-PIERRE`, `d’Artagnan` → `D'ARTAGNAN`).
 */
export function nameForm(s: string): string {
  let out = '';
  let pending = '';
  for (const run of deburr(s).match(/[A-Z]+|[^A-Z]+/g) ?? []) {
    const c = run.charCodeAt(0);
    if (c >= 65 && c <= 90) {
      if (out !== '') out += pending;
      out += run;
      pending = '';
    } else {
      pending = run.includes("'") ? "'" : run.includes('-') ? '-' : ' ';
    }
  }
  return out;
}

/** `nameForm`, memoised (its regular expressions and NFKD are most of the cost of normalising an identity). */
const formOf = memo(100_000, nameForm);

const tokensOf = (form: string): string[] => (form === '' ? [] : form.split(/[ '-]/));
const keyOf = (form: string): string => form.replace(/[ '-]/g, '');
function particleFree(tokens: readonly string[]): string {
  const kept = tokens.filter((t) => !PARTICLES.has(t));
  return (kept.length > 0 ? kept : tokens).join('');
}

/** The letter runs of a name (`D'ARTAGNAN` → `D`, `ARTAGNAN`). */
export function nameTokens(s: string): string[] {
  return tokensOf(formOf(s));
}

/** Collapsed comparison key: `nameForm` without separators (`de la Fontaine` → `DELAFONTAINE`). */
export function nameKey(s: string): string {
  return keyOf(formOf(s));
}

/**
 * Collapsed key with the particles dropped (`DE LA FONTAINE` → `FONTAINE`, `D'ARTAGNAN` → `ARTAGNAN`); a name made of
 * particles only keeps them (`LE` stays `LE`). A glued form (`DELAFONTAINE`) cannot be split and stays as it is.
 */
export function dropParticles(s: string): string {
  return particleFree(nameTokens(s));
}

/**
 * Keys under which given names may be written elsewhere: the first given name collapsed (always first), each
 * given name collapsed, each token of two letters or more, adjacent tokens joined (`JEAN PIERRE` → `JEANPIERRE`),
 * adjacent given names joined (`JEAN`, `PIERRE` → `JEANPIERRE`) and the whole list collapsed. Deterministic order.
 */
export function givenNameForms(first: string, all?: readonly string[]): string[] {
  const names = all && all.length > 0 ? all : [first];
  // The first given name is normally names[0]: its key then comes first from the loop.
  const out = new Set<string>(names[0] === first ? [] : [nameKey(first)]);
  const nameKeys: string[] = [];
  const allTokens: string[] = [];
  for (const name of names) {
    const tokens = nameTokens(name);
    const key = tokens.join('');
    nameKeys.push(key);
    out.add(key);
    for (const t of tokens) if (t.length >= 2) out.add(t);
    for (let i = 0; i + 1 < tokens.length; i++) out.add(tokens[i] + tokens[i + 1]);
    allTokens.push(...tokens);
  }
  for (let i = 0; i + 1 < nameKeys.length; i++) out.add(nameKeys[i] + nameKeys[i + 1]);
  out.add(allTokens.join(''));
  out.delete('');
  return [...out];
}

/** The collapsed key of each birth given name, the first one first, without duplicates or empty keys. */
function birthGivenKeys(first: string, all?: readonly string[]): string[] {
  return [...new Set([first, ...(all ?? []).map(nameKey)])].filter((k) => k !== '');
}

/** Thrown for a birth date that is not YYYY, YYYY-MM or YYYY-MM-DD (the value itself is not repeated: no PII in logs). */
export class BirthDateError extends Error {
  override readonly name = 'BirthDateError';
}

/**
 * Parse a full or partial birth date. `00` for an unknown month or day (as some systems send) reads as absent.
 * 01-01 and 12-31 are flagged `defaultDate`: état civil assigns them when only the year is known.
 */
export function parseBirthDate(s: string): PartialBirthDate {
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/.exec(s.trim());
  if (!m) throw new BirthDateError('birthDate: expected YYYY, YYYY-MM or YYYY-MM-DD');
  const year = Number(m[1]);
  const month = m[2] === undefined || m[2] === '00' ? undefined : Number(m[2]);
  const day = month === undefined || m[3] === undefined || m[3] === '00' ? undefined : Number(m[3]);
  if (month !== undefined && (month < 1 || month > 12)) throw new BirthDateError('birthDate: month must be 01 to 12');
  if (day !== undefined && month !== undefined) {
    const probe = new Date(Date.UTC(year, month - 1, day));
    if (probe.getUTCMonth() !== month - 1 || probe.getUTCDate() !== day) throw new BirthDateError('birthDate: not a calendar date');
  }
  const defaultDate = day !== undefined && ((month === 1 && day === 1) || (month === 12 && day === 31));
  const out: PartialBirthDate = { year, defaultDate };
  if (month !== undefined) out.month = month;
  if (day !== undefined) out.day = day;
  return out;
}

export function isFullDate(d: PartialBirthDate): d is PartialBirthDate & { month: number; day: number } {
  return d.month !== undefined && d.day !== undefined;
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/** `YYYY`, `YYYY-MM` or `YYYY-MM-DD`, as precise as the date is. */
export function formatBirthDate(d: PartialBirthDate): string {
  let out = pad(d.year, 4);
  if (d.month !== undefined) out += `-${pad(d.month, 2)}`;
  if (d.month !== undefined && d.day !== undefined) out += `-${pad(d.day, 2)}`;
  return out;
}

/**
 * Agreement of two birth dates at their lowest common precision:
 * - `exact`: both full and equal;
 * - `partial-agree`: one or both partial, equal down to the precision both have;
 * - `day-month-swapped`: both full, same year, day and month exchanged (a classic typo);
 * - `year-only`: same year, month or day differ;
 * - `different`: different years.
 */
export type DateAgreement = 'exact' | 'partial-agree' | 'day-month-swapped' | 'year-only' | 'different';

export function compareDates(a: PartialBirthDate, b: PartialBirthDate): DateAgreement {
  return compareDateParts(a.year, a.month ?? 0, a.day ?? 0, b.year, b.month ?? 0, b.day ?? 0);
}

/** `compareDates` on the parts of two dates, 0 standing for an unknown month or day. */
export function compareDateParts(ay: number, am: number, ad: number, by: number, bm: number, bd: number): DateAgreement {
  if (ay !== by) return 'different';
  if (am !== 0 && ad !== 0 && bm !== 0 && bd !== 0) {
    if (am === bm && ad === bd) return 'exact';
    if (ad === bm && am === bd) return 'day-month-swapped';
    return 'year-only';
  }
  if (am !== 0 && bm !== 0 && am !== bm) return 'year-only';
  return 'partial-agree';
}

/** True for a COG code of a foreign country (99 + continent + country): it names only the country. */
export function isAbroad(insee: string): boolean {
  return insee.startsWith('99');
}

/** Département part of a COG code: 3 characters overseas (971…989), 2 otherwise (including 2A / 2B). */
export function birthDepartment(insee: string): string {
  return insee.startsWith('97') || insee.startsWith('98') ? insee.slice(0, 3) : insee.slice(0, 2);
}

interface BirthNameKeys {
  form: string;
  key: string;
  noParticles: string;
  phonetic: string;
}

const birthNameKeys = memo(100_000, (raw: string): BirthNameKeys => {
  const form = formOf(raw);
  const noParticles = particleFree(tokensOf(form));
  return { form, key: keyOf(form), noParticles, phonetic: frenchPhonetic(noParticles) };
});

const birthDateOf = memo(50_000, parseBirthDate);

/** Compute every comparison key of an identity once. Throws InsError or BirthDateError on an unusable trait. */
export function normaliseIdentity(source: SourceIdentity): NormalisedIdentity {
  const name = birthNameKeys(source.birthName);
  const firstGivenForm = formOf(source.firstBirthGivenName);
  const firstGivenKey = keyOf(firstGivenForm);
  const date = birthDateOf(source.birthDate);
  const n: NormalisedIdentity = {
    source,
    birthNameForm: name.form,
    birthNameKey: name.key,
    birthNameNoParticles: name.noParticles,
    birthNamePhonetic: name.phonetic,
    firstGivenForm,
    firstGivenKey,
    givenKeys: givenNameForms(source.firstBirthGivenName, source.birthGivenNames),
    birthGivenKeys: birthGivenKeys(firstGivenKey, source.birthGivenNames),
    // A copy: the memo's value is shared.
    birthDate: { ...date },
    sex: source.sex,
    status: source.status,
  };
  if (source.usedName !== undefined) {
    const usedNameKey = nameKey(source.usedName);
    if (usedNameKey !== '') n.usedNameKey = usedNameKey;
  }
  if (source.birthPlaceInsee !== undefined) {
    const code = source.birthPlaceInsee.trim().toUpperCase();
    n.birthPlace = { code, abroad: isAbroad(code) };
  }
  if (source.ins !== undefined) {
    const { matricule, oid, kind } = parseIns(source.ins.matricule, source.ins.oid);
    n.ins = { matricule, oid, kind };
  }
  return n;
}

/** The comparison keys without the original traits: what the matcher's index keeps per identity. */
export function matchTraits(n: NormalisedIdentity): MatchTraits {
  const { source: _source, ...traits } = n;
  return traits;
}
