// What the pathway's services are given by their callers (HTTP routes, pages, the scheduler): the clock reading, who
// acts, and the parts of the configuration they use.
import type { Config } from '../../config.js';

export interface PathwayContext {
  /** Clock reading of the request or of the scheduler's tick. */
  now: Date;
  /** Audit actor: the client id, `link:MT` / `link:PHO`, `person:<sub>`, or `scheduler`. */
  actor: string;
  requestId?: string;
  config: Config;
  /** Absolute FHIR base URL (`${config.baseUrl}/fhir`). */
  fhirBase: string;
}
