import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { checkCommand, testCommand } from '../../src/cli/commands/mappings.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');

async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    out += String(s);
    return true;
  });
  try {
    return { code: await fn(), out };
  } finally {
    spy.mockRestore();
  }
}

const tmp: string[] = [];
function copy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mappings-'));
  tmp.push(dir);
  cpSync(FIXTURES, dir, { recursive: true });
  return dir;
}
afterEach(() => {
  for (const d of tmp.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('passerelle mappings check', () => {
  it('exit 0 on the valid fixtures, one line per file', async () => {
    const r = await capture(() => checkCommand(FIXTURES));
    expect(r.code).toBe(0);
    expect(r.out).toContain('one-line.xml');
    expect(r.out).toContain('all mappings valid');
  });
  it('exit 1 with the file and field path of a bad mapping.yaml, a syntax error, an invalid example output', async () => {
    const dir = copy();
    writeFileSync(join(dir, 'formats/test-json/mapping.yaml'), 'name: test-json\nkind: bpm\ninput: json\ncolour: red\n');
    writeFileSync(join(dir, 'formats/test-xml/transform.jsonata'), '(\n  $x := ;\n)');
    writeFileSync(join(dir, 'formats/test-csv/transform.jsonata'), '{"id": "x"}');
    const r = await capture(() => checkCommand(dir));
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/test-json\/mapping\.yaml.*colour/);
    expect(r.out).toMatch(/test-xml\/transform\.jsonata.*syntax error \(line 2/);
    expect(r.out).toMatch(/two-lines\.csv.*invalid-output.*bpm\.pharmacy/);
  });
  it('two formats claiming the same media type is a problem', async () => {
    const dir = copy();
    writeFileSync(join(dir, 'formats/test-json/mapping.yaml'), 'name: test-json\nkind: bpm\ninput: json\nselect:\n  mediaTypes: [application/vnd.test.bpm+xml]\n');
    const r = await capture(() => checkCommand(dir));
    expect(r.code).toBe(1);
    expect(r.out).toContain('claimed by several formats: test-json, test-xml');
  });
});

describe('passerelle mappings test', () => {
  it('exit 0 when every example matches', async () => {
    const r = await capture(() => testCommand(FIXTURES));
    expect(r.code).toBe(0);
    expect(r.out).toContain('3 passed, 0 failed');
  });
  it('--format runs one format; an unknown one fails', async () => {
    expect((await capture(() => testCommand(FIXTURES, 'test-xml'))).out).toContain('1 passed, 0 failed');
    expect((await capture(() => testCommand(FIXTURES, 'nope'))).code).toBe(1);
  });
  it('exit 1 with a readable path diff on a mismatch', async () => {
    const dir = copy();
    writeFileSync(join(dir, 'formats/test-json/transform.jsonata'), '$merge([doc, { "id": "OTHER", "medications": [meds.{ "id": $string(n), "medication": { "codes": [], "text": name }, "dosage": { "text": dose } }] }])');
    const r = await capture(() => testCommand(dir, 'test-json'));
    expect(r.code).toBe(1);
    expect(r.out).toContain('FAIL test-json/basic');
    expect(r.out).toContain('  id:\n    - expected "BPM-3"\n    + actual   "OTHER"');
  });
});

describe('passerelle mappings (process)', () => {
  it('--help on both, and the exit code of a failing check', () => {
    const bin = join(import.meta.dirname, '../../bin/passerelle.js');
    const run = (...args: string[]) => spawnSync(process.execPath, [bin, 'mappings', ...args], { encoding: 'utf8', env: { ...process.env, PASSERELLE_CONFIG: '' } });
    expect(run('check', '--help').stdout).toContain('--dir');
    expect(run('test', '--help').stdout).toContain('--format');
    const dir = copy();
    writeFileSync(join(dir, 'formats/test-xml/examples/one-line.xml'), '<!DOCTYPE x [<!ENTITY a "b">]><export/>');
    const r = run('check', '--dir', dir);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('doctype-refused');
  }, 30_000);
});
