// One error type for the whole gateway: medplum's OperationOutcomeError, carrying a FHIR OperationOutcome.
// The HTTP status is decided in one place (`statusOf`), from the outcome.
import { getStatus, OperationOutcomeError } from '@medplum/core';
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

export { OperationOutcomeError };

export type IssueCode = OperationOutcomeIssue['code'];

export function issue(
  code: IssueCode,
  text: string,
  expression?: string,
  severity: OperationOutcomeIssue['severity'] = 'error',
): OperationOutcomeIssue {
  return { severity, code, details: { text }, ...(expression ? { expression: [expression] } : {}) };
}

export function outcome(issues: OperationOutcomeIssue[], id?: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', ...(id ? { id } : {}), issue: issues };
}

/** 400: the input is malformed or breaks a rule of the model; `expression` is a FHIRPath or JSON path. */
export function invalid(text: string, expression?: string): OperationOutcomeError {
  return new OperationOutcomeError(outcome([issue('invalid', text, expression)]));
}

/** 400 with several issues (validation failures). */
export function invalidIssues(issues: OperationOutcomeIssue[]): OperationOutcomeError {
  return new OperationOutcomeError(outcome(issues));
}

export function notFound(text: string): OperationOutcomeError {
  return new OperationOutcomeError(outcome([issue('not-found', text)], 'not-found'));
}

/** 409: the request conflicts with the current state (version mismatch, duplicate). */
export function conflict(text: string, expression?: string): OperationOutcomeError {
  return new OperationOutcomeError(outcome([issue('conflict', text, expression)], 'conflict'));
}

/** 422: well-formed but refused by a business rule (e.g. linking a CTM whose BMO is not validated). */
export function businessRule(text: string, expression?: string): OperationOutcomeError {
  return new OperationOutcomeError(outcome([issue('business-rule', text, expression)], 'business-rule'));
}

export function tooLarge(text: string): OperationOutcomeError {
  return new OperationOutcomeError(outcome([issue('too-costly', text)], 'too-large'));
}

export function forbidden(text: string): OperationOutcomeError {
  return new OperationOutcomeError(outcome([issue('forbidden', text)], 'forbidden'));
}

export function unauthorized(text: string): OperationOutcomeError {
  return new OperationOutcomeError(outcome([issue('login', text)], 'unauthorized'));
}

/** HTTP status for an outcome; the only place where outcomes become status codes. */
export function statusOf(o: OperationOutcome): number {
  if (o.id === 'too-large') return 413;
  if (o.id === 'unsupported-media-type') return 415;
  if (o.id === 'method-not-allowed') return 405;
  if (o.id === 'not-acceptable') return 406;
  return getStatus(o);
}

/**
 * The issues as text, one per issue joined by `separator`: `<expression>: <text>`, the text being the details text,
 * else the diagnostics, else the code.
 */
export function issuesText(issues: readonly OperationOutcomeIssue[], separator = '; '): string {
  return issues.map((i) => `${i.expression?.[0] ? `${i.expression[0]}: ` : ''}${i.details?.text ?? i.diagnostics ?? i.code}`).join(separator);
}

export function isErrorOutcome(o: OperationOutcome): boolean {
  return o.issue.some((i) => i.severity === 'error' || i.severity === 'fatal');
}
