// `GET /fhir/AuditEvent` and `GET /fhir/AuditEvent/<id>`: the audit trail as FHIR AuditEvents (scope `audit.read`),
// served from the audit table (src/store/audit-trail.ts), not stored as resources; AuditEvents cannot be written
// (their own routes take the type, so a write answers 405). Reading the trail is itself audited (fhir-audit.ts).
import { allOk } from '@medplum/core';
import type { Bundle, BundleEntry } from '@medplum/fhirtypes';
import { CLIENT_SYSTEM, PERSON_SUB_SYSTEM, RPPS_SYSTEM, toAuditEvent } from '../fhir/audit-event.js';
import { invalid, notFound } from '../fhir/outcome.js';
import { dateRangeOf, DEFAULT_COUNT, MAX_COUNT } from '../fhir/search-params.js';
import type { AuditFilter } from '../store/audit-trail.js';
import { pageLinks } from './fhir-search.js';
import type { FhirContext, FhirHandler, FhirRoute, RouteSearchParam } from './fhir-router.js';

export const AUDIT_EVENT_SEARCH_PARAMS: RouteSearchParam[] = [
  { name: '_id', type: 'token', documentation: 'The AuditEvent id (the audit row number).' },
  { name: 'date', type: 'date', documentation: 'When the event was recorded (AuditEvent.recorded); prefixes eq, ge, gt, le, lt; repeat for a range.' },
  {
    name: 'agent',
    type: 'token',
    documentation: `Who acted: a client id (or ${CLIENT_SYSTEM}|<id>), or a person as ${RPPS_SYSTEM}|<RPPS> or ${PERSON_SUB_SYSTEM}|<subject>.`,
  },
  { name: 'entity', type: 'reference', documentation: 'A resource the event touched (Patient/123).' },
  { name: 'patient', type: 'reference', documentation: 'A patient the event touched (read, searched, written), by id or Patient/<id>.' },
  {
    name: 'type',
    type: 'token',
    documentation: 'rest (FHIR REST interactions), or DICOM 110114 (authentication), 110106 (export: deliveries), 110112 (query), 110110 (patient record).',
  },
  { name: 'subtype', type: 'token', documentation: 'A FHIR REST interaction: read, vread, history-instance, search-type, create, update, patch, delete, transaction, batch, operation.' },
  { name: 'outcome', type: 'token', documentation: '0 (success), 4 or 8 (failure).' },
];

/** Action names by subtype (the inverse of src/fhir/audit-event.ts `kindOf`). */
const SUBTYPE_ACTIONS: Record<string, string[]> = {
  read: ['fhir.read', 'audit.read'],
  vread: ['fhir.vread'],
  'history-instance': ['fhir.history'],
  'search-type': ['fhir.search', 'audit.search'],
  create: ['fhir.create'],
  update: ['fhir.update'],
  patch: ['fhir.patch'],
  delete: ['fhir.delete'],
  transaction: ['fhir.transaction'],
  batch: ['fhir.batch'],
  operation: ['fhir.operation'],
};

/** Action name patterns (SQL LIKE) by event type. */
const TYPE_PATTERNS: Record<string, string[]> = {
  rest: ['fhir.%', 'audit.%'],
  '110114': ['auth.%'],
  '110106': ['%.delivery', '%.export', 'delivery.%'],
  '110112': ['%.search', '%.match', '%.query'],
};
const PATIENT_RECORD_EXCLUDED = Object.values(TYPE_PATTERNS).flat();

const CONTROL = new Set(['_count', '_offset', '_format']);

function token(value: string): { system?: string; code: string } {
  const bar = value.indexOf('|');
  return bar < 0 ? { code: value } : { system: value.slice(0, bar), code: value.slice(bar + 1) };
}

/** A reference as rows keep it (`Patient/1`); a bare id or anything else is kept as given (and matches nothing). */
function reference(value: string, base: string, type?: string): string {
  const v = value.startsWith(`${base}/`) ? value.slice(base.length + 1) : value;
  return type && /^[A-Za-z0-9\-.]{1,64}$/.test(v) ? `${type}/${v}` : v;
}

/** A filter that selects no row: an unknown code matches nothing (FHIR token semantics), it is not an error. */
const NOTHING = [''];

function intParam(params: URLSearchParams, name: string, fallback: number, max: number): number {
  const raw = params.get(name);
  if (raw === null) return fallback;
  if (!/^\d{1,9}$/.test(raw)) throw invalid(`${name} must be a non-negative integer`, name);
  return Math.min(Number(raw), max);
}

