// The gateway's own access tokens: short-lived JWTs (RFC 9068 `at+jwt`) signed with the gateway's ES256 key, issued
// by /oauth/token and checked on every request that carries `Authorization: Bearer <jwt>`. The private key comes from
// `auth.signingKeyFile` or is generated once into `<dataDir>/keys/` (mode 0600); its public half is published at
// /oauth/jwks. Every JWT and JWK operation is jose's.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, importPKCS8, jwtVerify, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { ConfigError, type Config } from '../../config.js';
import type { Scope } from '../../domain/access/model.js';

export const ACCESS_TOKEN_ALG = 'ES256';
export const ACCESS_TOKEN_TYPE = 'at+jwt';
/** Name of the generated key in `<dataDir>/keys/`. */
export const GENERATED_KEY_FILE = 'access-token-es256.jwk.json';

export interface SigningKey {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** Public JWK with kid, alg and use, as /oauth/jwks publishes it. */
  publicJwk: JWK;
  kid: string;
  /** Where it was read from (or written to). */
  file: string;
  generated: boolean;
}

/** The claims of a valid access token, as the middleware uses them. */
export interface AccessTokenClaims extends JWTPayload {
  sub: string;
  exp: number;
  scope: string;
  tenant?: string;
}

function publicOf(jwk: JWK): JWK {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, oth: _oth, k: _k, key_ops: _ops, ext: _ext, ...pub } = jwk;
  return pub;
}

async function fromJwk(jwk: JWK, file: string, generated: boolean): Promise<SigningKey> {
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string') throw new ConfigError(`${file}: expected a private EC P-256 JWK (ES256)`);
  const pub = publicOf(jwk);
  const kid = jwk.kid ?? (await calculateJwkThumbprint(pub));
  const privateKey = (await importJWK({ ...jwk, alg: ACCESS_TOKEN_ALG }, ACCESS_TOKEN_ALG)) as CryptoKey;
  const publicKey = (await importJWK({ ...pub, alg: ACCESS_TOKEN_ALG }, ACCESS_TOKEN_ALG)) as CryptoKey;
  return { privateKey, publicKey, publicJwk: { ...pub, kid, alg: ACCESS_TOKEN_ALG, use: 'sig' }, kid, file, generated };
}

/**
 * The signing key: `auth.signingKeyFile` (a private JWK as JSON, or a PKCS#8 PEM of a P-256 key), else
 * `<dataDir>/keys/access-token-es256.jwk.json`, generated when absent. A configured file that is missing is an error.
 */
export async function loadSigningKey(auth: Config['auth'], dataDir: string): Promise<SigningKey> {
  const configured = auth.signingKeyFile;
  const file = path.resolve(configured ?? path.join(dataDir, 'keys', GENERATED_KEY_FILE));
  if (!existsSync(file)) {
    if (configured) throw new ConfigError(`auth.signingKeyFile: ${file} does not exist`);
    return generateSigningKey(file);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`access-token signing key: cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    if (text.trimStart().startsWith('{')) return await fromJwk(JSON.parse(text) as JWK, file, false);
    const key = await importPKCS8(text, ACCESS_TOKEN_ALG, { extractable: true });
    return await fromJwk(await exportJWK(key), file, false);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`access-token signing key ${file}: ${(err as Error).message}`);
  }
}

async function generateSigningKey(file: string): Promise<SigningKey> {
  const { privateKey } = await generateKeyPair(ACCESS_TOKEN_ALG, { extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(publicOf(jwk));
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    // `wx`: another process starting on the same data directory may have written it first; then use that one.
    writeFileSync(file, `${JSON.stringify({ ...jwk, kid, alg: ACCESS_TOKEN_ALG, use: 'sig' })}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return fromJwk(JSON.parse(readFileSync(file, 'utf8')) as JWK, file, false);
    throw new ConfigError(`access-token signing key: cannot write ${file}: ${(err as Error).message}`);
  }
  return fromJwk({ ...jwk, kid }, file, true);
}

/** Verified tokens kept so that a client's next requests skip the signature check (until the token expires). */
const CACHE_SIZE = 10_000;

export class AccessTokens {
  private readonly cache = new Map<string, AccessTokenClaims>();

  constructor(
    private readonly key: SigningKey,
    /** `iss` and `aud` of the tokens: the gateway's public base URL. */
    readonly issuer: string,
    readonly ttlSeconds: number,
  ) {}

  get jwks(): { keys: JWK[] } {
    return { keys: [this.key.publicJwk] };
  }

  async issue(client: { id: string; tenantText?: string }, scopes: readonly Scope[], now = new Date()): Promise<{ token: string; expiresIn: number }> {
    const iat = Math.floor(now.getTime() / 1000);
    const token = await new SignJWT({ scope: scopes.join(' '), client_id: client.id, ...(client.tenantText ? { tenant: client.tenantText } : {}) })
      .setProtectedHeader({ alg: ACCESS_TOKEN_ALG, kid: this.key.kid, typ: ACCESS_TOKEN_TYPE })
      .setIssuer(this.issuer)
      .setAudience(this.issuer)
      .setSubject(client.id)
      .setJti(randomUUID())
      .setIssuedAt(iat)
      .setExpirationTime(iat + this.ttlSeconds)
      .sign(this.key.privateKey);
    return { token, expiresIn: this.ttlSeconds };
  }

  /** The claims of a token already verified and not yet expired, without any work; else undefined. */
  known(token: string, now = Date.now()): AccessTokenClaims | undefined {
    const cached = this.cache.get(token);
    return cached && cached.exp * 1000 > now ? cached : undefined;
  }

  /** The claims of a valid token; throws (a jose error) when the signature, type, issuer, audience or expiry is wrong. */
  async verify(token: string, now = Date.now()): Promise<AccessTokenClaims> {
    const cached = this.cache.get(token);
    if (cached && cached.exp * 1000 > now) return cached;
    if (cached) this.cache.delete(token);
    const { payload } = await jwtVerify(token, this.key.publicKey, {
      algorithms: [ACCESS_TOKEN_ALG],
      typ: ACCESS_TOKEN_TYPE,
      issuer: this.issuer,
      audience: this.issuer,
      requiredClaims: ['sub', 'exp', 'iat', 'jti'],
      currentDate: new Date(now),
    });
    if (typeof payload.scope !== 'string') throw new Error('the token has no scope');
    const claims = payload as AccessTokenClaims;
    if (this.cache.size >= CACHE_SIZE) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(token, claims);
    return claims;
  }
}
