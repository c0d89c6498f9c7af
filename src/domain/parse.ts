// Parsing canonical inputs: zod issues become one OperationOutcome-ready list with JSON paths (`ppp.problems[2].code`).
import type { z } from 'zod';
import { Bpm } from './bpm.js';
import { Ctm } from './ctm.js';
import { Ppp } from './ppp.js';

export const DOCUMENT_SCHEMAS = { ppp: Ppp, ctm: Ctm, bpm: Bpm } as const;
export type DocumentKind = keyof typeof DOCUMENT_SCHEMAS;
export type DocumentOf<K extends DocumentKind> = z.output<(typeof DOCUMENT_SCHEMAS)[K]>;

export interface InputIssue {
  /** JSON path from the document root, e.g. `ppp.recommendations[2].medication.codes[0].code`. */
  path: string;
  message: string;
}

export class InputError extends Error {
  constructor(readonly issues: InputIssue[]) {
    super(issues.map((i) => `${i.path}: ${i.message}`).join('; '));
    this.name = 'InputError';
  }
}

export function jsonPath(root: string, path: readonly PropertyKey[]): string {
  let out = root;
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : `.${String(part)}`;
  return out;
}

/** Parse a canonical document or throw an InputError naming every offending field. */
export function parseDocument<K extends DocumentKind>(kind: K, input: unknown): DocumentOf<K> {
  const result = DOCUMENT_SCHEMAS[kind].safeParse(input);
  if (result.success) return result.data as DocumentOf<K>;
  throw new InputError(result.error.issues.map((i) => ({ path: jsonPath(kind, i.path), message: i.message })));
}
