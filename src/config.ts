// The gateway configuration: one zod schema, loaded once from YAML, then environment, then CLI overrides.
// This is the only module that reads `process.env`-style variables; everything else receives a `Config`.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { OID_PATTERN } from './fhir/map-common.js';
import { outboxConfigSchema } from './outbox/config.js';
import { mssanteConfigSchema } from './connectors/mssante/config.js';

import { DEFAULT_LINK_TTL_DAYS } from './domain/pathway/link-token.js';
import { ROLE_NAMES, SCOPES, TENANT_PATTERN, type Role, type Scope } from './domain/access/model.js';

export { SCOPES, type Scope };

const tenantText = z.string().regex(TENANT_PATTERN, 'expected establishment:<FINESS>, pharmacy:<FINESS> or region:<code>');
const roleName = z.enum(ROLE_NAMES as [Role, ...Role[]]);
/** A secret is never written in the YAML: it is read from a file or from an environment variable. */
const secretFrom = {
  /** File holding the secret (trailing newline ignored). */
  File: z.string().min(1).optional(),
  /** Name of the environment variable holding the secret. */
  Env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'expected an environment variable name').optional(),
};

/** A public JWK as declared for a client's assertion keys (private parts are refused). */
const publicJwk = z
  .object({ kty: z.string().min(1) })
  .catchall(z.unknown())
  .refine((k) => !('d' in k) && !('p' in k) && !('q' in k) && !('k' in k), { message: 'a client key must be public: no d, p, q or k member' });

const clientSchema = z
  .object({
    id: z.string().min(1).max(128).regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits, . _ : - only'),
    /** Whose data this client works on: `establishment:<FINESS>`, `pharmacy:<FINESS>` or `region:<code>`. */
    tenant: tenantText.optional(),
    /** Named bundles of scopes (src/domain/access/model.ts, docs/security.md). */
    roles: z.array(roleName).default([]),
    /** Scopes granted on top of the roles'. */
    scopes: z.array(z.enum(SCOPES)).default([]),
    /** private_key_jwt: the client's public keys (a JWKS), or where to fetch them (`jwksUrl`), or a JWKS file. */
    jwks: z.object({ keys: z.array(publicJwk).min(1) }).strict().optional(),
    jwksUrl: z.url().optional(),
    jwksFile: z.string().min(1).optional(),
    /**
     * Mutual TLS: the client certificate that identifies this client: its subject DN (RFC 4514, `CN=…,OU=…,O=…,C=FR`, or
     * as OpenSSL prints it), and/or its serial in hexadecimal; when both are given, both must match (src/api/auth/mtls.ts).
     */
    certificate: z
      .object({ subject: z.string().min(1).optional(), serial: z.string().regex(/^[0-9A-Fa-f:]+$/, 'hexadecimal serial').optional() })
      .strict()
      .refine((c) => c.subject !== undefined || c.serial !== undefined, { message: 'give subject or serial' })
      .optional(),
    /** Static bearer token, for local development only (`auth.devTokens: true`): in clear, as SHA-256, from a file or env. */
    token: z.string().min(16, 'a bearer token needs at least 16 characters').optional(),
    tokenSha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, 'expected 64 hexadecimal characters')
      .transform((s) => s.toLowerCase())
      .optional(),
    tokenFile: secretFrom.File,
    tokenEnv: secretFrom.Env,
  })
  .strict()
  .refine((c) => [c.token, c.tokenSha256, c.tokenFile, c.tokenEnv].filter((v) => v !== undefined).length <= 1, {
    message: 'give at most one of token, tokenSha256, tokenFile, tokenEnv',
    path: ['token'],
  })
  .refine((c) => [c.jwks, c.jwksUrl, c.jwksFile].filter((v) => v !== undefined).length <= 1, {
    message: 'give at most one of jwks, jwksUrl, jwksFile',
    path: ['jwks'],
  });

