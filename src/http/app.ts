import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type RequestHandler, type Response, type Router } from 'express';
import type { Logger } from 'pino';
import type { RequestContext } from '../context.ts';
import type { FhirRouter } from '../fhir/router.ts';
import type { FhirRequest } from '../fhir/rest-types.ts';
import { badRequest, notFound } from '../fhir/outcomes.ts';
import { readBodyWithin } from './body.ts';
import { errorHandler } from './errors.ts';
import { parseJsonBody } from './json-body.ts';
import { checkAccept, FHIR_JSON, requireContentType } from './media-types.ts';
import { parseQuery } from './query.ts';
import { limitPerAddress, limitPerClient, type RateLimiter } from './rate-limit.ts';
import type { SecureRoutes } from './secure-routes.ts';
import { securityHeaders } from './security-headers.ts';
import type { WriteLimit } from './write-limit.ts';

interface Authenticator {
  /** Serves /oauth2/token and the /.well-known documents. */
  router: Router;
  authenticate(authorizationHeader: string | undefined, requestId: string): Promise<RequestContext>;
}

export interface AppDeps {
  logger: Logger;
  fhir: Pick<FhirRouter, 'handle'>;
  auth: Authenticator;
  maxBodyBytes: number;
  /** Reading a request's body (after authentication) may take this long; then 408. Default 30 s. */
  bodyTimeoutMs?: number;
  /** Middleware that sees every request first, after the request id is set (logging, metrics). */
  observers?: RequestHandler[];
  /** Routes mounted before authentication (health, metrics, docs). */
  publicRoutes?: Router[];
  /** Sees every error before it is answered (the audit of refusals); calls `next(err)`, or `next` with another error. */
  auditFailures?: express.ErrorRequestHandler;
  /**
   * Routes mounted after authentication (native records, the unit feed), each at its `mount`; only routes that declare
   * their access (src/http/secure-routes.ts), which is checked before their handler. `res.locals.ctx` holds the RequestContext.
   */
  protectedRoutes?: SecureRoutes[];
  /** Requests per client (after authentication) and per address at the token endpoint; none: no limit. */
  rateLimiter?: RateLimiter;
  /** Write requests (FHIR and native) at work at once, after authentication and reading the body; more wait their turn. */
  writeLimit?: WriteLimit;
}

const FHIR_JSON_UTF8 = `${FHIR_JSON}; charset=utf-8`;

/**
 * A FHIR answer, written as express's `res.send` would write it less the ETag of its own: `send` hashed every answer
 * that carries none (sha1 of the whole body: 50–90 µs for a search page of 20 Tasks, about a twentieth of the
 * gateway's CPU for that page) to offer a 304 nobody asks a search for. A FHIR answer carries the ETag FHIR gives it
 * (a read's version) or none; a request naming that ETag (`If-None-Match`) still gets its 304, as before. HEAD gets
 * the same status and headers without the body (Node leaves it unsent).
 */
export function sendFhir(res: Response, status: number, body: unknown, headers: Record<string, string> = {}): void {
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.status(status);
  if (body === undefined) {
    res.end();
    return;
  }
  if (headers.ETag !== undefined && res.req.fresh) {
    res.status(304).end();
    return;
  }
  const text = JSON.stringify(body);
  res.setHeader('Content-Type', FHIR_JSON_UTF8);
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

/** HTTP wiring only: the FHIR router, auth and the other parts know nothing of express. */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // Express hands the parser null when a URL has no query string.
  app.set('query parser', (qs: string | null) => parseQuery(qs ? `?${qs}` : ''));
  // helmet's headers (constants, worked out once: security-headers.ts) and the request id, in one step of the
  // app's router instead of helmet's chain of thirteen and one more layer.
  const secure = securityHeaders();
  app.use((req, res, next) => {
    secure(res);
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && /^[A-Za-z0-9._\-]{1,128}$/.test(given) ? given : randomUUID();
    res.locals.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    next();
  });
  for (const o of deps.observers ?? []) app.use(o);

  const perClient = deps.rateLimiter ? limitPerClient(deps.rateLimiter) : undefined;
  const inTurn = deps.writeLimit?.middleware();
  // Only authenticated requests within their client's rate, with their body read, wait for a turn to write: a
  // client sending its body slowly holds no write slot meanwhile (issue 14: eight bodies at 1 byte a second held all 8).
  const admitted = (req: Request, res: Response, next: NextFunction): void => {
    if (inTurn) inTurn(req, res, next);
    else next();
  };
  const readBody = readBodyWithin(deps.maxBodyBytes, deps.bodyTimeoutMs ?? 30_000);
  const authenticate = (req: Request, res: Response, next: NextFunction): void => {
    deps.auth
      .authenticate(req.headers.authorization, res.locals.requestId as string)
      .then((ctx) => {
        res.locals.ctx = ctx;
        if (perClient) perClient(req, res, next);
        else next();
      })
      .catch(next);
  };

  // /fhir comes before the public routes (health, docs, metrics, admin, board, the token endpoint), none of which
  // serves anything under /fhir but the SMART discovery document: a FHIR request no longer walks their twenty-odd
  // layers, each a path match and, for a router, its own dispatch (issue 19: a tenth of a read's allocations).
  app.use('/fhir', fhirRoutes(deps, { authenticate, readBody, admitted }));

  // The protected routes under their own mounts (/native/eenheid, /native) come next, for the same reason: none of
  // the public routes serves anything under them, and those routers, mounted at the root, are each entered and walked
  // by every request that reaches them (issue 19: a native record walked all their layers before its own).
  const [mounted, atRoot] = partition(deps.protectedRoutes ?? [], (routes) => routes.mount !== '');
  for (const routes of mounted) app.use(routes.mount, authenticate, readBody, admitted, routes.router);

  for (const r of deps.publicRoutes ?? []) app.use(r);
  // Before the client is known: guessing secrets or flooding the token endpoint costs per address.
  if (deps.rateLimiter) app.use('/oauth2/token', limitPerAddress(deps.rateLimiter));
  app.use(deps.auth.router);

  for (const routes of atRoot) app.use(authenticate, readBody, admitted, routes.router);

  app.use((req, _res, next) => next(notFound(`Nothing at ${req.method} ${req.path}`)));
  if (deps.auditFailures) app.use(deps.auditFailures);
  app.use(errorHandler(deps.logger));
  return app;
}

