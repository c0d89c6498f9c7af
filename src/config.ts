// The gateway configuration: one zod schema, loaded once from YAML, then environment, then CLI overrides.
// This is the only module that reads `process.env`-style variables; everything else receives a `Config`.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { OID_PATTERN } from './fhir/map-common.js';
import { outboxConfigSchema } from './outbox/config.js';

/** `identity.review`: decide identity review items and separate identities (identitovigilance referents). */
export const SCOPES = ['fhir.read', 'fhir.write', 'domain.write', 'identity.review', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

const clientSchema = z
  .object({
    id: z.string().min(1),
    /** The bearer secret in clear (convenient for local setups). */
    token: z.string().min(16, 'a bearer token needs at least 16 characters').optional(),
    /** Hex SHA-256 of the bearer secret, so the configuration file need not hold the secret itself. */
    tokenSha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, 'expected 64 hexadecimal characters')
      .transform((s) => s.toLowerCase())
      .optional(),
    scopes: z.array(z.enum(SCOPES)).default([]),
  })
  .strict()
  .refine((c) => (c.token === undefined) !== (c.tokenSha256 === undefined), {
    message: 'give exactly one of token or tokenSha256',
    path: ['token'],
  });

export type AuthClient = z.infer<typeof clientSchema>;

const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

const fileSchema = z
  .object({
    port: z.coerce.number().int().min(0).max(65535).default(8080),
    /** Listen address; default: all interfaces (IPv6 and IPv4 where available). */
    host: z.string().min(1).optional(),
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
    /** Public base URL (without `/fhir`); defaults to `http://localhost:<port>`. */
    baseUrl: z.url().optional(),
    bodyLimit: z
      .string()
      .regex(/^\d+(b|kb|mb|gb)$/i, 'expected a size such as 512kb or 5mb')
      .default('5mb'),
    auth: z
      .object({
        enabled: z.boolean().default(false),
        clients: z.array(clientSchema).default([]),
      })
      .strict()
      .default({ enabled: false, clients: [] }),
    log: z.object({ level: logLevel.default('info') }).strict().default({ level: 'info' }),
    /** Transactional outbox: destinations, routes and the dispatcher (src/outbox/config.ts). */
    outbox: outboxConfigSchema,
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
      })
      .strict()
      .default({ dmp: { enabled: false, port: 8443 } }),
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
  .refine((c) => !c.auth.enabled || c.auth.clients.length > 0, {
    message: 'auth is enabled but no client is configured',
    path: ['auth', 'clients'],
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
    ['PASSERELLE_DATA', ['dataDir']],
    ['DATABASE_URL', ['databaseUrl']],
    ['PASSERELLE_BASE_URL', ['baseUrl']],
    ['LOG_LEVEL', ['log', 'level']],
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
    baseUrl: (c.baseUrl ?? `http://localhost:${c.port}`).replace(/\/+$/, ''),
  };
}
