// `$validate` at type and instance level: the body is the resource, or Parameters{resource, profile?};
// the answer is always 200 with an OperationOutcome listing the issues (or one "All OK").
import { allOk } from '@medplum/core';
import type { Parameters } from '@medplum/fhirtypes';
import { invalid, issue, outcome } from '../fhir/outcome.js';
import { validateResource } from '../fhir/validate.js';
import type { FhirHandler } from './fhir-router.js';
import { asResource, assertId, assertResourceType } from './fhir-write.js';

export function validateOperationHandler(): FhirHandler {
  return async (req) => {
    const type = req.params.type;
    assertResourceType(type);
    if (req.params.id !== undefined) assertId(req.params.id);

    let body = req.body;
    let prefix: string | undefined;
    let profile = req.query.get('profile') ?? undefined;
    const isParameters = (body as { resourceType?: unknown } | undefined)?.resourceType === 'Parameters';
    if (isParameters && type !== 'Parameters') {
      const params = (body as Parameters).parameter ?? [];
      const at = params.findIndex((p) => p.name === 'resource');
      if (at < 0) throw invalid('Parameters must have a "resource" parameter', 'Parameters.parameter');
      body = params[at].resource;
      prefix = `Parameters.parameter[${at}].resource`;
      const p = params.find((x) => x.name === 'profile');
      profile = p?.valueCanonical ?? p?.valueUri ?? p?.valueString ?? profile;
    }
    const resource = asResource(body, type, prefix);
    if (req.params.id !== undefined && resource.id !== undefined && resource.id !== req.params.id) {
      throw invalid(`Resource id "${resource.id}" does not match the id "${req.params.id}" in the URL`, prefix ? `${prefix}.id` : 'id');
    }
    const issues = validateResource(resource, profile ? { profile } : {});
    const result = outcome(issues.length ? issues : [issue('informational', 'All OK', undefined, 'information')]);
    return [allOk, result];
  };
}
