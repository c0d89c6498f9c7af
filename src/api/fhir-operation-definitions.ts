// The OperationDefinitions of the operations the route table serves, so that every operation the
// CapabilityStatement cites resolves (`GET /fhir/OperationDefinition/<name>`). Their parameters are those the
// handlers read: fhir-validate-operation.ts, fhir-match-operation.ts, fhir-ctm-link-operation.ts, fhir-everything.ts.
import type { OperationDefinition, OperationDefinitionParameter } from '@medplum/fhirtypes';
import { CANONICAL_BASE } from '../fhir/canonical.js';

export const operationDefinitionUrl = (name: string): string => `${CANONICAL_BASE}/OperationDefinition/${name}`;

type Param = [name: string, use: 'in' | 'out', min: number, max: string, type: string, documentation: string, parts?: Param[]];

const param = ([name, use, min, max, type, documentation, parts]: Param): OperationDefinitionParameter => ({
  name,
  use,
  min,
  max,
  // A parameter made of parts has no type of its own.
  ...(parts ? {} : { type: type as OperationDefinitionParameter['type'] }),
  documentation,
  ...(parts ? { part: parts.map(param) } : {}),
});

interface Spec {
  name: string;
  title: string;
  description: string;
  resource: string[];
  system?: boolean;
  type: boolean;
  instance: boolean;
  affectsState: boolean;
  /** The HL7 operation this one implements (a subset of). */
  base?: string;
  parameter: Param[];
}

const CTM_PARAMS: Param[] = [
  ['ctm-identifier', 'in', 0, '1', 'Identifier', 'Business identifier of the CTM (BMO or FCT Composition). Give it, or finess and ctm-id.'],
  ['finess', 'in', 0, '1', 'string', 'FINESS of the establishment that produced the CTM (with ctm-id).'],
  ['ctm-id', 'in', 0, '1', 'string', 'Local id of the CTM in that establishment (with finess).'],
  ['return', 'out', 1, '1', 'CarePlan', 'The PPP CarePlan after the change, its supportingInfo listing the linked Compositions.'],
];

