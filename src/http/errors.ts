import type { ErrorRequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { badRequest, databaseFault, HttpError, internalError, payloadTooLarge } from '../fhir/outcomes.ts';
import { safeError } from '../observability/logging.ts';
import { FHIR_JSON } from './media-types.ts';

/** Domain errors → HTTP errors → a FHIR OperationOutcome, in one place. */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  const e = err as { type?: string; status?: number; code?: string };
  if (e?.type === 'entity.too.large') return payloadTooLarge('The request body is larger than this server accepts');
  if (e?.type === 'entity.parse.failed' || e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') return badRequest('The request body could not be read');
  if (e?.type === 'request.aborted') return badRequest('The request was aborted');
  // A body that does not decompress as its Content-Encoding says (gzip, deflate, br): zlib's error, given status 400 by the body parser.
  if (isDecompressionError(err)) return badRequest('The request body could not be decompressed as its Content-Encoding says');
  // PostgreSQL: invalid text representation / untranslatable character: bad input, not a server fault.
  if (e?.code === '22P02' || e?.code === '22P05' || e?.code === '22021') return badRequest('A value in the request cannot be stored as given');
  // Numeric value out of range: a number (a sequence number, a search value) larger than its column holds.
  if (e?.code === '22003') return badRequest('A number in the request is out of the range the gateway stores');
  // Deadlock or serialization failure (already retried), the database unreachable or too slow: 503 with Retry-After.
  return databaseFault(err) ?? internalError();
}

/** zlib's errors carry a numeric `errno` and a `Z_…` or `ERR_…` code; the body parser marks them 400. */
function isDecompressionError(err: unknown): boolean {
  const e = err as { status?: unknown; errno?: unknown; code?: unknown };
  return e?.status === 400 && typeof e.errno === 'number' && typeof e.code === 'string' && /^(Z_|ERR_)/.test(e.code);
}

function sendError(res: Response, err: HttpError): void {
  for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
  res.status(err.status).type(FHIR_JSON).send(JSON.stringify(err.outcome));
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const httpError = toHttpError(err);
    if (httpError.status >= 500) {
      // Only the error's kind, code and stack: never the request body, nor the values a database error quotes.
      logger.error({ requestId: res.locals.requestId, err: safeError(err) }, 'request failed');
    }
    if (res.headersSent) return;
    sendError(res, httpError);
  };
}
