// Vendor formats on POST /ppp, /ctm, /bpm over real HTTP (issue 19): selection by media type and by
// X-Passerelle-Format, refusals (unknown format, another kind, unknown vendor type, too large, a failing run, an
// output the submission refuses) answered 4xx with an OperationOutcome naming the mapping, the rule and the path, and
// nothing stored; verbose diagnostics; hot reload of a running server; GET /admin/mappings.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Bundle, OperationOutcome } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountDomainRoutes } from '../../src/api/domain-routes.js';
import { MAPPING_RUN_ENTRY } from '../../src/api/mapping-upload.js';
import { MappingRegistry, type MappingRegistryStatus } from '../../src/mappings/registry.js';
import { Metrics } from '../../src/observability/metrics.js';
import { call, fixture, startTestServer, type Outcome, type TestServer } from './server.js';
import { fakeLoad, fakeMapping, fakeSet } from '../mappings/fake-loader.js';

const PGX = 'application/vnd.pharmagest.bpm+xml';
const set = fakeSet([
  fakeMapping('pharmagest-bpm', { prefix: 'PGX-', mediaTypes: [PGX], maxInputBytes: 200 }),
  fakeMapping('dpi-ppp', { kind: 'ppp', prefix: 'DPI-', mediaTypes: ['application/vnd.dpi.ppp+xml'] }),
]);

let srv: TestServer;
let types: string[] = [];
beforeAll(async () => {
  srv = await startTestServer({}, [mountDomainRoutes], { deps: { mappings: { current: () => set } } });
});
afterAll(async () => srv.close());

const post = (p: string, body: string, headers: Record<string, string>) => call<Bundle & Outcome>(`${srv.url}${p}`, { body, headers });
const count = async (): Promise<number> => {
  let n = 0;
  for (const t of types) n += ((await call<Bundle>(`${srv.fhir}/${t}?_summary=count`)).body.total ?? 0);
  return n;
};
const texts = (o: Outcome): string => o.issue.map((i) => i.details?.text ?? '').join(' | ');
const runEntry = (b: Bundle): OperationOutcome | undefined => b.entry?.find((e) => e.fullUrl === MAPPING_RUN_ENTRY)?.resource as OperationOutcome | undefined;

describe('selection of a vendor format', () => {
  it('by media type: the canonical document the mapping produced is submitted', async () => {
    const r = await post('/bpm', 'SEL-1', { 'content-type': `${PGX}; charset=utf-8` });
    expect(r.status).toBe(200);
    expect(r.body.resourceType).toBe('Bundle');
    expect(JSON.stringify(r.body)).toContain('PGX-SEL-1');
    expect(runEntry(r.body)).toBeUndefined();
    types = [...new Set((r.body.entry ?? []).map((e) => e.resource?.resourceType).filter((t): t is NonNullable<typeof t> => !!t))];
    expect(types.length).toBeGreaterThan(0);
    expect(await count()).toBeGreaterThan(0);
  });

  it('by X-Passerelle-Format, whatever the Content-Type', async () => {
    const r = await post('/bpm', 'SEL-2', { 'content-type': 'application/xml', 'x-passerelle-format': 'pharmagest-bpm' });
    expect(r.status).toBe(200);
    expect(JSON.stringify(r.body)).toContain('PGX-SEL-2');
  });

  it('the canonical JSON path is unchanged', async () => {
    const r = await post('/bpm', JSON.stringify({ ...fixture('bpm/self-medication-remote.json'), id: 'CANON-1' }), { 'content-type': 'application/json' });
    expect(r.status).toBe(200);
    expect(JSON.stringify(r.body)).toContain('CANON-1');
    const bad = await post('/bpm', 'hello', { 'content-type': 'text/plain' });
    expect(bad.status).toBe(400);
    expect(bad.body.issue[0].expression).toEqual(['Content-Type']);
  });

  it('verbose: the run report (mapping, version, unused fields) is a last OperationOutcome entry', async () => {
    const r = await post('/bpm?verbose=true', 'SEL-3', { 'content-type': PGX });
    expect(r.status).toBe(200);
    const o = runEntry(r.body)!;
    expect(o.resourceType).toBe('OperationOutcome');
    expect(o.issue[0]).toMatchObject({ severity: 'information', code: 'informational' });
    expect(o.issue[0].details?.text).toMatch(/mapping pharmagest-bpm \(version v-pharmagest-bpm\)/);
    expect(o.issue.find((i) => i.expression?.[0] === 'export.entete.logiciel')).toMatchObject({ severity: 'information', diagnostics: 'code: unused-field' });
  });

  it('warnings of a successful run are returned without verbose', async () => {
    const r = await post('/bpm', 'WARN-4', { 'content-type': PGX });
    expect(r.status).toBe(200);
    const o = runEntry(r.body)!;
    const w = o.issue.find((i) => i.severity === 'warning')!;
    expect(w).toMatchObject({ code: 'code-invalid', expression: ['lignes.ligne[0].unite'] });
    expect(w.diagnostics).toMatch(/rule: units/);
    expect(o.issue.some((i) => i.diagnostics === 'code: unused-field')).toBe(false);
  });
});

