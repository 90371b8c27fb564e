import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import type { Operation } from '@medplum/core';
import { etag, fullUrl } from './bundles.ts';
import { badRequest, databaseFault, HttpError, internalError, outcome, preconditionFailed } from './outcomes.ts';
import { parseConditionalQuery, parseIfMatch, type Repository, type WriteResult } from './repository.ts';
import { isWritableType, ID_PATTERN, REFERENCE_PATTERN } from './resource-types.ts';
import { FullUrlIndex } from './references/bundle.ts';
import type { FhirRequest, FhirResponse } from './rest-types.ts';
import type { FhirRouter } from './router.ts';
import { writeOutcome, type RestServices } from './rest.ts';
import { parseQuery } from '../http/query.ts';
import { safeError } from '../observability/logging.ts';
import { cloneKeepingNumberTexts, parseKeepingNumberTexts } from './number-text.ts';
import { newResourceId } from '../store/time-ordered-id.ts';
import { BUNDLE_ENTRY } from './write-phases.ts';

const METHOD_ORDER: Record<string, number> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 3, GET: 4, HEAD: 4 };
const MAX_ENTRIES = 1000;

interface Prepared {
  index: number;
  entry: BundleEntry;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
}

/** How a refusal names an entry: `Bundle.entry[2] (POST Task)`. */
function entryLabel(p: Prepared): string {
  return `Bundle.entry[${p.index}] (${p.method} ${p.url})`;
}

function prepare(bundle: Bundle): Prepared[] {
  const entries = bundle.entry ?? [];
  if (entries.length > MAX_ENTRIES) throw badRequest(`A Bundle may hold at most ${MAX_ENTRIES} entries`, ['Bundle.entry']);
  return entries.map((entry, index) => {
    const method = entry.request?.method;
    const url = entry.request?.url;
    if (!method || !url) throw badRequest(`Bundle.entry[${index}] needs request.method and request.url`, [`Bundle.entry[${index}].request`]);
    if (method === 'HEAD') return { index, entry, method: 'GET' as const, url };
    return { index, entry, method, url };
  });
}

/** Replaces every `reference` in `value` that `resolve` knows. */
function rewriteReferences(value: unknown, resolve: (ref: string) => string | undefined): void {
  if (Array.isArray(value)) {
    for (const v of value) rewriteReferences(v, resolve);
  } else if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    for (const [k, v] of Object.entries(obj)) {
      if (k === 'reference' && typeof v === 'string') {
        const resolved = resolve(v);
        if (resolved) obj[k] = resolved;
      } else {
        rewriteReferences(v, resolve);
      }
    }
  }
}

/** Finds conditional references (`Organization?identifier=…`) in `value`. */
function conditionalReferences(value: unknown, out: Set<string>): void {
  if (Array.isArray(value)) for (const v of value) conditionalReferences(v, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string' && /^[A-Z][A-Za-z]+\?/.test(v)) out.add(v);
      else conditionalReferences(v, out);
    }
  }
}

function entryResponse(baseUrl: string, status: number, result: WriteResult, withResource: boolean): BundleEntry {
  const e: BundleEntry = {
    fullUrl: fullUrl(baseUrl, result.stored),
    response: {
      status: String(status),
      location: `${fullUrl(baseUrl, result.stored)}/_history/${result.stored.versionId}`,
      etag: etag(result.stored.versionId),
      lastModified: result.stored.lastUpdated,
    },
  };
  if (withResource) e.resource = result.stored.content;
  if (result.warnings?.length && e.response) e.response.outcome = writeOutcome(result);
  return e;
}

async function resolveConditional(repo: Repository, ref: string): Promise<string | undefined> {
  const type = ref.slice(0, ref.indexOf('?'));
  if (!isWritableType(type)) throw badRequest(`Conditional reference to unsupported type: ${ref}`);
  const search = repo.parseSearch(type, parseConditionalQuery(ref));
  const found = await repo.search({ ...search, count: 2, total: 'none', offset: 0 });
  if (found.resources.length === 1) return `${type}/${found.resources[0].id}`;
  return undefined;
}

/**
 * Processes a `transaction` Bundle atomically: every entry or none, references to entries' fullUrls (urn:uuid:,
 * urn:oid:, absolute, or relative to an absolute fullUrl's base) and conditional references resolved, entries in the order FHIR prescribes (DELETE, POST, PUT, PATCH, GET).
 */
