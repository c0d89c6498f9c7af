// The standards folder beside the repository (../shared/standards: vitest runs from the repository root, as CI does in
// its clone), read by conformance tests and never copied into the repository, and one rule for when it is missing.
import { existsSync } from 'node:fs';
import path from 'node:path';

export const SHARED_STANDARDS = path.resolve('../shared/standards');

/**
 * Whether a test prerequisite is there. Absent, its tests are skipped with a message on the console, except under
 * CI=true, where CI must run them: then the test file fails at once, naming what is missing.
 */
export function available(what: string, present: boolean, consequence: string): boolean {
  if (present) return true;
  if (process.env.CI === 'true') throw new Error(`${what} is absent under CI=true: ${consequence} cannot be skipped in CI`);
  console.warn(`${what} is absent, ${consequence} is skipped`);
  return false;
}

/** `available` for a file or folder of ../shared/standards. */
export function sharedFile(relative: string, consequence: string): boolean {
  const full = path.join(SHARED_STANDARDS, relative);
  return available(full, existsSync(full), consequence);
}