describe('refusals: 4xx OperationOutcome, nothing stored', () => {
  const cases: [string, string, string, Record<string, string>, number, RegExp][] = [
    ['an unknown X-Passerelle-Format lists the known ones', '/bpm', 'x', { 'content-type': 'application/xml', 'x-passerelle-format': 'nope' }, 400, /Unknown format "nope".*pharmagest-bpm/],
    ['a format of another kind named by header', '/ppp', 'x', { 'content-type': 'application/xml', 'x-passerelle-format': 'pharmagest-bpm' }, 400, /maps a BPM, not a PPP: POST it to \/bpm/],
    ['the media type of a format of another kind', '/ctm', 'x', { 'content-type': PGX }, 415, /pharmagest-bpm.*not a CTM/],
    ['an unknown vendor media type', '/bpm', 'x', { 'content-type': 'application/vnd.unknown.bpm+xml' }, 415, /Unknown vendor media type.*application\/vnd\.pharmagest\.bpm\+xml/],
    ['a body over the format limit', '/bpm', 'A'.repeat(201), { 'content-type': PGX }, 413, /200 bytes.*pharmagest-bpm/],
    ['a compressed body', '/bpm', 'x', { 'content-type': PGX, 'content-encoding': 'gzip' }, 415, /Content-Encoding/],
    ['control and bidi characters in the format name', '/bpm', 'x', { 'content-type': 'application/xml', 'x-passerelle-format': 'pgx\u00e2\u0080\u00ae' }, 400, /Unknown format "pgx\?\?\?"/],
    ['a run that throws something else than a MappingFailure', '/bpm', 'CRASH', { 'content-type': PGX }, 400, /mapping pharmagest-bpm: boom/],
    ['an output the submission refuses', '/bpm', 'INVALID', { 'content-type': PGX }, 400, /produced by mapping pharmagest-bpm/],
  ];
  for (const [what, p, body, headers, status, text] of cases) {
    it(`${what}: ${status}`, async () => {
      const before = await count();
      const r = await post(p, body, headers);
      expect(r.status).toBe(status);
      expect(r.body.resourceType).toBe('OperationOutcome');
      expect(texts(r.body)).toMatch(text);
      expect(await count()).toBe(before);
    });
  }

  it('a MappingFailure: its status, issues naming the mapping, the rule and the input and output paths', async () => {
    const before = await count();
    const r = await post('/bpm', 'FAIL please', { 'content-type': PGX });
    expect(r.status).toBe(400);
    const i = r.body.issue[0] as Outcome['issue'][number] & { diagnostics?: string };
    expect(i).toMatchObject({ severity: 'error', code: 'processing', expression: ['export.entete.date', 'adhesionDate'] });
    expect(i.details?.text).toBe('mapping pharmagest-bpm: the date is not a date');
    expect(i.diagnostics).toBe('rule: $toMillis(date); code: expression-error');
    expect(await count()).toBe(before);
  });

  it('a streamed body (no Content-Length) over the format limit: 413, nothing stored', async () => {
    const before = await count();
    const chunks = [Buffer.alloc(150, 'a'), Buffer.alloc(150, 'b')];
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const c = chunks.shift();
        if (c) controller.enqueue(c);
        else controller.close();
      },
    });
    const res = await fetch(`${srv.url}/bpm`, { method: 'POST', headers: { 'content-type': PGX }, body, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(413);
    expect(((await res.json()) as Outcome).issue[0].details?.text).toMatch(/pharmagest-bpm/);
    expect(await count()).toBe(before);
  });

  it('binary garbage does not crash the gateway', async () => {
    const before = await count();
    const garbage = Buffer.from(Array.from({ length: 150 }, (_, k) => (k * 37 + 11) % 256));
    const res = await fetch(`${srv.url}/bpm`, { method: 'POST', headers: { 'content-type': PGX }, body: Buffer.concat([Buffer.from('FAIL'), garbage]) });
    expect(res.status).toBe(400);
    expect(await count()).toBe(before);
  });
});

