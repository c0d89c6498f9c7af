// `GET /fhir/metadata`: the CapabilityStatement, generated from the route table that is really mounted,
// the search parameter table of src/fhir/search-params.ts and our profiles (src/fhir/canonical.ts). Every
// interaction and operation it names is a route (test/api/fhir-capability-walk.test.ts calls each one).
import { allOk } from '@medplum/core';
import type {
  CapabilityStatement,
  CapabilityStatementRest,
  CapabilityStatementRestResource,
  CapabilityStatementRestResourceInteraction,
  CapabilityStatementRestResourceSearchParam,
  ResourceType,
} from '@medplum/fhirtypes';
import { readFileSync } from 'node:fs';
import { PROFILE } from '../fhir/canonical.js';
import { MAX_COUNT, MAX_SORT_KEYS, R4_RESOURCE_TYPES, searchModifiersOf, searchParamsOf } from '../fhir/search-params.js';
import { operationDefinitionUrl } from './fhir-operation-definitions.js';
import { JSON_PATCH_TYPE } from './fhir-patch.js';
import { ownTypes, routeServesType, type FhirContext, type FhirHandler, type FhirRoute, type Interaction } from './fhir-router.js';

/** The base resource type of each profile. The `satisfies` makes a new PROFILE key fail to compile until listed. */
const PROFILE_TYPE = {
  patient: 'Patient',
  patientIns: 'Patient',
  practitioner: 'Practitioner',
  practitionerRole: 'PractitionerRole',
  organization: 'Organization',
  careTeam: 'CareTeam',
  pppCarePlan: 'CarePlan',
  bpmCarePlan: 'CarePlan',
  detectedIssue: 'DetectedIssue',
  recommendationMedicationRequest: 'MedicationRequest',
  recommendationServiceRequest: 'ServiceRequest',
  medicationStatement: 'MedicationStatement',
  medicationList: 'List',
  bmoComposition: 'Composition',
  fctComposition: 'Composition',
  validationProvenance: 'Provenance',
  communication: 'Communication',
  task: 'Task',
  consent: 'Consent',
  encounter: 'Encounter',
} as const satisfies Record<keyof typeof PROFILE, string>;

