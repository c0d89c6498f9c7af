// The registry of mappings in service (issue 19): loads a folder, follows its changes with the real watcher, swaps
// per file, keeps the last good version of a broken file serving, removes a removed file, debounces.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/observability/metrics.js';
import { MappingRegistry, ownerOf } from '../../src/mappings/registry.js';
import { fakeLoad } from './fake-loader.js';

const dirs: string[] = [];
const registries: MappingRegistry[] = [];
afterEach(async () => {
  for (const r of registries.splice(0)) await r.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function folder(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-mappings-'));
  dirs.push(dir);
  mkdirSync(path.join(dir, 'formats'));
  mkdirSync(path.join(dir, 'codemaps'));
  return dir;
}
const writeFormat = (dir: string, name: string, text: string): void => {
  mkdirSync(path.join(dir, 'formats', name), { recursive: true });
  writeFileSync(path.join(dir, 'formats', name, 'format.json'), text);
};

async function open(dir: string, opts: { watch?: boolean; debounceMs?: number; load?: typeof fakeLoad } = {}): Promise<{ registry: MappingRegistry; metrics: Metrics }> {
  const metrics = new Metrics({ defaultMetrics: false });
  const registry = await MappingRegistry.open({ dir, watch: opts.watch ?? true, debounceMs: opts.debounceMs ?? 50, load: opts.load ?? fakeLoad, metrics });
  registries.push(registry);
  return { registry, metrics };
}

const prefixOf = async (r: MappingRegistry, name: string): Promise<string | undefined> => {
  const m = r.current().mappings.get(name);
  if (!m) return undefined;
  return String((((await m.run('X')).document) as { id: string }).id);
};

describe('MappingRegistry', () => {
  it('names the owner of a problem file', () => {
    expect(ownerOf('/m', '/m/formats/pgx/transform.jsonata')).toEqual({ kind: 'format', name: 'pgx' });
    expect(ownerOf('/m', 'codemaps/units.csv')).toEqual({ kind: 'codemap', name: 'units' });
    expect(ownerOf('/m', '/m/README.md')).toBeUndefined();
    expect(ownerOf('/m', 'mappings/formats/pgx/mapping.yaml')).toEqual({ kind: 'format', name: 'pgx' });
    expect(ownerOf('/m', './codemaps/units.yaml')).toEqual({ kind: 'codemap', name: 'units' });
  });

  it('loads the folder once; status gives name, kind, version and loadedAt; problems are reported', async () => {
    const dir = folder();
    writeFormat(dir, 'a', '{"prefix":"A1-"}');
    writeFormat(dir, 'b', '{ not json');
    writeFileSync(path.join(dir, 'codemaps', 'units.json'), '{}');
    const { registry, metrics } = await open(dir, { watch: false });
    expect([...registry.current().mappings.keys()]).toEqual(['a']);
    expect(await prefixOf(registry, 'a')).toBe('A1-X');
    const st = registry.status();
    expect(st.watching).toBe(false);
    expect(st.lastReload.result).toBe('partial');
    const a = st.files.find((f) => f.name === 'a')!;
    expect(a).toMatchObject({ kind: 'format', version: expect.stringMatching(/^[0-9a-f]{12}$/), loadedAt: expect.any(String) });
    expect(a.error).toBeUndefined();
    expect(st.files.find((f) => f.name === 'units')).toMatchObject({ kind: 'codemap', version: expect.any(String) });
    const b = st.files.find((f) => f.name === 'b')!;
    expect(b.version).toBeUndefined();
    expect(b.error).toMatchObject({ message: expect.stringMatching(/JSON/), since: expect.any(String) });
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/passerelle_mappings_broken 1/);
    expect(text).toMatch(/passerelle_mappings_reload_total\{result="partial"\} 1/);
  });

  it('applies a good change, keeps the old version serving on a broken change, recovers, removes a removed file', async () => {
    const dir = folder();
    writeFormat(dir, 'a', '{"prefix":"A1-"}');
    writeFileSync(path.join(dir, 'codemaps', 'units.json'), '{"v":1}');
    const { registry, metrics } = await open(dir);
    const v1 = registry.status().files.find((f) => f.name === 'a')!.version;

    let next = registry.nextReload();
    writeFormat(dir, 'a', '{"prefix":"A2-"}');
    await next;
    expect(await prefixOf(registry, 'a')).toBe('A2-X');
    const v2 = registry.status().files.find((f) => f.name === 'a')!.version;
    expect(v2).not.toBe(v1);

    next = registry.nextReload();
    writeFormat(dir, 'a', '{"prefix": broken');
    writeFileSync(path.join(dir, 'codemaps', 'units.json'), 'nope');
    await next;
    expect(await prefixOf(registry, 'a')).toBe('A2-X');
    expect(registry.current().codeMaps.has('units')).toBe(true);
    const broken = registry.status().files.find((f) => f.name === 'a')!;
    expect(broken.version).toBe(v2);
    expect(broken.error?.message).toMatch(/JSON/);
    expect(registry.status().files.find((f) => f.name === 'units')!.error).toBeDefined();
    expect(await metrics.registry.metrics()).toMatch(/passerelle_mappings_broken 2/);

    next = registry.nextReload();
    writeFormat(dir, 'a', '{"prefix":"A3-"}');
    writeFileSync(path.join(dir, 'codemaps', 'units.json'), '{"v":2}');
    await next;
    expect(await prefixOf(registry, 'a')).toBe('A3-X');
    expect(registry.status().files.every((f) => !f.error)).toBe(true);
    expect(await metrics.registry.metrics()).toMatch(/passerelle_mappings_broken 0/);

    next = registry.nextReload();
    rmSync(path.join(dir, 'formats', 'a'), { recursive: true });
    await next;
    expect(registry.current().mappings.has('a')).toBe(false);
    expect(registry.status().files.map((f) => f.name)).toEqual(['units']);
  });

  it('debounces a burst of changes into one reload', async () => {
    const dir = folder();
    writeFormat(dir, 'a', '{"prefix":"A0-"}');
    let loads = 0;
    const { registry } = await open(dir, { debounceMs: 600, load: async (d) => (loads++, fakeLoad(d)) });
    expect(loads).toBe(1);
    const next = registry.nextReload();
    for (let i = 1; i <= 5; i++) {
      writeFormat(dir, 'a', `{"prefix":"A${i}-"}`);
      await new Promise((r) => setTimeout(r, 30));
    }
    await next;
    expect(loads).toBe(2);
    expect(await prefixOf(registry, 'a')).toBe('A5-X');
  });

  it('a loader that throws keeps everything serving', async () => {
    const dir = folder();
    writeFormat(dir, 'a', '{"prefix":"A1-"}');
    let fail = false;
    const { registry } = await open(dir, { watch: false, load: async (d) => { if (fail) throw new Error('disk gone'); return fakeLoad(d); } });
    fail = true;
    await registry.reload();
    expect(await prefixOf(registry, 'a')).toBe('A1-X');
    expect(registry.status().lastReload).toMatchObject({ result: 'error', error: 'disk gone' });
  });
});
