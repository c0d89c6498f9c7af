// The secure-link token rules (issue 18 point 3): unguessable tokens, a stable hash, and the verdict on a presented
// token — one kind per reason for the audit, with expiry exact to the millisecond.
import { describe, expect, it } from 'vitest';
import {
  linkExpiry,
  linkTokenHash,
  linkVerdict,
  newLinkToken,
  tokenMatches,
  TOKEN_PATTERN,
  type LinkRecord,
} from '../../../src/domain/pathway/link-token.js';

const NOW = new Date('2026-12-06T10:00:00.000Z');

function stored(token: string, extra: Partial<LinkRecord> = {}): LinkRecord {
  return {
    tokenHash: linkTokenHash(token),
    carePlan: 'ppp-1',
    role: 'MT',
    rpps: '10101634078',
    purpose: 'decision',
    created: NOW.toISOString(),
    expires: linkExpiry(NOW, 30).toISOString(),
    ...extra,
  };
}

describe('link tokens', () => {
  it('are 256-bit base64url strings, all different', () => {
    const tokens = Array.from({ length: 2000 }, newLinkToken);
    expect(new Set(tokens).size).toBe(tokens.length);
    for (const t of tokens) {
      expect(t).toMatch(TOKEN_PATTERN);
      expect(Buffer.from(t, 'base64url')).toHaveLength(32);
    }
  });

  it('hash to a stable SHA-256 that does not contain the token', () => {
    const t = newLinkToken();
    expect(linkTokenHash(t)).toBe(linkTokenHash(t));
    expect(linkTokenHash(t)).toMatch(/^[0-9a-f]{64}$/);
    expect(linkTokenHash('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(linkTokenHash(newLinkToken())).not.toBe(linkTokenHash(t));
    expect(tokenMatches(t, linkTokenHash(t))).toBe(true);
    expect(tokenMatches(newLinkToken(), linkTokenHash(t))).toBe(false);
    expect(tokenMatches(t, 'not-hex')).toBe(false);
  });

  it('expire after the configured number of days, and refuse a non-positive lifetime', () => {
    expect(linkExpiry(NOW, 30).toISOString()).toBe('2027-01-05T10:00:00.000Z');
    expect(linkExpiry(NOW, 1).toISOString()).toBe('2026-12-07T10:00:00.000Z');
    expect(() => linkExpiry(NOW, 0)).toThrow(/positive/);
    expect(() => linkExpiry(NOW, Number.NaN)).toThrow(/positive/);
  });
});

describe('linkVerdict', () => {
  const token = newLinkToken();
  const row = stored(token);

  it('accepts the token of its row until the last millisecond before expiry', () => {
    expect(linkVerdict(token, row, { now: NOW })).toBe('valid');
    expect(linkVerdict(token, row, { now: NOW, carePlan: 'ppp-1' })).toBe('valid');
    expect(linkVerdict(token, row, { now: new Date(Date.parse(row.expires) - 1) })).toBe('valid');
    expect(linkVerdict(token, row, { now: new Date(row.expires) })).toBe('expired');
    expect(linkVerdict(token, row, { now: new Date(Date.parse(row.expires) + 86_400_000) })).toBe('expired');
  });

  it('refuses a forged or unknown token, or a row that is not its own', () => {
    expect(linkVerdict(newLinkToken(), undefined, { now: NOW })).toBe('unknown');
    expect(linkVerdict('short', undefined, { now: NOW })).toBe('unknown');
    expect(linkVerdict(`${token}x`, row, { now: NOW })).toBe('unknown');
    expect(linkVerdict(newLinkToken(), row, { now: NOW })).toBe('unknown');
  });

  it('refuses a revoked token (revocation named before expiry) and a token of another PPP', () => {
    const revoked = stored(token, { revokedAt: NOW.toISOString(), revokedReason: 'replaced' });
    expect(linkVerdict(token, revoked, { now: NOW })).toBe('revoked');
    expect(linkVerdict(token, revoked, { now: new Date('2030-01-01T00:00:00Z') })).toBe('revoked');
    expect(linkVerdict(token, row, { now: NOW, carePlan: 'ppp-2' })).toBe('wrong-ppp');
  });
});
