// The generated test PKI: certificates that chain as an IGC Santé deployment's do, an organisation PKCS#12 the
// gateway's loader opens, an intruder that chains to nothing trusted, and files that are never silently replaced.
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createSecureContext } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pemCertificates, verifyCertificateChain } from '../../src/connectors/dmp/certificate.js';
import { loadOrganisationCredentials } from '../../src/connectors/dmp/tls.js';
import { DEFAULT_TEST_PASSPHRASE, ensureTestPki, generateTestPki, loadTestPki, TestPkiExistsError, type TestPki } from '../../src/sandbox/pki.js';

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

let root: string;
let pki: TestPki;

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'pki-'));
  pki = await generateTestPki({ dir: path.join(root, 'certs') });
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

const leaf = (pem: string): X509Certificate => new X509Certificate(pemCertificates(pem)[0]);
const trusted = (): string[] => pemCertificates(pki.pem.ca);

describe('generateTestPki', () => {
  it('writes every file, private keys readable by the owner only', () => {
    for (const file of Object.values(pki.files)) expect(existsSync(file), file).toBe(true);
    for (const file of [pki.files.serverKey, pki.files.orgKey, pki.files.orgP12, pki.files.intruderKey]) {
      expect(statSync(file).mode & 0o077, file).toBe(0);
    }
  });

  it('names the CAs as test CAs, never to be used in production', () => {
    const [intermediate, rootCa] = trusted().map((p) => new X509Certificate(p));
    expect(rootCa.subject).toContain('CN=TEST Passerelle AC racine — NE PAS UTILISER EN PRODUCTION');
    expect(intermediate.subject).toContain('NE PAS UTILISER EN PRODUCTION');
    expect(rootCa.ca && intermediate.ca).toBe(true);
    expect(intermediate.checkIssued(rootCa) && intermediate.verify(rootCa.publicKey)).toBe(true);
  });

  it('issues an organisation certificate with an IGC-Santé-like subject that chains to the trust bundle', () => {
    const org = leaf(pki.pem.org);
    expect(org.subject.split('\n')).toEqual(['C=FR', 'ST=Paris (75)', 'O=TEST CENTRE HOSPITALIER PASSERELLE', 'OU=1990000010', 'CN=TEST-PASSERELLE-DMP']);
    expect(pki.organisation).toMatchObject({ finess: '990000010', idNatStruct: '1990000010' });
    expect(org.keyUsage).toContain(CLIENT_AUTH);
    expect(org.ca).toBe(false);
    expect(verifyCertificateChain(pemCertificates(pki.pem.org)[0], [], trusted())).toEqual({ ok: true });
  });

  it('issues a server certificate for localhost, 127.0.0.1 and ::1', () => {
    const server = leaf(pki.pem.server);
    expect(server.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    expect(server.keyUsage).toContain(SERVER_AUTH);
    expect(server.checkHost('localhost')).toBe('localhost');
    expect(verifyCertificateChain(pemCertificates(pki.pem.server)[0], [], trusted())).toEqual({ ok: true });
  });

  it('gives the intruder the organisation subject but a CA nobody trusts', () => {
    const intruder = leaf(pki.pem.intruder);
    expect(intruder.subject).toBe(leaf(pki.pem.org).subject);
    const check = verifyCertificateChain(pki.pem.intruder, [], trusted());
    expect(check.ok).toBe(false);
    expect(verifyCertificateChain(pki.pem.intruder, [], [pki.pem.intruderCa])).toEqual({ ok: true });
  });

  it('packs the organisation key and chain as a PKCS#12 that opens with the passphrase only', async () => {
    expect(pki.passphrase).toBe(DEFAULT_TEST_PASSPHRASE);
    const pfx = readFileSync(pki.files.orgP12);
    expect(() => createSecureContext({ pfx, passphrase: pki.passphrase })).not.toThrow();
    const credentials = await loadOrganisationCredentials({ pkcs12: pfx, passphrase: pki.passphrase });
    expect(new X509Certificate(credentials.cert).fingerprint256).toBe(leaf(pki.pem.org).fingerprint256);
    expect(credentials.chain).toHaveLength(2);
    await expect(loadOrganisationCredentials({ pkcs12: pfx, passphrase: 'wrong' })).rejects.toThrow(/wrong passphrase/);
  });

  it('refuses to overwrite an existing PKI unless forced', async () => {
    await expect(generateTestPki({ dir: pki.dir })).rejects.toBeInstanceOf(TestPkiExistsError);
    const dir = path.join(root, 'forced');
    const first = await generateTestPki({ dir });
    const second = await generateTestPki({ dir, force: true });
    expect(second.pem.orgKey).not.toBe(first.pem.orgKey);
  });

  it('takes the organisation and the passphrase from the options', async () => {
    const other = await generateTestPki({ dir: path.join(root, 'custom'), passphrase: 's3cret', organisation: { finess: '750000010', name: 'TEST CLINIQUE', service: 'LPS' } });
    expect(leaf(other.pem.org).subject.split('\n')).toEqual(['C=FR', 'ST=Paris (75)', 'O=TEST CLINIQUE', 'OU=1750000010', 'CN=TEST-LPS']);
    expect(() => createSecureContext({ pfx: readFileSync(other.files.orgP12), passphrase: 's3cret' })).not.toThrow();
    await expect(generateTestPki({ dir: path.join(root, 'bad'), organisation: { finess: '12' } })).rejects.toThrow(/organisation\.finess/);
  });
});

describe('loadTestPki / ensureTestPki', () => {
  it('reads back what was written', async () => {
    const loaded = await loadTestPki(pki.dir);
    expect(loaded.pem).toEqual(pki.pem);
    expect(loaded.passphrase).toBe(pki.passphrase);
    expect(loaded.organisation).toEqual(pki.organisation);
  });

  it('keeps a complete PKI and regenerates an incomplete one', async () => {
    const dir = path.join(root, 'ensure');
    const created = await ensureTestPki({ dir });
    expect(created.generated).toBe(true);
    const kept = await ensureTestPki({ dir });
    expect(kept.generated).toBe(false);
    expect(kept.pem.orgKey).toBe(created.pem.orgKey);
    unlinkSync(created.files.intruderP12);
    const renewed = await ensureTestPki({ dir });
    expect(renewed.generated).toBe(true);
    expect(renewed.pem.orgKey).not.toBe(created.pem.orgKey);
  });
});

describe('ensureTestPki', () => {
  it('two callers on an empty directory get one and the same PKI (generation is locked)', async () => {
    const base = mkdtempSync(path.join(tmpdir(), 'passerelle-pki-race-'));
    try {
      const dir = path.join(base, 'certs');
      const [a, b] = await Promise.all([ensureTestPki({ dir }), ensureTestPki({ dir })]);
      expect([a.generated, b.generated].sort()).toEqual([false, true]);
      expect(a.pem.org).toBe(b.pem.org);
      expect(a.pem.orgKey).toBe(b.pem.orgKey);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  }, 30_000);
});
