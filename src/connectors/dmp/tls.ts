// The organisation's credentials for the DMP: one PKCS#12 ("certificat de personne morale", IGC Santé) gives the
// TLS client certificate and the key that signs the VIHF and the submission set. Read once at start-up; errors say
// what is wrong with the file rather than failing later in a TLS handshake.
import { readFile } from 'node:fs/promises';
import forge from 'node-forge';
import { pemCertificates } from './certificate.js';
import type { SigningCredentials } from './xmldsig.js';

export interface OrganisationCredentials extends SigningCredentials {
  /** The PKCS#12 as read, with its passphrase: what node:https takes as `pfx` / `passphrase`. */
  pfx: Buffer;
  passphrase: string;
  /** PKCS#8 PEM private key. */
  key: string;
  /** PEM of the certificate that matches the key. */
  cert: string;
  /** PEM of the other certificates in the file (intermediates, root), issuer first. */
  chain: string[];
  /** PEM bundle of the CAs trusted for the server certificate (`caPath`); absent: Node's public CAs. */
  ca?: string;
}

export interface OrganisationCredentialsSource {
  pkcs12Path?: string;
  pkcs12?: Buffer;
  passphrase: string;
  caPath?: string;
}

function decodePkcs12(der: Buffer, passphrase: string, where: string): forge.pkcs12.Pkcs12Pfx {
  let asn1: forge.asn1.Asn1;
  try {
    asn1 = forge.asn1.fromDer(der.toString('binary'));
  } catch {
    throw new Error(`${where}: not a PKCS#12 (DER) file`);
  }
  try {
    return forge.pkcs12.pkcs12FromAsn1(asn1, passphrase);
  } catch (err) {
    const message = (err as Error).message;
    if (/MAC could not be verified|Invalid password/i.test(message)) throw new Error(`${where}: wrong passphrase (or a damaged file)`);
    throw new Error(`${where}: cannot read the PKCS#12: ${message}`);
  }
}

async function readCaBundle(caPath: string): Promise<string> {
  let pem: string;
  try {
    pem = await readFile(caPath, 'utf8');
  } catch (err) {
    throw new Error(`${caPath}: ${(err as Error).message}`);
  }
  if (pemCertificates(pem).length === 0) throw new Error(`${caPath}: no PEM certificate in the CA file`);
  return pem;
}

async function readPkcs12(source: OrganisationCredentialsSource): Promise<Buffer> {
  if (source.pkcs12) return source.pkcs12;
  if (!source.pkcs12Path) throw new Error('organisation credentials: give pkcs12Path or pkcs12');
  try {
    return await readFile(source.pkcs12Path);
  } catch (err) {
    throw new Error(`${source.pkcs12Path}: ${(err as Error).message}`);
  }
}

/** Loads the PKCS#12 (from a path or bytes) and the optional CA bundle; throws with a clear reason. */
export async function loadOrganisationCredentials(source: OrganisationCredentialsSource): Promise<OrganisationCredentials> {
  const where = source.pkcs12Path ?? 'pkcs12';
  const pfx = await readPkcs12(source);
  const p12 = decodePkcs12(pfx, source.passphrase, where);

  const keyBags = [
    ...(p12.getBags({ bagType: forge.pki.oids.pkcs8ShroudedKeyBag })[forge.pki.oids.pkcs8ShroudedKeyBag] ?? []),
    ...(p12.getBags({ bagType: forge.pki.oids.keyBag })[forge.pki.oids.keyBag] ?? []),
  ];
  const key = keyBags.find((b) => b.key)?.key as forge.pki.rsa.PrivateKey | undefined;
  if (!key) throw new Error(`${where}: the file holds no private key (or an unsupported, non-RSA one)`);
  const certs = (p12.getBags({ bagType: forge.pki.oids.certBag })[forge.pki.oids.certBag] ?? []).flatMap((b) => (b.cert ? [b.cert] : []));
  const leaf = certs.find((c) => {
    const pub = c.publicKey as forge.pki.rsa.PublicKey;
    return pub.n !== undefined && pub.n.equals(key.n) && pub.e.equals(key.e);
  });
  if (!leaf) throw new Error(`${where}: no certificate in the file matches its private key`);
  // Issuer first: walk up from the leaf by subject/issuer hash; whatever is left follows in file order.
  const others = certs.filter((c) => c !== leaf);
  const chain: forge.pki.Certificate[] = [];
  for (let current = leaf; ; ) {
    const issuer = others.find((c) => !chain.includes(c) && c.subject.hash === current.issuer.hash && c !== current);
    if (!issuer) break;
    chain.push(issuer);
    current = issuer;
  }
  chain.push(...others.filter((c) => !chain.includes(c)));

  const ca = source.caPath ? await readCaBundle(source.caPath) : undefined;
  return {
    pfx,
    passphrase: source.passphrase,
    key: forge.pki.privateKeyInfoToPem(forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(key))),
    cert: forge.pki.certificateToPem(leaf),
    chain: chain.map((c) => forge.pki.certificateToPem(c)),
    ...(ca !== undefined ? { ca } : {}),
  };
}