const SPECS: Spec[] = [
  {
    name: 'validate',
    title: 'Validate a resource',
    description: 'Validates a resource (the body, or Parameters.resource) against its base definition and the Passerelle profile it claims or the one given; always 200 with the issues.',
    resource: ['Resource'],
    type: true,
    instance: true,
    affectsState: false,
    base: 'http://hl7.org/fhir/OperationDefinition/Resource-validate',
    parameter: [
      ['resource', 'in', 0, '1', 'Resource', 'The resource to validate (or send it as the whole body).'],
      ['profile', 'in', 0, '1', 'uri', 'A profile to validate against (also the profile query parameter).'],
      ['return', 'out', 1, '1', 'OperationOutcome', 'The issues found; one informational "All OK" when there are none.'],
    ],
  },
  {
    name: 'match',
    title: 'Patient identity matching',
    description: 'Finds the federated Patients (identity service) that may be the given person, best first, with a score and a match grade.',
    resource: ['Patient'],
    type: true,
    instance: false,
    affectsState: false,
    base: 'http://hl7.org/fhir/OperationDefinition/Patient-match',
    parameter: [
      ['resource', 'in', 1, '1', 'Resource', 'A Patient with at least the birth name, first given name, birth date and gender.'],
      ['onlyCertainMatches', 'in', 0, '1', 'boolean', 'Only the matches the identity service considers certain.'],
      ['count', 'in', 0, '1', 'integer', 'Maximum number of matches (default 10, at most 100).'],
      ['return', 'out', 1, '1', 'Bundle', 'A searchset Bundle of federated Patients with search.score and the match-grade extension.'],
    ],
  },
  {
    name: 'link-ctm',
    title: 'Link a CTM to a PPP',
    description: 'Links the CTM (medication reconciliation) to the PPP CarePlan; allowed only when the BMO was validated by a pharmacist, 422 otherwise.',
    resource: ['CarePlan'],
    type: false,
    instance: true,
    affectsState: true,
    parameter: CTM_PARAMS,
  },
  {
    name: 'unlink-ctm',
    title: 'Unlink a CTM from a PPP',
    description: 'Removes the link between the CTM and the PPP CarePlan.',
    resource: ['CarePlan'],
    type: false,
    instance: true,
    affectsState: true,
    parameter: CTM_PARAMS,
  },
  {
    name: 'send',
    title: 'Send the PPP to the MT and the PHO',
    description:
      "Sends the PPP to its médecin traitant and pharmacien d'officine: a secure link each (a new send revokes the previous ones), mailed through MSSanté when configured; the PPP is marked sent (anchor of the D45/D90 follow-up). 422 without an RCP nor a reason (noRcpReason), or without a médecin traitant; 409 once the PPP is closed.",
    resource: ['CarePlan'],
    type: false,
    instance: true,
    affectsState: true,
    parameter: [
      ['recipient', 'in', 0, '2', 'code', 'MT or PHO (default: the MT, and the PHO when the team names one).'],
      ['link', 'out', 0, '2', '', 'One link per recipient.', [
        ['role', 'out', 1, '1', 'code', 'MT or PHO.'],
        ['rpps', 'out', 1, '1', 'string', 'The professional\'s RPPS.'],
        ['url', 'out', 1, '1', 'url', 'The link (<base>/p/<token>); the only place the token appears.'],
        ['expires', 'out', 1, '1', 'instant', 'When the link expires.'],
      ]],
      ['delivery', 'out', 0, '2', '', 'How each link went out (MSSanté).', [
        ['role', 'out', 1, '1', 'code', 'MT or PHO.'],
        ['rpps', 'out', 1, '1', 'string', 'The professional\'s RPPS.'],
        ['channel', 'out', 1, '1', 'code', 'mssante.'],
        ['state', 'out', 1, '1', 'code', 'queued (in the outbox), refused (no address: the message is dead, with the reason) or not-configured.'],
        ['address', 'out', 0, '1', 'string', 'The MSSanté address written to.'],
        ['outboxId', 'out', 0, '1', 'string', 'The outbox message.'],
        ['messageId', 'out', 0, '1', 'string', 'Its Message-ID.'],
        ['reason', 'out', 0, '1', 'string', 'Why it was not queued.'],
      ]],
    ],
  },
  {
    name: 'everything',
    title: 'Everything about a patient',
    description:
      'The Patient and its compartment (resources whose patient or subject parameter refers to it), paged; for a federated Patient, also its source Patients and their compartments. Each page includes the Practitioners, PractitionerRoles and Organizations its resources refer to.',
    resource: ['Patient'],
    type: false,
    instance: true,
    affectsState: false,
    base: 'http://hl7.org/fhir/OperationDefinition/Patient-everything',
    parameter: [
      ['_since', 'in', 0, '1', 'instant', 'Only resources updated since this instant.'],
      ['_type', 'in', 0, '*', 'code', 'Only these resource types (comma-separated).'],
      ['_count', 'in', 0, '1', 'integer', 'Page size (default 20, at most 1000).'],
      ['_offset', 'in', 0, '1', 'integer', 'Zero-based offset of the page (the next link carries it).'],
      ['return', 'out', 1, '1', 'Bundle', 'A searchset Bundle with total and self/next/previous links.'],
    ],
  },
  {
    name: 'translate',
    title: 'Translate a code with a code map',
    description:
      'Translates a code with the ConceptMaps compiled from mappings/codemaps (by url, by id, or every map of the source system). GET with code, system, url; POST with Parameters (coding accepted). Only forward translation (reverse=false).',
    resource: ['ConceptMap'],
    type: true,
    instance: true,
    affectsState: false,
    base: 'http://hl7.org/fhir/OperationDefinition/ConceptMap-translate',
    parameter: [
      ['url', 'in', 0, '1', 'uri', 'The canonical url of the ConceptMap (https://fhir.passerelle.fr/ConceptMap/<name>).'],
      ['conceptMapVersion', 'in', 0, '1', 'string', 'The version (sha256 of the file) the ConceptMap must be at.'],
      ['code', 'in', 0, '1', 'code', 'The code to translate (with system), or give coding.'],
      ['system', 'in', 0, '1', 'uri', 'The system of the code (the map\'s source system).'],
      ['version', 'in', 0, '1', 'string', 'The version of the system (ignored).'],
      ['coding', 'in', 0, '1', 'Coding', 'The code to translate as a Coding (POST only).'],
      ['targetsystem', 'in', 0, '1', 'uri', 'Only maps to this target system.'],
      ['reverse', 'in', 0, '1', 'boolean', 'Only false is supported.'],
      ['result', 'out', 1, '1', 'boolean', 'True when at least one match was found.'],
      ['message', 'out', 0, '1', 'string', 'Why there is no match, or which map matched.'],
      ['match', 'out', 0, '*', '', 'A match.', [
        ['equivalence', 'out', 0, '1', 'code', 'equivalent.'],
        ['concept', 'out', 0, '1', 'Coding', 'The target code (system, code, display).'],
        ['source', 'out', 0, '1', 'uri', 'The url of the ConceptMap that matched.'],
      ]],
    ],
  },
];

function toResource(s: Spec): OperationDefinition {
  return {
    resourceType: 'OperationDefinition',
    id: s.name,
    url: operationDefinitionUrl(s.name),
    name: s.name
      .split('-')
      .map((w) => w[0].toUpperCase() + w.slice(1))
      .join(''),
    title: s.title,
    status: 'active',
    kind: 'operation',
    publisher: 'Passerelle',
    description: s.description,
    affectsState: s.affectsState,
    code: s.name,
    ...(s.base ? { base: s.base } : {}),
    resource: s.resource as OperationDefinition['resource'],
    system: s.system ?? false,
    type: s.type,
    instance: s.instance,
    parameter: s.parameter.map(param),
  };
}

/** OperationDefinitions by operation code (= id). */
export const OPERATION_DEFINITIONS: ReadonlyMap<string, OperationDefinition> = new Map(SPECS.map((s) => [s.name, toResource(s)]));
