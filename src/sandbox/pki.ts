// A throw-away test PKI shaped like the IGC Santé one (a root, an "organisations" intermediate, a server certificate for
// the local peers, an organisation client certificate as PKCS#12) plus an unrelated "intruder" CA for negative tests.
// Keys come from node:crypto (OpenSSL) and certificates from node-forge; the RSA signatures are computed by OpenSSL too,
// because forge's pure-JS RSA costs ~50 ms a signature and seconds a key (measured: the whole PKI takes ~1 s).
import { constants, createPrivateKey, generateKeyPair, privateEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import forge from 'node-forge';

/** Printed by the script and written to pki.json: this is a test PKI, the passphrase protects nothing of value. */
export const DEFAULT_TEST_PASSPHRASE = 'passerelle-test';

/** A fictitious FINESS (department 99 does not exist; the last digit is the Luhn key the FINESS uses). */
export const DEFAULT_TEST_FINESS = '990000010';

export interface TestOrganisation {
  /** Raison sociale, the certificate's O. */
  name: string;
  /** 9-digit FINESS; the certificate's OU is the IdNat_Struct `1` + FINESS. */
  finess: string;
  /** Name of the "service applicatif", the certificate's CN; `TEST-` is prefixed when missing. */
  service: string;
  /** ST as IGC Santé writes it: `<department name> (<number>)`. */
  state: string;
}

export interface TestPkiOptions {
  /** Directory the files are written to (created when missing). */
  dir: string;
  /** Overwrite an existing PKI in `dir` (else generating into a directory holding one is an error). */
  force?: boolean;
  /** Passphrase of the PKCS#12 files (default DEFAULT_TEST_PASSPHRASE). */
  passphrase?: string;
  organisation?: Partial<TestOrganisation>;
  /** Start of validity (default: now); certificates are valid from one hour before it, for clocks that lag. */
  now?: Date;
  /** Validity of the leaf certificates in days (default 825); the CAs get ten years. */
  days?: number;
}

/** Absolute paths of the files of a test PKI. */
export interface TestPkiFiles {
  /** Trust bundle: the "organisations" intermediate then the root (what a peer trusts for client certificates). */
  ca: string;
  /** Server certificate (localhost, 127.0.0.1, ::1) followed by the intermediate. */
  server: string;
  serverKey: string;
  /** Organisation certificate followed by the intermediate. */
  org: string;
  orgKey: string;
  /** Key + organisation certificate + chain, encrypted (AES-256, PBKDF2) with the passphrase. */
  orgP12: string;
  /** The intruder root: a CA nobody trusts. */
  intruderCa: string;
  /** A client certificate from the intruder CA, with an organisation subject like the real one. */
  intruder: string;
  intruderKey: string;
  intruderP12: string;
  /** Manifest: subjects, validity, passphrase (test only). */
  manifest: string;
}

/** PEM texts of a test PKI, for code that wants them in memory (TLS options, VIHF signing, trust stores). */
export interface TestPkiPem {
  ca: string;
  rootCa: string;
  intermediateCa: string;
  server: string;
  serverKey: string;
  org: string;
  orgKey: string;
  intruderCa: string;
  intruder: string;
  intruderKey: string;
}

export interface TestPki {
  dir: string;
  files: TestPkiFiles;
  pem: TestPkiPem;
  passphrase: string;
  organisation: TestOrganisation & { idNatStruct: string; subject: string };
}

const FILE_NAMES = {
  ca: 'ca.pem',
  server: 'server.pem',
  serverKey: 'server-key.pem',
  org: 'org.pem',
  orgKey: 'org-key.pem',
  orgP12: 'org.p12',
  intruderCa: 'intruder-ca.pem',
  intruder: 'intruder.pem',
  intruderKey: 'intruder-key.pem',
  intruderP12: 'intruder.p12',
  manifest: 'pki.json',
} as const satisfies Record<keyof TestPkiFiles, string>;

interface Manifest {
  warning: string;
  generatedAt: string;
  passphrase: string;
  organisation: TestPki['organisation'];
  certificates: Record<string, { subject: string; issuer: string; notAfter: string }>;
}

export class TestPkiExistsError extends Error {
  constructor(readonly dir: string) {
    super(`${dir} already holds a test PKI (${FILE_NAMES.ca}); pass force to overwrite it`);
  }
}

/** Generates the test PKI into `options.dir` and returns its paths and PEM texts. */
export async function generateTestPki(options: TestPkiOptions): Promise<TestPki> {
  const dir = path.resolve(options.dir);
  if (!options.force && existsSync(path.join(dir, FILE_NAMES.ca))) throw new TestPkiExistsError(dir);
  const passphrase = options.passphrase ?? DEFAULT_TEST_PASSPHRASE;
  const organisation = organisationOf(options.organisation);
  const now = options.now ?? new Date();
  const notBefore = new Date(now.getTime() - 3600_000);
  const leafNotAfter = new Date(notBefore.getTime() + (options.days ?? 825) * 86400_000);
  const caNotAfter = new Date(notBefore.getTime() + 3652 * 86400_000);

  // Six keys in parallel: generateKeyPair runs on libuv's thread pool.
  const [rootKey, intermediateKey, serverKey, orgKey, intruderRootKey, intruderKey] = await Promise.all(
    Array.from({ length: 6 }, () => newKeyPair()),
  );

  const root = issue({
    subject: caName('TEST Passerelle AC racine — NE PAS UTILISER EN PRODUCTION'),
    subjectKey: rootKey,
    issuer: undefined,
    validity: [notBefore, caNotAfter],
    extensions: caExtensions(1),
  });
  const intermediate = issue({
    subject: caName('TEST Passerelle AC organisations — NE PAS UTILISER EN PRODUCTION'),
    subjectKey: intermediateKey,
    issuer: { cert: root, key: rootKey },
    validity: [notBefore, caNotAfter],
    extensions: caExtensions(0),
  });
  const server = issue({
    subject: [
      { shortName: 'C', value: 'FR' },
      { shortName: 'O', value: 'TEST Passerelle — bac à sable local' },
      { shortName: 'CN', value: 'localhost' },
    ],
    subjectKey: serverKey,
    issuer: { cert: intermediate, key: intermediateKey },
    validity: [notBefore, leafNotAfter],
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  const orgSubject = organisationName(organisation);
  const org = issue({
    subject: orgSubject,
    subjectKey: orgKey,
    issuer: { cert: intermediate, key: intermediateKey },
    validity: [notBefore, leafNotAfter],
    // One certificate for TLS client authentication (IGC Santé ORG AUTH_CLI) and for the VIHF / XAdES signatures
    // (ORG SIGN): a real deployment usually holds two; the test keeps one so the peer has one chain to check.
    extensions: clientExtensions(),
  });
  const intruderRoot = issue({
    subject: [
      { shortName: 'C', value: 'FR' },
      { shortName: 'O', value: 'TEST Intrus' },
      { shortName: 'CN', value: 'TEST AC intruse — non approuvée' },
    ],
    subjectKey: intruderRootKey,
    issuer: undefined,
    validity: [notBefore, caNotAfter],
    extensions: caExtensions(0),
  });
  // Same subject as the genuine organisation certificate: only the issuing CA tells them apart.
  const intruder = issue({
    subject: orgSubject,
    subjectKey: intruderKey,
    issuer: { cert: intruderRoot, key: intruderRootKey },
    validity: [notBefore, leafNotAfter],
    extensions: clientExtensions(),
  });

  // forge writes CRLF line ends; OpenSSL (the keys) writes LF: one convention in every file.
  const toPem = (c: forge.pki.Certificate): string => forge.pki.certificateToPem(c).replace(/\r\n/g, '\n');
  const pem: TestPkiPem = {
    ca: toPem(intermediate) + toPem(root),
    rootCa: toPem(root),
    intermediateCa: toPem(intermediate),
    server: toPem(server) + toPem(intermediate),
    serverKey: serverKey.pem,
    org: toPem(org) + toPem(intermediate),
    orgKey: orgKey.pem,
    intruderCa: toPem(intruderRoot),
    intruder: toPem(intruder),
    intruderKey: intruderKey.pem,
  };
  const files = filesIn(dir);
  const subjectOf = (c: forge.pki.Certificate): string => distinguishedName(c.subject.attributes);
  const result: TestPki = {
    dir,
    files,
    pem,
    passphrase,
    organisation: { ...organisation, idNatStruct: `1${organisation.finess}`, subject: subjectOf(org) },
  };
  const manifest: Manifest = {
    warning: 'TEST PKI generated by Passerelle: never use these certificates or keys outside a test environment',
    generatedAt: now.toISOString(),
    passphrase,
    organisation: result.organisation,
    certificates: Object.fromEntries(
      Object.entries({ root, intermediate, server, org, intruderRoot, intruder }).map(([name, c]) => [
        name,
        { subject: subjectOf(c), issuer: distinguishedName(c.issuer.attributes), notAfter: c.validity.notAfter.toISOString() },
      ]),
    ),
  };

  await mkdir(dir, { recursive: true });
  const secret = { mode: 0o600 };
  await Promise.all([
    writeFile(files.ca, pem.ca),
    writeFile(files.server, pem.server),
    writeFile(files.serverKey, pem.serverKey, secret),
    writeFile(files.org, pem.org),
    writeFile(files.orgKey, pem.orgKey, secret),
    writeFile(files.orgP12, pkcs12(orgKey, [org, intermediate, root], passphrase, 'org'), secret),
    writeFile(files.intruderCa, pem.intruderCa),
    writeFile(files.intruder, pem.intruder),
    writeFile(files.intruderKey, pem.intruderKey, secret),
    writeFile(files.intruderP12, pkcs12(intruderKey, [intruder, intruderRoot], passphrase, 'intruder'), secret),
    writeFile(files.manifest, `${JSON.stringify(manifest, null, 2)}\n`),
  ]);
  return result;
}

/** Reads a test PKI written by generateTestPki. */
export async function loadTestPki(dir: string): Promise<TestPki> {
  const abs = path.resolve(dir);
  const files = filesIn(abs);
  const read = (file: string): Promise<string> => readFile(file, 'utf8');
  const [ca, server, serverKey, org, orgKey, intruderCa, intruder, intruderKey, manifestText] = await Promise.all(
    [files.ca, files.server, files.serverKey, files.org, files.orgKey, files.intruderCa, files.intruder, files.intruderKey, files.manifest].map(read),
  );
  const manifest = JSON.parse(manifestText) as Manifest;
  const [intermediateCa, rootCa] = splitPem(ca);
  return {
    dir: abs,
    files,
    pem: { ca, rootCa, intermediateCa, server, serverKey, org, orgKey, intruderCa, intruder, intruderKey },
    passphrase: manifest.passphrase,
    organisation: manifest.organisation,
  };
}

/**
 * Loads the test PKI in `options.dir`, generating it first when any of its files is missing. Two processes starting
 * together on an empty directory (a gateway and `passerelle document iti41`, say) must not both write it, or one
 * could sign with a key whose certificate the other replaced: generation holds a lock directory beside it.
 */
export async function ensureTestPki(options: TestPkiOptions): Promise<TestPki & { generated: boolean }> {
  const dir = path.resolve(options.dir);
  const files = filesIn(dir);
  const complete = (): boolean => Object.values(files).every((f) => existsSync(f));
  if (complete()) return { ...(await loadTestPki(dir)), generated: false };
  const lock = `${dir}.lock`;
  await mkdir(path.dirname(dir), { recursive: true });
  for (let waited = 0; ; waited += 100) {
    try {
      await mkdir(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (waited > 60_000) throw new Error(`${lock}: held for a minute; remove it if no generation is running`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    if (complete()) return { ...(await loadTestPki(dir)), generated: false };
    return { ...(await generateTestPki({ ...options, force: true })), generated: true };
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

/** The PEM blocks of a bundle, in order. */
export function splitPem(bundle: string): string[] {
  return bundle.match(/-----BEGIN [A-Z ]+-----[\s\S]+?-----END [A-Z ]+-----\n?/g) ?? [];
}

function filesIn(dir: string): TestPkiFiles {
  return Object.fromEntries(Object.entries(FILE_NAMES).map(([k, name]) => [k, path.join(dir, name)])) as unknown as TestPkiFiles;
}

function organisationOf(o: Partial<TestOrganisation> | undefined): TestOrganisation {
  const finess = o?.finess ?? DEFAULT_TEST_FINESS;
  if (!/^\d{9}$/.test(finess)) throw new Error(`organisation.finess: "${finess}" is not a 9-digit FINESS`);
  const service = o?.service ?? 'PASSERELLE-DMP';
  return {
    name: o?.name ?? 'TEST CENTRE HOSPITALIER PASSERELLE',
    finess,
    service: service.startsWith('TEST-') ? service : `TEST-${service}`,
    state: o?.state ?? 'Paris (75)',
  };
}

interface KeyPair {
  pem: string;
  key: KeyObject;
  forgePublic: forge.pki.PublicKey;
}

async function newKeyPair(): Promise<KeyPair> {
  const { privateKey, publicKey } = await promisify(generateKeyPair)('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { pem: privateKey, key: createPrivateKey(privateKey), forgePublic: forge.pki.publicKeyFromPem(publicKey) };
}

type NameAttribute = { shortName: string; value: string } | { name: string; value: string };

/** IGC Santé CA names read `C=FR, O=<operator>, OU=<registration>, OU=IGC-SANTE …, CN=AC …`; ours say TEST everywhere. */
function caName(cn: string): NameAttribute[] {
  return [
    { shortName: 'C', value: 'FR' },
    { shortName: 'O', value: 'TEST Passerelle' },
    { shortName: 'OU', value: 'TEST IGC (imitation IGC-Santé, sans valeur)' },
    { shortName: 'CN', value: cn },
  ];
}

/**
 * The organisation ("personne morale", IGC Santé offer ORG) subject, in the shape of the ANS DRIMbox sample's VIHF
 * issuer `CN=DRIMbox, OU=499700367909006, O=CABINET M DOC0036790, ST=Paris (75), C=FR`: CN = the service applicatif
 * name, OU = the structure's national id (IdNat_Struct, `1` + FINESS), O = the raison sociale, ST = department.
 * No serialNumber attribute: the ANS sample carries none.
 */
function organisationName(o: TestOrganisation): NameAttribute[] {
  return [
    { shortName: 'C', value: 'FR' },
    { shortName: 'ST', value: o.state },
    { shortName: 'O', value: o.name },
    { shortName: 'OU', value: `1${o.finess}` },
    { shortName: 'CN', value: o.service },
  ];
}

/** `pathLen`: how many CAs may stand below this one (the root has the intermediate under it). */
function caExtensions(pathLen: number): object[] {
  return [
    { name: 'basicConstraints', cA: true, pathLenConstraint: pathLen, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
  ];
}

function clientExtensions(): object[] {
  return [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, nonRepudiation: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', clientAuth: true },
  ];
}

interface IssueRequest {
  subject: NameAttribute[];
  subjectKey: KeyPair;
  /** Undefined: self-signed. */
  issuer: { cert: forge.pki.Certificate; key: KeyPair } | undefined;
  validity: [Date, Date];
  extensions: object[];
}

function issue(req: IssueRequest): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = req.subjectKey.forgePublic;
  // 16 random bytes, first bit cleared so the DER INTEGER stays positive.
  const serial = randomBytes(16);
  // Positive, and no leading zero byte: DER INTEGERs are minimal, and OpenSSL refuses "00 0x.." as illegal padding
  // (a 1-in-256 certificate otherwise, which made TLS servers fail to start now and then).
  serial[0] = (serial[0] & 0x7f) | 0x40;
  cert.serialNumber = serial.toString('hex');
  cert.validity.notBefore = req.validity[0];
  cert.validity.notAfter = req.validity[1];
  const subject = req.subject.map(utf8Attribute);
  cert.setSubject(subject);
  cert.setIssuer(req.issuer ? req.issuer.cert.subject.attributes : subject);
  const keyIds: object[] = [{ name: 'subjectKeyIdentifier' }];
  if (req.issuer) keyIds.push({ name: 'authorityKeyIdentifier', keyIdentifier: keyIdentifierOf(req.issuer.cert) });
  cert.setExtensions([...req.extensions, ...keyIds]);
  cert.sign(opensslSigner((req.issuer?.key ?? req.subjectKey).key), forge.md.sha256.create());
  return cert;
}

/**
 * Names as UTF8String (the CA names carry an em dash and accents; forge encodes the JS string itself), except the
 * country, which RFC 5280 wants as a PrintableString (forge's default).
 */
function utf8Attribute(a: NameAttribute): forge.pki.CertificateField {
  if ('shortName' in a && a.shortName === 'C') return { ...a };
  return { ...a, valueTagClass: forge.asn1.Type.UTF8 as unknown as forge.asn1.Class };
}

function keyIdentifierOf(cert: forge.pki.Certificate): string {
  const ext = cert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | undefined;
  if (!ext?.subjectKeyIdentifier) throw new Error('issuer certificate without subjectKeyIdentifier');
  // forge reads the extension back as hex but wants the authorityKeyIdentifier as raw bytes.
  return forge.util.hexToBytes(ext.subjectKeyIdentifier);
}

// DER prefix of a DigestInfo for SHA-256 (RFC 8017 §9.2 note 1): the signature is RSA-private(PKCS#1 type 1 padding,
// DigestInfo), which is what OpenSSL's private "encrypt" with RSA_PKCS1_PADDING computes.
const SHA256_DIGEST_INFO_PREFIX = Buffer.from('3031300d060960864801650304020105000420', 'hex');

/** A forge signing key whose RSA operation is done by OpenSSL. forge calls `sign(md)` with the digested TBS. */
function opensslSigner(key: KeyObject): forge.pki.rsa.PrivateKey {
  const signer = {
    sign(md: forge.md.MessageDigest): string {
      const digest = Buffer.from(md.digest().getBytes(), 'binary');
      const digestInfo = Buffer.concat([SHA256_DIGEST_INFO_PREFIX, digest]);
      return privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, digestInfo).toString('binary');
    },
  };
  return signer as unknown as forge.pki.rsa.PrivateKey;
}

function pkcs12(key: KeyPair, chain: forge.pki.Certificate[], passphrase: string, friendlyName: string): Buffer {
  const asn1 = forge.pkcs12.toPkcs12Asn1(forge.pki.privateKeyFromPem(key.pem), chain, passphrase, {
    algorithm: 'aes256',
    friendlyName,
    generateLocalKeyId: true,
  });
  return Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary');
}

/** RFC 4514-like text (most significant last, as OpenSSL and node print it reversed). */
function distinguishedName(attrs: forge.pki.CertificateField[]): string {
  return [...attrs]
    .reverse()
    .map((a) => `${a.shortName ?? a.name}=${String(a.value)}`)
    .join(', ');
}
