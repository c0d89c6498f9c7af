// Security headers of every page (helmet): a CSP with no script at all and style only from our own sheet,
// frame-ancestors 'none', no referrer, nosniff, and no caching (the pages show patient data).
import helmet from 'helmet';
import type { RequestHandler } from 'express';

/** `formOrigins`: other origins a form may end up at (the sign-out form is redirected to the provider). */
export function pageHeaders(options: { https: boolean; formOrigins?: readonly string[] }): RequestHandler {
  const secure = helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'none'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'", ...(options.formOrigins ?? [])],
        frameAncestors: ["'none'"],
        ...(options.https ? { upgradeInsecureRequests: [] } : {}),
      },
    },
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: options.https ? { maxAge: 31_536_000 } : false,
    xFrameOptions: { action: 'deny' },
  });
  return (req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    secure(req, res, next);
  };
}