export type AuthClient = z.infer<typeof clientSchema>;

/** A person allowed to sign in: matched by the provider's `sub` or by RPPS/ADELI, with a tenant and roles. */
const personSchema = z
  .object({
    sub: z.string().min(1).optional(),
    rpps: z.string().regex(/^\d{11}$|^\d{9}$/, 'an RPPS has 11 digits, an ADELI 9').optional(),
    tenant: tenantText,
    roles: z.array(roleName).min(1),
  })
  .strict()
  .refine((p) => p.sub !== undefined || p.rpps !== undefined, { message: 'give sub or rpps', path: ['sub'] });

export type AuthPerson = z.infer<typeof personSchema>;

const windowLimit = z.object({ windowMs: z.number().int().min(100).max(86_400_000), max: z.number().int().min(1) }).strict();

/** A yes/no switch that may come from the environment: `1`/`true`/`yes` or `0`/`false`/`no`/empty. */
const envFlag = z
  .preprocess((v) => {
    if (typeof v !== 'string') return v;
    const t = v.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(t)) return true;
    if (['', '0', 'false', 'no', 'off'].includes(t)) return false;
    return v;
  }, z.boolean())
  .default(false);

const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/**
 * The pathway's fees (design.md): up to 2024 DAH 220 €, MT 50 €, PHO 50 €; from 2025 DAH 125 €, MT 30 €, PHO 30 €. One
 * entry per year, so that a year nobody has reviewed yet (after 2027) shows as missing rather than guessed.
 */
export const DEFAULT_TARIFFS: Record<string, { DAH: number; MT: number; PHO: number }> = Object.fromEntries([
  ...[2019, 2020, 2021, 2022, 2023, 2024].map((y) => [String(y), { DAH: 220, MT: 50, PHO: 50 }]),
  ...[2025, 2026, 2027].map((y) => [String(y), { DAH: 125, MT: 30, PHO: 30 }]),
]);

