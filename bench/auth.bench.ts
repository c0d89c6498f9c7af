// The cost of authentication (issue 16): requests/s of `GET /fhir/Patient/<id>` with a gateway access token (a JWT
// from /oauth/token, private_key_jwt; the client bound to a tenant, so each read is checked against the tenant's
// grants) beside the same request with auth off, in the same run, on the same SQLite store. Also the same read with a
// client certificate over HTTPS (mutual TLS) beside plain HTTPS with auth off, so TLS's own cost is apart.
// autocannon drives each scenario from a worker thread (bench/auth-load.ts); scenarios run in interleaved rounds.
//
// Knobs: BENCH_PATIENTS (5000 granted to the tenant, as many not), BENCH_SECONDS (10 per scenario, split over the
// rounds), BENCH_ROUNDS (2), BENCH_WARMUP_SECONDS (1 per round), BENCH_CONNECTIONS (4), BENCH_SCENARIOS (subset of
// off,jwt,tls-off,mtls,unaudited,buffered; and jwt-admin, not run by default: the same JWT authentication for a client
// that is not tenant-bound, to tell the cost of authentication from the cost of the tenant's grant lookup).
// The cost of one audited read: `off` (every read writes its audit row before answering, the default) beside the same
// server with the read audit switched off (`unaudited`) and with the group-committed audit (`buffered`), each on its
// own store instance of the same file.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { pino } from 'pino';
import type { Patient } from '@medplum/fhirtypes';
import { startServer, type RunningServer } from '../src/api/app.js';
import { configFrom } from '../src/config.js';
import { accessKey, parseTenant } from '../src/domain/access/model.js';
import { validateResource } from '../src/fhir/validate.js';
import { metrics } from '../src/observability/metrics.js';
import { generateTestPki } from '../src/sandbox/pki.js';
import { openStore } from '../src/store/open.js';
import { configureAccessAudit, type AccessAuditMode } from '../src/services/audit/access.js';
import type { ResourceStore } from '../src/store/repository.js';
import type { AuthLoadSpec } from './auth-load.js';
import type { LoadRun } from './fhir-api-load.js';
import { machine, peakRssMiB } from './stats.js';
import { loadWorker as startLoadWorker } from './support/load-worker.js';
import { summarise, type Summary } from './support/summary.js';

const env = process.env;
const PATIENTS = Number(env.BENCH_PATIENTS ?? 5000);
const SECONDS = Number(env.BENCH_SECONDS ?? 10);
const WARMUP = Number(env.BENCH_WARMUP_SECONDS ?? 1);
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 4);
const ROUNDS = Math.max(1, Number(env.BENCH_ROUNDS ?? 2));
const SCENARIOS = new Set((env.BENCH_SCENARIOS ?? 'off,jwt,tls-off,mtls,unaudited,buffered').split(',').map((s) => s.trim()));
const TENANT = 'establishment:990000010';
const log = (line: string): void => console.log(line);
const ms = (x: number): string => `${x.toFixed(2)} ms`;

const loadWorker = (spec: AuthLoadSpec): Promise<LoadRun> => startLoadWorker(new URL('./auth-load.ts', import.meta.url), spec);

const failed = (r: Summary): boolean => Object.keys(r.statuses).some((s) => s !== '200') || r.errors > 0;
const line = (label: string, r: Summary): string =>
  `${label.padEnd(46)} ${r.perSecond.toFixed(0).padStart(6)} req/s  p50 ${ms(r.p50Ms)}  p99 ${ms(r.p99Ms)}  (${r.requests} in ${r.seconds.toFixed(1)} s; ${Object.entries(r.statuses)
    .map(([s, n]) => `${s}×${n}`)
    .join(' ')}${r.errors ? `; ${r.errors} errors/timeouts` : ''})`;

// ---- data and servers --------------------------------------------------------------------------------------------

