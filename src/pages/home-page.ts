// GET / and /accueil: who is signed in (name, RPPS, tenant, roles) and the sign-out form.
import type { IRouter } from 'express';
import type { RequestHandler } from 'express';
import { hasScope } from '../domain/access/model.js';
import { html } from './html.js';
import { PATHWAY_PAGE, PATHWAY_SCOPE } from './pathway-page.js';
import { ROLE_LABELS, tenantLabel } from './labels.js';
import { sendPage } from './layout.js';
import { personPage } from './person-page.js';
import type { PeopleSessions } from './session.js';

export function mountHomePage(app: IRouter, sessions: PeopleSessions, pageHeaders: RequestHandler): void {
  app.get(
    ['/', '/accueil'],
    pageHeaders,
    personPage(sessions, { route: 'GET /accueil' }, async (_req, res, { viewer }) => {
      const p = viewer.principal;
      const person = p.person;
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
${hasScope(p, PATHWAY_SCOPE) ? html`<h2>Vos pages</h2>
<ul><li><a href="${PATHWAY_PAGE}">Parcours PPP</a> : les PPP en cours, leur étape et le suivi à J45 et J90</li></ul>` : ''}
<p class="aide">Vos actions sur la passerelle sont enregistrées sous votre identité.</p>`,
        viewer,
      );
    }),
  );
}
