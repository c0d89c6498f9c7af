import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const bin = path.join(root, 'bin/passerelle.js');
const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, PORT: '', PASSERELLE_CONFIG: '' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function file(name: string, content: unknown): string {
  const f = path.join(dir, name);
  writeFileSync(f, typeof content === 'string' ? content : JSON.stringify(content));
  return f;
}

const patient = { resourceType: 'Patient', name: [{ family: 'Martin' }], gender: 'female', birthDate: '1948-03-02' };

describe('passerelle CLI', () => {
  it('--help lists the commands; each command has --help', () => {
    const r = run('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/serve/);
    expect(r.stdout).toMatch(/validate/);
    const serve = run('serve', '--help');
    expect(serve.status).toBe(0);
    expect(serve.stdout).toContain('--port');
    expect(serve.stdout).toContain('--data');
    expect(serve.stdout).toContain('--config');
  });

  it('--version prints the package version', () => {
    expect(run('--version').stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('validate: a valid resource exits 0 with "valid"', () => {
    const r = run('validate', file('ok.json', patient));
    expect(r.stdout).toContain('valid Patient');
    expect(r.status).toBe(0);
  });

  it('validate: an invalid resource exits 1 and prints "severity  expression  text"', () => {
    const r = run('validate', file('bad.json', { ...patient, gender: 'bogus' }));
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^error {2}\S*gender\S* {2}.+$/m);
  });

  it('validate: unreadable JSON exits 1 with a message', () => {
    const r = run('validate', file('broken.json', '{"resourceType":'));
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('not valid JSON');
  });

  it('serve: starts on the given port, answers, and stops on SIGTERM', async () => {
    const data = path.join(dir, 'data');
    const child = spawn(process.execPath, [bin, 'serve', '--port', '0', '--data', data], { cwd: root, env: { ...process.env, PORT: '', PASSERELLE_CONFIG: '' } });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const m = /listening on (http:\/\/\S+?)"/.exec(out);
        if (m) resolve(m[1]);
      });
      child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
    });
    const r = await fetch(`${url}/fhir/metadata`);
    expect(r.status).toBe(200);
    const code = await new Promise<number | null>((resolve) => {
      child.on('exit', resolve);
      child.kill('SIGTERM');
    });
    expect(code).toBe(0);
  });
});
