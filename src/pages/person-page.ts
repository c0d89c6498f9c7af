// The guard of every page for people: a signed-in person (else 303 to the sign-in, coming back here afterwards),
// holding the scope the page needs (else a 403 page), made the principal of the request for its audit rows.
import type { Request, RequestHandler, Response } from 'express';
import { hasScope, type Principal, type Scope } from '../domain/access/model.js';
import { sendProblem, type Viewer } from './layout.js';
import { signInUrl } from './return-path.js';
import type { PeopleSessions, PersonSession } from './session.js';

export interface PersonPageContext {
  session: PersonSession;
  viewer: Viewer;
}

/** The principal of the request's person session, or undefined when nobody is signed in. */
export async function sessionPrincipal(sessions: PeopleSessions, req: Request): Promise<Principal | undefined> {
  return (await sessions.person(req))?.principal;
}

export function personPage(
  sessions: PeopleSessions,
  options: { scope?: Scope; route: string },
  handle: (req: Request, res: Response, ctx: PersonPageContext) => Promise<void>,
): RequestHandler {
  return (req, res, next) => {
    res.locals.route = options.route;
    (async () => {
      const session = await sessions.person(req);
      if (!session) {
        res.redirect(303, signInUrl(req.method === 'GET' ? req.originalUrl : req.path));
        return;
      }
      const viewer: Viewer = { principal: session.principal, csrf: session.data.csrf };
      if (options.scope && !hasScope(session.principal, options.scope)) {
        sendProblem(res, 403, 'Accès refusé', 'Votre rôle ne donne pas accès à cette page.', viewer);
        return;
      }
      await handle(req, res, { session, viewer });
    })().catch(next);
  };
}