const TYPE_INTERACTIONS = new Set<Interaction>(['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'create', 'search-type']);
const SYSTEM_INTERACTIONS = new Set<Interaction>(['transaction', 'batch']);

/**
 * Types without a search parameter of their own that the gateway serves all the same: the documents it produces
 * (a PDF or a CDA as a Binary, described by a DocumentReference).
 */
const DOCUMENT_TYPES = ['Binary', 'DocumentReference'];

const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

function profilesOf(type: string): string[] {
  return (Object.keys(PROFILE) as (keyof typeof PROFILE)[]).filter((k) => PROFILE_TYPE[k] === type).map((k) => PROFILE[k]);
}

/**
 * The types the statement lists: those with search parameters of their own (search-params.ts), the document types
 * and the types served by routes of their own (definitions). Other R4 types are stored when written, but are not
 * what this gateway is for, so they are not advertised.
 */
export function listedTypes(routes: readonly FhirRoute[]): string[] {
  const own = ownTypes(routes);
  const typed = [...R4_RESOURCE_TYPES].filter((t) => [...searchParamsOf(t).keys()].some((code) => !code.startsWith('_')));
  return [...new Set([...typed, ...DOCUMENT_TYPES, ...own])].sort();
}

/** The extension listing the Subscription channel types served (R4 has no element for it). */
export const SUBSCRIPTION_CHANNEL_EXTENSION = 'https://fhir.passerelle.fr/StructureDefinition/subscription-channel-type';

/** What the statement says of Subscriptions: the rest-hook channel, the criteria and payloads served, the allow-list. */
function subscriptionDocumentation(ctx: FhirContext): Pick<CapabilityStatementRestResource, 'documentation' | 'extension'> {
  const allowed = ctx.config.outbox.subscriptions.endpoints;
  return {
    extension: [{ url: SUBSCRIPTION_CHANNEL_EXTENSION, valueCode: 'rest-hook' }],
    documentation:
      'Channel: rest-hook only (channel.type; others answer 422). Criteria: a search on Task or CarePlan (e.g. ' +
      '"Task?code=https://fhir.passerelle.fr/CodeSystem/task-type|reco-validation&status=completed"), no chains, _has or result ' +
      'parameters. Payload: none (an empty POST to channel.endpoint) or application/fhir+json (the resource, PUT to ' +
      '<channel.endpoint>/<type>/<id>), with the channel.header headers. Notified once per new version that matches, through ' +
      'the outbox (retries, dead letters; status error after the last attempt). A tenant-bound client is notified only about ' +
      `its patients' resources. channel.endpoint must start with ${allowed.length ? allowed.map((a) => `"${a}"`).join(' or ') : 'an allowed prefix (none is configured: every Subscription is refused)'}.`,
  };
}

function security(ctx: FhirContext): CapabilityStatementRest['security'] {
  if (!ctx.config.auth.enabled) {
    return {
      cors: false,
      description:
        'Authentication is off (the embedded default): every request is accepted without credentials. Enable auth in the configuration before exposing this server.',
    };
  }
  const tokenUrl = `${ctx.config.baseUrl}/oauth/token`;
  return {
    cors: false,
    // SMART Backend Services: the token endpoint where a client trades a private_key_jwt assertion for an access token.
    extension: [{ url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris', extension: [{ url: 'token', valueUri: tokenUrl }] }],
    service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }] }],
    description:
      `Every request except GET /metadata needs "Authorization: Bearer <access token>" from ${tokenUrl} (OAuth2 client credentials ` +
      'with a private_key_jwt assertion, as SMART Backend Services) or, on the HTTPS listener, a client certificate of a declared client ' +
      '(mutual TLS); static tokens only with auth.devTokens (development). ' +
      'Scopes: fhir.read (reads, searches, $validate, $match, $everything, definitions, ConceptMap and $translate), fhir.write (create, update, patch, delete, ' +
      'transaction, batch), domain.write ($link-ctm, $unlink-ctm, $send), admin (all); system/*.read, system/*.write and system/*.* are ' +
      'mapped to them. Reads are limited to the client tenant\'s patients. 401 without valid credentials, 403 without the scope, ' +
      '429 with Retry-After when throttled.',
  };
}

/** The words before the modifiers in a search parameter's documentation. */
export const MODIFIERS_SAID = 'Modifiers:';

function searchParamsFor(type: string, served: readonly FhirRoute[]): CapabilityStatementRestResourceSearchParam[] {
  const own = served.find((r) => r.searchParams);
  if (own?.searchParams) return own.searchParams.map((p) => ({ name: p.name, type: p.type, documentation: p.documentation }));
  return [...searchParamsOf(type).values()].map((p) => {
    const modifiers = searchModifiersOf(p).map((m) => `:${m}`);
    const chain = p.type === 'reference' ? ` Chains one level (${p.code}${p.target ? '' : ':[type]'}.<param>) and serves _has:${type}:${p.code}:<param> on its targets.` : '';
    return {
      name: p.code,
      type: p.type as CapabilityStatementRestResourceSearchParam['type'],
      ...(p.custom || p.code.startsWith('_') ? {} : { definition: `http://hl7.org/fhir/SearchParameter/${type}-${p.code}` }),
      // R4 has no element for modifiers: the walk test reads this sentence.
      documentation: `${p.expression}${p.custom ? ' (Passerelle parameter)' : ''}. ${MODIFIERS_SAID} ${modifiers.join(', ')}.${chain}`,
    };
  });
}

