import { randomUUID } from 'node:crypto';
import { createServer, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { OperationOutcome } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import type { HttpTimeouts } from '../config.ts';
import { outcome } from '../fhir/outcomes.ts';
import { safeError } from '../observability/logging.ts';

/** A request Node's HTTP parser refused before the gateway saw it: what is known of it, for the audit. */
export interface EarlyRefusal {
  status: number;
  outcome: OperationOutcome;
  requestId: string;
  /** The client's address. */
  address?: string;
  /** The method and the start of the path (at most PATH_PREFIX characters, never the query), when they were seen. */
  method?: string;
  pathPrefix?: string;
}

export interface HttpServerOptions {
  timeouts: HttpTimeouts;
  logger: Logger;
  /** Audits a request refused before it was read; its failure is logged, never thrown. */
  refused?: (refusal: EarlyRefusal) => Promise<void>;
}

const PATH_PREFIX = 64;
const REASONS: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 414: 'URI Too Long', 431: 'Request Header Fields Too Large' };

/**
 * The gateway's HTTP server (not yet listening): Node's timeouts for the whole request, its headers and idle
 * keep-alive connections, and an OperationOutcome (audited) for what Node's parser refuses before express sees
 * it: a request line or headers over the header size limit (16 KB by default: 414 or 431), a request that did not
 * arrive in time (408), a request that is not HTTP (400). Node would answer these with an empty body.
 */
export function createHttpServer(handler: RequestListener, options: HttpServerOptions): Server {
  const { timeouts, logger } = options;
  // Node checks the request and headers timeouts on this interval (30 s by default, coarser than the timeouts).
  const server = createServer({ requestTimeout: timeouts.requestMs, headersTimeout: timeouts.headersMs, connectionsCheckingInterval: 1000 }, handler);
  server.keepAliveTimeout = timeouts.keepAliveMs;

  // The response in progress on each connection: an early answer must not be written into the middle of one.
  const inFlight = new WeakMap<Duplex, ServerResponse>();
  server.on('request', (req, res: ServerResponse) => {
    inFlight.set(req.socket, res);
    res.once('finish', () => {
      if (inFlight.get(req.socket) === res) inFlight.delete(req.socket);
    });
  });

  // Bytes that keep coming after a parse error raise it again: a connection is answered once.
  const answered = new WeakSet<Duplex>();
  server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex) => {
    if (answered.has(socket)) return;
    answered.add(socket);
    const refusal = classify(err, timeouts);
    const busy = inFlight.get(socket)?.headersSent ?? false;
    if (!refusal || !socket.writable || busy) {
      socket.destroy();
      return;
    }
    const requestId = randomUUID();
    const seen = requestLineOf(err.rawPacket);
    const body = JSON.stringify(refusal.outcome);
    const answer = (): void => {
      socket.end(
        `HTTP/1.1 ${refusal.status} ${REASONS[refusal.status]}\r\nContent-Type: application/fhir+json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
          `X-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
      );
      // A client that does not read the answer is not waited for.
      setTimeout(() => socket.destroy(), 5000).unref();
    };
    // Audited before the answer, as every refusal is; answered even when the audit fails (that is logged).
    const audited = options.refused?.({ status: refusal.status, outcome: refusal.outcome, requestId, address: (socket as { remoteAddress?: string }).remoteAddress, method: seen?.method, pathPrefix: seen?.pathPrefix }) ?? Promise.resolve();
    audited
      .catch((auditErr: unknown) => logger.error({ requestId, err: safeError(auditErr) }, 'a refusal before the request was read could not be audited'))
      .finally(answer);
  });
  return server;
}

function classify(err: NodeJS.ErrnoException & { rawPacket?: Buffer }, timeouts: HttpTimeouts): { status: number; outcome: OperationOutcome } | undefined {
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    const seen = requestLineOf(err.rawPacket);
    if (seen?.tooLong) return { status: 414, outcome: outcome('too-long', 'The URL is longer than the gateway accepts (the request line and headers together at most 16 KB); send the search as POST [type]/_search with the parameters in the body') };
    return { status: 431, outcome: outcome('too-long', 'The request line and headers are larger than the gateway accepts (at most 16 KB together)') };
  }
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return { status: 408, outcome: outcome('timeout', `The request did not arrive in time (headers within ${timeouts.headersMs / 1000} s, the whole request within ${timeouts.requestMs / 1000} s)`) };
  }
  if (typeof err.code === 'string' && err.code.startsWith('HPE_')) return { status: 400, outcome: outcome('invalid', 'The request is not valid HTTP/1.1') };
  // ECONNRESET and the like: the client is gone, there is no one to answer.
  return undefined;
}

/**
 * The method and the start of the path of the request line in the packet Node's parser gave up on, when it starts
 * there (a request sent in one piece); `tooLong` when the request line alone fills the packet or most of the limit.
 * Only a prefix of the path, never the query: the rest may hold patient data (a BSN in a search).
 */
function requestLineOf(packet: Buffer | undefined): { method: string; pathPrefix: string; tooLong: boolean } | undefined {
  if (!packet) return undefined;
  const head = packet.subarray(0, 2 * PATH_PREFIX).toString('latin1');
  const m = /^([A-Z]{1,16}) (\/[^?\s#]*)/.exec(head);
  const [, method, path] = m ?? [];
  if (method === undefined || path === undefined) return undefined;
  const end = packet.indexOf('\r\n');
  const lineLength = end < 0 ? packet.length : end;
  return { method, pathPrefix: path.slice(0, PATH_PREFIX), tooLong: end < 0 || lineLength > 8 * 1024 };
}