describe('hot reload over HTTP', () => {
  let dir: string;
  let registry: MappingRegistry;
  let live: TestServer;
  const writeFormat = (text: string): void => writeFileSync(path.join(dir, 'formats', 'lgo', 'format.json'), text);
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'passerelle-mappings-http-'));
    mkdirSync(path.join(dir, 'formats', 'lgo'), { recursive: true });
    writeFormat(JSON.stringify({ prefix: 'V1-', mediaTypes: ['application/vnd.lgo.bpm+csv'] }));
    registry = await MappingRegistry.open({ dir, watch: true, debounceMs: 50, load: fakeLoad, metrics: new Metrics({ defaultMetrics: false }) });
    live = await startTestServer({}, [mountDomainRoutes], { deps: { mappings: registry } });
  });
  afterAll(async () => {
    await live.close();
    await registry.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const upload = (id: string) => call<Bundle>(`${live.url}/bpm`, { body: id, headers: { 'content-type': 'application/vnd.lgo.bpm+csv' } });
  const admin = async () => (await call<MappingRegistryStatus & { enabled: boolean }>(`${live.url}/admin/mappings`)).body;

  it('a good change is applied, a broken one keeps the old version serving and /admin/mappings shows the error', async () => {
    expect(JSON.stringify((await upload('HR-1')).body)).toContain('V1-HR-1');
    const v1 = (await admin()).files.find((f) => f.name === 'lgo')!.version;

    let next = registry.nextReload();
    writeFormat(JSON.stringify({ prefix: 'V2-', mediaTypes: ['application/vnd.lgo.bpm+csv'] }));
    await next;
    expect(JSON.stringify((await upload('HR-2')).body)).toContain('V2-HR-2');
    const after = await admin();
    const v2 = after.files.find((f) => f.name === 'lgo')!.version;
    expect(v2).not.toBe(v1);
    expect(after).toMatchObject({ enabled: true, watching: true, lastReload: { result: 'ok' } });

    next = registry.nextReload();
    writeFormat('{ "prefix": "V3-", oops');
    await next;
    const r = await upload('HR-3');
    expect(r.status).toBe(200);
    expect(JSON.stringify(r.body)).toContain('V2-HR-3');
    const broken = await admin();
    const lgo = broken.files.find((f) => f.name === 'lgo')!;
    expect(lgo.version).toBe(v2);
    expect(lgo.error).toMatchObject({ message: expect.stringMatching(/JSON/), since: expect.any(String) });
    expect(broken.lastReload.result).toBe('partial');
  });
});
