// The pages for people, mounted by the api layer before the systems' authentication (`AppDeps.pages`): the style
// sheet, sign-in / callback / sign-out, the home page, the identity review queue and items, the identity's page, the conflict board. Each page authenticates the
// person by session itself; form bodies are small url-encoded forms; anything that goes wrong becomes a 4xx page.
import express, { type ErrorRequestHandler, type Express, type RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import type { AppDeps } from '../api/app.js';
import { currentRequestContext, withRequestContext } from '../observability/request-context.js';
import { pageHeaders } from './headers.js';
import { mountHomePage } from './home-page.js';
import { mountLinkPages } from './link-pages.js';
import { sendProblem } from './layout.js';
import { mountPathwayPage } from './pathway-page.js';
import { mountConflictBoardPage } from './conflict-board-page.js';
import { mountDashboardPage } from './dashboard-page.js';
import { mountIdentityPage } from './identity-page.js';
import { mountReviewPage } from './review-page.js';
import { PeopleSessions } from './session.js';
import { RelyingParty, mountSignIn } from './sign-in.js';
import { STYLESHEET, STYLESHEET_PATH } from './style.js';

const FORM_LIMIT = '16kb';
/** The follow-up outcomes form: 2 fields per recommendation (at most 200) + 2, notes of up to 2,000 characters. */
const PATHWAY_FORM_LIMIT = '512kb';
const PATHWAY_FORM_FIELDS = 402;

export function mountPages(app: Express, deps: AppDeps): void {
  const { config, store, logger } = deps;
  const rp = config.auth.oidc ? new RelyingParty(config.auth.oidc, config.baseUrl) : undefined;
  const sessions = new PeopleSessions(store.security, config.auth.people, config.auth.sessionTtl);
  const headers = pageHeaders({ https: config.baseUrl.startsWith('https:'), formOrigins: rp ? [rp.origin] : [] });
  const formParser = (limit: string, parameterLimit: number): RequestHandler => {
    const parse = express.urlencoded({ extended: false, limit, parameterLimit });
    // The body parser resumes in the socket's async context: carry the request's context over it (audit rows need it).
    return (req, res, next) => {
      const context = currentRequestContext();
      parse(req, res, context ? (err?: unknown) => withRequestContext(context, () => next(err)) : next);
    };
  };
  const form = formParser(FORM_LIMIT, 20);

  // Failed sign-ins (a refused callback, an undeclared person, a foreign return path) are throttled per source
  // address like the systems' failed authentications (`auth.rateLimit.authentication`); successes are not counted.
  const { windowMs, max } = config.auth.rateLimit.authentication;
  const signInLimit = rateLimit({
    windowMs,
    limit: max,
    skipSuccessfulRequests: true,
    standardHeaders: false,
    legacyHeaders: false,
    keyGenerator: (req) => ipKeyGenerator(req.socket.remoteAddress ?? 'unknown'),
    handler: (_req, res, _next, options) => {
      res.setHeader('Retry-After', String(Math.ceil(options.windowMs / 1000)));
      sendProblem(res, 429, 'Trop de tentatives', 'Trop de connexions ont échoué depuis votre poste. Réessayez dans quelques minutes.');
    },
  });
  const pages = express.Router();
  pages.use(['/connexion', '/auth/callback'], signInLimit);
  pages.get(STYLESHEET_PATH, (_req, res) => {
    res.locals.route = `GET ${STYLESHEET_PATH}`;
    res.type('text/css').set({ 'Cache-Control': 'public, max-age=3600', 'X-Content-Type-Options': 'nosniff' }).send(STYLESHEET);
  });
  mountSignIn(pages, { config, store, logger }, sessions, rp, headers, form);
  mountHomePage(pages, sessions, headers);
  mountReviewPage(pages, { store, people: config.auth.people }, sessions, headers, form);
  mountIdentityPage(pages, { store }, sessions, headers, form);
  // The conflict board per establishment (issue 21 point 3); systems' JSON requests pass through to the API route.
  mountConflictBoardPage(pages, { store, people: config.auth.people }, sessions, headers, form);
  mountLinkPages(pages, { store, config, logger }, headers, form);
  // The follow-up form has a choice and a note per recommendation: more fields, and notes of up to 2,000 characters.
  mountPathwayPage(pages, { store, config }, sessions, headers, formParser(PATHWAY_FORM_LIMIT, PATHWAY_FORM_FIELDS));
  // The regional activity dashboard (issue 20): charts and tables, read-only.
  mountDashboardPage(pages, { store, config }, sessions, headers);

  // Errors of the pages' own routes (oversized or malformed forms, a failing store) end as an HTML page.
  const pageErrors: ErrorRequestHandler = (err: unknown, req, res, next) => {
    if (res.headersSent) return next(err);
    const status = typeof (err as { status?: unknown }).status === 'number' ? ((err as { status: number }).status) : 500;
    if (status === 413) return sendProblem(res, 413, 'Formulaire trop volumineux', 'Le formulaire envoyé dépasse la taille permise.');
    if (status >= 400 && status < 500) return sendProblem(res, status, 'Requête refusée', 'La requête envoyée n’a pas pu être lue.');
    logger.error({ reqId: req.requestId, route: res.locals.route, err: (err as Error).name }, 'page failed');
    sendProblem(res, 500, 'Erreur interne', 'Une erreur inattendue s’est produite. Réessayez ; si elle persiste, signalez-la avec l’heure.');
  };
  pages.use(pageErrors);
  app.use(pages);
}
