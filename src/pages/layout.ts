// The frame every page shares: French document, skip link, header with who is signed in and the sign-out form,
// and the error pages (4xx in plain words, never a stack trace).
import type { Response } from 'express';
import type { Principal } from '../domain/access/model.js';
import { html, type SafeHtml } from './html.js';
import { STYLESHEET_PATH } from './style.js';

/** The signed-in person as the frame shows them: name and the CSRF token of the sign-out form. */
export interface Viewer {
  principal: Principal;
  csrf: string;
}

export function signOutForm(viewer: Viewer): SafeHtml {
  return html`<form class="inline" method="post" action="/deconnexion"><input type="hidden" name="_csrf" value="${viewer.csrf}"><button type="submit" class="secondaire">Se déconnecter</button></form>`;
}

export function renderPage(title: string, main: SafeHtml, viewer?: Viewer): string {
  const person = viewer?.principal.person;
  return html`<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} — Passerelle</title>
<link rel="stylesheet" href="${STYLESHEET_PATH}">
</head>
<body>
<a class="evitement" href="#contenu">Aller au contenu</a>
<header class="bandeau">
<a class="marque" href="/accueil">Passerelle</a>
${viewer ? html`<div class="qui"><span>${person?.name ?? person?.sub ?? viewer.principal.id}</span>${signOutForm(viewer)}</div>` : ''}
</header>
<main id="contenu" tabindex="-1">
${main}
</main>
</body>
</html>`.value;
}

export function sendPage(res: Response, status: number, title: string, main: SafeHtml, viewer?: Viewer): void {
  res.status(status).type('html').send(renderPage(title, main, viewer));
}

/** A page that says what went wrong and what to do, with the status the situation calls for. */
export function sendProblem(res: Response, status: number, title: string, text: string, viewer?: Viewer, next?: SafeHtml): void {
  sendPage(res, status, title, html`<h1>${title}</h1><p>${text}</p>${next ?? html`<p><a href="/accueil">Retour à l’accueil</a></p>`}`, viewer);
}
