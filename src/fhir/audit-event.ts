// An audit row as a FHIR R4 AuditEvent, in the style of IHE Basic Audit Log Patterns (BALP): what happened (`type`,
// `subtype`, `action`), when (`recorded`), how it ended (`outcome`), who (the client system, and the person behind it
// when one signed in), from where (`agent.network`), observed by the gateway (`source`), on what (`entity`: the
// references touched, the query of a search, the request id). Pure: no I/O. The row's hash (its link in the chain of
// src/store/audit-trail.ts) travels as an extension, so an exported AuditEvent can be checked against the database.
import type { AuditEvent, AuditEventAgent, AuditEventEntity, Coding } from '@medplum/fhirtypes';
import { sd } from './canonical.js';

/** The fields of an audit record the mapping reads (src/store/repository.ts `AuditRecord`). */
export interface AuditEventSource {
  id: number;
  recorded: string;
  action: string;
  actor: string;
  person?: string;
  tenant?: string;
  source?: string;
  entities: string[];
  outcome: 'success' | 'failure';
  detail?: string;
  requestId?: string;
  hash?: string;
}

export const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
export const AUDIT_EVENT_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-event-type';
export const RESTFUL_INTERACTION = 'http://hl7.org/fhir/restful-interaction';
export const BALP_ENTITY_TYPE = 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType';
/** RPPS identifiers of health professionals (ANS). */
export const RPPS_SYSTEM = 'urn:oid:1.2.250.1.71.4.2.1';
/** Client ids as declared in the gateway's configuration. */
export const CLIENT_SYSTEM = 'https://fhir.passerelle.fr/client';
/** Subjects of the configured OpenID provider, when the person has no RPPS. */
export const PERSON_SUB_SYSTEM = 'https://fhir.passerelle.fr/person-sub';
export const AUDIT_EXT = {
  /** The row's hash in the audit chain (hex SHA-256). */
  hash: sd('passerelle-audit-hash'),
  /** The tenant (`establishment:<FINESS>`, `pharmacy:<FINESS>`, `region:<code>`) the agent acted for. */
  tenant: sd('passerelle-audit-tenant'),
} as const;

const dcm = (code: string, display: string): Coding => ({ system: DCM, code, display });
const rest: Coding = { system: AUDIT_EVENT_TYPE, code: 'rest', display: 'Restful Operation' };
const restful = (code: string): Coding => ({ system: RESTFUL_INTERACTION, code });

type Action = NonNullable<AuditEvent['action']>;
interface Kind {
  type: Coding;
  subtype?: Coding[];
  action: Action;
}

/** FHIR REST interactions by audit action (`fhir.read`…; `audit.*` for reads of the trail itself). */
const REST: Record<string, [interaction: string, action: Action]> = {
  read: ['read', 'R'],
  vread: ['vread', 'R'],
  history: ['history-instance', 'R'],
  search: ['search-type', 'E'],
  create: ['create', 'C'],
  update: ['update', 'U'],
  patch: ['patch', 'U'],
  delete: ['delete', 'D'],
  transaction: ['transaction', 'E'],
  batch: ['batch', 'E'],
  operation: ['operation', 'E'],
};

/** The event's type, subtype and action from the row's action name. */
export function kindOf(action: string): Kind {
  const [domain, verb = ''] = action.split('.', 2);
  if ((domain === 'fhir' || domain === 'audit') && REST[verb]) {
    const [interaction, a] = REST[verb];
    return { type: rest, subtype: [restful(interaction)], action: a };
  }
  if (domain === 'auth') return { type: dcm('110114', 'User Authentication'), subtype: [dcm('110122', 'Login')], action: 'E' };
  const last = action.split('.').pop() ?? '';
  if (last === 'delivery' || last === 'export' || domain === 'delivery') return { type: dcm('110106', 'Export'), action: 'R' };
  if (last === 'search' || last === 'match' || last === 'query') return { type: dcm('110112', 'Query'), action: 'E' };
  if (last === 'read') return { type: dcm('110110', 'Patient Record'), action: 'R' };
  if (last === 'stored' || last === 'register') return { type: dcm('110110', 'Patient Record'), action: 'C' };
  return { type: dcm('110110', 'Patient Record'), action: 'U' };
}

