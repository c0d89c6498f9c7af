// JSON bodies: the depth limit every parsed JSON body goes through (FHIR and domain endpoints alike), and, for the
// non-FHIR routes (domain and identity endpoints), one content-type check, one parser with the configured size
// limit, and zod checks whose failures become OperationOutcomes naming the field.
import express, { type RequestHandler } from 'express';
import type { z } from 'zod';
import { OperationOutcomeError, invalid, invalidIssues, issue, outcome } from '../fhir/outcome.js';
import { FHIR_BODY_TYPES } from './fhir-response.js';

/**
 * How deeply objects and arrays may nest in a JSON body (the body itself is level 1). FHIR resources we handle stay
 * far below it (a transaction Bundle with nested extensions, about 20); the profile validator and the mappings walk
 * bodies recursively, so a body nested thousands of levels deep would overflow their stack.
 */
export const MAX_JSON_DEPTH = 100;

interface Frame {
  value: object;
  depth: number;
  key: string | number | undefined;
  parent: Frame | undefined;
}

/** `Patient.extension[0].extension[0]` (the root named by its resourceType when it has one), or `a.b[2]`. */
function pathOf(frame: Frame): string | undefined {
  const keys: (string | number)[] = [];
  for (let f: Frame | undefined = frame; f?.key !== undefined; f = f.parent) keys.push(f.key);
  let root: Frame = frame;
  while (root.parent) root = root.parent;
  const rt = (root.value as { resourceType?: unknown }).resourceType;
  let path = typeof rt === 'string' && !Array.isArray(root.value) ? rt : '';
  for (let i = keys.length - 1; i >= 0; i--) {
    const k = keys[i];
    path += typeof k === 'number' ? `[${k}]` : path === '' ? k : `.${k}`;
  }
  return path || undefined;
}

/**
 * 400 (`too-costly`) when objects and arrays nest more than `max` levels, naming the path of the first value too
 * deep. Walked with an explicit stack: the check itself cannot overflow.
 */
export function assertJsonDepth(body: unknown, max = MAX_JSON_DEPTH): void {
  if (typeof body !== 'object' || body === null) return;
  const stack: Frame[] = [{ value: body, depth: 1, key: undefined, parent: undefined }];
  for (let frame = stack.pop(); frame; frame = stack.pop()) {
    if (frame.depth > max) {
      throw new OperationOutcomeError(
        outcome([issue('too-costly', `JSON nested more than ${max} levels deep (objects and arrays); flatten the body`, pathOf(frame))]),
      );
    }
    const value = frame.value;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const v: unknown = value[i];
        if (typeof v === 'object' && v !== null) stack.push({ value: v, depth: frame.depth + 1, key: i, parent: frame });
      }
    } else {
      for (const key of Object.keys(value)) {
        const v: unknown = (value as Record<string, unknown>)[key];
        if (typeof v === 'object' && v !== null) stack.push({ value: v, depth: frame.depth + 1, key, parent: frame });
      }
    }
  }
}

/**
 * Middlewares for a JSON body: 400 naming `Content-Type` when it is not JSON, then the parser (413 over `limit`),
 * then the depth limit.
 */
export function jsonBody(limit: string): RequestHandler[] {
  const requireJson: RequestHandler = (req, _res, next) => {
    if (!req.is(FHIR_BODY_TYPES)) next(invalid('Send a JSON body (Content-Type: application/json)', 'Content-Type'));
    else next();
  };
  const depth: RequestHandler = (req, _res, next) => {
    try {
      assertJsonDepth(req.body);
      next();
    } catch (err) {
      next(err);
    }
  };
  return [requireJson, express.json({ type: [...FHIR_BODY_TYPES], limit }), depth];
}

/** Check a parsed body against a zod schema; every issue names its field. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body ?? {});
  if (r.success) return r.data;
  throw invalidIssues(r.error.issues.map((i) => issue('invalid', `${i.path.join('.') || 'body'}: ${i.message}`, i.path.join('.') || undefined)));
}