const fileSchema = z
  .object({
    port: z.coerce.number().int().min(0).max(65535).default(8080),
    /**
     * Listen address (env HOST). Default: loopback only (127.0.0.1), so a gateway started without a configuration
     * is not reachable from the network; a production configuration says where to bind (e.g. 0.0.0.0).
     */
    host: z.string().min(1).default('127.0.0.1'),
    dataDir: z.string().min(1).default('./var'),
    /** SQLite file; defaults to `<dataDir>/passerelle.sqlite`. Not used when `databaseUrl` is set. */
    database: z.string().min(1).optional(),
    /**
     * PostgreSQL instead of the SQLite file (env DATABASE_URL): `postgres://user:password@host:5432/database`
     * (`postgresql://` too; libpq parameters such as `?sslmode=require` are understood). Several gateway processes
     * may share one database.
     */
    databaseUrl: z
      .string()
      .regex(/^postgres(ql)?:\/\/\S+$/i, 'expected a postgres:// or postgresql:// URL')
      .optional(),
    /** Public base URL (without `/fhir`); defaults to `http://localhost:<port>` (`https://` with `tls`). */
    baseUrl: z.url().optional(),
    bodyLimit: z
      .string()
      .regex(/^\d+(b|kb|mb|gb)$/i, 'expected a size such as 512kb or 5mb')
      .default('5mb'),
    auth: z
      .object({
        enabled: z.boolean().default(false),
        /** Accept the clients' static bearer tokens (local development only; a warning is logged at start). */
        devTokens: z.boolean().default(false),
        clients: z.array(clientSchema).default([]),
        /** People who may sign in through OpenID Connect, with their tenant and roles. */
        people: z.array(personSchema).default([]),
        /** Lifetime of the access tokens /oauth/token issues, in seconds. */
        accessTokenTtl: z.number().int().min(30).max(3600).default(300),
        /** Private key (JWK or PKCS#8 PEM) signing access tokens; generated in `<dataDir>/keys/` when absent. */
        signingKeyFile: z.string().min(1).optional(),
        /** People's sign-in: an OpenID Connect provider (Pro Santé Connect in production). */
        oidc: z
          .object({
            issuer: z.url(),
            clientId: z.string().min(1),
            clientSecretFile: secretFrom.File,
            clientSecretEnv: secretFrom.Env,
            scopes: z.array(z.string().min(1)).default(['openid', 'profile']),
            /** Claim holding the RPPS/ADELI (Pro Santé Connect: `SubjectRefPro` inside `SubjectNameID`; demo provider: `rpps`). */
            rppsClaim: z.string().min(1).default('rpps'),
            /** `acr_values` asked at sign-in (Pro Santé Connect: `eidas1`); none by default. */
            acrValues: z.string().min(1).max(200).optional(),
          })
          .strict()
          .optional(),
        /** Idle lifetime of a person's session, in seconds. */
        sessionTtl: z.number().int().min(60).max(86_400).default(28_800),
        /** Throttling per source address and per client: failed authentications, and expensive endpoints. */
        rateLimit: z
          .object({
            authentication: windowLimit.default({ windowMs: 60_000, max: 20 }),
            expensive: windowLimit.default({ windowMs: 60_000, max: 300 }),
          })
          .strict()
          .default({ authentication: { windowMs: 60_000, max: 20 }, expensive: { windowMs: 60_000, max: 300 } }),
      })
      .strict()
      .default({
        enabled: false,
        devTokens: false,
        clients: [],
        people: [],
        accessTokenTtl: 300,
        sessionTtl: 28_800,
        rateLimit: { authentication: { windowMs: 60_000, max: 20 }, expensive: { windowMs: 60_000, max: 300 } },
      })
      .refine((a) => a.devTokens || a.clients.every((c) => c.token === undefined && c.tokenSha256 === undefined && c.tokenFile === undefined && c.tokenEnv === undefined), {
        message: 'static bearer tokens are for local development: set auth.devTokens: true, or declare jwks / certificate',
        path: ['clients'],
      })
      .refine((a) => !a.enabled || a.clients.every((c) => c.tenant !== undefined || c.roles.some((r) => r === 'admin' || r === 'identitovigilance' || r === 'auditor' || r === 'regional')), {
        message: 'every client needs a tenant (establishment:<FINESS>, pharmacy:<FINESS> or region:<code>)',
        path: ['clients'],
      }),
    /**
     * TLS on the gateway's own listener (HTTPS). With `ca`, clients may present a certificate (mutual TLS) that
     * chains to it; a client declared with `certificate` is then authenticated by it.
     */
    tls: z
      .object({
        cert: z.string().min(1),
        key: z.string().min(1),
        passphraseFile: secretFrom.File,
        passphraseEnv: secretFrom.Env,
        ca: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    /**
     * Refuse to start with authentication off (env PASSERELLE_REQUIRE_AUTH=1, which the Docker image sets), unless
     * `insecureDev` (env PASSERELLE_INSECURE_DEV=1) says this is a throw-away development instance.
     */
    requireAuth: envFlag,
    insecureDev: envFlag,
    log: z.object({ level: logLevel.default('info') }).strict().default({ level: 'info' }),
    /**
     * How read and search audit rows are written: `buffered` (default: grouped, one transaction every few ms, the
     * answer does not wait; a crash loses the last few ms of read rows) or `sync` (each in its own transaction before
     * the answer). Writes, decisions, deliveries and authentication failures are always written synchronously.
     */
    audit: z.object({ reads: z.enum(['buffered', 'sync']).default('buffered') }).strict().default({ reads: 'buffered' }),
    /** Transactional outbox: destinations, routes and the dispatcher (src/outbox/config.ts). */
    outbox: outboxConfigSchema,
    /** The gateway's MSSanté mailbox (BAL APP): sending, intake over IMAP, receipts (docs/mssante.md). */
    mssante: mssanteConfigSchema.optional(),
    /** Clinical documents (PDF in CDA R2 N1) sent to the DMP or a PDSm endpoint. */
    documents: z
      .object({
        /**
         * OID under which document ids are made (CDA id/setId, XDS uniqueId): your organisation's own OID arc.
         * The default is a TEST arc: documents built with it must never reach a production DMP.
         */
        oidRoot: z
          .string()
          .regex(OID_PATTERN, 'expected an OID such as 1.2.250.1.999.1')
          .default('1.2.250.1.999.42'),
        /** XDS SubmissionSet sourceId: OID of this sending system (default: `<oidRoot>.0`). */
        sourceId: z
          .string()
          .regex(OID_PATTERN, 'expected an OID')
          .optional(),
        /** Titles, type codes and per-establishment overrides (default: mappings/documents.yaml). */
        settings: z.string().min(1).optional(),
      })
      .strict()
      .default({ oidRoot: '1.2.250.1.999.42' }),
    /** Local peers for demos and tests (`npm start` shows the whole DMP flow against them). */
    sandbox: z
      .object({
        dmp: z
          .object({
            /** Start the local DMP peer with the gateway and route PPPs to it, unless `outbox` names its own `dmp`. */
            enabled: z.boolean().default(false),
            port: z.number().int().min(0).max(65535).default(8443),
            /** Where the test PKI is generated (kept between runs). Default: `<dataDir>/certs`. */
            certs: z.string().min(1).optional(),
          })
          .strict()
          .default({ enabled: false, port: 8443 }),
        /** A local OpenID Connect provider (the `oidc-provider` package) with demo people, for `npm start` and tests. */
        oidc: z
          .object({
            enabled: z.boolean().default(false),
            port: z.number().int().min(0).max(65535).default(8444),
          })
          .strict()
          .default({ enabled: false, port: 8444 }),
        /** The local MSSanté peer (SMTP + Dovecot IMAP, src/sandbox/mssante/): mail goes there unless `mssante` is configured. */
        mssante: z
          .object({
            enabled: z.boolean().default(false),
            smtpPort: z.number().int().min(0).max(65535).default(8465),
            imapPort: z.number().int().min(0).max(65535).default(8993),
          })
          .strict()
          .default({ enabled: false, smtpPort: 8465, imapPort: 8993 }),
      })
      .strict()
      .default({ dmp: { enabled: false, port: 8443 }, oidc: { enabled: false, port: 8444 }, mssante: { enabled: false, smtpPort: 8465, imapPort: 8993 } }),
    /** Integration engineers' mappings (issue 19, docs/mappings.md): vendor formats and code maps. */
    mappings: z
      .object({
        /** The folder holding `formats/` and `codemaps/` (default: the packaged `mappings/`). */
        dir: z.string().min(1).optional(),
        /** Reload a changed file without a restart. */
        watch: z.boolean().default(true),
        /** Wait this long after the last change before reloading. */
        debounceMs: z.number().int().min(0).max(60_000).default(300),
      })
      .strict()
      .default({ watch: true, debounceMs: 300 }),
    /** The pathway of issue 18 (docs/pathway.md). */
    pathway: z
      .object({
        /** Lifetime of the secure links sent to the MT and the PHO, in days. */
        linkTtlDays: z.number().int().min(1).max(365).default(DEFAULT_LINK_TTL_DAYS),
        /** Follow-up windows, in days after the first send (D45, D90). */
        followUp: z
          .object({
            d45Days: z.number().int().min(1).max(365).default(45),
            d90Days: z.number().int().min(1).max(730).default(90),
          })
          .strict()
          .refine((f) => f.d90Days > f.d45Days, { message: 'd90Days must come after d45Days', path: ['d90Days'] })
          .default({ d45Days: 45, d90Days: 90 }),
        /** Days after the send at which the PPP document is regenerated with the decisions received so far. */
        decisionDeadlineDays: z.number().int().min(1).max(365).default(21),
        /** The scheduler that opens the follow-up windows and regenerates documents (docs/pathway.md). */
        scheduler: z
          .object({
            enabled: z.boolean().default(true),
            pollMs: z.number().int().min(100).max(3_600_000).default(30_000),
            /** How long a claimed item is held before another process may take it over. */
            leaseMs: z.number().int().min(1000).max(3_600_000).default(120_000),
            batch: z.number().int().min(1).max(1000).default(20),
          })
          .strict()
          .default({ enabled: true, pollMs: 30_000, leaseMs: 120_000, batch: 20 }),
      })
      .strict()
      .default({
        linkTtlDays: DEFAULT_LINK_TTL_DAYS,
        followUp: { d45Days: 45, d90Days: 90 },
        decisionDeadlineDays: 21,
        scheduler: { enabled: true, pollMs: 30_000, leaseMs: 120_000, batch: 20 },
      }),
    /** The reports of issue 20 (docs/reports.md): tariffs per year, the billing pseudonyms' key. */
    reports: z
      .object({
        /**
         * Fees per year of the RCP (YYYY → euros per role). A year missing here leaves the amount of its lines empty and
         * the report says which years lack a tariff.
         */
        tariffs: z
          .record(
            z.string().regex(/^\d{4}$/, 'tariff years are written YYYY'),
            z.object({ DAH: z.number().min(0).max(100_000), MT: z.number().min(0).max(100_000), PHO: z.number().min(0).max(100_000) }).strict(),
          )
          .default(DEFAULT_TARIFFS),
        /**
         * Key of the billing file's patient pseudonyms (HMAC-SHA-256 of the federated patient id), at least 32
         * characters (env PASSERELLE_REPORTS_PSEUDONYM_KEY). When absent, one is generated at the first report and kept in
         * `<dataDir>/reports-pseudonym.key` (0600) so that pseudonyms stay the same from one quarter to the next.
         */
        pseudonymKey: z.string().min(32, 'the pseudonym key has at least 32 characters').optional(),
      })
      .strict()
      .default({ tariffs: DEFAULT_TARIFFS }),
    /** Default establishment used when a submission names none. */
    establishment: z
      .object({
        finess: z.string().regex(/^\d{9}$/, 'expected a 9-digit FINESS number').optional(),
        name: z.string().optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((c) => !c.auth.enabled || c.auth.clients.length > 0 || c.auth.people.length > 0, {
    message: 'auth is enabled but no client or person is configured',
    path: ['auth', 'clients'],
  })
  .superRefine((c, ctx) => {
    if (c.mssante) return;
    for (const [name, d] of Object.entries(c.outbox.destinations)) {
      if (d.kind === 'mssante') ctx.addIssue({ code: 'custom', message: `destination ${name} sends MSSanté mail: configure the mailbox (section mssante)`, path: ['outbox', 'destinations', name] });
    }
  });

export type Config = Omit<z.infer<typeof fileSchema>, 'database' | 'baseUrl'> & {
  database: string;
  baseUrl: string;
};

/** Partial configuration as given on the command line (already typed by commander). */
export interface ConfigOverrides {
  port?: number | string;
  dataDir?: string;
  database?: string;
  baseUrl?: string;
  logLevel?: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export interface LoadConfigOptions {
  /** YAML file; when absent, `PASSERELLE_CONFIG` from `env` is used. */
  file?: string;
  env?: Record<string, string | undefined>;
  overrides?: ConfigOverrides;
}

type Plain = Record<string, unknown>;

function isPlain(v: unknown): v is Plain {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function readYaml(file: string): Plain {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read configuration file ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`configuration file ${file} is not valid YAML: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (!isPlain(doc)) throw new ConfigError(`configuration file ${file}: expected a mapping at the top level`);
  return doc;
}

function setIn(target: Plain, keys: string[], value: unknown): void {
  let cur = target;
  for (const k of keys.slice(0, -1)) {
    if (!isPlain(cur[k])) cur[k] = {};
    cur = cur[k] as Plain;
  }
  cur[keys[keys.length - 1]] = value;
}

function formatIssues(error: z.ZodError, source: string): string {
  const lines = error.issues.map((i) => {
    const field = i.path.length ? i.path.map(String).join('.') : '(root)';
    return `  ${field}: ${i.message}`;
  });
  return `invalid configuration (${source}):\n${lines.join('\n')}`;
}

/** Load and validate the configuration. Throws `ConfigError` with one line per bad field. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? {};
  const file = options.file ?? (env.PASSERELLE_CONFIG || undefined);
  const raw: Plain = file ? readYaml(file) : {};

  const fromEnv: [string, string[]][] = [
    ['PORT', ['port']],
    ['HOST', ['host']],
    ['PASSERELLE_DATA', ['dataDir']],
    ['DATABASE_URL', ['databaseUrl']],
    ['PASSERELLE_BASE_URL', ['baseUrl']],
    ['LOG_LEVEL', ['log', 'level']],
    ['PASSERELLE_REQUIRE_AUTH', ['requireAuth']],
    ['PASSERELLE_INSECURE_DEV', ['insecureDev']],
    ['PASSERELLE_REPORTS_PSEUDONYM_KEY', ['reports', 'pseudonymKey']],
  ];
  for (const [name, keys] of fromEnv) {
    const v = env[name];
    if (v !== undefined && v !== '') setIn(raw, keys, v);
  }

  const o = options.overrides ?? {};
  if (o.port !== undefined) setIn(raw, ['port'], o.port);
  if (o.dataDir !== undefined) setIn(raw, ['dataDir'], o.dataDir);
  if (o.database !== undefined) setIn(raw, ['database'], o.database);
  if (o.baseUrl !== undefined) setIn(raw, ['baseUrl'], o.baseUrl);
  if (o.logLevel !== undefined) setIn(raw, ['log', 'level'], o.logLevel);

  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(formatIssues(parsed.error, file ? `file ${file}, environment and options` : 'environment and options'));
  }
  return withDerivedDefaults(parsed.data);
}

/** A complete configuration from defaults plus a partial object (tests, embedding). */
export function configFrom(partial: Plain = {}): Config {
  const parsed = fileSchema.safeParse(partial);
  if (!parsed.success) throw new ConfigError(formatIssues(parsed.error, 'object'));
  return withDerivedDefaults(parsed.data);
}

// `database` and `baseUrl` default from other fields, so they are filled after validation.
function withDerivedDefaults(c: z.infer<typeof fileSchema>): Config {
  return {
    ...c,
    database: c.database ?? path.join(c.dataDir, 'passerelle.sqlite'),
    baseUrl: (c.baseUrl ?? `${c.tls ? 'https' : 'http'}://localhost:${c.port}`).replace(/\/+$/, ''),
  };
}

/**
 * A secret named by the configuration (`<x>File` or `<x>Env`): read from the file (trailing newline dropped) or the
 * environment variable. Undefined when neither is given; a `ConfigError` when the one given cannot be read or is empty.
 */
export function readSecret(from: { file?: string; env?: string }, what: string, env: Record<string, string | undefined> = process.env): string | undefined {
  if (from.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(from.file, 'utf8');
    } catch (err) {
      throw new ConfigError(`${what}: cannot read ${from.file}: ${(err as Error).message}`);
    }
    const value = text.replace(/\r?\n$/, '');
    if (value === '') throw new ConfigError(`${what}: ${from.file} is empty`);
    return value;
  }
  if (from.env !== undefined) {
    const value = env[from.env];
    if (value === undefined || value === '') throw new ConfigError(`${what}: the environment variable ${from.env} is not set`);
    return value;
  }
  return undefined;
}
