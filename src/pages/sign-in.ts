// People sign in with OpenID Connect (authorization code + PKCE S256, state and nonce), against the configured
// provider — Pro Santé Connect in production, the local sandbox for demos and tests. openid-client does the
// protocol and the ID token checks (signature, issuer, audience, expiry, nonce); this module keeps the
// verifier server-side, maps the person to `auth.people` and opens the session. Undeclared people get no session.
import type { IRouter, Request, Response } from 'express';
import type { Logger } from 'pino';
import * as oidc from 'openid-client';
import { ConfigError, readSecret, type Config } from '../config.js';
import { recordAccess, whoOf } from '../services/audit/index.js';
import type { ResourceStore } from '../store/repository.js';
import { html } from './html.js';
import { sendProblem } from './layout.js';
import { safeReturnPath } from './return-path.js';
import { csrfMatches, declaredPerson, personPrincipal, type PeopleSessions } from './session.js';
import type { RequestHandler } from 'express';

type OidcSettings = NonNullable<Config['auth']['oidc']>;

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
const MAX_CALLBACK_QUERY = 4096;

/** The gateway as an OpenID relying party: discovery once (again after a failure), then the flows. */
export class RelyingParty {
  private discovered?: Promise<oidc.Configuration>;
  private readonly secret: string | undefined;
  readonly redirectUri: string;
  readonly afterLogout: string;

  constructor(
    readonly settings: OidcSettings,
    baseUrl: string,
  ) {
    const issuer = new URL(settings.issuer);
    if (issuer.protocol !== 'https:' && !(issuer.protocol === 'http:' && LOOPBACK.has(issuer.hostname))) {
      throw new ConfigError(`auth.oidc.issuer: ${settings.issuer} must be https (plain http only on the loopback, for the sandbox)`);
    }
    this.secret = readSecret({ file: settings.clientSecretFile, env: settings.clientSecretEnv }, 'auth.oidc client secret');
    this.redirectUri = `${baseUrl}/auth/callback`;
    this.afterLogout = `${baseUrl}/`;
  }

  /** The issuer's origin (the CSP lets the sign-out form's redirect go there). */
  get origin(): string {
    return new URL(this.settings.issuer).origin;
  }

  configuration(): Promise<oidc.Configuration> {
    if (!this.discovered) {
      const insecure = new URL(this.settings.issuer).protocol === 'http:';
      this.discovered = oidc
        .discovery(
          new URL(this.settings.issuer),
          this.settings.clientId,
          undefined,
          this.secret !== undefined ? oidc.ClientSecretBasic(this.secret) : oidc.None(),
          { execute: insecure ? [oidc.allowInsecureRequests] : [], timeout: 10 },
        )
        .catch((err: unknown) => {
          this.discovered = undefined;
          throw err;
        });
    }
    return this.discovered;
  }
}

/** Check the people's sign-in settings at start (issuer scheme, client secret readable): a `ConfigError` if not. */
export function checkPeopleSignIn(config: Config): void {
  if (config.auth.oidc) new RelyingParty(config.auth.oidc, config.baseUrl);
}

/** The RPPS/ADELI in the claims: `claim` may be a dotted path; `8` + RPPS (national id form) is read as the RPPS. */
export function rppsOf(claims: Record<string, unknown>, claim: string): string | undefined {
  let value: unknown = claims;
  for (const key of claim.split('.')) value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
  if (typeof value !== 'string') return undefined;
  if (/^\d{11}$|^\d{9}$/.test(value)) return value;
  const national = /^8(\d{11})$/.exec(value);
  return national?.[1];
}

function nameOf(claims: Record<string, unknown>): string | undefined {
  const s = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim().slice(0, 200) : undefined);
  const given = s(claims.given_name);
  const family = s(claims.family_name);
  return s(claims.name) ?? (given || family ? [given, family].filter(Boolean).join(' ') : undefined);
}

