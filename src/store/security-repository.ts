// Storage of the security controls (tables of SQLite migration 008 / PostgreSQL 007): OAuth2 assertion ids already
// used (replay refused), which tenant may see which patient (`access_patient`), and people's server-side sessions.
// The statements are written once here with `?` placeholders; each dialect binds them to its connections
// (sqlite-store.ts, pg-store.ts) through a `SqlRunner`.

/** Runs one statement with `?` placeholders: the rows it returns, and the number of rows it changed. */
export interface SqlRunner {
  all<R>(sql: string, params: readonly unknown[]): Promise<R[]>;
  run(sql: string, params: readonly unknown[]): Promise<number>;
}

/** Why a tenant may see a patient. */
export type AccessReason = 'document' | 'task' | 'care-team' | 'fhir-write';

/** Written in the transaction that creates the relationship (`tx.access`). */
export interface AccessWriter {
  /** `tenant` may see these Patient ids from now on (already granted: nothing changes). */
  grant(tenant: string, patients: readonly string[], reason: AccessReason): Promise<void>;
  /** The tenants that may see `patient` (as this transaction sees them). */
  tenantsOf(patient: string): Promise<string[]>;
}

export interface WebSession {
  data: unknown;
  expires: string;
}

export interface SecurityRepository {
  /**
   * Remember the assertion id `jti` of `client` until `expires`; false when it was already used (a replay).
   * Expired ids are forgotten on the way.
   */
  rememberJti(client: string, jti: string, expires: Date, now: Date): Promise<boolean>;
  /** Whether `tenant` may see the Patient `patient`. */
  mayAccess(tenant: string, patient: string): Promise<boolean>;
  /** The tenants that may see `patient`. */
  tenantsOf(patient: string): Promise<string[]>;
  /** Grant outside a submission (administration, tests). */
  grant(tenant: string, patients: readonly string[], reason: AccessReason): Promise<void>;
  sessionGet(idHash: string, now: Date): Promise<WebSession | undefined>;
  sessionPut(idHash: string, session: WebSession): Promise<void>;
  sessionDelete(idHash: string): Promise<void>;
}

export const SECURITY_SQL = {
  purgeJti: 'DELETE FROM oauth_jti WHERE expires < ?',
  insertJti: 'INSERT INTO oauth_jti (jti, client, expires) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
  mayAccess: 'SELECT 1 AS ok FROM access_patient WHERE tenant = ? AND patient = ?',
  tenantsOf: 'SELECT tenant FROM access_patient WHERE patient = ? ORDER BY tenant',
  grant: 'INSERT INTO access_patient (tenant, patient, reason, granted) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
  sessionGet: 'SELECT data, expires FROM web_session WHERE id_hash = ? AND expires > ?',
  sessionPut:
    'INSERT INTO web_session (id_hash, data, expires) VALUES (?, ?, ?) ON CONFLICT (id_hash) DO UPDATE SET data = excluded.data, expires = excluded.expires',
  sessionDelete: 'DELETE FROM web_session WHERE id_hash = ? OR expires < ?',
} as const;

async function grantRows(run: SqlRunner, tenant: string, patients: readonly string[], reason: AccessReason, now: Date): Promise<void> {
  const at = now.toISOString();
  for (const p of new Set(patients)) await run.run(SECURITY_SQL.grant, [tenant, p, reason, at]);
}

async function tenantsOf(run: SqlRunner, patient: string): Promise<string[]> {
  return (await run.all<{ tenant: string }>(SECURITY_SQL.tenantsOf, [patient])).map((r) => r.tenant);
}

export function accessWriter(run: SqlRunner, now: () => Date): AccessWriter {
  return {
    grant: (tenant, patients, reason) => grantRows(run, tenant, patients, reason, now()),
    tenantsOf: (patient) => tenantsOf(run, patient),
  };
}

/**
 * The repository over a dialect's runners: `read` for lookups, `write` for short writes each in their own transaction
 * (`write(fn)` runs `fn` inside one).
 */
export function securityRepository(read: SqlRunner, write: <T>(fn: (run: SqlRunner) => Promise<T>) => Promise<T>, now: () => Date): SecurityRepository {
  return {
    rememberJti: (client, jti, expires, at) =>
      write(async (run) => {
        await run.run(SECURITY_SQL.purgeJti, [at.toISOString()]);
        return (await run.run(SECURITY_SQL.insertJti, [jti, client, expires.toISOString()])) === 1;
      }),
    mayAccess: async (tenant, patient) => (await read.all(SECURITY_SQL.mayAccess, [tenant, patient])).length > 0,
    tenantsOf: (patient) => tenantsOf(read, patient),
    grant: (tenant, patients, reason) => write((run) => grantRows(run, tenant, patients, reason, now())),
    sessionGet: async (idHash, at) => {
      const [row] = await read.all<{ data: string; expires: string }>(SECURITY_SQL.sessionGet, [idHash, at.toISOString()]);
      return row ? { data: JSON.parse(row.data), expires: row.expires } : undefined;
    },
    sessionPut: (idHash, s) => write(async (run) => void (await run.run(SECURITY_SQL.sessionPut, [idHash, JSON.stringify(s.data), s.expires]))),
    sessionDelete: (idHash) => write(async (run) => void (await run.run(SECURITY_SQL.sessionDelete, [idHash, now().toISOString()]))),
  };
}
