import express, { type RequestHandler } from 'express';
import { HttpError, outcome } from '../fhir/outcomes.ts';

/** A body that did not arrive in time: answered 408, and the connection closed (the rest of it is not waited for). */
function bodyTimedOut(timeoutMs: number): HttpError {
  return new HttpError(408, outcome('timeout', `The request body did not arrive within ${timeoutMs / 1000} s; send it again at a steadier pace`), { Connection: 'close' });
}

/**
 * Reads the body of requests that have one, as raw bytes under the size limit, within `timeoutMs`. A client
 * that trickles its body (1 byte a second) is answered 408 when the time is up, instead of holding its
 * connection, and whatever it waits for, until Node's request timeout. Bodies already read are left alone.
 */
export function readBodyWithin(limitBytes: number, timeoutMs: number): RequestHandler {
  const parse = express.raw({ type: () => true, limit: limitBytes });
  return (req, res, next) => {
    // A request without a body (every read and search by GET) is what the parser would make of it, without a timer
    // set and cleared and the parser's own checks: `req.body` undefined. Its test of a body is type-is's hasBody.
    if (req.headers['transfer-encoding'] === undefined && req.headers['content-length'] === undefined) {
      if (!Reflect.has(req, 'body')) req.body = undefined;
      next();
      return;
    }
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      // The parser is still reading: it finishes (with an error) once the connection is closed after the 408.
      next(bodyTimedOut(timeoutMs));
    }, timeoutMs);
    parse(req, res, (err?: unknown) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      next(err);
    });
  };
}