log(`machine: ${machine()}; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
const dir = mkdtempSync(join(tmpdir(), 'passerelle-bench-auth-'));
const file = join(dir, 'passerelle.sqlite');
const store = await openStore({ file });
validateResource({ resourceType: 'Patient' });
const granted: string[] = [];
const started = performance.now();
await store.transaction(async (tx) => {
  for (let i = 0; i < 2 * PATIENTS; i++) {
    const id = randomUUID();
    const p: Patient = { resourceType: 'Patient', id, identifier: [{ system: 'urn:oid:1.2.250.1.999.1', value: `bench-${i}` }], name: [{ family: `Nom${i}`, given: ['Prénom'] }], gender: i % 2 ? 'female' : 'male', birthDate: '1950-01-01' };
    await tx.put(p);
    if (i % 2 === 0) granted.push(id);
  }
});
await store.security.grant(accessKey(parseTenant(TENANT)), granted, 'fhir-write');
log(`data: ${2 * PATIENTS} Patients, ${granted.length} granted to ${TENANT} (written in ${((performance.now() - started) / 1000).toFixed(1)} s)`);

const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'ES384' };
const pki = SCENARIOS.has('mtls') || SCENARIOS.has('tls-off') ? await generateTestPki({ dir: join(dir, 'pki') }) : undefined;
const logger = pino({ level: 'info' }, pino.destination('/dev/null'));
const tls = pki ? { cert: pki.files.server, key: pki.files.serverKey, ca: pki.files.ca } : undefined;
const authOn = {
  enabled: true,
  clients: [
    { id: 'dpi-bench', tenant: TENANT, roles: ['dpi'], jwks: { keys: [jwk] } },
    // The same key for an operator: authenticated the same way, but not tenant-bound (no grant lookup per read).
    { id: 'admin-bench', roles: ['admin'], jwks: { keys: [jwk] } },
    ...(pki ? [{ id: 'dpi-mtls', tenant: TENANT, roles: ['dpi'], certificate: { subject: pki.organisation.subject } }] : []),
  ],
};
const start = (config: Record<string, unknown>): Promise<RunningServer> =>
  startServer({ store, config: configFrom({ port: 0, host: '127.0.0.1', dataDir: dir, database: file, ...config }), logger, metrics });
const servers: Record<string, RunningServer> = {};
servers.off = await start({});
servers.jwt = await start({ auth: authOn });
if (pki) {
  servers['tls-off'] = await start({ tls });
  servers.mtls = await start({ auth: authOn, tls });
}
// The read audit, switched off or group-committed: another store instance on the same file, so `off` keeps the default.
const auditStores: ResourceStore[] = [];
for (const mode of ['unaudited', 'buffered'] as const) {
  if (!SCENARIOS.has(mode)) continue;
  const other = await openStore({ file });
  configureAccessAudit(other, { mode: (mode === 'unaudited' ? 'none' : 'buffered') satisfies AccessAuditMode });
  auditStores.push(other);
  servers[mode] = await startServer({ store: other, config: configFrom({ port: 0, host: '127.0.0.1', dataDir: dir, database: file }), logger, metrics });
}
const plain = (s: RunningServer): string => s.url.replace('localhost', '127.0.0.1');

// A token as a DPI gets it: client credentials with a private_key_jwt assertion.
const tokenUrl = `${servers.jwt.baseUrl}/oauth/token`;
async function tokenOf(client: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: 'ES384', kid: 'bench' })
    .setIssuer(client)
    .setSubject(client)
    .setAudience(tokenUrl)
    .setJti(randomUUID())
    .setExpirationTime(now + 60)
    .sign(privateKey);
  const reply = await fetch(`${plain(servers.jwt)}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion, scope: 'fhir.read' }),
  });
  if (reply.status !== 200) throw new Error(`token: ${reply.status} ${await reply.text()}`);
  const { access_token: token, expires_in: ttl } = (await reply.json()) as { access_token: string; expires_in: number };
  if (ttl < SECONDS + ROUNDS * WARMUP + 30) log(`note: the access token lives ${ttl} s; the run may outlast it`);
  return token;
}
const token = await tokenOf('dpi-bench');
const adminToken = await tokenOf('admin-bench');

const ACCEPT = { accept: 'application/fhir+json' };
const paths = granted.map((id) => `/fhir/Patient/${id}`);
const probe = await fetch(`${plain(servers.jwt)}${paths[0]}`, { headers: { ...ACCEPT, authorization: `Bearer ${token}` } });
if (probe.status !== 200) throw new Error(`probe with the token: ${probe.status} ${await probe.text()}`);

