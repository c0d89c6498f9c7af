// Who may see and change what: tenants, roles, the scopes they grant, and the principal a request acts as.
// Pure rules (no I/O, no HTTP): the api layer authenticates and builds a `Principal`; services and the store
// apply what these functions decide. The table of docs/security.md is this file in prose.

/**
 * Permissions checked by the routes. A client or a person holds the union of its roles' scopes plus any scope
 * declared directly.
 * - `fhir.read` / `fhir.write`: FHIR REST reads and writes, filtered to the tenant's patients;
 * - `domain.write`: POST /ppp, /ctm, /bpm and the CTM link, for documents of the principal's own establishment;
 * - `identity.review`: identitovigilance — federated Patients, the review queue, decisions, the link export;
 * - `audit.read`: the audit trail as FHIR AuditEvent, its export;
 * - `reports.read`: regional aggregates;
 * - `admin`: operations (outbox, destinations) and every scope.
 */
export const SCOPES = ['fhir.read', 'fhir.write', 'domain.write', 'identity.review', 'audit.read', 'reports.read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** Named bundles of scopes, for systems and for people. */
export const ROLES = {
  /** Hospital software: sends PPPs and CTMs, reads and writes its patients' data. */
  dpi: ['fhir.read', 'fhir.write', 'domain.write'],
  /** Community-pharmacy software: uploads BPMs, reads its patients' data. */
  lgo: ['fhir.read', 'domain.write'],
  /** Integration engineers' test clients, within their tenant. */
  integrator: ['fhir.read', 'fhir.write', 'domain.write'],
  /** Case manager at the hospital (people). */
  'case-manager': ['fhir.read', 'domain.write'],
  /** Hospital pharmacist (people). */
  pharmacist: ['fhir.read', 'domain.write'],
  /** Identitovigilance referent: the SRI's federated identities, review queue and link export, every patient. */
  identitovigilance: ['fhir.read', 'identity.review'],
  /** Regional coordinator: aggregates only, no patient data. */
  regional: ['reports.read'],
  /** Auditor: reads the audit trail. */
  auditor: ['audit.read'],
  /** Operator of the gateway. */
  admin: ['admin'],
} as const satisfies Record<string, readonly Scope[]>;
export type Role = keyof typeof ROLES;
export const ROLE_NAMES = Object.keys(ROLES) as Role[];

/** Roles whose holders see every patient of the region (not only their tenant's). */
const CROSS_TENANT_ROLES: readonly Role[] = ['identitovigilance', 'admin'];

/**
 * Whose data it is: an establishment (hospital) or a pharmacy, by FINESS, or the region. Written `establishment:<FINESS>`,
 * `pharmacy:<FINESS>` or `region:<code>` in the configuration.
 */
export type Tenant =
  | { kind: 'establishment'; finess: string }
  | { kind: 'pharmacy'; finess: string }
  | { kind: 'region'; code: string };

export const TENANT_PATTERN = /^(establishment|pharmacy):(\d{9}|2[AB]\d{7})$|^region:[A-Za-z0-9-]{1,32}$/;

export function parseTenant(text: string): Tenant {
  if (!TENANT_PATTERN.test(text)) throw new Error(`"${text}" is not a tenant: expected establishment:<FINESS>, pharmacy:<FINESS> or region:<code>`);
  const [kind, id] = text.split(':') as [Tenant['kind'], string];
  return kind === 'region' ? { kind, code: id } : { kind, finess: id };
}

/** The stable text form of a tenant (the key of `access_patient.tenant` and of audit rows). */
export function tenantKey(t: Tenant): string {
  return t.kind === 'region' ? `region:${t.code}` : `${t.kind}:${t.finess}`;
}

/** A person signed in through OpenID Connect (Pro Santé Connect in production). */
export interface Person {
  /** The provider's subject. */
  sub: string;
  /** RPPS (11 digits) or ADELI when the provider gives one. */
  rpps?: string;
  /** Display name, for pages only: never logged. */
  name?: string;
}

/** How the principal proved who it is. */
export type AuthMethod = 'none' | 'dev-token' | 'jwt' | 'mtls' | 'session';

/** Who a request acts as. */
export interface Principal {
  /** Declared client id (systems), `person:<sub>` for people, `anonymous` when authentication is off. */
  id: string;
  scopes: readonly Scope[];
  roles: readonly Role[];
  /** Absent only when authentication is off (every patient) or for an unauthenticated public request. */
  tenant?: Tenant;
  person?: Person;
  method: AuthMethod;
}

/** The scopes a set of roles and extra scopes grant (deduplicated, in SCOPES order). */
export function scopesOf(roles: readonly Role[], extra: readonly Scope[] = []): Scope[] {
  const held = new Set<Scope>(extra);
  for (const r of roles) for (const s of ROLES[r]) held.add(s);
  return SCOPES.filter((s) => held.has(s));
}

export function hasScope(p: Pick<Principal, 'scopes'>, scope: Scope): boolean {
  return p.scopes.includes(scope) || p.scopes.includes('admin');
}

/**
 * Whether the principal's reads are limited to its tenant's patients. False when authentication is off (`method`
 * `none` with every scope) and for the cross-tenant roles.
 */
export function isTenantBound(p: Principal): boolean {
  if (p.method === 'none' && p.scopes.includes('admin')) return false;
  return !p.roles.some((r) => CROSS_TENANT_ROLES.includes(r)) && !p.scopes.includes('admin');
}

/** The FINESS a principal may write documents for, or undefined when it may write for none. */
export function ownFiness(p: Principal): string | undefined {
  return p.tenant && p.tenant.kind !== 'region' ? p.tenant.finess : undefined;
}

/** Whether the principal may submit a document of the establishment (or pharmacy) `finess`. */
export function mayWriteFor(p: Principal, finess: string): boolean {
  if (!isTenantBound(p)) return true;
  return ownFiness(p) === finess;
}

// ---- Whose data it is: the rules the services and the API apply (docs/security.md, "Tenants and roles") ----

/**
 * Resource types outside a patient's record: shared reference data (organisations, professionals, medicines, places)
 * and conformance resources. Any principal with `fhir.read` reads them; every other type is a patient's data and is
 * filtered to the patients of the principal's tenant.
 */
export const SHARED_TYPES: ReadonlySet<string> = new Set([
  'Organization',
  'Practitioner',
  'PractitionerRole',
  'Medication',
  'Substance',
  'Location',
  'Endpoint',
  'HealthcareService',
  'CapabilityStatement',
  'StructureDefinition',
  'ImplementationGuide',
  'SearchParameter',
  'OperationDefinition',
  'CompartmentDefinition',
  'StructureMap',
  'GraphDefinition',
  'ValueSet',
  'CodeSystem',
  'ConceptMap',
  'NamingSystem',
  'TerminologyCapabilities',
]);

/** Whether resources of `type` belong to a patient's record (and so are filtered per tenant). */
export const isPatientData = (type: string): boolean => !SHARED_TYPES.has(type);

/**
 * The key of a tenant in `access_patient`: its FINESS (`finess:<FINESS>`) whatever its kind, so a pharmacy named by a
 * document (which says only its FINESS) and the pharmacy's client (declared `pharmacy:<FINESS>`) meet; `region:<code>`
 * for a region (which is granted nothing: it sees aggregates).
 */
export function accessKey(t: Tenant): string {
  return t.kind === 'region' ? `region:${t.code}` : finessKey(t.finess);
}
export const finessKey = (finess: string): string => `finess:${finess}`;

/** A key no grant ever has: what a tenant-bound principal without a tenant sees (nothing of any patient). */
export const NO_TENANT = 'none:';

/**
 * The tenant key a principal's reads of patient data are filtered by, or undefined when it reads every patient
 * (authentication off, identitovigilance, admin).
 */
export function readFilter(p: Principal): string | undefined {
  if (!isTenantBound(p)) return undefined;
  return p.tenant ? accessKey(p.tenant) : NO_TENANT;
}

/**
 * The SRI's federated Patients (golden records), the review queue, the decisions and the link export are for
 * identitovigilance (`identity.review`); nobody else reads a federated Patient, whatever its tenant.
 */
export const maySeeFederated = (p: Principal): boolean => hasScope(p, 'identity.review');

/** How a request for another tenant's data is answered. */
export type Refusal = 'not-found' | 'forbidden';

/**
 * What a principal may do with a resource it cannot see (its tenant has no grant on the patient): reads, searches and
 * PATCH answer as for a missing resource (404: existence does not leak); a write naming it (PUT, DELETE, a reference
 * to the patient) is refused with 403, because the writer named the id itself.
 */
export function refusalFor(interaction: 'read' | 'patch' | 'update' | 'delete' | 'reference'): Refusal {
  return interaction === 'read' || interaction === 'patch' ? 'not-found' : 'forbidden';
}
