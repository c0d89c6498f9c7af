// A real local OpenID Connect provider for demos and tests (the `oidc-provider` package), standing in for Pro Santé
// Connect: one confidential client (the gateway: client_secret_basic, PKCE S256 required), the demo people of
// people.ts, a plain server-rendered login form (no JavaScript: headless Chromium and a keyboard can fill it) and
// RP-initiated logout. Never used by production code paths: only `serve --sandbox-oidc` and the tests start it.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { html, SafeHtml } from '../../pages/html.js';
import { DEMO_PASSWORD, DEMO_PEOPLE, type DemoPerson } from './people.js';

export interface OidcSandboxOptions {
  /** 0: a free port. */
  port: number;
  /** Where the gateway answers (`config.baseUrl`): the redirect URI is `<it>/auth/callback`, after logout `<it>/`. */
  gatewayBaseUrl: string;
  /** Default 127.0.0.1 (a host other than the gateway's `localhost`, so the two never share cookies). */
  host?: string;
  clientId?: string;
  /** Default: 32 random bytes, new at each start. */
  clientSecret?: string;
}

export interface OidcSandbox {
  issuer: string;
  clientId: string;
  clientSecret: string;
  close(): Promise<void>;
}

const MAX_FORM = 8 * 1024;

function fullName(p: DemoPerson): string {
  return `${p.givenName} ${p.familyName}`;
}

function page(title: string, body: SafeHtml): string {
  // A sandbox page: minimal inline style is fine here (the gateway's own pages serve theirs under CSP).
  return html`<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} — fournisseur d’identité de démonstration</title>
<style>
body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1b1b1b}
h1{font-size:1.4rem}label{display:block;margin-top:1rem;font-weight:600}
input{font-size:1rem;padding:.5rem;width:100%;box-sizing:border-box;border:1px solid #666;border-radius:4px}
button{margin-top:1.25rem;font-size:1rem;padding:.6rem 1.2rem;border-radius:4px;border:1px solid #000091;background:#000091;color:#fff}
button.secondary{background:#fff;color:#000091}
:focus-visible{outline:3px solid #ff9940;outline-offset:2px}
.banner{background:#fff4d6;border:1px solid #b78400;padding:.5rem 1rem;border-radius:4px}
.error{color:#b00020;font-weight:600}table{border-collapse:collapse;margin-top:.5rem}td,th{padding:.2rem .6rem;border-bottom:1px solid #ddd;text-align:left}
</style>
</head>
<body>
<p class="banner">Fournisseur d’identité de <strong>démonstration</strong> (bac à sable Passerelle) — jamais en production.</p>
${body}
</body>
</html>`.value;
}

function loginPage(uid: string, error?: string, login = ''): string {
  return page(
    'Connexion',
    html`<main>
<h1>Connexion</h1>
${error ? html`<p class="error" role="alert" id="erreur">${error}</p>` : ''}
<form method="post" action="/interaction/${uid}/login" autocomplete="off">
<label for="login">Identifiant</label>
<input id="login" name="login" type="text" required maxlength="64" value="${login}" autofocus ${error ? html`aria-describedby="erreur"` : ''}>
<label for="password">Mot de passe</label>
<input id="password" name="password" type="password" required maxlength="64">
<button type="submit">Se connecter</button>
</form>
<form method="post" action="/interaction/${uid}/abort"><button type="submit" class="secondary">Annuler</button></form>
<h2>Comptes de démonstration</h2>
<p>Mot de passe : <code>${DEMO_PASSWORD}</code></p>
<table><thead><tr><th scope="col">Identifiant</th><th scope="col">Nom</th><th scope="col">RPPS</th></tr></thead>
<tbody>${DEMO_PEOPLE.map((p) => html`<tr><td><code>${p.login}</code></td><td>${fullName(p)}</td><td>${p.rpps}</td></tr>`)}</tbody></table>
</main>`,
  );
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_FORM) return undefined;
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'x-frame-options': 'DENY' });
  res.end(body);
}