type Middleware = (req: Request, res: Response, next: NextFunction) => void;

function partition<T>(items: readonly T[], test: (item: T) => boolean): [T[], T[]] {
  return [items.filter(test), items.filter((item) => !test(item))];
}

/** Everything under /fhir: the CapabilityStatement without a token, every other request authenticated and handed to the FHIR router. */
function fhirRoutes(deps: AppDeps, steps: { authenticate: Middleware; readBody: RequestHandler; admitted: Middleware }): Router {
  const router = express.Router();
  // The SMART configuration under the FHIR base is the auth router's, mounted after this one (GET and HEAD, as there).
  router.get('/.well-known/smart-configuration', (_req, _res, next) => next('router'));
  // The CapabilityStatement needs no token.
  router.get('/metadata', (req, res, next) => {
    try {
      checkAccept(req);
      next();
    } catch (err) {
      next(err);
    }
  });
  // One layer of the router for the four steps of every FHIR request (inSeries): each layer is a dispatch of the
  // router's own (matching, its `next`, restoring the request's URL). Together with the app's one step for headers
  // and request id, a read passes six layers instead of ten (issue 19: 5-14% fewer bytes allocated per read,
  // bench/allocation-profile.ts).
  router.use(
    inSeries([
      (req, res, next) => {
        if (req.path === '/metadata' && req.method === 'GET') {
          next();
          return;
        }
        steps.authenticate(req, res, next);
      },
      steps.readBody,
      steps.admitted,
      async (req, res) => {
        checkAccept(req);
        let body: unknown;
        // HEAD is a GET whose body Node leaves unsent: the same status and headers (R4 http: HEAD on reads).
        const method = (req.method === 'HEAD' ? 'GET' : req.method) as FhirRequest['method'];
        const hasBody = Buffer.isBuffer(req.body) && req.body.length > 0;
        if (['POST', 'PUT', 'PATCH'].includes(method)) {
          const type = requireContentType(req, ['application/json-patch+json', 'application/x-www-form-urlencoded']);
          if (type === 'application/x-www-form-urlencoded') {
            body = hasBody ? Object.fromEntries(Object.entries(parseQuery(`?${(req.body as Buffer).toString('utf8')}`))) : {};
          } else if (hasBody) {
            body = parseJsonBody(req.body as Buffer);
          } else if (!req.path.endsWith('/_search') && !/\/\$[^/]+$/.test(req.path)) {
            // An operation by POST may have no parameters (`Subscription/{id}/$status`): an empty body is an empty Parameters.
            throw badRequest('The request body is empty');
          }
        }
        const fhirReq: FhirRequest = {
          method,
          path: req.path.replace(/^\/+/, ''),
          query: req.query as FhirRequest['query'],
          body,
          headers: {
            ifMatch: typeof req.headers['if-match'] === 'string' ? req.headers['if-match'] : undefined,
            ifNoneExist: typeof req.headers['if-none-exist'] === 'string' ? req.headers['if-none-exist'] : undefined,
            prefer: typeof req.headers.prefer === 'string' ? req.headers.prefer : undefined,
            contentType: req.headers['content-type'],
          },
          ctx: (res.locals.ctx as RequestContext | undefined) ?? anonymous(res.locals.requestId as string),
        };
        const result = await deps.fhir.handle(fhirReq);
        sendFhir(res, result.status, result.body, result.headers);
      },
    ]),
  );
  return router;
}

type Step = (req: Request, res: Response, next: NextFunction) => unknown;

/**
 * Middleware run one after another as one: as the router runs its layers, each step continues with `next()` and
 * ends the series with `next(err)` (the error goes to the error handlers after the router, as from any layer), and
 * an async step's rejection is its `next(err)`, as express 5 does for a layer's promise.
 */
function inSeries(steps: Step[]): Middleware {
  return (req, res, next) => {
    let at = 0;
    const step = (err?: unknown): void => {
      if (err) {
        next(err);
        return;
      }
      const current = steps[at++];
      if (!current) {
        next();
        return;
      }
      try {
        const result = current(req, res, step);
        if (result instanceof Promise) result.catch((rejected: unknown) => next(rejected ?? new Error('Rejected promise')));
      } catch (thrown) {
        next(thrown);
      }
    };
    step();
  };
}

/** Only ever used for GET /fhir/metadata, which reads nothing. */
function anonymous(requestId: string): RequestContext {
  return { organizationUra: 'anonymous', clientId: 'anonymous', scopes: [], roles: [], requestId };
}