/** 0 success, 4 minor failure (refused, not found), 8 serious failure (a server error, status ≥ 500). */
export function outcomeOf(record: Pick<AuditEventSource, 'outcome' | 'detail'>): NonNullable<AuditEvent['outcome']> {
  if (record.outcome === 'success') return '0';
  const status = /(?:^|\W)status (\d{3})(?:\W|$)/.exec(record.detail ?? '');
  return status && Number(status[1]) >= 500 ? '8' : '4';
}

const REFERENCE = /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/;

function entityOf(ref: string): AuditEventEntity {
  const patient = ref.startsWith('Patient/');
  return {
    what: REFERENCE.test(ref) ? { reference: ref } : { identifier: { value: ref } },
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: patient ? '1' : '2', display: patient ? 'Person' : 'System Object' },
    ...(patient ? { role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' } } : {}),
  };
}

/** The query a search row recorded (`…; query Patient?_count=20`), values of identifying parameters masked. */
export function queryOf(detail: string | undefined): string | undefined {
  return /(?:^|; )query (\S+)/.exec(detail ?? '')?.[1];
}

function personIdentifier(person: string): { system: string; value: string } {
  const at = person.indexOf(':');
  const [kind, value] = at < 0 ? ['sub', person] : [person.slice(0, at), person.slice(at + 1)];
  return { system: kind === 'rpps' ? RPPS_SYSTEM : PERSON_SUB_SYSTEM, value };
}

export interface AuditEventOptions {
  /** Who observed the event: the gateway (default `Passerelle`). */
  observer?: string;
}

export function toAuditEvent(r: AuditEventSource, options: AuditEventOptions = {}): AuditEvent {
  const kind = kindOf(r.action);
  const network = r.source ? { address: r.source, type: /^[\d.:a-fA-F]+$/.test(r.source) ? ('2' as const) : ('1' as const) } : undefined;
  const tenant = r.tenant ? [{ url: AUDIT_EXT.tenant, valueString: r.tenant }] : undefined;
  const agent: AuditEventAgent[] = [];
  // A person signed in on the pages acts without a client system: the person is the only agent.
  const clientIsPerson = r.actor.startsWith('person:') && r.person !== undefined;
  if (!clientIsPerson) {
    agent.push({
      ...(tenant && !r.person ? { extension: tenant } : {}),
      type: { coding: [{ system: DCM, code: '110150', display: 'Application' }] },
      who: { identifier: { system: CLIENT_SYSTEM, value: r.actor } },
      requestor: r.person === undefined,
      ...(network ? { network } : {}),
    });
  }
  if (r.person !== undefined) {
    agent.push({
      ...(tenant ? { extension: tenant } : {}),
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/extra-security-role-type', code: 'humanuser', display: 'human user' }] },
      who: { identifier: personIdentifier(r.person) },
      requestor: true,
      ...(network ? { network } : {}),
    });
  }
  const entity: AuditEventEntity[] = r.entities.map(entityOf);
  const query = queryOf(r.detail);
  if (query) {
    entity.push({
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' },
      role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '24', display: 'Query' },
      query: Buffer.from(query, 'utf8').toString('base64'),
    });
  }
  if (r.requestId) entity.push({ what: { identifier: { value: r.requestId } }, type: { system: BALP_ENTITY_TYPE, code: 'XrequestId', display: 'X-Request-Id' } });
  return {
    resourceType: 'AuditEvent',
    id: String(r.id),
    meta: { lastUpdated: r.recorded },
    ...(r.hash ? { extension: [{ url: AUDIT_EXT.hash, valueString: r.hash }] } : {}),
    type: kind.type,
    ...(kind.subtype ? { subtype: kind.subtype } : {}),
    action: kind.action,
    recorded: r.recorded,
    outcome: outcomeOf(r),
    ...(r.detail ? { outcomeDesc: `${r.action}: ${r.detail}` } : { outcomeDesc: r.action }),
    agent,
    source: {
      site: 'Passerelle',
      observer: { display: options.observer ?? 'Passerelle' },
      type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4', display: 'Application Server' }],
    },
    ...(entity.length ? { entity } : {}),
  };
}
