import { timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { RequestContext } from '../context.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { RouteLabels } from '../observability/route-labels.ts';

/**
 * One log line and one metric sample per request, when it is answered. Only the route pattern,
 * status, timing, client and request id: never the query string or body, which may name a patient.
 */
export function requestObserver(logger: Logger, metrics: Metrics, routes: RouteLabels) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      // The whole path: inside a mounted router (/fhir, /native) `req.path` is what follows the mount point.
      const route = routes.label(req.originalUrl);
      metrics.httpRequests.inc({ method: req.method, route, status: String(res.statusCode) });
      metrics.httpDuration.observe({ method: req.method, route }, seconds);
      const ctx = res.locals.ctx as RequestContext | undefined;
      logger.info(
        { requestId: res.locals.requestId, method: req.method, route, status: res.statusCode, ms: Math.round(seconds * 1000), client: ctx?.clientId },
        'request',
      );
    });
    next();
  };
}

/** GET /metrics in Prometheus format; behind `METRICS_TOKEN` when one is configured. */
export function metricsRouter(metrics: Metrics, token: string | undefined): express.Router {
  const router = express.Router();
  router.get('/metrics', (req, res, next) => {
    if (token) {
      const given = Buffer.from(req.headers.authorization ?? '');
      const wanted = Buffer.from(`Bearer ${token}`);
      if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) {
        res.status(401).setHeader('WWW-Authenticate', 'Bearer').type('text/plain').send('metrics need the METRICS_TOKEN bearer token\n');
        return;
      }
    }
    metrics.registry
      .metrics()
      .then((text) => {
        res.status(200).type(metrics.registry.contentType).send(text);
      })
      .catch(next);
  });
  return router;
}
