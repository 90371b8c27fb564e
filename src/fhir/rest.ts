import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { Operation } from '@medplum/core';
import type { Logger } from 'pino';
import type { StoredVersion } from '../store/resource-store.ts';
import { etag, fullUrl, historyBundle, httpDate, searchsetBundle } from './bundles.ts';
import { allOk, badRequest, methodNotAllowed, notFound, outcome } from './outcomes.ts';
import { parseIfMatch, type Repository, type WriteResult } from './repository.ts';
import { isWritableType, READ_ONLY_TYPES } from './resource-types.ts';
import type { FhirRequest, FhirResponse } from './rest-types.ts';
import { BY_SCOPE, type FhirRouter } from './router.ts';
import { DEFAULT_COUNT, MAX_COUNT } from './search/parse.ts';

export interface RestServices {
  baseUrl: string;
  /** For errors a route answers itself rather than throwing (a batch entry's): logged through `safeError`. */
  logger: Logger;
}

export function versionHeaders(baseUrl: string, v: StoredVersion): Record<string, string> {
  return {
    ETag: etag(v.versionId),
    'Last-Modified': httpDate(v.lastUpdated),
    'Content-Location': `${fullUrl(baseUrl, v)}/_history/${v.versionId}`,
  };
}

/** Applies `Prefer: return=minimal|representation|OperationOutcome` to a write's answer. */
function writeResponse(req: FhirRequest, baseUrl: string, status: number, result: WriteResult): FhirResponse {
  const headers: Record<string, string> = { ...versionHeaders(baseUrl, result.stored) };
  if (status === 201) headers.Location = `${fullUrl(baseUrl, result.stored)}/_history/${result.stored.versionId}`;
  const prefer = /return=([A-Za-z]+)/.exec(req.headers.prefer ?? '')?.[1];
  const outcome = writeOutcome(result);
  const warned = result.warnings?.length ? outcome : undefined;
  if (prefer === 'minimal') return { status, headers, outcome: warned };
  if (prefer === 'OperationOutcome') return { status, headers, body: outcome, outcome: warned };
  return { status, headers, body: result.stored.content, outcome: warned };
}

/** What a write did, and the profile's warnings (SHOULDs it breaks) beside it: reported, not refused. */
export function writeOutcome(result: WriteResult): OperationOutcome {
  const text = result.created ? 'Created' : result.changed ? 'Updated' : 'Unchanged: the stored version already matches';
  const done = allOk(text);
  return { ...done, issue: [...(done.issue ?? []), ...(result.warnings ?? [])] };
}

/** The `:type` of the generic routes: checked by the router before the scope (an unknown type is 404, not 403). */
function checkType(type: string): void {
  if (READ_ONLY_TYPES.includes(type)) throw methodNotAllowed(`${type} is read-only here: the gateway's code systems and concept maps come from its mappings`);
  // FHIR http: a resource type the server does not support is 404 Not Found.
  if (!isWritableType(type)) throw notFound(`Resource type '${type}' is not supported here`);
}

function bodyResource(req: FhirRequest, type: string, id?: string): Resource {
  const body = req.body as Resource | undefined;
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('The request body must be a FHIR resource');
  if (body.resourceType !== type) throw badRequest(`resourceType '${String(body.resourceType)}' does not match the URL (${type})`, ['resourceType']);
  if (id !== undefined && body.id !== id) throw badRequest(`The body's id '${String(body.id)}' does not match the URL's id '${id}'`, [`${type}.id`]);
  return body;
}

function pageArgs(req: FhirRequest): { count: number; offset: number } {
  const count = req.query._count?.[0];
  const offset = req.query._offset?.[0];
  if (count !== undefined && !/^\d{1,6}$/.test(count)) throw badRequest('_count must be a whole number', ['_count']);
  if (offset !== undefined && !/^\d{1,9}$/.test(offset)) throw badRequest('_offset must be a whole number', ['_offset']);
  return { count: Math.min(Number(count ?? DEFAULT_COUNT), MAX_COUNT), offset: Number(offset ?? 0) };
}

function sinceArg(req: FhirRequest): string | undefined {
  const since = req.query._since?.[0];
  if (since !== undefined && Number.isNaN(Date.parse(since))) throw badRequest('_since must be an instant', ['_since']);
  return since;
}

function strict(req: FhirRequest): boolean {
  return /handling=strict/.test(req.headers.prefer ?? '');
}

async function searchType(services: RestServices, req: FhirRequest, type: string, repo: Repository): Promise<FhirResponse> {
  const search = repo.parseSearch(type, req.query, { baseUrl: services.baseUrl, planPerCall: true });
  if (search.unknown.length > 0 && strict(req)) {
    throw badRequest(`Unknown search parameters: ${search.unknown.join(', ')}`, search.unknown);
  }
  const result = await repo.searchAnswer(search);
  const unknownOutcome: OperationOutcome | undefined =
    search.unknown.length > 0 ? outcome('not-supported', `Ignored unknown search parameters: ${search.unknown.join(', ')}`, search.unknown, 'warning') : undefined;
  return {
    status: 200,
    body: searchsetBundle({
      baseUrl: services.baseUrl,
      path: type,
      query: req.query,
      matches: result.resources,
      included: result.included,
      total: result.total,
      more: result.more,
      count: search.count,
      offset: search.offset,
      outcome: unknownOutcome,
    }),
  };
}

