// The secure-link tokens of the pathway (issue 18 point 3): a 256-bit random token per (PPP, professional, purpose),
// kept only as its SHA-256, expiring and revocable. Pure rules: the verdict on a presented token given its stored row.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Bytes of randomness in a token (256 bits: guessing is out of reach, so a plain SHA-256 needs no server secret). */
export const TOKEN_BYTES = 32;
/** A token as it appears in a URL: base64url without padding, 43 characters for 32 bytes. */
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;
/** Default lifetime of a link, in days (config `pathway.linkTtlDays`). */
export const DEFAULT_LINK_TTL_DAYS = 30;

export type LinkRole = 'MT' | 'PHO';
/** What a link lets its holder do: decide on the PPP's recommendations, or answer a D45/D90 prescription request. */
export type LinkPurpose = 'decision' | 'prescription';

/** The stored side of a link (never the token itself). */
export interface LinkRecord {
  tokenHash: string;
  /** The CarePlan id of the PPP. */
  carePlan: string;
  role: LinkRole;
  rpps: string;
  purpose: LinkPurpose;
  created: string;
  expires: string;
  revokedAt?: string;
  revokedReason?: string;
  lastUsed?: string;
}

/** Why a presented token was accepted or refused; for the audit trail only — the public answer to every refusal is one. */
export type LinkVerdict = 'valid' | 'unknown' | 'expired' | 'revoked' | 'wrong-ppp';

/** A new token, to be sent once and never stored in clear. */
export function newLinkToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

/** The SHA-256 of a token, hexadecimal: the key it is stored and looked up under. */
export function linkTokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Whether `token` hashes to `hash`, compared in constant time. */
export function tokenMatches(token: string, hash: string): boolean {
  const a = Buffer.from(linkTokenHash(token), 'hex');
  const b = Buffer.from(hash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** When a link issued at `now` expires. */
export function linkExpiry(now: Date, ttlDays: number): Date {
  if (!Number.isFinite(ttlDays) || ttlDays <= 0) throw new RangeError(`link lifetime: expected a positive number of days, got ${ttlDays}`);
  return new Date(now.getTime() + ttlDays * 86_400_000);
}

/** The first characters of a hash, enough to tell rows apart in an audit detail and useless to an attacker. */
export function hashPrefix(hash: string): string {
  return hash.slice(0, 12);
}

/**
 * The verdict on a presented token: `row` is what its hash found (undefined: forged or unknown), `carePlan` the PPP
 * the request is about when it names one. Revocation wins over expiry (the more specific reason); a link is expired
 * from its `expires` instant on.
 */
export function linkVerdict(
  token: string,
  row: LinkRecord | undefined,
  context: { now: Date; carePlan?: string },
): LinkVerdict {
  if (!TOKEN_PATTERN.test(token) || !row || !tokenMatches(token, row.tokenHash)) return 'unknown';
  if (row.revokedAt !== undefined) return 'revoked';
  if (context.now.getTime() >= Date.parse(row.expires)) return 'expired';
  if (context.carePlan !== undefined && context.carePlan !== row.carePlan) return 'wrong-ppp';
  return 'valid';
}
