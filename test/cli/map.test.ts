// `passerelle map`: canonical file → transaction Bundle on stdout; invalid input → one line per field, exit 2.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const bin = path.join(root, 'bin/passerelle.js');
const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-map-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, PORT: '', PASSERELLE_CONFIG: '' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('passerelle map', () => {
  it('prints the transaction Bundle of a PPP, with the given time and base URL', () => {
    const r = run('map', 'ppp', 'test/fixtures/ppp/ppp-12-medicines.json', '--now', '2026-01-15T10:00:00+01:00', '--base-url', 'https://gw.example.fr/fhir');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const bundle = JSON.parse(r.stdout) as Bundle;
    expect(bundle.type).toBe('transaction');
    expect(bundle.timestamp).toBe('2026-01-15T10:00:00+01:00');
    expect(bundle.entry?.some((e) => e.resource?.resourceType === 'CarePlan')).toBe(true);
    expect(bundle.entry?.[0]?.fullUrl).toMatch(/^https:\/\/gw\.example\.fr\/fhir\/Organization\//);
  });

  it('names every offending field and exits 2 on invalid input', () => {
    const file = path.join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ id: 'X', pathway: 'OPTIMEDOC', entryDoor: 'ville', created: '2025-01-01T00:00:00Z', problems: [{ id: 'p', code: '99' }] }));
    const r = run('map', 'ppp', file);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^ppp\.problems\[0\]\.code: unknown SFPC problem code/m);
    expect(r.stderr).toMatch(/^ppp\.patient: /m);
  });

  it('exits 2 on a file that is not JSON', () => {
    const file = path.join(dir, 'broken.json');
    writeFileSync(file, '{"id":');
    const r = run('map', 'ctm', file);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('broken.json');
  });
});
