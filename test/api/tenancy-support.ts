// Tenancy tests' harness: a gateway with one client per role and tenant, the seed documents of several tenants, and
// ONE place that says how a client proves who it is and over which transport (`authHeaders`, `send`). By default the
// clients authenticate with gateway access tokens (OAuth2 client credentials, `private_key_jwt`) over HTTPS
// (test/api/auth-support.ts); `TENANCY_TRANSPORT=dev` uses static dev tokens over plain HTTP instead.
import type { Bundle, CarePlan, Patient } from '@medplum/fhirtypes';
import { mountDomainRoutes } from '../../src/api/domain-routes.js';
import { mountIdentityRoutes } from '../../src/api/identity-routes.js';
import { mountPathwayRoutes } from '../../src/api/pathway-routes.js';
import { mountReportRoutes } from '../../src/api/report-routes.js';
import type { Role } from '../../src/domain/access/model.js';
import { bearer, clientKeys, closeTlsAgents, jwksOf, tlsCall, tokenFor, type ClientKey } from './auth-support.js';
import { fixture, startTestServer, type Reply, type TestServer } from './server.js';

export interface ClientSpec {
  id: string;
  roles: Role[];
  tenant?: string;
}

/** FINESS of the seed documents: A sends ppp-12 and a CTM, C sends town-async-rcp, G (a pharmacy) a BPM. */
export const FINESS = { A: '760000018', C: '140000787', B: '990000010', P: '760001016', G: '590002234' } as const;

/** One client per role, in the tenants of the seed documents and in tenants that sent nothing. */
export const CLIENTS: ClientSpec[] = [
  { id: 'dpi-a', roles: ['dpi'], tenant: `establishment:${FINESS.A}` },
  { id: 'dpi-b', roles: ['dpi'], tenant: `establishment:${FINESS.B}` },
  { id: 'dpi-c', roles: ['dpi'], tenant: `establishment:${FINESS.C}` },
  { id: 'lgo-p', roles: ['lgo'], tenant: `pharmacy:${FINESS.P}` },
  { id: 'lgo-g', roles: ['lgo'], tenant: `pharmacy:${FINESS.G}` },
  { id: 'integrator-b', roles: ['integrator'], tenant: `establishment:${FINESS.B}` },
  { id: 'identitovigilance', roles: ['identitovigilance'] },
  { id: 'regional', roles: ['regional'], tenant: 'region:NOR' },
  { id: 'auditor', roles: ['auditor'] },
  { id: 'admin', roles: ['admin'] },
  { id: 'no-role', roles: [], tenant: `establishment:${FINESS.B}` },
];

const transport = (process.env.TENANCY_TRANSPORT ?? 'jwt') as 'jwt' | 'dev';
export const TRANSPORT_NOTE = transport === 'jwt' ? 'OAuth2 access tokens over HTTPS' : 'dev tokens over HTTP';

const devToken = (id: string): string => `dev-token-${id}-0123456789abcdef`;

