// A throw-away PKI for the DMP connector tests: a root CA, an organisation certificate it issues, and an intruder
// CA with a look-alike organisation certificate. Keys from node:crypto (fast), certificates from node-forge.
import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';

export interface Issued {
  key: string;
  cert: string;
}

export interface ThrowawayPki {
  ca: Issued;
  org: Issued;
  /** TLS server certificate for localhost / 127.0.0.1. */
  server: Issued;
  intruderCa: Issued;
  intruder: Issued;
  /** PKCS#12 of the organisation (key + cert + CA), encrypted with `passphrase`. */
  orgP12: Buffer;
  passphrase: string;
}

function rsaKey(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

let serial = 1;

export type Kind = 'ca' | 'client' | 'server';

function extensions(kind: Kind): object[] {
  if (kind === 'ca') return [{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true }];
  const common = [{ name: 'basicConstraints', cA: false }, { name: 'keyUsage', digitalSignature: true, keyEncipherment: true }];
  if (kind === 'client') return [...common, { name: 'extKeyUsage', clientAuth: true }];
  return [...common, { name: 'extKeyUsage', serverAuth: true }, { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] }];
}

function certificate(subject: forge.pki.CertificateField[], publicPem: string, issuer: { key: string; subject: forge.pki.CertificateField[] } | 'self', selfKey: string, kind: Kind): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicPem);
  serial += 1;
  cert.serialNumber = `0${(0x1000 + serial).toString(16)}`;
  cert.validity.notBefore = new Date(Date.now() - 3600_000);
  cert.validity.notAfter = new Date(Date.now() + 365 * 86400_000);
  cert.setSubject(subject);
  cert.setIssuer(issuer === 'self' ? subject : issuer.subject);
  cert.setExtensions(extensions(kind));
  cert.sign(forge.pki.privateKeyFromPem(issuer === 'self' ? selfKey : issuer.key), forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

/** Issues a certificate (`issuer: 'self'` for a root). UTF-8 values: pass `valueTagClass: forge.asn1.Type.UTF8` (forge encodes the string). */
export function issue(name: forge.pki.CertificateField[], issuer: { key: string; subject: forge.pki.CertificateField[] } | 'self', kind: Kind): Issued & { subject: forge.pki.CertificateField[] } {
  const k = rsaKey();
  return { key: k.privatePem, cert: certificate(name, k.publicPem, issuer, k.privatePem, kind), subject: name };
}

const orgSubject: forge.pki.CertificateField[] = [
  { shortName: 'C', value: 'FR' },
  { shortName: 'ST', value: 'Paris (75)' },
  { shortName: 'O', value: 'CH TEST PASSERELLE' },
  { shortName: 'OU', value: '1990000010' },
  { shortName: 'CN', value: 'TEST-PASSERELLE' },
];

/** Generates the PKI (about a second: five RSA keys). */
export function throwawayPki(passphrase = 'test-passphrase'): ThrowawayPki {
  const ca = issue([{ shortName: 'C', value: 'FR' }, { shortName: 'O', value: 'TEST IGC' }, { shortName: 'CN', value: 'TEST AC RACINE' }], 'self', 'ca');
  const org = issue(orgSubject, ca, 'client');
  const server = issue([{ shortName: 'C', value: 'FR' }, { shortName: 'CN', value: 'localhost' }], ca, 'server');
  const intruderCa = issue([{ shortName: 'C', value: 'FR' }, { shortName: 'CN', value: 'INTRUDER CA' }], 'self', 'ca');
  const intruder = issue(orgSubject, intruderCa, 'client');
  const orgP12 = pkcs12Of(org.key, [org.cert, ca.cert], passphrase);
  return { ca, org, server, intruderCa, intruder, orgP12, passphrase };
}

/** A PKCS#12 (AES-256) of a key and certificates; `key: null` makes a certificates-only file. */
export function pkcs12Of(key: string | null, certs: readonly string[], passphrase: string): Buffer {
  const asn1 = forge.pkcs12.toPkcs12Asn1(key ? forge.pki.privateKeyFromPem(key) : null, certs.map((c) => forge.pki.certificateFromPem(c)), passphrase, { algorithm: 'aes256' });
  return Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary');
}
