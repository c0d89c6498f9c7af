// The shipped vendor formats end to end: the real registry over the packaged mappings/ folder (engine, code maps),
// a real gateway, the pharmacy's XML and CSV exports posted to POST /bpm by media type and by X-Passerelle-Format: the
// BPM is stored and readable over FHIR; a DOCTYPE, a malformed file and an unknown route code are refused with an
// OperationOutcome naming the mapping, and nothing is stored; ?verbose=true returns the run's diagnostics.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Bundle, CarePlan, OperationOutcome } from '@medplum/fhirtypes';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountDomainRoutes } from '../../src/api/domain-routes.js';
import { MappingRegistry, type MappingRegistryStatus } from '../../src/mappings/registry.js';
import { startTestServer, type TestServer } from '../api/server.js';

const XML = readFileSync('mappings/formats/officine-xml-bpm/examples/full.xml', 'utf8');
const CSV = readFileSync('mappings/formats/officine-csv-bpm/examples/full.bpm.csv', 'utf8');
const XML_TYPE = 'application/vnd.officine-exemple.bpm+xml';

let registry: MappingRegistry;
let srv: TestServer;
const carePlans = async (): Promise<number> => ((await (await fetch(`${srv.url}/fhir/CarePlan?_summary=count`)).json()) as Bundle).total ?? -1;

beforeAll(async () => {
  registry = await MappingRegistry.open({ dir: 'mappings', watch: false, debounceMs: 0, logger: pino({ level: 'silent' }) });
  srv = await startTestServer({}, [mountDomainRoutes], { deps: { mappings: registry } });
});
afterAll(async () => {
  await srv?.close();
  await registry?.close();
});

describe('vendor BPM exports posted to /bpm', () => {
  it('the XML export, selected by its media type, is stored as a BPM', async () => {
    const res = await fetch(`${srv.url}/bpm`, { method: 'POST', headers: { 'content-type': XML_TYPE }, body: XML });
    expect(res.status, await res.clone().text()).toBe(200);
    const plan = ((await res.json()) as Bundle).entry?.map((e) => e.resource).find((r) => r?.resourceType === 'CarePlan') as CarePlan;
    const read = await fetch(`${srv.url}/fhir/CarePlan/${plan.id}`);
    expect(read.status).toBe(200);
  });

  it('the CSV export, named by X-Passerelle-Format, is stored; ?verbose=true adds the run’s diagnostics', async () => {
    const res = await fetch(`${srv.url}/bpm?verbose=true`, { method: 'POST', headers: { 'content-type': 'text/csv', 'x-passerelle-format': 'officine-csv-bpm' }, body: CSV });
    expect(res.status, await res.clone().text()).toBe(200);
    const bundle = (await res.json()) as Bundle;
    const run = bundle.entry?.find((e) => e.fullUrl === 'urn:passerelle:mapping-run')?.resource as OperationOutcome | undefined;
    expect(run?.resourceType).toBe('OperationOutcome');
  });

  const refused: [string, string][] = [
    ['a DOCTYPE', XML.replace('<?xml version="1.0" encoding="UTF-8"?>', '<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE x [<!ENTITY e "boom">]>')],
    ['malformed XML', XML.slice(0, XML.length / 2)],
    ['binary garbage', '\u0000\u00ff\u202e<<>>'],
  ];
  for (const [what, body] of refused) {
    it(`refuses ${what}: 4xx OperationOutcome naming the mapping, nothing stored`, async () => {
      const before = await carePlans();
      const res = await fetch(`${srv.url}/bpm`, { method: 'POST', headers: { 'content-type': XML_TYPE }, body });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      const outcome = (await res.json()) as OperationOutcome;
      expect(JSON.stringify(outcome.issue)).toContain('officine-xml-bpm');
      expect(await carePlans()).toBe(before);
    });
  }

  it('refuses a route code the code map does not know (lgo-routes: unmapped is an error)', async () => {
    const before = await carePlans();
    const bad = XML.replace('voie="ORA"', 'voie="ZZZ"');
    expect(bad).not.toBe(XML);
    const res = await fetch(`${srv.url}/bpm`, { method: 'POST', headers: { 'content-type': XML_TYPE }, body: bad });
    expect(res.status).toBe(422);
    expect(JSON.stringify(await res.json())).toContain('lgo-routes');
    expect(await carePlans()).toBe(before);
  });
});

describe('hot reload with the real engine over HTTP', () => {
  let dir: string;
  let live: MappingRegistry;
  let gateway: TestServer;
  const transform = (): string => path.join(dir, 'formats', 'officine-xml-bpm', 'transform.jsonata');
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'passerelle-vendor-reload-'));
    cpSync('mappings/formats', path.join(dir, 'formats'), { recursive: true });
    cpSync('mappings/codemaps', path.join(dir, 'codemaps'), { recursive: true });
    live = await MappingRegistry.open({ dir, watch: true, debounceMs: 50, logger: pino({ level: 'silent' }) });
    gateway = await startTestServer({}, [mountDomainRoutes], { deps: { mappings: live } });
  });
  afterAll(async () => {
    await gateway?.close();
    await live?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const upload = (xml: string) => fetch(`${gateway.url}/bpm`, { method: 'POST', headers: { 'content-type': XML_TYPE }, body: xml });
  const served = async (): Promise<MappingRegistryStatus['files'][number]> =>
    ((await (await fetch(`${gateway.url}/admin/mappings`)).json()) as MappingRegistryStatus).files.find((f) => f.name === 'officine-xml-bpm')!;

  it('a changed transform is served at the next request; a broken one keeps the last good version, shown with its error', async () => {
    expect((await upload(XML)).status).toBe(200);
    const v1 = (await served()).version;
    // A good change: the transform now refuses every document (its output is no BPM) — visible at once.
    let next = live.nextReload();
    writeFileSync(transform(), '{ "not": "a BPM" }');
    await next;
    const refused = await upload(XML);
    expect(refused.status).toBe(400);
    expect(JSON.stringify(await refused.json())).toContain('officine-xml-bpm');
    const v2 = (await served()).version;
    expect(v2).not.toBe(v1);
    // A broken change (a syntax error): the previous version keeps serving, /admin/mappings says why.
    next = live.nextReload();
    writeFileSync(transform(), '{ "unclosed": ');
    await next;
    expect((await upload(XML)).status).toBe(400);
    const broken = await served();
    expect(broken.version).toBe(v2);
    expect(broken.error?.message).toBeTruthy();
  });
});
