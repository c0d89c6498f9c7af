// Free text a clinician writes (a reason, a comment): line breaks and tabs allowed, but no character that hides or
// reorders what is shown (controls, bidirectional formatting, zero-width) nor broken UTF-16, and a bounded length.
import { z } from 'zod';
import { characterProblem } from './name.js';

/** Longest free-text reason the gateway keeps (an override, a no-RCP reason): a paragraph, not a document. */
export const MAX_REASON_LENGTH = 2000;

/** The first character free text may not hold, described, or undefined. Tab, LF and CR are allowed. */
export function textCharacterProblem(s: string): string | undefined {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x09 || c === 0x0a || c === 0x0d) continue;
    const problem = characterProblem(s, i);
    if (problem) return problem;
  }
  return undefined;
}

/** A reason in a clinician's words: checked before trimming, 1 to `max` characters once trimmed. */
export const ReasonText = (max = MAX_REASON_LENGTH) =>
  z
    .string()
    .superRefine((s, ctx) => {
      const problem = textCharacterProblem(s);
      if (problem) ctx.addIssue({ code: 'custom', message: `contains ${problem}: free text may hold no control (but tab and line breaks), bidirectional formatting or zero-width character, nor an unpaired surrogate` });
    })
    .trim()
    .min(1, 'a reason is required (empty text)')
    .max(max, `a reason has at most ${max} characters`);