export async function startOidcSandbox(options: OidcSandboxOptions): Promise<OidcSandbox> {
  const host = options.host ?? '127.0.0.1';
  const clientId = options.clientId ?? 'passerelle';
  const clientSecret = options.clientSecret ?? randomBytes(32).toString('base64url');
  const gateway = options.gatewayBaseUrl.replace(/\/+$/, '');

  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://${host}:${port}`;

  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'sandbox-1', alg: 'RS256', use: 'sig' };

  const configuration: Configuration = {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        client_name: 'Passerelle',
        redirect_uris: [`${gateway}/auth/callback`],
        post_logout_redirect_uris: [`${gateway}/`],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    pkce: { methods: ['S256'], required: () => true },
    claims: { openid: ['sub'], profile: ['name', 'given_name', 'family_name', 'rpps'] },
    scopes: ['openid', 'profile'],
    ttl: { AuthorizationCode: 60, Interaction: 600, Session: 8 * 3600, Grant: 8 * 3600, AccessToken: 600, IdToken: 600 },
    findAccount: (_ctx: KoaContextWithOIDC, id: string) => {
      const p = DEMO_PEOPLE.find((d) => d.sub === id);
      if (!p) return undefined;
      return {
        accountId: p.sub,
        claims: () => ({ sub: p.sub, name: fullName(p), given_name: p.givenName, family_name: p.familyName, rpps: p.rpps }),
      };
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    // The gateway is the one first-party client: consent is implied (as at Pro Santé Connect for a declared service).
    loadExistingGrant: async (ctx) => {
      const accountId = ctx.oidc.session?.accountId;
      const client = ctx.oidc.client;
      if (!accountId || !client) return undefined;
      const grantId = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session?.grantIdFor(client.clientId);
      if (grantId) {
        const existing = await ctx.oidc.provider.Grant.find(grantId);
        if (existing) return existing;
      }
      const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId });
      grant.addOIDCScope('openid profile');
      await grant.save();
      return grant;
    },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.type = 'html';
          ctx.body = page(
            'Déconnexion',
            html`<main><h1>Se déconnecter du fournisseur d’identité ?</h1>${new SafeHtml(form)}
<button type="submit" form="op.logoutForm" value="yes" name="logout" autofocus>Oui, me déconnecter</button>
<button type="submit" form="op.logoutForm" class="secondary">Non, rester connecté</button></main>`,
          );
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.type = 'html';
          ctx.body = page('Déconnecté', html`<main><h1>Vous êtes déconnecté.</h1></main>`);
        },
      },
    },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = page('Erreur', html`<main><h1>Erreur</h1><p>${String(out.error)} : ${String(out.error_description ?? '')}</p></main>`);
    },
  };
  const provider = new Provider(issuer, configuration);
  const callback = provider.callback();

  const interaction = async (req: IncomingMessage, res: ServerResponse, uid: string, action: string | undefined): Promise<void> => {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) return send(res, 400, page('Erreur', html`<main><p>Interaction inconnue.</p></main>`));
    if (req.method === 'GET' && action === undefined) {
      if (details.prompt.name === 'login') return send(res, 200, loginPage(uid));
      // consent is implied by loadExistingGrant; any other prompt ends the interaction as it stands
      return void (await provider.interactionFinished(req, res, {}, { mergeWithLastSubmission: true }));
    }
    if (req.method === 'POST' && action === 'abort') {
      return void (await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'sign-in cancelled' }, { mergeWithLastSubmission: false }));
    }
    if (req.method === 'POST' && action === 'login') {
      const form = await readForm(req);
      if (!form) return send(res, 413, loginPage(uid, 'Formulaire trop volumineux.'));
      const login = (form.get('login') ?? '').trim().slice(0, 64);
      const person = DEMO_PEOPLE.find((p) => p.login === login.toLowerCase());
      if (!person || form.get('password') !== DEMO_PASSWORD) return send(res, 401, loginPage(uid, 'Identifiant ou mot de passe incorrect.', login));
      return void (await provider.interactionFinished(req, res, { login: { accountId: person.sub } }, { mergeWithLastSubmission: false }));
    }
    send(res, 405, page('Erreur', html`<main><p>Méthode non permise.</p></main>`));
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const m = /^\/interaction\/([A-Za-z0-9_-]{1,64})(?:\/(login|abort))?$/.exec((req.url ?? '').split('?')[0] ?? '');
    if (!m) return void callback(req, res);
    interaction(req, res, m[1] as string, m[2]).catch((err: unknown) => {
      if (!res.headersSent) send(res, 400, page('Erreur', html`<main><h1>Connexion interrompue</h1><p>${(err as Error).message}</p></main>`));
      else res.end();
    });
  });

  let closing: Promise<void> | undefined;
  return {
    issuer,
    clientId,
    clientSecret,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
