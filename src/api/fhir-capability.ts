// `GET /fhir/metadata`: the CapabilityStatement, generated from the route table that is really mounted,
// the search parameter table of src/fhir/search-params.ts and our profiles (src/fhir/canonical.ts).
import { allOk } from '@medplum/core';
import type {
  CapabilityStatement,
  CapabilityStatementRestResource,
  CapabilityStatementRestResourceInteraction,
  ResourceType,
} from '@medplum/fhirtypes';
import { readFileSync } from 'node:fs';
import { PROFILE } from '../fhir/canonical.js';
import { R4_RESOURCE_TYPES, searchParamsOf } from '../fhir/search-params.js';
import type { FhirContext, FhirHandler, FhirRoute, Interaction } from './fhir-router.js';

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

const TYPE_INTERACTIONS = new Set<Interaction>(['read', 'vread', 'update', 'delete', 'history-instance', 'create', 'search-type']);
const SYSTEM_INTERACTIONS = new Set<Interaction>(['transaction', 'batch']);

const OPERATION_DEFINITIONS: Record<string, string> = {
  validate: 'http://hl7.org/fhir/OperationDefinition/Resource-validate',
  match: 'http://hl7.org/fhir/OperationDefinition/Patient-match',
};

const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

function profilesOf(type: string): string[] {
  return (Object.keys(PROFILE) as (keyof typeof PROFILE)[]).filter((k) => PROFILE_TYPE[k] === type).map((k) => PROFILE[k]);
}

export function capabilityStatement(ctx: FhirContext, routes: FhirRoute[]): CapabilityStatement {
  const typed = routes.filter((r) => r.path.startsWith('/:type'));
  const interactions = [...new Set(typed.flatMap((r) => r.interactions).filter((i) => TYPE_INTERACTIONS.has(i)))];
  const operations = [...new Set(typed.filter((r) => r.operation).map((r) => r.operation as string))];
  const system = [...new Set(routes.flatMap((r) => r.interactions).filter((i) => SYSTEM_INTERACTIONS.has(i)))];
  // Operations routed on one resource type only (`/CarePlan/:id/$link-ctm`).
  const typeOperations = (type: string): string[] =>
    routes.filter((r) => r.operation && r.path.startsWith(`/${type}/`)).map((r) => r.operation as string);
  const conditionalCreate = typed.some((r) => r.interactions.includes('create'));

  const resource: CapabilityStatementRestResource[] = [...R4_RESOURCE_TYPES].sort().map((type) => {
    const params = [...searchParamsOf(type).values()];
    const refParams = params.filter((p) => p.type === 'reference');
    const supportedProfile = profilesOf(type);
    return {
      type: type as ResourceType,
      ...(supportedProfile.length ? { supportedProfile } : {}),
      interaction: interactions.map((code) => ({ code }) as CapabilityStatementRestResourceInteraction),
      versioning: 'versioned',
      readHistory: interactions.includes('vread'),
      updateCreate: interactions.includes('update'),
      conditionalCreate,
      conditionalDelete: 'not-supported',
      searchInclude: refParams.map((p) => `${type}:${p.code}`),
      searchParam: params.map((p) => ({
        name: p.code,
        type: p.type,
        ...(p.custom || p.code.startsWith('_') ? {} : { definition: `http://hl7.org/fhir/SearchParameter/${type}-${p.code}` }),
        documentation: p.custom ? `${p.expression} (Passerelle parameter)` : p.expression,
      })),
      operation: [...operations, ...typeOperations(type)].map((name) => ({
        name,
        definition: OPERATION_DEFINITIONS[name] ?? `${ctx.fhirBase}/OperationDefinition/${name}`,
      })),
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
    format: ['json', 'application/fhir+json'],
    rest: [
      {
        mode: 'server',
        ...(ctx.config.auth.enabled
          ? {
              security: {
                cors: false,
                description: 'Bearer tokens issued to configured clients; scopes fhir.read and fhir.write.',
              },
            }
          : {}),
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
