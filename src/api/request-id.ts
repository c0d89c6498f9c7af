// Request ids and access logging: every request gets an id (echoed in `X-Request-Id` and in error
// outcomes) and one log line with method, route, status and duration — never bodies or query values — counted
// in the process metrics by route pattern and status.
import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { metrics } from '../observability/metrics.js';
import { withRequestContext } from '../observability/request-context.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by `requestId()`; from a sane incoming `X-Request-Id` or a fresh UUID. */
      requestId: string;
    }
    interface Locals {
      /** The route pattern that served the request (e.g. `GET /fhir/:type/:id`), for logs. */
      route?: string;
    }
  }
}

const INCOMING_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestId(): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get('x-request-id');
    req.requestId = incoming && INCOMING_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-Id', req.requestId);
    // Everything this request runs sees its context (src/observability/request-context.ts); authentication adds the principal.
    withRequestContext({ requestId: req.requestId, ...(req.socket.remoteAddress ? { source: req.socket.remoteAddress } : {}) }, next);
  };
}

/** One line per request, written when the response is finished (or the client went away). */
export function accessLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    let done = false;
    const write = (aborted: boolean): void => {
      if (done) return;
      done = true;
      const durationMs = Number(process.hrtime.bigint() - start) / 1e6;
      const status = res.statusCode;
      const line = {
        reqId: req.requestId,
        method: req.method,
        route: res.locals.route ?? req.route?.path ?? '(unrouted)',
        status,
        durationMs: Math.round(durationMs * 10) / 10,
        client: req.client?.id,
        ...(aborted ? { aborted: true } : {}),
      };
      const labels = { method: req.method, route: line.route, status: String(status) };
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe(labels, durationMs / 1000);
      if (status >= 500) logger.error(line, 'request');
      else if (status >= 400) logger.warn(line, 'request');
      else logger.info(line, 'request');
    };
    res.on('finish', () => write(false));
    res.on('close', () => write(!res.writableFinished));
    next();
  };
}
