import { createSign, createVerify } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrganisationCredentials } from '../../../src/connectors/dmp/tls.js';
import { pkcs12Of, throwawayPki, type ThrowawayPki } from './throwaway-pki.js';

let pki: ThrowawayPki;
let dir: string;
beforeAll(() => {
  pki = throwawayPki();
  dir = mkdtempSync(path.join(tmpdir(), 'dmp-tls-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('loadOrganisationCredentials', () => {
  it('gives the key, its certificate, the rest of the chain and the PKCS#12 for node:https', async () => {
    const file = path.join(dir, 'org.p12');
    writeFileSync(file, pki.orgP12);
    const caFile = path.join(dir, 'ca.pem');
    writeFileSync(caFile, pki.ca.cert);
    const creds = await loadOrganisationCredentials({ pkcs12Path: file, passphrase: pki.passphrase, caPath: caFile });
    expect(creds.cert.replace(/\r/g, '')).toBe(pki.org.cert.replace(/\r/g, ''));
    expect(creds.chain.map((c) => c.replace(/\r/g, ''))).toEqual([pki.ca.cert.replace(/\r/g, '')]);
    expect(creds.ca).toBe(pki.ca.cert);
    expect(creds.pfx.equals(pki.orgP12)).toBe(true);
    expect(creds.passphrase).toBe(pki.passphrase);
    // The key is the certificate's: what it signs, the certificate verifies.
    const signature = createSign('sha256').update('x').sign(creds.key);
    expect(createVerify('sha256').update('x').verify(creds.cert, signature)).toBe(true);
  });

  it('takes the PKCS#12 as bytes too, whatever the order of the certificates in it', async () => {
    const creds = await loadOrganisationCredentials({ pkcs12: pkcs12Of(pki.org.key, [pki.ca.cert, pki.org.cert], 'p'), passphrase: 'p' });
    expect(creds.cert.replace(/\r/g, '')).toBe(pki.org.cert.replace(/\r/g, ''));
    expect(creds.ca).toBeUndefined();
  });

  it('says so on a wrong passphrase, a file that is no PKCS#12, or one without a key', async () => {
    await expect(loadOrganisationCredentials({ pkcs12: pki.orgP12, passphrase: 'wrong' })).rejects.toThrow(/wrong passphrase/);
    await expect(loadOrganisationCredentials({ pkcs12: Buffer.from('not a p12'), passphrase: 'x' })).rejects.toThrow(/not a PKCS#12/);
    await expect(loadOrganisationCredentials({ pkcs12: pkcs12Of(null, [pki.org.cert], 'p'), passphrase: 'p' })).rejects.toThrow(/no private key/);
    await expect(loadOrganisationCredentials({ pkcs12: pkcs12Of(pki.org.key, [pki.ca.cert], 'p'), passphrase: 'p' })).rejects.toThrow(/matches its private key/);
    await expect(loadOrganisationCredentials({ pkcs12Path: path.join(dir, 'missing.p12'), passphrase: 'p' })).rejects.toThrow(/missing\.p12/);
    const notPem = path.join(dir, 'bad-ca.pem');
    writeFileSync(notPem, 'hello');
    await expect(loadOrganisationCredentials({ pkcs12: pki.orgP12, passphrase: pki.passphrase, caPath: notPem })).rejects.toThrow(/no PEM certificate/);
  });
});