export interface Init {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Tenancy {
  srv: TestServer;
  /** The gateway's base URL (https:// with `jwt`). */
  baseUrl: string;
  /** The credential headers of a client (a fresh-enough access token, or its dev token). */
  authHeaders(clientId: string): Promise<Record<string, string>>;
  /** A request as `clientId` (undefined: without credentials) to `path` (below baseUrl). */
  as<T = Record<string, unknown>>(clientId: string | undefined, path: string, init?: Init): Promise<Reply<T>>;
  close(): Promise<void>;
}

const LIMITS = { authentication: { windowMs: 60_000, max: 1_000_000 }, expensive: { windowMs: 60_000, max: 1_000_000 } };

export async function startTenancy(clients: ClientSpec[] = CLIENTS): Promise<Tenancy> {
  const keys = new Map<string, ClientKey>();
  if (transport === 'jwt') for (const c of clients) keys.set(c.id, await clientKeys());
  const declared = clients.map((c) => ({
    id: c.id,
    roles: c.roles,
    ...(c.tenant ? { tenant: c.tenant } : {}),
    ...(transport === 'jwt' ? { jwks: jwksOf(keys.get(c.id) as ClientKey) } : { token: devToken(c.id) }),
  }));
  const srv = await startTestServer(
    { auth: { enabled: true, devTokens: transport === 'dev', clients: declared, rateLimit: LIMITS } },
    [mountDomainRoutes, mountIdentityRoutes, mountPathwayRoutes, mountReportRoutes],
    { tls: transport === 'jwt' },
  );
  const tokens = new Map<string, { token: string; at: number }>();
  const authHeaders = async (id: string): Promise<Record<string, string>> => {
    if (transport === 'dev') return bearer(devToken(id));
    const cached = tokens.get(id);
    if (cached && Date.now() - cached.at < 120_000) return bearer(cached.token);
    let token: string;
    try {
      token = await tokenFor(srv, id, keys.get(id) as ClientKey);
    } catch (err) {
      // A client holding no scope gets no access token at all (invalid_scope): it calls without credentials.
      if (String(err).includes('invalid_scope')) return {};
      throw err;
    }
    tokens.set(id, { token, at: Date.now() });
    return bearer(token);
  };
  const as = async <T>(id: string | undefined, path: string, init: Init = {}): Promise<Reply<T>> => {
    const headers = { ...(init.body !== undefined ? { 'content-type': 'application/fhir+json' } : {}), ...(id ? await authHeaders(id) : {}), ...init.headers };
    const url = `${srv.url}${path}`;
    return transport === 'jwt' ? tlsCall<T>(srv, url, { ...init, headers }) : plainCall<T>(url, { ...init, headers });
  };
  return {
    srv,
    baseUrl: srv.url,
    authHeaders,
    as,
    async close() {
      if (transport === 'jwt') closeTlsAgents();
      await srv.close();
    },
  };
}

export interface Seed {
  /** A's PPP (ppp-12): its CarePlan, its source Patient, the federated Patient. */
  pppA: CarePlan;
  patientA: string;
  federatedA: string;
  /** C's PPP (town-async-rcp). */
  pppC: CarePlan;
  patientC: string;
  /** G's BPM patient. */
  patientG: string;
  /** A Patient B wrote through FHIR. */
  patientB: string;
}

const json = { 'content-type': 'application/json' };
const carePlanOf = (b: Bundle): CarePlan => b.entry?.map((e) => e.resource).find((r) => r?.resourceType === 'CarePlan') as CarePlan;

async function submit(t: Tenancy, client: string, kind: 'ppp' | 'ctm' | 'bpm', file: string): Promise<Bundle> {
  const r = await t.as<Bundle>(client, `/${kind}`, { body: fixture(file), headers: json });
  if (r.status !== 200) throw new Error(`seed ${kind} by ${client}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Each tenant sends its documents; B writes one Patient of its own through FHIR. */
export async function seed(t: Tenancy): Promise<Seed> {
  const pppA = carePlanOf(await submit(t, 'dpi-a', 'ppp', 'ppp/ppp-12-medicines.json'));
  await submit(t, 'dpi-a', 'ctm', 'ctm/admission-divergences.json');
  const pppC = carePlanOf(await submit(t, 'dpi-c', 'ppp', 'ppp/town-async-rcp.json'));
  const bpm = carePlanOf(await submit(t, 'lgo-g', 'bpm', 'bpm/self-medication-remote.json'));
  const patientA = (pppA.subject?.reference as string).slice('Patient/'.length);
  const source = (await t.srv.store.read<Patient>('Patient', patientA)) as Patient;
  const federatedA = (source.link?.find((l) => l.type === 'refer')?.other.reference as string).slice('Patient/'.length);
  const written = await t.as<Patient>('dpi-b', '/fhir/Patient', {
    body: {
      resourceType: 'Patient',
      identifier: [{ system: `urn:oid:1.2.250.1.999.1.${FINESS.B}.1`, value: 'IPP-B-1' }],
      name: [{ family: 'Bernard', given: ['Paul'] }],
      gender: 'male',
      birthDate: '1950-01-01',
    },
  });
  if (written.status !== 201) throw new Error(`seed Patient by dpi-b: ${written.status} ${JSON.stringify(written.body)}`);
  return {
    pppA,
    patientA,
    federatedA,
    pppC,
    patientC: (pppC.subject?.reference as string).slice('Patient/'.length),
    patientG: (bpm.subject?.reference as string).slice('Patient/'.length),
    patientB: written.body.id as string,
  };
}

/** fetch over HTTP; the body parsed as JSON when it is JSON (CSV and NDJSON exports stay text), as tlsCall does. */
async function plainCall<T>(url: string, init: Init): Promise<Reply<T>> {
  const res = await fetch(url, {
    method: init.method ?? (init.body !== undefined ? 'POST' : 'GET'),
    headers: init.headers ?? {},
    ...(init.body !== undefined ? { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, body: body as T };
}