/** The `:type` of a generic route, checked before its scope. */
const TYPE_PARAM = { param: 'type', check: checkType };

/** The CRUD, history and search routes for every writable type. */
export function registerRestRoutes(router: FhirRouter, services: RestServices): void {
  const { baseUrl } = services;

  router.add('GET', ':type', { interaction: 'search-type', type: TYPE_PARAM, access: BY_SCOPE }, (req, { params, repo }) => searchType(services, req, params.type, repo));
  router.add('POST', ':type/_search', { interaction: 'search-type', type: TYPE_PARAM, access: BY_SCOPE }, (req, { params, repo }) => {
    const form = (req.body ?? {}) as Record<string, string | string[]>;
    const query = { ...req.query };
    for (const [k, v] of Object.entries(form)) query[k] = [...(query[k] ?? []), ...(Array.isArray(v) ? v : [v])];
    return searchType(services, { ...req, query }, params.type, repo);
  });

  router.add('POST', ':type', { interaction: 'create', type: TYPE_PARAM, access: BY_SCOPE }, async (req, { params: { type }, repo }) => {
    const resource = bodyResource(req, type);
    const { id: _clientId, ...rest } = resource;
    const result = await repo.create(rest as Resource, { ifNoneExist: req.headers.ifNoneExist });
    return writeResponse(req, baseUrl, result.created ? 201 : 200, result);
  });

  // System history: the same paging checks as type and instance history (a negative _count is a 400, not a SQL error).
  // Every type at once: only a wildcard read scope covers it (per-type scopes never add up to "every type").
  router.add('GET', '_history', { interaction: 'history-system', type: '*', access: BY_SCOPE }, async (req, { repo }) => {
    const { count, offset } = pageArgs(req);
    const { versions, total } = await repo.history({ since: sinceArg(req) }, count, offset);
    return { status: 200, body: historyBundle(baseUrl, '_history', versions, total, count, offset) };
  });

  router.add('GET', ':type/_history', { interaction: 'history-type', type: TYPE_PARAM, access: BY_SCOPE }, async (req, { params: { type }, repo }) => {
    const { count, offset } = pageArgs(req);
    const { versions, total } = await repo.history({ resourceType: type, since: sinceArg(req) }, count, offset);
    return { status: 200, body: historyBundle(baseUrl, `${type}/_history`, versions, total, count, offset) };
  });

  router.add('GET', ':type/:id', { interaction: 'read', type: TYPE_PARAM, access: BY_SCOPE }, async (req, { params: { type, id }, repo }) => {
    const v = await repo.read(type, id);
    return { status: 200, body: v.content, headers: versionHeaders(baseUrl, v) };
  });

  router.add('PUT', ':type/:id', { interaction: 'update', type: TYPE_PARAM, access: BY_SCOPE }, async (req, { params: { type, id }, repo }) => {
    const resource = bodyResource(req, type, id);
    const result = await repo.update(resource, { ifMatch: parseIfMatch(req.headers.ifMatch) });
    return writeResponse(req, baseUrl, 200, result);
  });

  router.add('PATCH', ':type/:id', { interaction: 'patch', type: TYPE_PARAM, access: BY_SCOPE }, async (req, { params: { type, id }, repo }) => {
    if (!Array.isArray(req.body)) throw badRequest('PATCH takes a JSON Patch document (application/json-patch+json): an array of operations');
    const result = await repo.patch(type, id, req.body as Operation[], { ifMatch: parseIfMatch(req.headers.ifMatch) });
    return writeResponse(req, baseUrl, 200, result);
  });

  router.add('DELETE', ':type/:id', { interaction: 'delete', type: TYPE_PARAM, access: BY_SCOPE }, async (req, { params: { type, id }, repo }) => {
    const result = await repo.delete(type, id, { ifMatch: parseIfMatch(req.headers.ifMatch) });
    if (result) return { status: 200, body: allOk(`Deleted ${type}/${id}`), headers: { ETag: etag(result.stored.versionId) } };
    return { status: 200, body: allOk(`${type}/${id} was already deleted`) };
  });

  router.add('GET', ':type/:id/_history', { interaction: 'history-instance', type: TYPE_PARAM, access: BY_SCOPE }, async (req, { params: { type, id }, repo }) => {
    const { count, offset } = pageArgs(req);
    const { versions, total } = await repo.history({ resourceType: type, id, since: sinceArg(req) }, count, offset);
    return { status: 200, body: historyBundle(baseUrl, `${type}/${id}/_history`, versions, total, count, offset) };
  });

  router.add('GET', ':type/:id/_history/:vid', { interaction: 'vread', type: TYPE_PARAM, access: BY_SCOPE }, async (req, { params: { type, id, vid }, repo }) => {
    const v = await repo.vread(type, id, vid);
    return { status: 200, body: v.content, headers: versionHeaders(baseUrl, v) };
  });
}
