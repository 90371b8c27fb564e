import type { ErrorRequestHandler } from 'express';
import type { RequestContext } from '../context.ts';
import { databaseFault, internalError } from '../fhir/outcomes.ts';
import type { FhirRequest, FhirResponse } from '../fhir/rest-types.ts';
import { toHttpError } from '../http/errors.ts';
import type { EarlyRefusal } from '../http/server.ts';
import { parseQuery } from '../http/query.ts';
import { gatewaySubtype, REST_TYPE } from './event.ts';
import { describeFhirRequest, describeNativeRequest, resourcesOf } from './fhir-request.ts';
import type { AuditLog, RequestDescription } from './recorder.ts';

/** The one place every FHIR interaction and operation is audited: around the router the HTTP adapter calls. */
export function auditedRouter(router: { handle(req: FhirRequest): Promise<FhirResponse> }, log: AuditLog): { handle(req: FhirRequest): Promise<FhirResponse> } {
  return {
    handle: async (req) => {
      log.begin(req.ctx, describeFhirRequest(req));
      const res = await router.handle(req);
      // Committed before the answer goes out; if it cannot be, the request fails (a plain 500).
      await log.completed(req.ctx, { status: res.status, resources: resourcesOf(res) });
      return res;
    },
  };
}

function fallbackDescription(method: string, path: string, query: string): RequestDescription {
  if (path.startsWith('/fhir')) {
    let parsed: FhirRequest['query'] = {};
    try {
      parsed = parseQuery(`?${query}`);
    } catch {
      // A query refused by its parser is described without it.
    }
    return describeFhirRequest({ method: method as FhirRequest['method'], path: path.slice('/fhir'.length), query: parsed, body: undefined });
  }
  if (path.startsWith('/native')) return describeNativeRequest(method, path.slice('/native'.length));
  return { type: REST_TYPE, subtype: gatewaySubtype('http'), action: method === 'GET' ? 'R' : 'E', description: `${method} ${path}` };
}

/**
 * Express error middleware, before the error handler: every refused or failed request is audited with
 * its OperationOutcome, whatever refused it (authentication, body limits, validation, the router).
 */
export function auditFailures(log: AuditLog): ErrorRequestHandler {
  return (err, req, res, next) => {
    const httpError = toHttpError(err);
    const ctx = res.locals.ctx as RequestContext | undefined;
    const requestId = String(res.locals.requestId ?? '');
    const actor = ctx ?? { organizationUra: 'unknown', clientId: 'unknown', requestId };
    const [path = '/', qs = ''] = req.originalUrl.split(/\?(.*)/s);
    log.failed(ctx, actor, fallbackDescription(req.method, path, qs), httpError.status, httpError.outcome, typeof err === 'object' && err !== null ? err : undefined).then(
      () => next(err),
      // Not even the refusal could be audited: the client learns nothing but that it failed, or, when the
      // database is what failed, that it may try again later (503); the error handler logs why.
      (auditErr: unknown) => next(databaseFault(auditErr) ? auditErr : internalError()),
    );
  };
}

/**
 * A request Node's HTTP parser refused before express saw it (URL or headers too large, too slow, not HTTP):
 * audited with what is known, the client's address and the method and start of the path when they were seen.
 * Nobody is authenticated yet: the actor is `unknown`, as for any refusal before authentication.
 */
export function auditEarlyRefusal(log: AuditLog): (refusal: EarlyRefusal) => Promise<void> {
  return async (r) => {
    const seen = `${r.method && r.pathPrefix !== undefined ? `${r.method} ${r.pathPrefix}… ` : ''}from ${r.address ?? 'an unknown address'}`;
    const description: RequestDescription = {
      type: REST_TYPE,
      subtype: gatewaySubtype('http'),
      action: r.method === 'GET' || r.method === 'HEAD' ? 'R' : 'E',
      description: `${seen}, refused before it was read`,
      // The AuditEvent keeps the failure's diagnostics as its outcome description; what was seen goes in an entity.
      detail: [{ type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' }, name: 'request as seen', description: seen }],
    };
    await log.failed(undefined, { organizationUra: 'unknown', clientId: 'unknown', requestId: r.requestId }, description, r.status, r.outcome);
  };
}
