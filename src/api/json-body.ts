// JSON bodies of the non-FHIR routes (domain and identity endpoints): one content-type check, one parser with
// the configured size limit, and zod checks whose failures become OperationOutcomes naming the field.
import express, { type RequestHandler } from 'express';
import type { z } from 'zod';
import { invalid, invalidIssues, issue } from '../fhir/outcome.js';
import { FHIR_BODY_TYPES } from './fhir-response.js';

/** Middlewares for a JSON body: 400 naming `Content-Type` when it is not JSON, then the parser (413 over `limit`). */
export function jsonBody(limit: string): RequestHandler[] {
  const requireJson: RequestHandler = (req, _res, next) => {
    if (!req.is(FHIR_BODY_TYPES)) next(invalid('Send a JSON body (Content-Type: application/json)', 'Content-Type'));
    else next();
  };
  return [requireJson, express.json({ type: [...FHIR_BODY_TYPES], limit })];
}

/** Check a parsed body against a zod schema; every issue names its field. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body ?? {});
  if (r.success) return r.data;
  throw invalidIssues(r.error.issues.map((i) => issue('invalid', `${i.path.join('.') || 'body'}: ${i.message}`, i.path.join('.') || undefined)));
}
