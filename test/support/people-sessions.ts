// A person's session cookie without the OpenID round trip: the sessions' own sign-in completion, for page tests that
// need several people signed in at once.
import type { Request, Response } from 'express';
import type { AuthPerson } from '../../src/config.js';
import { PeopleSessions } from '../../src/pages/session.js';
import type { ResourceStore } from '../../src/store/repository.js';

/** Signs `sub` (one of `people`) in and returns the session cookie's value. */
export async function sessionCookieOf(store: ResourceStore, people: AuthPerson[], sub: string): Promise<string> {
  const sessions = new PeopleSessions(store.security, people, 3600);
  let cookie = '';
  const res = { cookie: (_n: string, v: string) => (cookie = v), clearCookie: () => undefined } as unknown as Response;
  await sessions.completeSignIn({ headers: {} } as Request, res, { sub, rpps: people.find((p) => p.sub === sub)?.rpps, name: `Personne ${sub}` });
  return cookie;
}
