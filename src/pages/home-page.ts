// GET / and /accueil: who is signed in (name, RPPS, tenant, roles), links to the pages their roles open, and the
// sign-out form.
import type { IRouter } from 'express';
import type { RequestHandler } from 'express';
import { hasScope } from '../domain/access/model.js';
import { CONFLICTS_PAGE, boardLinkFor } from './conflict-board-page.js';
import { html, type SafeHtml } from './html.js';
import { PATHWAY_PAGE, PATHWAY_SCOPE } from './pathway-page.js';
import { ROLE_LABELS, tenantLabel } from './labels.js';
import { sendPage } from './layout.js';
import { personPage } from './person-page.js';
import { REVIEW_PAGE, REVIEW_SCOPE } from './review-page.js';
import type { PeopleSessions } from './session.js';

export function mountHomePage(app: IRouter, sessions: PeopleSessions, pageHeaders: RequestHandler): void {
  app.get(
    ['/', '/accueil'],
    pageHeaders,
    personPage(sessions, { route: 'GET /accueil' }, async (_req, res, { viewer }) => {
      const p = viewer.principal;
      const person = p.person;
      // Only the pages this person may open: each link asks the page's own access rule.
      const board = boardLinkFor(p);
      const pages: SafeHtml[] = [
        ...(hasScope(p, PATHWAY_SCOPE) ? [html`<a href="${PATHWAY_PAGE}">Parcours PPP</a> : les PPP en cours, leur étape et le suivi à J45 et J90`] : []),
        ...(hasScope(p, REVIEW_SCOPE) ? [html`<a href="${REVIEW_PAGE}">File des rapprochements d’identités</a> : les doublons et collisions potentiels à décider`] : []),
        ...(board === CONFLICTS_PAGE
          ? [html`<a href="${board}">Conflits d’identité par établissement</a> : le tableau de chaque établissement, ses dossiers en attente, ses anomalies et ses collisions`]
          : board
            ? [html`<a href="${board}">Conflits d’identité de votre établissement</a> : ses dossiers en attente, ses anomalies et ses collisions`]
            : []),
      ];
      sendPage(
        res,
        200,
        'Accueil',
        html`<h1>Bonjour${person?.name ? html`, ${person.name}` : ''}</h1>
<h2>Votre compte</h2>
<dl class="fiche">
<dt>Nom</dt><dd>${person?.name ?? '—'}</dd>
<dt>RPPS</dt><dd>${person?.rpps ?? '—'}</dd>
<dt>Identifiant de connexion</dt><dd><code>${person?.sub ?? p.id}</code></dd>
<dt>Rattachement</dt><dd>${tenantLabel(p.tenant)}</dd>
<dt>Rôles</dt><dd>${p.roles.length ? html`<ul>${p.roles.map((r) => html`<li>${ROLE_LABELS[r]}</li>`)}</ul>` : 'Aucun'}</dd>
</dl>
${pages.length ? html`<h2>Vos pages</h2>
<ul>${pages.map((li) => html`<li>${li}</li>`)}</ul>` : ''}
<p class="aide">Vos actions sur la passerelle sont enregistrées sous votre identité.</p>`,
        viewer,
      );
    }),
  );
}