export function capabilityStatement(ctx: FhirContext, routes: FhirRoute[]): CapabilityStatement {
  const own = ownTypes(routes);
  const system = [...new Set(routes.flatMap((r) => r.interactions).filter((i) => SYSTEM_INTERACTIONS.has(i)))];
  const types = listedTypes(routes);
  // Reference parameters of every listed type, for `_revinclude` on their targets.
  const references = types.flatMap((source) =>
    [...searchParamsOf(source).values()].filter((p) => p.type === 'reference').map((p) => ({ source, code: p.code, target: p.target })),
  );

  const resource: CapabilityStatementRestResource[] = types.map((type) => {
    const served = routes.filter((r) => routeServesType(r, type, own));
    const interactions = [...new Set(served.flatMap((r) => r.interactions).filter((i) => TYPE_INTERACTIONS.has(i)))];
    const has = (i: Interaction, conditional = false): boolean => served.some((r) => r.interactions.includes(i) && !!r.conditional === conditional);
    // Operations of every type first, then those routed for this type only.
    const generic = (r: FhirRoute): number => (r.path.startsWith('/:type') ? 0 : 1);
    const operations = [...new Set([...served].filter((r) => r.operation).sort((a, b) => generic(a) - generic(b)).map((r) => r.operation as string))];
    const supportedProfile = profilesOf(type);
    // Definitions are served from files, not the store: no versions, no includes.
    const definitions = served.some((r) => r.searchParams);
    const searchInclude = definitions ? [] : references.filter((p) => p.source === type).map((p) => `${type}:${p.code}`);
    const searchRevInclude = definitions
      ? []
      : references.filter((p) => p.target === undefined || p.target === type).map((p) => `${p.source}:${p.code}`);
    return {
      type: type as ResourceType,
      ...(supportedProfile.length ? { supportedProfile } : {}),
      interaction: interactions.map((code) => ({ code }) as CapabilityStatementRestResourceInteraction),
      versioning: definitions ? 'no-version' : 'versioned',
      readHistory: interactions.includes('vread'),
      updateCreate: interactions.includes('update'),
      conditionalCreate: has('create', true),
      conditionalRead: 'not-supported',
      conditionalUpdate: has('update', true),
      conditionalDelete: has('delete', true) ? 'single' : 'not-supported',
      ...(definitions ? {} : { referencePolicy: ['literal', 'local', 'enforced'] as CapabilityStatementRestResource['referencePolicy'] }),
      ...(searchInclude.length ? { searchInclude } : {}),
      ...(searchRevInclude.length ? { searchRevInclude } : {}),
      searchParam: searchParamsFor(type, served),
      ...(type === 'Subscription' ? subscriptionDocumentation(ctx) : {}),
      ...(operations.length
        ? { operation: operations.map((name) => ({ name, definition: operationDefinitionUrl(name) })) }
        : {}),
    };
  });
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    publisher: 'Passerelle',
    kind: 'instance',
    software: { name: 'Passerelle', version },
    implementation: { description: 'Passerelle FHIR R4 gateway', url: ctx.fhirBase },
    fhirVersion: '4.0.1',
    // JSON only: a request for XML answers 406.
    format: ['json'],
    patchFormat: [JSON_PATCH_TYPE],
    rest: [
      {
        mode: 'server',
        documentation:
          `Search result parameters: _count (default 20; above ${MAX_COUNT} capped, with a note in the Bundle), _offset, _total, ` +
          `_sort (any declared parameter, up to ${MAX_SORT_KEYS} keys, - for descending), _elements, _summary (true|text|data|count|false), ` +
          '_include and _revinclude (with :iterate). Unknown parameters answer 400, or are ignored and reported with Prefer: handling=lenient. ' +
          'FHIR JSON only (_format=json or application/fhir+json; XML answers 406). Prefer: return=minimal|representation|OperationOutcome ' +
          'on create, update and patch. Responses are gzip-compressed when the client sends Accept-Encoding: gzip. ' +
          'GET Binary/{id} with Accept set to the Binary\'s contentType answers its bytes.',
        security: security(ctx),
        resource,
        interaction: system.map((code) => ({ code: code as 'transaction' | 'batch' })),
      },
    ],
  };
}

/** `routes` is read at request time, so the statement always describes the table as mounted. */
export function capabilityHandler(ctx: FhirContext, routes: () => FhirRoute[]): FhirHandler {
  return async () => [allOk, capabilityStatement(ctx, routes())];
}