export function mountSignIn(
  app: IRouter,
  deps: { config: Config; store: ResourceStore; logger: Logger },
  sessions: PeopleSessions,
  rp: RelyingParty | undefined,
  pageHeaders: RequestHandler,
  form: RequestHandler,
): void {
  const { config, store, logger } = deps;
  const notConfigured = (res: Response): void =>
    sendProblem(res, 404, 'Connexion non configurée', 'La connexion des personnes n’est pas configurée sur cette passerelle (auth.oidc).');
  const providerDown = (res: Response, err: unknown): void => {
    logger.warn({ err: (err as Error).message }, 'OpenID provider unreachable');
    sendProblem(res, 503, 'Service d’identité indisponible', 'Le fournisseur d’identité ne répond pas. Réessayez dans quelques minutes.');
  };

  app.get('/connexion', pageHeaders, (req: Request, res: Response, next) => {
    res.locals.route = 'GET /connexion';
    (async () => {
      const asked = req.query.retour;
      const retour = asked === undefined ? '/accueil' : safeReturnPath(asked);
      if (!retour) return sendProblem(res, 400, 'Adresse de retour refusée', 'L’adresse de retour doit être une page de cette passerelle.');
      if (await sessions.person(req)) return void res.redirect(303, retour);
      if (!rp) return notConfigured(res);
      let configuration: oidc.Configuration;
      try {
        configuration = await rp.configuration();
      } catch (err) {
        return providerDown(res, err);
      }
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      await sessions.beginSignIn(req, res, { state, nonce, verifier, retour });
      const url = oidc.buildAuthorizationUrl(configuration, {
        redirect_uri: rp.redirectUri,
        scope: rp.settings.scopes.join(' '),
        state,
        nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        ...(rp.settings.acrValues ? { acr_values: rp.settings.acrValues } : {}),
      });
      res.redirect(303, url.href);
    })().catch(next);
  });

  app.get('/auth/callback', pageHeaders, (req: Request, res: Response, next) => {
    res.locals.route = 'GET /auth/callback';
    (async () => {
      if (!rp) return notConfigured(res);
      const again = html`<p><a href="/connexion">Se connecter à nouveau</a></p>`;
      const query = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?')) : '';
      if (query.length > MAX_CALLBACK_QUERY) return sendProblem(res, 400, 'Connexion impossible', 'La réponse du fournisseur d’identité est trop longue.', undefined, again);
      const pending = await sessions.signIn(req);
      if (!pending) return sendProblem(res, 400, 'Connexion expirée', 'Cette connexion a expiré ou a déjà servi. Recommencez.', undefined, again);
      if (typeof req.query.error === 'string') {
        await sessions.end(req, res);
        return sendProblem(res, 403, 'Connexion refusée', 'Le fournisseur d’identité n’a pas confirmé votre identité.', undefined, again);
      }
      let configuration: oidc.Configuration;
      try {
        configuration = await rp.configuration();
      } catch (err) {
        return providerDown(res, err);
      }
      const current = new URL(rp.redirectUri);
      current.search = query;
      let claims: Record<string, unknown>;
      let idToken: string | undefined;
      try {
        const tokens = await oidc.authorizationCodeGrant(configuration, current, {
          pkceCodeVerifier: pending.data.verifier,
          expectedState: pending.data.state,
          expectedNonce: pending.data.nonce,
          idTokenExpected: true,
        });
        const id = tokens.claims();
        if (!id) throw new Error('no ID token');
        idToken = tokens.id_token;
        claims = { ...id };
        if (configuration.serverMetadata().userinfo_endpoint) {
          claims = { ...(await oidc.fetchUserInfo(configuration, tokens.access_token, id.sub)), ...id };
        }
      } catch (err) {
        // The code is single-use: a failed exchange ends this sign-in attempt.
        await sessions.end(req, res);
        logger.warn({ err: (err as Error).name, code: (err as { code?: string }).code }, 'sign-in: the authorization response was refused');
        return sendProblem(res, 400, 'Connexion impossible', 'La réponse du fournisseur d’identité n’a pas pu être vérifiée. Recommencez.', undefined, again);
      }
      const sub = String(claims.sub);
      const rpps = rppsOf(claims, rp.settings.rppsClaim);
      const name = nameOf(claims);
      const declared = declaredPerson(config.auth.people, { sub, ...(rpps ? { rpps } : {}) });
      const principal = declared ? personPrincipal(declared, { sub, ...(rpps ? { rpps } : {}), ...(name ? { name } : {}) }) : undefined;
      const who = principal
        ? whoOf(principal, req.socket.remoteAddress)
        : { actor: `person:${sub}`, person: rpps ? `rpps:${rpps}` : `sub:${sub}`, ...(req.socket.remoteAddress ? { source: req.socket.remoteAddress } : {}) };
      await recordAccess(store, {
        action: 'auth.sign-in',
        ...who,
        entities: [],
        outcome: principal ? 'success' : 'failure',
        ...(principal ? {} : { detail: 'person not declared in auth.people' }),
        requestId: req.requestId,
      });
      if (!principal) {
        await sessions.end(req, res);
        logger.warn({ reqId: req.requestId }, 'sign-in refused: person not declared in auth.people');
        return sendProblem(
          res,
          403,
          'Compte non autorisé',
          'Votre identité a bien été vérifiée, mais votre compte n’est pas déclaré sur cette passerelle. Demandez à son administrateur de vous ajouter.',
          undefined,
          html``,
        );
      }
      await sessions.completeSignIn(req, res, { sub, ...(rpps ? { rpps } : {}), ...(name ? { name } : {}), ...(idToken ? { idToken } : {}) });
      logger.info({ reqId: req.requestId, actor: principal.id }, 'person signed in');
      res.redirect(303, pending.data.retour);
    })().catch(next);
  });

  app.post('/deconnexion', pageHeaders, form, (req: Request, res: Response, next) => {
    res.locals.route = 'POST /deconnexion';
    (async () => {
      const session = await sessions.person(req);
      if (!session) return void res.redirect(303, '/connexion');
      if (!csrfMatches(session.data, (req.body as Record<string, unknown> | undefined)?._csrf)) {
        return sendProblem(res, 403, 'Formulaire refusé', 'Ce formulaire a expiré ou ne vient pas de cette passerelle. Rechargez la page et recommencez.');
      }
      await sessions.end(req, res);
      await recordAccess(store, { action: 'auth.sign-out', ...whoOf(session.principal, req.socket.remoteAddress), entities: [], outcome: 'success', requestId: req.requestId });
      let target = '/';
      if (rp) {
        try {
          const configuration = await rp.configuration();
          if (configuration.serverMetadata().end_session_endpoint) {
            target = oidc.buildEndSessionUrl(configuration, {
              post_logout_redirect_uri: rp.afterLogout,
              ...(session.data.idToken ? { id_token_hint: session.data.idToken } : {}),
            }).href;
          }
        } catch {
          // The provider is away: the gateway's session is gone all the same.
        }
      }
      res.redirect(303, target);
    })().catch(next);
  });
}
