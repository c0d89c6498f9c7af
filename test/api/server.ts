// Test harness: a real gateway on a free port with a real SQLite file in a temp directory.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import { pino } from 'pino';
import { startServer, type AppDeps, type RouteMount } from '../../src/api/app.js';
import { configFrom } from '../../src/config.js';
import { generateTestPki, type TestPki } from '../../src/sandbox/pki.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import type { ResourceStore } from '../../src/store/repository.js';

export interface TestServer {
  url: string;
  fhir: string;
  store: ResourceStore;
  /** The temporary data directory (SQLite file, generated keys under `keys/`). */
  dataDir: string;
  /**
   * With `tls: true`: the test PKI the listener uses — `pki.pem.ca` trusts the server (and is the client CA),
   * `pki.pem.org`/`orgKey` is a client certificate of that CA (subject `pki.organisation.subject`), `pki.pem.intruder`
   * one of an unknown CA. Call it with `tlsCall` (test/api/auth-support.ts): fetch does not trust the test CA.
   */
  pki?: TestPki;
  close(): Promise<void>;
}

export interface TestServerOptions {
  /** Listen in HTTPS with a freshly generated test PKI, asking clients for a certificate of its CA (mutual TLS). */
  tls?: boolean;
  /** More dependencies for startServer (pages, metrics…). */
  deps?: Partial<AppDeps>;
}

export async function startTestServer(config: Record<string, unknown> = {}, mounts: RouteMount[] = [], options: TestServerOptions = {}): Promise<TestServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-api-'));
  const pki = options.tls ? await generateTestPki({ dir: path.join(dir, 'pki') }) : undefined;
  const cfg = configFrom({
    port: 0,
    dataDir: dir,
    log: { level: 'silent' },
    ...(pki ? { tls: { cert: pki.files.server, key: pki.files.serverKey, ca: pki.files.ca } } : {}),
    ...config,
  });
  const store = await openSqliteStore({ file: cfg.database });
  const running = await startServer({ store, config: cfg, logger: pino({ level: 'silent' }), mounts, ...options.deps });
  return {
    url: running.url,
    fhir: `${running.url}/fhir`,
    store,
    dataDir: dir,
    ...(pki ? { pki } : {}),
    async close() {
      await running.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Reply<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

/** fetch with a JSON body (or a raw string), answering the parsed JSON body. */
export async function call<T = Record<string, unknown>>(
  url: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Reply<T>> {
  const headers: Record<string, string> = { ...(init.body !== undefined ? { 'content-type': 'application/fhir+json' } : {}), ...init.headers };
  const res = await fetch(url, {
    method: init.method ?? (init.body !== undefined ? 'POST' : 'GET'),
    headers,
    ...(init.body !== undefined ? { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as T };
}

export type Outcome = { resourceType: string; issue: { severity: string; code: string; details?: { text?: string }; expression?: string[] }[] };

export function patient(identifier: string, extra: Record<string, unknown> = {}): Resource {
  return {
    resourceType: 'Patient',
    identifier: [{ system: 'urn:oid:1.2.250.1.999.1', value: identifier }],
    name: [{ family: 'Martin', given: ['Jeanne'] }],
    gender: 'female',
    birthDate: '1948-03-02',
    ...extra,
  } as Resource;
}

/** A JSON file of test/fixtures (`ppp/ppp-12-medicines.json`), parsed. */
export const fixture = (path: string): Record<string, unknown> => JSON.parse(readFileSync(`test/fixtures/${path}`, 'utf8')) as Record<string, unknown>;
