import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle, OperationDefinition, Resource, SearchParameter, StructureDefinition } from '@medplum/fhirtypes';
import { badRequest, notFound } from './outcomes.ts';
import type { FhirRequest } from './rest-types.ts';
import { WRITABLE_TYPES } from './resource-types.ts';
import type { SearchParameterRegistry } from './search/parameters.ts';
import type { FhirRouter } from './router.ts';

/** The gateway's own canonical base: stable whatever PUBLIC_URL says, so that a profile's URL never changes with the host. */
const CANONICAL_BASE = 'https://handover-gateway.nl/fhir';

type Conformance = StructureDefinition | SearchParameter | OperationDefinition;

/** The conformance resources a client can look up: what every write is validated against, what search and the operations take. */
export interface ConformanceResources {
  structureDefinitions: StructureDefinition[];
  searchParameters: SearchParameter[];
  operationDefinitions: OperationDefinition[];
}

/** Reads the OperationDefinitions of `dir` (profiles/operations/): data, one file per operation, checked at start. */
export function loadOperationDefinitions(dir: string): OperationDefinition[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort();
  return files.map((f) => {
    const od = JSON.parse(readFileSync(join(dir, f), 'utf8')) as OperationDefinition;
    if (od.resourceType !== 'OperationDefinition' || !od.id || !od.url || !od.code) throw new Error(`Operation file ${f}: not an OperationDefinition with id, url and code`);
    if (od.url !== `${CANONICAL_BASE}/OperationDefinition/${od.id}`) throw new Error(`Operation file ${f}: url must be ${CANONICAL_BASE}/OperationDefinition/${od.id}`);
    return od;
  });
}

/** The search parameters each conformance type answers to (FHIR R4's own names and types for them). */
export const CONFORMANCE_SEARCH: Record<string, readonly { name: string; type: 'uri' | 'string' | 'token' }[]> = {
  StructureDefinition: [
    { name: 'url', type: 'uri' },
    { name: 'name', type: 'string' },
    { name: 'type', type: 'token' },
    { name: 'version', type: 'token' },
  ],
  SearchParameter: [
    { name: 'url', type: 'uri' },
    { name: 'name', type: 'string' },
    { name: 'code', type: 'token' },
    { name: 'base', type: 'token' },
  ],
  OperationDefinition: [
    { name: 'url', type: 'uri' },
    { name: 'name', type: 'string' },
    { name: 'code', type: 'token' },
    { name: 'base', type: 'token' },
  ],
};
// A few dozen resources in a fixed order: paging, sorting and totals are trivially what a client asks.
const COMMON = ['_id', '_count', '_sort', '_summary', '_total', '_format'];

/** The SearchParameters the search engine runs (one each, though a parameter may have several bases). */
export function servedSearchParameters(registry: SearchParameterRegistry): SearchParameter[] {
  const byUrl = new Map<string, SearchParameter>();
  for (const type of WRITABLE_TYPES) for (const sp of registry.forType(type)) if (sp.definition.url) byUrl.set(sp.definition.url, sp.definition);
  return [...byUrl.values()];
}

function matches(r: Conformance, query: FhirRequest['query']): boolean {
  const one = (name: string): string | undefined => query[name]?.[0];
  const anyOf = (name: string, values: (string | undefined)[]): boolean => {
    const wanted = one(name);
    return wanted === undefined || wanted.split(',').some((w) => values.includes(w));
  };
  // A canonical may carry |version; the version is matched by `version` when asked.
  const url = one('url')?.split('|')[0];
  if (url !== undefined && r.url !== url) return false;
  const name = one('name')?.toLowerCase();
  if (name !== undefined && !(r.name ?? '').toLowerCase().startsWith(name)) return false;
  if (!anyOf('_id', [r.id])) return false;
  if (!anyOf('version', [r.version])) return false;
  if (r.resourceType === 'StructureDefinition') return anyOf('type', [r.type]);
  if (r.resourceType === 'SearchParameter') return anyOf('code', [r.code]) && anyOf('base', r.base ?? []);
  return anyOf('code', [r.code]) && anyOf('base', r.resource ?? []);
}

/**
 * StructureDefinition, SearchParameter and OperationDefinition, read-only: the same objects the validator,
 * the search engine and the CapabilityStatement use, so what a client looks up is what the gateway runs.
 * Every authenticated client may read them (they describe the API and hold no data, as /metadata, which
 * needs no token at all); no SMART scope of a clinical type is asked for.
 */
export function registerConformanceRoutes(router: FhirRouter, baseUrl: string, resources: ConformanceResources): void {
  const byType: Record<string, Conformance[]> = {
    StructureDefinition: resources.structureDefinitions,
    SearchParameter: resources.searchParameters,
    OperationDefinition: resources.operationDefinitions,
  };
  for (const [type, list] of Object.entries(byType)) {
    router.add('GET', type, { interaction: 'search-type', type, access: 'authenticated' }, async (req) => {
      const known = [...CONFORMANCE_SEARCH[type].map((p) => p.name), ...COMMON];
      const unknown = Object.keys(req.query).filter((k) => !known.includes(k));
      if (unknown.length) throw badRequest(`${type} can be searched by ${known.join(', ')}; not by ${unknown.join(', ')}`, unknown);
      const count = req.query._count?.[0];
      if (count !== undefined && !/^\d{1,4}$/.test(count)) throw badRequest('_count must be a whole number', ['_count']);
      const found = list.filter((r) => matches(r, req.query));
      const summaryCount = req.query._summary?.[0] === 'count';
      const page = summaryCount ? [] : count === undefined ? found : found.slice(0, Number(count));
      const bundle: Bundle = {
        resourceType: 'Bundle',
        type: 'searchset',
        total: found.length,
      };
      // FHIR allows no empty arrays: a count-only or empty answer has no entry at all.
      if (page.length) bundle.entry = page.map((r) => ({ fullUrl: `${baseUrl}/${type}/${r.id ?? ''}`, resource: r as Resource, search: { mode: 'match' as const } }));
      return { status: 200, body: bundle };
    });
    router.add('GET', `${type}/:id`, { interaction: 'read', type, access: 'authenticated' }, async (_req, { params: { id } }) => {
      const found = list.find((r) => r.id === id);
      if (!found) throw notFound(`${type}/${id} is not known`);
      return { status: 200, body: found as Resource };
    });
  }
}
