// `passerelle annuaire import|lookup` as a user runs them: the sample extraction file imported into a real SQLite
// file, then looked up by RPPS, FINESS and name; a re-import replaces the directory.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_BAD, sampleExtraction } from '../support/annuaire-sample.js';

const root = path.resolve(import.meta.dirname, '../..');
const bin = path.join(root, 'bin/passerelle.js');
const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-annuaire-cli-'));
const data = path.join(dir, 'data');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI without blocking the test worker (spawnSync would starve vitest's RPC on a slow machine). */
function run(...args: string[]): Promise<Ran> {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '', PASSERELLE_CONFIG: '', PASSERELLE_DATA: '' };
  delete env.DATABASE_URL;
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', env }, (err, stdout, stderr) =>
      resolve({ status: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
}

describe('passerelle annuaire', () => {
  const file = path.join(dir, 'Extraction_Correspondance_MSSante.txt');
  let imported: Ran;

  beforeAll(async () => {
    writeFileSync(file, sampleExtraction());
    imported = await run('annuaire', 'import', file, '--data', data);
  });

  it('imports the good lines, reports the bad ones by number, and exits 1', async () => {
    expect(imported.status, imported.stderr).toBe(1);
    for (const line of Object.values(SAMPLE_BAD)) expect(imported.stderr).toContain(`${file}:${line}: `);
    expect(imported.stdout).toMatch(/: 13 lines, 8 mailboxes imported in /);
    expect(imported.stdout).toMatch(/^\s+bad lines\s+5$/m);
    expect(imported.stdout).toMatch(/^\s+BAL PER\s+4$/m);
    expect(imported.stdout).toMatch(/^\s+BAL ORG\s+2$/m);
    expect(imported.stdout).toMatch(/^\s+records\/s\s+\d+$/m);
  });

  it('looks up by RPPS (both addresses of one person), FINESS and name', async () => {
    // Independent lookups, run side by side.
    const [byRpps, byFiness, byName, unknown, bad] = await Promise.all([
      run('annuaire', 'lookup', '--rpps', '10001234567', '--data', data, '--json'),
      run('annuaire', 'lookup', '--finess', '590001234', '--data', data),
      run('annuaire', 'lookup', '--name', 'd’orleans', '--given', 'etienne', '--data', data, '--json'),
      run('annuaire', 'lookup', '--rpps', '10001111111', '--data', data),
      run('annuaire', 'lookup', '--rpps', '123', '--data', data),
    ]);
    expect(byRpps.status, byRpps.stderr).toBe(0);
    expect((JSON.parse(byRpps.stdout) as { address: string }[]).map((e) => e.address)).toEqual([
      'helene.lefevre@medecin.mssante.fr',
      'cabinet.beffroi@medecin.mssante.fr',
    ]);
    expect(byFiness.stdout.split('\n').filter(Boolean).map((l) => l.split('\t')[0])).toEqual([
      'francois.nguyen@pharmacien.mssante.fr',
      'etienne.dorleans@pharmacien.mssante.fr',
    ]);
    expect(JSON.parse(byName.stdout)).toMatchObject([{ address: 'etienne.dorleans@pharmacien.mssante.fr', ppId: '10007777777' }]);
    expect(unknown.status).toBe(1);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/expected 11 digits/);
  });

  it('replaces the directory on re-import; a file that is not an extraction changes nothing (exit 2)', async () => {
    const other = path.join(dir, 'other.txt');
    writeFileSync(other, 'nope|nothing\n1|2\n');
    const refused = await run('annuaire', 'import', other, '--data', data);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/no "Adresse BAL" column/);
    expect((await run('annuaire', 'lookup', '--rpps', '10009876543', '--data', data)).status).toBe(0);

    writeFileSync(other, `${sampleExtraction().split('\r\n').slice(0, 2).join('\n')}\n`);
    const again = await run('annuaire', 'import', other, '--data', data, '--json');
    expect(again.status, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ lines: 1, imported: 1, bad: 0, byType: { PER: 1 } });
    expect((await run('annuaire', 'lookup', '--rpps', '10009876543', '--data', data)).status).toBe(1);
    expect((await run('annuaire', 'lookup', '--rpps', '10001234567', '--data', data, '--json')).stdout).toContain('helene.lefevre@medecin.mssante.fr');
  });

  it('exits 2 on a configuration error or a missing file', async () => {
    const [missing, badConfig] = await Promise.all([
      run('annuaire', 'import', path.join(dir, 'missing.txt'), '--data', data),
      run('annuaire', 'import', file, '--config', path.join(dir, 'missing.yaml')),
    ]);
    expect(missing.status).toBe(2);
    expect(badConfig.status).toBe(2);
  });
});
