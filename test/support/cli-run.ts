// Runs the real CLI (`bin/passerelle.js`) in a child process with a clean configuration environment: no PORT,
// PASSERELLE_CONFIG, PASSERELLE_DATA or DATABASE_URL from the caller's shell unless `env` sets them.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
const bin = path.join(REPO_ROOT, 'bin/passerelle.js');

export function runCli(env: Record<string, string>, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, PORT: '', PASSERELLE_CONFIG: '', PASSERELLE_DATA: '', DATABASE_URL: '', ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
