// FHIR face of the CTM ↔ PPP link: `POST /fhir/CarePlan/{id}/$link-ctm` and `$unlink-ctm`, with a
// Parameters body naming the CTM (`ctm-identifier` as an Identifier, or `finess` + `ctm-id` strings).
import { allOk } from '@medplum/core';
import type { Parameters } from '@medplum/fhirtypes';
import { invalid } from '../fhir/outcome.js';
import { linkCtm, unlinkCtm, type CtmRef } from '../services/ctm-link.js';
import { assertPppWritable } from '../services/access/documents.js';
import type { FhirContext, FhirHandler } from './fhir-router.js';

function ctmRefFrom(body: unknown): CtmRef {
  if ((body as { resourceType?: unknown } | undefined)?.resourceType !== 'Parameters') {
    throw invalid('Expected a Parameters resource', 'resourceType');
  }
  const params = (body as Parameters).parameter ?? [];
  const identifier = params.find((p) => p.name === 'ctm-identifier')?.valueIdentifier;
  if (identifier?.system && identifier.value) return { identifier: { system: identifier.system, value: identifier.value } };
  const finess = params.find((p) => p.name === 'finess')?.valueString;
  const id = params.find((p) => p.name === 'ctm-id')?.valueString;
  if (finess && id) return { finess, id };
  throw invalid('Name the CTM with parameter ctm-identifier (Identifier), or finess and ctm-id (strings)', 'Parameters.parameter');
}

export function ctmLinkOperationHandler(ctx: FhirContext, mode: 'link' | 'unlink'): FhirHandler {
  return async (req) => {
    const ref = ctmRefFrom(req.body);
    const who = { actor: req.client.id, requestId: req.requestId };
    const id = req.params.id as string;
    await assertPppWritable(ctx.store, req.client, id, 'finess' in ref ? ref.finess : undefined);
    const result = mode === 'link' ? await linkCtm(ctx.store, id, ref, who) : await unlinkCtm(ctx.store, id, ref, who);
    return [allOk, result.carePlan];
  };
}
