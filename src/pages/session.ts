// People's server-side sessions: a random 32-byte cookie (HttpOnly, Secure, SameSite=Lax, Path=/), of which the
// database keeps only the SHA-256 (`store.security`, table web_session), with an idle lifetime (`auth.sessionTtl`)
// and an absolute one (12 h, or `sessionTtl` if longer).
// A short "sign-in" session holds the OIDC state, nonce and PKCE verifier between /connexion and /auth/callback;
// signing in replaces it by a new id (rotation). Each request maps the person again to `auth.people`, so a person
// removed from the configuration loses access at once. Forms carry the session's synchronizer CSRF token.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import { z } from 'zod';
import type { AuthPerson } from '../config.js';
import { parseTenant, scopesOf, type Principal } from '../domain/access/model.js';
import { currentRequestContext } from '../observability/request-context.js';
import type { SecurityRepository } from '../store/security-repository.js';

/** `__Host-`: the browser only accepts it Secure, Path=/, without Domain — no sibling host can plant or read it. */
export const SESSION_COOKIE = '__Host-passerelle';
const SIGN_IN_TTL_S = 600;
/** A sliding session is written back at most this often (not on every page view). */
const REFRESH_EVERY_S = 60;
/** However active, a person signs in again after this long (or after `sessionTtl` if that is longer). */
const ABSOLUTE_LIFETIME_S = 12 * 3600;

const SignInData = z.object({
  kind: z.literal('sign-in'),
  state: z.string().min(1),
  nonce: z.string().min(1),
  verifier: z.string().min(1),
  retour: z.string().min(1),
});
export type SignInData = z.infer<typeof SignInData>;

const PersonData = z.object({
  kind: z.literal('person'),
  sub: z.string().min(1),
  rpps: z.string().optional(),
  name: z.string().optional(),
  csrf: z.string().min(1),
  /** For the provider's end-session request (`id_token_hint`); kept server-side only. */
  idToken: z.string().optional(),
  signedInAt: z.string(),
});
export type PersonData = z.infer<typeof PersonData>;

const SessionData = z.discriminatedUnion('kind', [SignInData, PersonData]);

export interface PersonSession {
  idHash: string;
  data: PersonData;
  principal: Principal;
}

const hash = (value: string): string => createHash('sha256').update(value).digest('hex');
const newId = (): string => randomBytes(32).toString('base64url');

/** The value of cookie `name` in the request (first occurrence), if it has the shape of our ids. */
function cookieValue(req: Request, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header || header.length > 8192) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      const v = part.slice(eq + 1).trim();
      return /^[A-Za-z0-9_-]{43}$/.test(v) ? v : undefined;
    }
  }
  return undefined;
}

/** The declared person a signed-in subject is: by the provider's `sub`, else by RPPS/ADELI. */
export function declaredPerson(people: readonly AuthPerson[], who: { sub: string; rpps?: string }): AuthPerson | undefined {
  return people.find((p) => p.sub !== undefined && p.sub === who.sub) ?? (who.rpps ? people.find((p) => p.rpps !== undefined && p.rpps === who.rpps) : undefined);
}

export function personPrincipal(declared: AuthPerson, data: Pick<PersonData, 'sub' | 'rpps' | 'name'>): Principal {
  const rpps = data.rpps ?? declared.rpps;
  return {
    id: `person:${data.sub}`,
    method: 'session',
    tenant: parseTenant(declared.tenant),
    roles: declared.roles,
    scopes: scopesOf(declared.roles),
    person: { sub: data.sub, ...(rpps ? { rpps } : {}), ...(data.name ? { name: data.name } : {}) },
  };
}

/** Constant-time comparison of the form's CSRF token with the session's. */
export function csrfMatches(session: PersonData, submitted: unknown): boolean {
  if (typeof submitted !== 'string' || submitted.length === 0 || submitted.length > 128) return false;
  const a = Buffer.from(session.csrf);
  const b = Buffer.from(submitted);
  return a.length === b.length && timingSafeEqual(a, b);
}