/** The filter a query string asks for; unknown parameters answer 400. */
export function auditFilterOf(params: URLSearchParams, base: string): AuditFilter {
  const f: AuditFilter = {};
  const one = (name: string, key: 'actor' | 'person' | 'entity', value: string): void => {
    if (f[key] !== undefined && f[key] !== value) throw invalid(`Only one ${name} value is supported`, name);
    f[key] = value;
  };
  for (const [name, value] of params) {
    if (CONTROL.has(name)) continue;
    switch (name) {
      case 'date': {
        const m = /^(eq|ge|gt|le|lt)?(.*)$/.exec(value) as RegExpExecArray;
        const prefix = m[1] ?? 'eq';
        const range = dateRangeOf(m[2]);
        if (!range) throw invalid(`date "${value}" is not a FHIR date`, 'date');
        const lower = prefix === 'gt' ? range.end : prefix === 'eq' || prefix === 'ge' ? range.start : undefined;
        const upper = prefix === 'lt' ? range.start : prefix === 'eq' || prefix === 'le' ? range.end : undefined;
        if (lower !== undefined && (f.from === undefined || lower > f.from)) f.from = lower;
        if (upper !== undefined && (f.before === undefined || upper < f.before)) f.before = upper;
        break;
      }
      case 'agent': {
        const t = token(value);
        if (t.system === RPPS_SYSTEM) one(name, 'person', `rpps:${t.code}`);
        else if (t.system === PERSON_SUB_SYSTEM) one(name, 'person', `sub:${t.code}`);
        else if (t.system === undefined || t.system === CLIENT_SYSTEM) one(name, 'actor', t.code);
        else f.actions = NOTHING;
        break;
      }
      case '_id':
        f.ids = value.split(',').map((v) => (/^\d{1,15}$/.test(v) ? Number(v) : 0));
        break;
      case 'entity':
        one(name, 'entity', reference(value, base));
        break;
      case 'patient':
        one(name, 'entity', reference(value, base, 'Patient'));
        break;
      case 'subtype': {
        const actions = value.split(',').flatMap((v) => SUBTYPE_ACTIONS[token(v).code] ?? []);
        f.actions = f.actions ? f.actions.filter((a) => actions.includes(a)) : actions.length ? actions : NOTHING;
        break;
      }
      case 'type': {
        const code = token(value).code;
        if (code === '110110') f.actionNotLike = PATIENT_RECORD_EXCLUDED;
        else f.actionLike = TYPE_PATTERNS[code] ?? NOTHING;
        break;
      }
      case 'outcome': {
        const code = token(value).code;
        if (code === '0') f.outcome = 'success';
        else if (code === '4' || code === '8' || code === '12') f.outcome = 'failure';
        else f.actions = NOTHING;
        break;
      }
      default:
        throw invalid(`Unknown search parameter "${name}" for AuditEvent`, name);
    }
  }
  return f;
}

export function auditEventSearchHandler(ctx: FhirContext): FhirHandler {
  return async (req) => {
    const filter = auditFilterOf(req.query, ctx.fhirBase);
    const count = intParam(req.query, '_count', DEFAULT_COUNT, MAX_COUNT);
    const offset = intParam(req.query, '_offset', 0, 1_000_000_000);
    const { records, total = 0 } = await ctx.store.auditTrail.search({ filter, count, offset, order: 'desc' });
    const entry: BundleEntry[] = records.map((r) => ({ fullUrl: `${ctx.fhirBase}/AuditEvent/${r.id}`, resource: toAuditEvent(r), search: { mode: 'match' } }));
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'searchset',
      total,
      link: pageLinks(`${ctx.fhirBase}/AuditEvent`, req.query, count, offset, offset + count < total),
      entry,
    };
    return [allOk, bundle];
  };
}

export function auditEventReadHandler(ctx: FhirContext): FhirHandler {
  return async (req) => {
    const id = req.params.id;
    const record = /^\d{1,15}$/.test(id) ? await ctx.store.auditTrail.get(Number(id)) : undefined;
    if (!record) throw notFound(`AuditEvent/${id} not found`);
    return [allOk, toAuditEvent(record)];
  };
}

/** The AuditEvent routes of the route table (fhir-router.ts). */
export function auditEventRoutes(ctx: FhirContext): FhirRoute[] {
  const searchParams = AUDIT_EVENT_SEARCH_PARAMS;
  return [
    { method: 'POST', path: '/AuditEvent/_search', interactions: ['search-type'], scope: 'audit.read', body: 'form', searchParams, handler: auditEventSearchHandler(ctx) },
    { method: 'GET', path: '/AuditEvent/:id', interactions: ['read'], scope: 'audit.read', searchParams, handler: auditEventReadHandler(ctx) },
    { method: 'GET', path: '/AuditEvent', interactions: ['search-type'], scope: 'audit.read', searchParams, handler: auditEventSearchHandler(ctx) },
  ];
}
