// Writing FHIR JSON to the wire: one content type and one place that turns an outcome into a status.
import type { Binary, OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { Response } from 'express';
import { OperationOutcomeError, issue, outcome, statusOf } from '../fhir/outcome.js';
import type { PreferReturn } from './fhir-negotiation.js';

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

// Answers whose JSON text their handler wrote itself, by the object the handler returned.
const written = new WeakMap<Resource, string>();

/**
 * Hands `resource` back with its JSON text already written, which `sendFhir` then sends as is. For a Bundle that
 * splices stored resources without parsing them ($match): the object stands for the answer where the router still
 * needs one (its audit row reads the entries' keys), the text is the answer.
 */
export function withJsonText<T extends Resource>(resource: T, json: string): T {
  written.set(resource, json);
  return resource;
}

export function sendFhir(res: Response, status: number, body: Resource | OperationOutcome): void {
  res.status(status).type(FHIR_JSON).send(written.get(body) ?? JSON.stringify(body));
}

/**
 * The answer to a create, update or patch, as the client's `Prefer: return=` asks: the resource, nothing (the
 * Location and ETag headers still say where and which version), or an OperationOutcome naming what was stored.
 */
export function sendFhirWrite(res: Response, status: number, o: OperationOutcome, resource: Resource, prefer: PreferReturn): void {
  if (prefer === 'minimal') {
    res.status(status).end();
  } else if (prefer === 'OperationOutcome' && resource.resourceType !== 'OperationOutcome') {
    const what = `${resource.resourceType}/${resource.id}${resource.meta?.versionId ? ` version ${resource.meta.versionId}` : ''}`;
    const said = o.issue[0]?.details?.text ?? (status === 201 ? 'Created' : 'OK');
    sendFhir(res, status, outcome([issue('informational', `${said}: ${what}`, undefined, 'information')]));
  } else {
    sendFhir(res, status, resource);
  }
}

/**
 * A Binary as its own bytes (`Accept: application/pdf`). The content is the client's or a document we built, never
 * markup for this origin: no sniffing, and no script or sub-resource runs if it is HTML or SVG.
 */
export function sendRawBinary(res: Response, status: number, binary: Binary): void {
  res
    .status(status)
    .type(binary.contentType)
    .setHeader('X-Content-Type-Options', 'nosniff')
    .setHeader('Content-Security-Policy', "default-src 'none'")
    .send(Buffer.from(binary.data ?? '', 'base64'));
}

/** Send an outcome as the body, with the status it implies. */
export function sendOutcome(res: Response, o: OperationOutcome): void {
  sendFhir(res, statusOf(o), o);
}
