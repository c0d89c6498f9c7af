// The PHO's prescription request at D45/D90 (issue 18 point 6), reached through its secure link: to be built.
import type { LinkPageHandler } from './link-pages.js';
import { linkNotFound } from './link-pages.js';

export const prescriptionPage: LinkPageHandler = async (_req, res) => {
  linkNotFound(res);
};
