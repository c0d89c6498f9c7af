// The pages reached through a secure link (issue 18): `GET/POST /p/<token>[/<step>]`. The token is resolved once
// (audited: verdict, hash prefix, client address) and the page of the link's purpose answers: the decision page
// for the MT and the PHO (`decision`), the prescription request at D45/D90 (`prescription`). A forged, expired,
// revoked or other-PPP token gets one and the same 404 page, whatever the reason. Each page parses its own body
// (the decision form is url-encoded, the prescription upload multipart).
import type { IRouter, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { LinkPurpose, LinkRecord } from '../domain/pathway/link-token.js';
import { LINK_PATH, resolveLink } from '../services/pathway/links.js';
import type { ResourceStore } from '../store/repository.js';
import { decisionPage } from './decision-page.js';
import { sendProblem } from './layout.js';
import { prescriptionPage } from './prescription-page.js';

/** What a link page is given besides the request: the link (valid at `now`) and the gateway's parts. */
export interface LinkPageContext {
  link: LinkRecord;
  /** The path segment after the token (`/p/<token>/<step>`), if any. */
  step?: string;
  /** The page's own URL (`/p/<token>`), for forms and redirects. */
  path: string;
  now: Date;
  store: ResourceStore;
  config: Config;
  logger: Logger;
  /** The url-encoded form parser of the pages (16 kB, 20 fields): call it for a POST of a plain form. */
  form: RequestHandler;
}

export type LinkPageHandler = (req: Request, res: Response, ctx: LinkPageContext) => Promise<void>;

const HANDLERS: Record<LinkPurpose, LinkPageHandler> = { decision: decisionPage, prescription: prescriptionPage };

/** Our tokens are 43 base64url characters; anything else is not looked up beyond its audit row. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{1,256}$/;
const STEP_SHAPE = /^[a-z0-9-]{1,32}$/;

/** The one answer to every bad link. */
export function linkNotFound(res: Response): void {
  sendProblem(
    res,
    404,
    'Lien introuvable',
    'Ce lien n’est pas valide : il a peut-être expiré ou été remplacé par un envoi plus récent. Demandez un nouveau lien à l’équipe qui vous l’a adressé.',
    undefined,
    // No way into the signed-in part of the gateway from a link page.
    undefined,
  );
}

export function mountLinkPages(
  app: IRouter,
  deps: { store: ResourceStore; config: Config; logger: Logger },
  pageHeaders: RequestHandler,
  form: RequestHandler,
): void {
  const serve: RequestHandler = (req, res, next) => {
    res.locals.route = `${req.method} ${LINK_PATH}:token${req.params.step ? '/:step' : ''}`;
    if (req.method !== 'GET' && req.method !== 'POST') {
      res.setHeader('Allow', 'GET, POST');
      return sendProblem(res, 405, 'Méthode non permise', 'Cette page s’ouvre et s’envoie comme un formulaire.');
    }
    const token = String(req.params.token);
    const step = req.params.step === undefined ? undefined : String(req.params.step);
    const now = new Date();
    (async () => {
      const resolved = await resolveLink(deps.store, TOKEN_SHAPE.test(token) ? token : token.slice(0, 256), { now, ...(req.ip ? { ip: req.ip } : {}) });
      if (!resolved.ok || (step !== undefined && !STEP_SHAPE.test(step))) return linkNotFound(res);
      const handler = HANDLERS[resolved.link.purpose];
      await handler(req, res, { link: resolved.link, ...(step !== undefined ? { step } : {}), path: `${LINK_PATH}${token}`, now, ...deps, form });
    })().catch(next);
  };
  app.all(`${LINK_PATH}:token`, pageHeaders, serve);
  app.all(`${LINK_PATH}:token/:step`, pageHeaders, serve);
}
