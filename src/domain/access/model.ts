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