export class PeopleSessions {
  constructor(
    private readonly repo: SecurityRepository,
    private readonly people: readonly AuthPerson[],
    private readonly ttlSeconds: number,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private async load(req: Request): Promise<{ idHash: string; data: z.infer<typeof SessionData>; expires: string } | undefined> {
    const id = cookieValue(req, SESSION_COOKIE);
    if (!id) return undefined;
    const idHash = hash(id);
    const row = await this.repo.sessionGet(idHash, this.now());
    if (!row) return undefined;
    const parsed = SessionData.safeParse(row.data);
    return parsed.success ? { idHash, data: parsed.data, expires: row.expires } : undefined;
  }

  private async create(res: Response, data: z.infer<typeof SessionData>, ttlSeconds: number): Promise<void> {
    const id = newId();
    await this.repo.sessionPut(hash(id), { data, expires: new Date(this.now().getTime() + ttlSeconds * 1000).toISOString() });
    res.cookie(SESSION_COOKIE, id, { httpOnly: true, secure: true, sameSite: 'lax', path: '/' });
  }

  /**
   * The signed-in person of the request, or undefined (no cookie, expired, a sign-in in progress, or a person no
   * longer declared). Also makes them the principal of the request context, for the audit rows of the request.
   */
  async person(req: Request): Promise<PersonSession | undefined> {
    const s = await this.load(req);
    if (!s || s.data.kind !== 'person') return undefined;
    const now = this.now().getTime();
    if (now - Date.parse(s.data.signedInAt) > Math.max(ABSOLUTE_LIFETIME_S, this.ttlSeconds) * 1000) return undefined;
    const declared = declaredPerson(this.people, s.data);
    if (!declared) return undefined;
    const principal = personPrincipal(declared, s.data);
    const context = currentRequestContext();
    if (context) context.principal = principal;
    // Idle lifetime: push the expiry forward, at most once a minute.
    if (Date.parse(s.expires) - now < (this.ttlSeconds - REFRESH_EVERY_S) * 1000) {
      await this.repo.sessionPut(s.idHash, { data: s.data, expires: new Date(now + this.ttlSeconds * 1000).toISOString() });
    }
    return { idHash: s.idHash, data: s.data, principal };
  }

  /** The sign-in in progress (state, nonce, verifier, return path), if the cookie names one. */
  async signIn(req: Request): Promise<{ idHash: string; data: SignInData } | undefined> {
    const s = await this.load(req);
    return s && s.data.kind === 'sign-in' ? { idHash: s.idHash, data: s.data } : undefined;
  }

  /** Start a sign-in: a short session of its own (any previous session of the browser is dropped). */
  async beginSignIn(req: Request, res: Response, data: Omit<SignInData, 'kind'>): Promise<void> {
    await this.dropCurrent(req);
    await this.create(res, { kind: 'sign-in', ...data }, SIGN_IN_TTL_S);
  }

  /** Signed in: the sign-in session is replaced by a person session under a new id. */
  async completeSignIn(req: Request, res: Response, person: Omit<PersonData, 'kind' | 'csrf' | 'signedInAt'>): Promise<void> {
    await this.dropCurrent(req);
    await this.create(res, { kind: 'person', ...person, csrf: newId(), signedInAt: this.now().toISOString() }, this.ttlSeconds);
  }

  /** Forget the browser's session (sign-out, refused sign-in) and clear its cookie. */
  async end(req: Request, res: Response): Promise<void> {
    await this.dropCurrent(req);
    res.clearCookie(SESSION_COOKIE, { httpOnly: true, secure: true, sameSite: 'lax', path: '/' });
  }

  private async dropCurrent(req: Request): Promise<void> {
    const id = cookieValue(req, SESSION_COOKIE);
    if (id) await this.repo.sessionDelete(hash(id));
  }
}
