// The one error middleware: everything that goes wrong in a request ends here as an OperationOutcome,
// with its status from `statusOf`. Clients never see a stack trace; the log has it, keyed by request id.
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { OperationOutcomeError, invalid, issue, notFound, outcome, tooLarge } from '../fhir/outcome.js';
import { sendOutcome, unsupportedMediaType } from './fhir-response.js';

/** Errors thrown by express's body parsers (http-errors with a `type`). */
interface BodyParserError {
  type: string;
  status?: number;
  message: string;
  limit?: number;
  length?: number;
  charset?: string;
  encoding?: string;
}

function isBodyParserError(err: unknown): err is BodyParserError {
  return typeof err === 'object' && err !== null && typeof (err as { type?: unknown }).type === 'string' &&
    typeof (err as { message?: unknown }).message === 'string';
}

function fromBodyParser(err: BodyParserError, bodyLimit: string): OperationOutcomeError | undefined {
  switch (err.type) {
    case 'entity.parse.failed':
      return invalid(`Malformed JSON body: ${err.message}`);
    case 'entity.too.large':
      return tooLarge(`Request body exceeds the limit of ${bodyLimit}`);
    case 'charset.unsupported':
      return unsupportedMediaType(`Unsupported charset "${err.charset ?? ''}"; use utf-8`);
    case 'encoding.unsupported':
      return unsupportedMediaType(`Unsupported content encoding "${err.encoding ?? ''}"`);
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
    case 'parameters.too.many':
      return invalid(`Unreadable request body: ${err.message}`);
    default:
      return undefined;
  }
}

/** Unknown route → 404 OperationOutcome. */
export function unknownRoute(): RequestHandler {
  return (req, _res, next) => {
    next(notFound(`No route for ${req.method} ${req.path}`));
  };
}

export function errorHandler(logger: Logger, bodyLimit: string): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    let known: OperationOutcomeError | undefined;
    if (err instanceof OperationOutcomeError) known = err;
    else if (isBodyParserError(err)) known = fromBodyParser(err, bodyLimit);
    if (known) {
      sendOutcome(res, known.outcome);
      return;
    }
    logger.error({ reqId: req.requestId, err }, 'unhandled error');
    sendOutcome(
      res,
      outcome([issue('exception', `Internal server error; quote request id ${req.requestId} to the operator`)]),
    );
  };
}
