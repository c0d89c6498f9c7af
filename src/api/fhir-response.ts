// Writing FHIR JSON to the wire: one content type and one place that turns an outcome into a status.
import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { Response } from 'express';
import { OperationOutcomeError, issue, outcome, statusOf } from '../fhir/outcome.js';

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

/** Body media types accepted for resources and Bundles. */
export const FHIR_BODY_TYPES = ['application/fhir+json', 'application/json'];

/** 415: the request body is not in a format we read. */
export function unsupportedMediaType(text: string): OperationOutcomeError {
  return new OperationOutcomeError(outcome([issue('not-supported', text)], 'unsupported-media-type'));
}

/** 405: the path exists but not with this method. */
export function methodNotAllowed(text: string): OperationOutcomeError {
  return new OperationOutcomeError(outcome([issue('not-supported', text)], 'method-not-allowed'));
}

export function sendFhir(res: Response, status: number, body: Resource | OperationOutcome): void {
  res.status(status).type(FHIR_JSON).send(JSON.stringify(body));
}

/** Send an outcome as the body, with the status it implies. */
export function sendOutcome(res: Response, o: OperationOutcome): void {
  sendFhir(res, statusOf(o), o);
}