export async function processTransaction(services: RestServices, router: FhirRouter, req: FhirRequest, bundle: Bundle, base: Repository): Promise<Bundle> {
  const prepared = prepare(bundle);
  const responses: BundleEntry[] = new Array(prepared.length);
  const withResource = !/return=minimal/.test(req.headers.prefer ?? '');
  await base.transaction(async (repo) => {
    // fullUrl → the `Type/id` each entry gets here (R4 http.html#trules): urn:uuid:, urn:oid: and absolute fullUrls
    // alike. Ids for new resources are known before any entry is processed, so entries may reference each other in any order.
    const fullUrls = new FullUrlIndex();
    for (const p of prepared) {
      const entryUrl = p.entry.fullUrl;
      if (!entryUrl) continue;
      if (p.method === 'POST' && p.entry.resource) {
        const type = p.entry.resource.resourceType;
        // A conditional create that finds a match creates nothing: entries referring to it must point at the match.
        const condition = p.entry.request?.ifNoneExist;
        const existing = condition ? await resolveConditional(repo, `${type}?${condition.slice(condition.indexOf('?') + 1)}`) : undefined;
        fullUrls.set(entryUrl, existing ?? `${type}/${newResourceId()}`);
      } else if (p.method === 'PUT' && REFERENCE_PATTERN.test(p.url.replace(/^\//, ''))) {
        fullUrls.set(entryUrl, p.url.replace(/^\//, ''));
      }
    }
    const conditional = new Set<string>();
    for (const p of prepared) conditionalReferences(p.entry.resource, conditional);
    const resolvedConditional = new Map<string, string>();
    for (const ref of conditional) {
      const resolved = await resolveConditional(repo, ref);
      if (!resolved) throw new HttpError(412, outcome('not-found', `The conditional reference ${ref} matches no single resource`, [ref]));
      resolvedConditional.set(ref, resolved);
    }
    const order = [...prepared].sort((a, b) => (METHOD_ORDER[a.method] ?? 9) - (METHOD_ORDER[b.method] ?? 9) || a.index - b.index);
    const entry = repo.txState().get(BUNDLE_ENTRY);
    for (const p of order) {
      try {
        const resource = p.entry.resource ? cloneKeepingNumberTexts(p.entry.resource) : undefined;
        if (resource) {
          rewriteReferences(resource, (ref) => {
            const resolved = fullUrls.resolve(ref, p.entry.fullUrl) ?? resolvedConditional.get(ref);
            // A urn:uuid names an entry of this Bundle: one that names none would be stored as a reference to nothing.
            if (!resolved && ref.startsWith('urn:uuid:')) throw badRequest(`The reference ${ref} names no entry of this transaction`, [ref]);
            return resolved;
          });
        }
        entry.label = entryLabel(p);
        responses[p.index] = await processEntry(services, router, repo, req, p, resource, fullUrls, withResource);
      } catch (err) {
        if (err instanceof HttpError) {
          const issue = err.outcome.issue?.[0];
          if (issue) issue.diagnostics = `${entryLabel(p)}: ${issue.diagnostics ?? ''}`;
        }
        throw err;
      } finally {
        entry.label = undefined;
      }
    }
  });
  return { resourceType: 'Bundle', type: 'transaction-response', entry: responses };
}

async function processEntry(
  services: RestServices,
  router: FhirRouter,
  repo: Repository,
  req: FhirRequest,
  p: Prepared,
  resource: Resource | undefined,
  fullUrls: FullUrlIndex,
  withResource: boolean,
): Promise<BundleEntry> {
  const { baseUrl } = services;
  const url = p.url.replace(/^\//, '');
  const [path = '', queryText] = url.split('?', 2);
  const ifMatch = parseIfMatch(p.entry.request?.ifMatch);
  if (p.method === 'POST' && !path.includes('/') && !path.startsWith('$')) {
    if (!resource || resource.resourceType !== path) throw badRequest(`The resource must be a ${path}`);
    if (!isWritableType(path)) throw badRequest(`Resource type '${path}' is not supported here`);
    router.authorizeInteraction(req, path, 'create');
    const preset = p.entry.fullUrl ? fullUrls.get(p.entry.fullUrl) : undefined;
    const body = { ...resource, id: preset?.split('/')[1] } as Resource;
    const result = await repo.create(body, { ifNoneExist: p.entry.request?.ifNoneExist });
    if (!result.created && p.entry.fullUrl) fullUrls.set(p.entry.fullUrl, `${result.stored.resourceType}/${result.stored.id}`);
    return entryResponse(baseUrl, result.created ? 201 : 200, result, withResource);
  }
  if (p.method === 'PUT' && queryText !== undefined && !path.includes('/')) {
    // Conditional update: update the single match, or create when there is none.
    if (!resource || resource.resourceType !== path) throw badRequest(`The resource must be a ${path}`);
    router.authorizeInteraction(req, path, 'update');
    const search = repo.parseSearch(path, parseConditionalQuery(queryText));
    const found = await repo.search({ ...search, count: 2, total: 'none', offset: 0 });
    if (found.resources.length > 1) throw preconditionFailed(`The conditional update ${p.url} matches more than one resource`);
    if (found.resources.length === 0) {
      // Creating: the same scope as a POST of that type.
      router.authorizeInteraction(req, path, 'create');
      const preset = p.entry.fullUrl ? fullUrls.get(p.entry.fullUrl) : undefined;
      const result = await repo.create({ ...resource, id: preset?.split('/')[1] } as Resource, {});
      return entryResponse(baseUrl, 201, result, withResource);
    }
    const result = await repo.update({ ...resource, id: found.resources[0].id }, { ifMatch });
    if (p.entry.fullUrl) fullUrls.set(p.entry.fullUrl, `${path}/${found.resources[0].id}`);
    return entryResponse(baseUrl, 200, result, withResource);
  }
  const [type, id] = path.split('/');
  if ((p.method === 'PUT' || p.method === 'PATCH' || p.method === 'DELETE') && (!type || !id || !ID_PATTERN.test(id))) {
    throw badRequest(`${p.method} needs a url of the form Type/id`);
  }
  // The request query parser: no prototype keys, no NUL, as for a request of its own.
  const query = parseQuery(`?${queryText ?? ''}`);
  const sub: FhirRequest = {
    method: p.method,
    path,
    query,
    body: p.method === 'PATCH' ? patchBody(p.entry) : resource,
    headers: { ifMatch: p.entry.request?.ifMatch, ifNoneExist: p.entry.request?.ifNoneExist, prefer: req.headers.prefer },
    ctx: req.ctx,
  };
  // In the transaction's repository: the routes would otherwise each open a transaction of their own and commit even when a later entry fails.
  const res: FhirResponse = await router.handle(sub, repo);
  const e: BundleEntry = { response: { status: String(res.status), etag: res.headers?.ETag, location: res.headers?.Location, outcome: res.outcome } };
  if (res.body && (withResource || p.method === 'GET')) e.resource = res.body;
  return e;
}

/** A PATCH entry carries its JSON Patch as a Binary resource (base64 data), as FHIR R4 prescribes. */
function patchBody(entry: BundleEntry): Operation[] {
  const binary = entry.resource as { resourceType?: string; data?: string } | undefined;
  if (binary?.resourceType !== 'Binary' || !binary.data) throw badRequest('A PATCH entry needs a Binary resource holding the JSON Patch');
  try {
    return parseKeepingNumberTexts(Buffer.from(binary.data, 'base64').toString('utf8')) as Operation[];
  } catch {
    throw badRequest('The PATCH entry Binary does not hold a JSON Patch');
  }
}

/** Processes a `batch` Bundle: each entry on its own; one failing entry does not stop the others. */
export async function processBatch(services: RestServices, router: FhirRouter, req: FhirRequest, bundle: Bundle): Promise<Bundle> {
  const prepared = prepare(bundle);
  const entries: BundleEntry[] = [];
  for (const p of prepared) {
    const url = p.url.replace(/^\//, '');
    const [path = '', queryText] = url.split('?', 2);
    try {
      const query = parseQuery(`?${queryText ?? ''}`);
      const res = await router.handle({
        method: p.method,
        path,
        query,
        body: p.method === 'PATCH' ? patchBody(p.entry) : p.entry.resource,
        headers: { ifMatch: p.entry.request?.ifMatch, ifNoneExist: p.entry.request?.ifNoneExist, prefer: req.headers.prefer },
        ctx: req.ctx,
      });
      const e: BundleEntry = { response: { status: String(res.status), etag: res.headers?.ETag, location: res.headers?.Location, outcome: res.outcome } };
      if (res.body) e.resource = res.body;
      entries.push(e);
    } catch (err) {
      // An entry's failure is its own: the batch goes on. A database fault is 503 (with the outcome saying to
      // send it again), anything else 500 and logged; neither says "not found".
      const failure = err instanceof HttpError ? err : (databaseFault(err) ?? internalError());
      if (failure.status >= 500) services.logger.error({ requestId: req.ctx.requestId, entry: entries.length, err: safeError(err) }, 'batch entry failed');
      entries.push({ response: { status: String(failure.status), outcome: failure.outcome } });
    }
  }
  return { resourceType: 'Bundle', type: 'batch-response', entry: entries };
}
