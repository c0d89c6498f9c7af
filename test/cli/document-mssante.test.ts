// `passerelle document xdm|mime`: the IHE_XDM.ZIP and the whole MSSanté message written by the real CLI process, read
// back with readXdmPackage and mailparser.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, describe, expect, it } from 'vitest';
import { readXdmPackage } from '../../src/documents/xdm.js';

const root = path.resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(path.join(tmpdir(), 'passerelle-document-mssante-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const QUAL_PPP = 'test/fixtures/ppp/hospital-sync-rcp.json';
const NO_INS_PPP = 'test/fixtures/ppp/town-async-rcp.json';
const NOW = '2026-01-15T10:00:00+01:00';
const CLI_TIMEOUT = 60_000;

function run(...args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: root,
      env: { ...process.env, PORT: '', PASSERELLE_CONFIG: '', PASSERELLE_DMP_PASSPHRASE: '', LOG_LEVEL: '', PASSERELLE_DATA: path.join(dir, 'data') },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    proc.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    proc.on('error', reject);
    proc.on('close', (status) => resolve({ status, stderr }));
  });
}

describe('passerelle document xdm|mime', () => {
  it(
    'xdm writes an IHE_XDM.ZIP whose DOC0001.XML is the CDA the cda artefact writes',
    async () => {
      const zip = path.join(dir, 'IHE_XDM.ZIP');
      const cda = path.join(dir, 'cda.xml');
      const [a, b] = await Promise.all([run('document', 'xdm', 'ppp', QUAL_PPP, '-o', zip, '--now', NOW), run('document', 'cda', 'ppp', QUAL_PPP, '-o', cda, '--now', NOW)]);
      expect(a.stderr).toBe('');
      expect(a.status).toBe(0);
      expect(b.status).toBe(0);
      const xdm = await readXdmPackage(readFileSync(zip));
      expect(xdm.documents.map((d) => d.path)).toEqual(['IHE_XDM/SUBSET01/DOC0001.XML']);
      expect(xdm.documents[0]!.bytes.equals(readFileSync(cda))).toBe(true);
    },
    CLI_TIMEOUT,
  );

  it(
    'mime writes the message as it would be sent: recipients, headers, attachments; the Message-ID on stderr',
    async () => {
      const eml = path.join(dir, 'ppp.eml');
      const r = await run('document', 'mime', 'ppp', QUAL_PPP, '-o', eml, '--now', NOW, '--to', 'dr.martin@medecin.mssante.fr', '--to', 'pharmacie.centrale@pharmacien.mssante.fr', '--from', 'bal-app@ch-test.mssante.fr', '--nil', 'NIL-42', '--receipt');
      expect(r.status).toBe(0);
      const m = await simpleParser(readFileSync(eml));
      expect(r.stderr).toBe(`Message-ID: ${m.messageId}\n`);
      expect(m.subject).toMatch(/^XDM\/1\.0\/DDM\+Plan pharmaceutique/);
      expect(m.from?.value.map((v) => v.address)).toEqual(['bal-app@ch-test.mssante.fr']);
      expect((Array.isArray(m.to) ? m.to : [m.to!]).flatMap((t) => t.value.map((v) => v.address))).toEqual(['dr.martin@medecin.mssante.fr', 'pharmacie.centrale@pharmacien.mssante.fr']);
      expect(m.headers.get('x-mss-ins')).toBe('O');
      expect(m.headers.get('x-mss-nil')).toBe('NIL-42');
      expect(m.headers.get('x-mss-codecda')).toBeTruthy();
      expect(String((m.headers.get('disposition-notification-to') as { text: string }).text)).toContain('bal-app@ch-test.mssante.fr');
      expect(m.date?.toISOString()).toBe(new Date(NOW).toISOString());
      expect(m.attachments.map((a) => [a.filename, a.contentType])).toEqual([
        ['PPP.pdf', 'application/pdf'],
        ['IHE_XDM.ZIP', 'application/zip'],
      ]);
      expect((await readXdmPackage(m.attachments[1]!.content)).documents).toHaveLength(1);
    },
    CLI_TIMEOUT,
  );

  it(
    'exit code 2: a header injection in --to, a patient without INS',
    async () => {
      const [inj, noIns] = await Promise.all([
        run('document', 'mime', 'ppp', QUAL_PPP, '-o', path.join(dir, 'x.eml'), '--to', 'a@b.fr\r\nBcc: evil@example.com'),
        run('document', 'xdm', 'ppp', NO_INS_PPP, '-o', path.join(dir, 'y.zip')),
      ]);
      expect(inj.status).toBe(2);
      expect(inj.stderr).toContain('header-injection');
      expect(noIns.status).toBe(2);
      expect(noIns.stderr).toContain('INS');
    },
    CLI_TIMEOUT,
  );
});
