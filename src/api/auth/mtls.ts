// Mutual TLS: which declared client a TLS client certificate stands for. The HTTPS listener asks for a certificate
// and lets the handshake finish whatever it presents (`rejectUnauthorized: false`), so that a certificate that does not
// chain to the configured CA is answered with a clear 401 OperationOutcome rather than a TLS alert; this module only
// reads what the socket verified.
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';

/** One relative distinguished name: its attribute=value pairs, type upper-cased, sorted (multi-valued RDNs). */
type Rdn = string;

const unescapedComma = /(?<!\\),/;
const unescapedPlus = /(?<!\\)\+/;

function ava(text: string): string {
  const eq = text.indexOf('=');
  if (eq <= 0) return text.trim();
  return `${text.slice(0, eq).trim().toUpperCase()}=${text.slice(eq + 1).trim()}`;
}

function rdn(text: string): Rdn {
  return text.split(unescapedPlus).map(ava).sort().join('+');
}

/**
 * A distinguished name as written in the configuration: RFC 4514 / 2253 (`CN=…,OU=…,O=…,C=FR`, most specific first)
 * or OpenSSL's default print (`C = FR, ST = …, CN = …`, root first). Spaces around `=`, `,` and `+` are ignored;
 * values are compared as printed (escaped RFC 4514-style).
 */
export function parseDn(text: string): Rdn[] {
  return text
    .replace(/^\s*subject\s*=\s*/i, '')
    .split(unescapedComma)
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(rdn);
}

/** The subject of a certificate, root first (as Node prints it: one RDN a line, multi-valued joined by ` + `). */
export function subjectOf(cert: X509Certificate): Rdn[] {
  return cert.subject
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => rdn(line.replace(/ \+ /g, '+')));
}

/** RFC 4514 text of a subject (most specific first), for messages and logs: ids only, certificates name no person. */
export function subjectText(subject: readonly Rdn[]): string {
  return [...subject].reverse().join(',');
}

/** Equal in either order (the configuration may give the root first, as OpenSSL prints it, or last, as RFC 4514). */
export function sameSubject(configured: readonly Rdn[], presented: readonly Rdn[]): boolean {
  if (configured.length !== presented.length || configured.length === 0) return false;
  const same = (a: readonly Rdn[], b: readonly Rdn[]): boolean => a.every((x, i) => x === b[i]);
  return same(configured, presented) || same([...configured].reverse(), presented);
}

/** A serial number as hexadecimal digits, lower case, without colons or leading zeros. */
export function normalSerial(text: string): string {
  return text.replace(/:/g, '').toLowerCase().replace(/^0+(?=.)/, '');
}

export type PeerCertificate =
  | { state: 'none' }
  | { state: 'untrusted'; reason: string; subject: string }
  | { state: 'trusted'; subject: Rdn[]; serial: string };

// Read once per connection: the certificate of a TLS connection does not change (Node refuses client-initiated
// renegotiation beyond a few attempts, and TLS 1.3 has none), and parsing it on every request of a keep-alive
// connection would cost more than the rest of authentication.
const perSocket = new WeakMap<Socket, PeerCertificate>();

/** What the TLS socket of a request holds: no certificate, one that does not chain to the CA, or a trusted one. */
export function peerCertificate(socket: Socket): PeerCertificate {
  const tls = socket as Partial<TLSSocket>;
  if (!tls.encrypted || typeof tls.getPeerCertificate !== 'function') return { state: 'none' };
  let known = perSocket.get(socket);
  if (!known) {
    known = readPeer(tls);
    perSocket.set(socket, known);
  }
  return known;
}

function readPeer(tls: Partial<TLSSocket>): PeerCertificate {
  if (typeof tls.getPeerCertificate !== 'function') return { state: 'none' };
  const peer = tls.getPeerCertificate(false);
  if (!peer || !peer.raw) return { state: 'none' };
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(peer.raw);
  } catch {
    return { state: 'untrusted', reason: 'unreadable certificate', subject: '' };
  }
  const subject = subjectOf(cert);
  if (!tls.authorized) {
    const error = tls.authorizationError;
    return { state: 'untrusted', reason: error ? String(error) : 'not verified', subject: subjectText(subject) };
  }
  return { state: 'trusted', subject, serial: normalSerial(cert.serialNumber) };
}
