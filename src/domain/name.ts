// Person names as the gateway accepts them: text a person reads, never characters that hide or reorder what is
// shown (a right-to-left override turns a name into another on screen, in a CDA, in the DMP) or that make two
// different strings look the same (zero-width characters), nor broken UTF-16 (unpaired surrogates).
import { z } from 'zod';

const hex = (c: number): string => `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;

/** What is wrong with one UTF-16 code unit (or pair) at `i` of `s`, if anything. */
export function characterProblem(s: string, i: number): string | undefined {
  const c = s.charCodeAt(i);
  if (c <= 0x1f || (c >= 0x7f && c <= 0x9f)) return `${hex(c)} (control character)`;
  if ((c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c === 0x200e || c === 0x200f || c === 0x061c) {
    return `${hex(c)} (bidirectional formatting character)`;
  }
  if ((c >= 0x200b && c <= 0x200d) || c === 0x2060 || c === 0xfeff) return `${hex(c)} (zero-width character)`;
  if (c >= 0xd800 && c <= 0xdbff) {
    const next = s.charCodeAt(i + 1);
    if (!(next >= 0xdc00 && next <= 0xdfff)) return `${hex(c)} (unpaired surrogate)`;
  } else if (c >= 0xdc00 && c <= 0xdfff) {
    const prev = s.charCodeAt(i - 1);
    if (!(prev >= 0xd800 && prev <= 0xdbff)) return `${hex(c)} (unpaired surrogate)`;
  }
  return undefined;
}

/** The first character a name may not hold, described (`U+202E (bidirectional formatting character)`), or undefined. */
export function nameCharacterProblem(s: string): string | undefined {
  for (let i = 0; i < s.length; i++) {
    const problem = characterProblem(s, i);
    if (problem) return problem;
  }
  return undefined;
}

/**
 * A name (birth name, used name, given name): checked before trimming, so that nothing hostile is accepted by being
 * dropped silently at an edge either.
 */
export const PersonName = z
  .string()
  .superRefine((s, ctx) => {
    const problem = nameCharacterProblem(s);
    if (problem) ctx.addIssue({ code: 'custom', message: `contains ${problem}: a name may hold no control, bidirectional formatting or zero-width character, nor an unpaired surrogate` });
  })
  .trim()
  .min(1);
