// The decision page of the MT and the PHO (issue 18 point 4), reached through their secure link: to be built.
import type { LinkPageHandler } from './link-pages.js';
import { linkNotFound } from './link-pages.js';

export const decisionPage: LinkPageHandler = async (_req, res) => {
  linkNotFound(res);
};
