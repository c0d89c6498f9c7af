// Pages for people (server-rendered French HTML, signed in through OpenID Connect).
export { mountPages } from './mount.js';
export { checkPeopleSignIn } from './sign-in.js';
export { sessionPrincipal, personPage, type PersonPageContext } from './person-page.js';
export { PeopleSessions, SESSION_COOKIE } from './session.js';
export { reviewItemView, mountReviewPage, REVIEW_PAGE } from './review-page.js';
export { html, escapeHtml, SafeHtml } from './html.js';
export { mountPathwayPage, pppDetailView, PATHWAY_PAGE, PATHWAY_SCOPE } from './pathway-page.js';
