// `passerelle identity import|links` as a user runs them: a generated NDJSON file of 500 French source identities
// (plus one bad line) imported into a real SQLite file, the summary checked against the links CSV.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentities, toFhirPatient } from '../support/identity-generator.js';

const root = path.resolve(import.meta.dirname, '../..');
const bin = path.join(root, 'bin/passerelle.js');
const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-identity-cli-'));
const data = path.join(dir, 'data');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, PORT: '', PASSERELLE_CONFIG: '', PASSERELLE_DATA: '' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const count = (summary: string, label: string): number => {
  const m = new RegExp(`^\\s+${label}\\s+(\\d+)$`, 'm').exec(summary);
  if (!m) throw new Error(`no "${label}" in the summary:\n${summary}`);
  return Number(m[1]);
};

describe('passerelle identity', () => {
  const file = path.join(dir, 'patients.ndjson');
  const BAD_LINE = 101;
  let imported: ReturnType<typeof run>;

  beforeAll(() => {
    const { identities } = generateIdentities({ seed: 20250601, persons: 400, duplicateRate: 0.3 });
    const lines = identities.slice(0, 500).map((g) => JSON.stringify(toFhirPatient(g.identity)));
    // A Patient without the sender's identifier nor birth date, as line 101.
    lines.splice(BAD_LINE - 1, 0, JSON.stringify({ resourceType: 'Patient', name: [{ use: 'official', family: 'SANSNOM', given: ['JEAN'] }], gender: 'male' }));
    writeFileSync(file, `${lines.join('\n')}\n`);
    imported = run('identity', 'import', file, '--data', data, '--batch', '64', '--progress-every', '200');
  });

  it('--help on identity, import and links', () => {
    expect(run('--help').stdout).toMatch(/identity/);
    const imp = run('identity', 'import', '--help');
    expect(imp.status).toBe(0);
    expect(imp.stdout).toContain('<patients.ndjson>');
    expect(imp.stdout).toContain('--data');
    expect(imp.stdout).toContain('--config');
    const links = run('identity', 'links', '--help');
    expect(links.status).toBe(0);
    expect(links.stdout).toContain('--format');
    expect(links.stdout).toContain('source_system,source_id,federated_id,decision,score');
  });

  it('import: registers the 500 identities in order, reports the bad line by number, exits 1, prints the summary', () => {
    expect(imported.status).toBe(1);
    expect(imported.stderr).toContain(`${file}:${BAD_LINE}: `);
    expect(imported.stderr).toMatch(/Patient\.birthDate/);
    expect(imported.stderr).toMatch(/Patient\.identifier/);
    // Not a terminal: progress lines instead of a bar.
    expect(imported.stderr).toMatch(/: \d+ lines, \d+ registered, 1 failed \(registry \d+% of the file\)/);
    const s = imported.stdout;
    expect(count(s, 'failed')).toBe(1);
    expect(count(s, 'auto-linked') + count(s, 'sent to review') + count(s, 'new') + count(s, 'known')).toBe(500);
    expect(count(s, 'auto-linked')).toBeGreaterThan(0);
    expect(count(s, 'sent to review')).toBeGreaterThan(0);
    expect(count(s, 'identities/s')).toBeGreaterThan(0);
  });

  it('links --format csv: one row per source identity; the decisions add up to the import summary', () => {
    const out = path.join(dir, 'links.csv');
    const r = run('identity', 'links', '--format', 'csv', '--data', data, '-o', out);
    expect(r.status).toBe(0);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('source_system,source_id,federated_id,decision,score');
    const rows = lines.slice(1).map((l) => l.split(','));
    const s = imported.stdout;
    expect(rows.length).toBe(count(s, 'auto-linked') + count(s, 'sent to review') + count(s, 'new'));
    const by = (d: string): number => rows.filter((x) => x[3] === d).length;
    expect(by('auto')).toBe(count(s, 'auto-linked'));
    expect(by('review')).toBe(count(s, 'sent to review'));
    expect(by('new')).toBe(count(s, 'new'));
    // Auto-linked and reviewed rows carry the deciding score; linked rows share their federated id with another.
    expect(rows.filter((x) => x[3] !== 'new').every((x) => Number(x[4]) > 0 && Number(x[4]) <= 1)).toBe(true);
    const feds = new Map<string, number>();
    for (const x of rows) feds.set(x[2], (feds.get(x[2]) ?? 0) + 1);
    expect(rows.filter((x) => x[3] === 'auto').every((x) => (feds.get(x[2]) ?? 0) >= 2)).toBe(true);
    // The same export on stdout.
    expect(run('identity', 'links', '--data', data).stdout.trim().split('\n')).toEqual(lines);
  });

  it('import: writes the FHIR Patients of every federated and source identity once the registry is committed', () => {
    const db = new Database(path.join(data, 'passerelle.sqlite'), { readonly: true });
    try {
      const n = (sql: string): number => (db.prepare(sql).get() as { n: number }).n;
      expect(n('SELECT count(*) AS n FROM identity_projection_pending')).toBe(0);
      const federated = n('SELECT count(*) AS n FROM identity_federated');
      expect(federated).toBeGreaterThan(0);
      expect(n("SELECT count(*) AS n FROM resources WHERE type = 'Patient' AND deleted = 0")).toBe(federated + 500);
      expect(Number(/the FHIR Patients of (\d+) federated identities/.exec(imported.stdout)?.[1])).toBe(federated);
      // The progress lines go on through the Patient phase, from its start to 100 % at its end.
      expect(imported.stderr).toContain(`${file}: FHIR Patients of 0/${federated} federated identities written (0%)\n`);
      expect(imported.stderr).toContain(`${file}: FHIR Patients of ${federated}/${federated} federated identities written (100%)\n`);
    } finally {
      db.close();
    }
  });

  it('importing the same file again: every identity is known, nothing new', () => {
    const again = run('identity', 'import', file, '--data', data, '--json');
    const summary = JSON.parse(again.stdout) as { known: number; new: number; autoLinked: number; failed: number };
    expect(summary).toMatchObject({ known: 500, new: 0, autoLinked: 0, failed: 1 });
  });

  it('a missing file or a bad option: exit 2 with a message', () => {
    const r = run('identity', 'import', path.join(dir, 'nope.ndjson'), '--data', data);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('cannot read');
    expect(run('identity', 'links', '--format', 'xml', '--data', data).status).not.toBe(0);
  });
});