interface Scenario {
  key: string;
  label: string;
  spec: AuthLoadSpec;
  runs: LoadRun[];
}
const spec = (url: string, headers: Record<string, string>, tlsOptions?: { ca: string; cert?: string; key?: string }): Scenario['spec'] => ({
  url,
  connections: CONNECTIONS,
  seconds: SECONDS / ROUNDS,
  warmupSeconds: WARMUP,
  method: 'GET',
  headers,
  paths,
  ...(tlsOptions ? { tls: tlsOptions } : {}),
});
const scenarios: Scenario[] = [];
if (SCENARIOS.has('off')) scenarios.push({ key: 'off', label: 'HTTP, auth off', spec: spec(plain(servers.off), ACCEPT), runs: [] });
if (SCENARIOS.has('jwt')) scenarios.push({ key: 'jwt', label: 'HTTP, JWT access token, tenant-filtered', spec: spec(plain(servers.jwt), { ...ACCEPT, authorization: `Bearer ${token}` }), runs: [] });
if (SCENARIOS.has('jwt-admin')) {
  scenarios.push({ key: 'jwt-admin', label: 'HTTP, JWT access token, not tenant-bound', spec: spec(plain(servers.jwt), { ...ACCEPT, authorization: `Bearer ${adminToken}` }), runs: [] });
}
if (pki && SCENARIOS.has('tls-off')) scenarios.push({ key: 'tls-off', label: 'HTTPS, auth off', spec: spec(servers['tls-off'].url, ACCEPT, { ca: pki.pem.ca }), runs: [] });
if (pki && SCENARIOS.has('mtls')) {
  scenarios.push({ key: 'mtls', label: 'HTTPS, client certificate, tenant-filtered', spec: spec(servers.mtls.url, ACCEPT, { ca: pki.pem.ca, cert: pki.pem.org, key: pki.pem.orgKey }), runs: [] });
}
if (SCENARIOS.has('unaudited')) scenarios.push({ key: 'unaudited', label: 'HTTP, auth off, read NOT audited', spec: spec(plain(servers.unaudited), ACCEPT), runs: [] });
if (SCENARIOS.has('buffered')) scenarios.push({ key: 'buffered', label: 'HTTP, auth off, read audit group-committed', spec: spec(plain(servers.buffered), ACCEPT), runs: [] });
log(`load: autocannon, ${CONNECTIONS} connections (keep-alive), ${ROUNDS} interleaved rounds of ${WARMUP} s warm-up + ${(SECONDS / ROUNDS).toFixed(1)} s per scenario; ${paths.length} random granted Patients`);

for (let round = 1; round <= ROUNDS; round++) {
  for (const s of scenarios) {
    const run = await loadWorker(s.spec);
    s.runs.push(run);
    log(`round ${round}/${ROUNDS}  ${line(s.label, summarise([run]))}`);
  }
}
for (const s of Object.values(servers)) await s.close();
for (const s of auditStores) await s.close();
await store.close();
rmSync(dir, { recursive: true, force: true });

// ---- summary -----------------------------------------------------------------------------------------------------

const sums = new Map(scenarios.map((s) => [s.key, summarise(s.runs)]));
log('');
log('| GET /fhir/Patient/<id> | req/s | p50 | p99 | vs baseline, same run (jwt, mtls: auth off; off, buffered: read not audited) |');
log('|---|---|---|---|---|');
const versus: Record<string, string> = { jwt: 'off', 'jwt-admin': 'off', mtls: 'tls-off', off: 'unaudited', buffered: 'unaudited' };
for (const s of scenarios) {
  const r = sums.get(s.key)!;
  const base = versus[s.key] ? sums.get(versus[s.key]!) : undefined;
  log(`| ${s.label}${failed(r) ? ' **(non-200 or errors)**' : ''} | ${r.perSecond.toFixed(0)} | ${ms(r.p50Ms)} | ${ms(r.p99Ms)} | ${base ? `${((100 * r.perSecond) / base.perSecond).toFixed(0)} %` : ''} |`);
}
const jwt = sums.get('jwt');
const off = sums.get('off');
if (jwt && off) {
  const share = jwt.perSecond / off.perSecond;
  log(`aim: JWT + tenant filtering ≥ 80 % of the auth-off rate → ${(100 * share).toFixed(0)} %: ${share >= 0.8 ? 'met' : 'NOT met'}`);
}
const unaudited = sums.get('unaudited');
if (off && unaudited) {
  const audited = (1000 / off.perSecond - 1000 / unaudited.perSecond).toFixed(3);
  log(`cost of one audited read (its own write transaction before the answer): ${(100 * (1 - off.perSecond / unaudited.perSecond)).toFixed(0)} % of the unaudited rate (≈ ${audited} ms of the server's time per read)`);
  const buffered = sums.get('buffered');
  if (buffered) log(`group-committed read audit: ${((100 * buffered.perSecond) / unaudited.perSecond).toFixed(0)} % of the unaudited rate`);
}
log(`peak RSS: ${peakRssMiB().toFixed(0)} MiB`);
if ([...sums.values()].some(failed)) process.exitCode = 1;
