import type { Bundle, CodeSystem, ConceptMap, Resource } from '@medplum/fhirtypes';
import type { Terminology } from '../native/mapping/index.ts';
import type { CapabilityContribution } from './capability.ts';
import { badRequest, notFound, outcome } from './outcomes.ts';
import { MAX_COUNT } from './search/parse.ts';
import type { FhirRequest } from './rest-types.ts';
import { BY_SCOPE, type FhirRouter } from './router.ts';

type Conformance = CodeSystem | ConceptMap;

// `_sort` is a common parameter of every type (CapabilityStatement rest.searchParam): taken, the order of this small fixed set stays as it is.
const SEARCH_PARAMETERS = ['url', 'name', '_id', '_count', '_offset', '_summary', '_total', '_sort', '_format', '_pretty'];

/** A page of the matches, with the paging a client walks by (`_count`, `_offset`; `_summary=count`: the total only). */
function searchset(baseUrl: string, type: string, matches: Conformance[], req: FhirRequest): Bundle {
  const count = req.query._count?.[0];
  const offset = req.query._offset?.[0];
  if (count !== undefined && !/^\d{1,6}$/.test(count)) throw badRequest('_count must be a whole number', ['_count']);
  if (offset !== undefined && !/^\d{1,9}$/.test(offset)) throw badRequest('_offset must be a whole number', ['_offset']);
  const summary = req.query._summary?.[0];
  if (summary !== undefined && summary !== 'count' && summary !== 'false') throw badRequest(`_summary supports only 'count' and 'false'`, ['_summary']);
  // The common parameters every type takes (the CapabilityStatement lists them for all): these files are one
  // version each, loaded at start, so every order by _lastUpdated is the order they are served in.
  const sort = req.query._sort?.[0];
  if (sort !== undefined && sort !== '_lastUpdated' && sort !== '-_lastUpdated') throw badRequest(`_sort supports only _lastUpdated and -_lastUpdated, got '${sort}'`, ['_sort']);
  const total = req.query._total?.[0];
  if (total !== undefined && !['none', 'estimate', 'accurate'].includes(total)) throw badRequest('_total must be none, estimate or accurate', ['_total']);
  const unknown = Object.keys(req.query).filter((k) => !SEARCH_PARAMETERS.includes(k));
  if (unknown.length > 0 && /handling=strict/.test(req.headers.prefer ?? '')) throw badRequest(`Unknown search parameters: ${unknown.join(', ')}`, unknown);
  // A small, fixed set: all of it on one page unless the client asks for less.
  const n = Math.min(Number(count ?? MAX_COUNT), MAX_COUNT);
  const from = Number(offset ?? 0);
  const shown = summary === 'count' ? [] : matches.slice(from, from + n);
  const kept: [string, string][] = Object.entries(req.query)
    .filter(([k]) => k !== '_count' && k !== '_offset')
    .flatMap(([k, vs]) => vs.map((v): [string, string] => [k, v]));
  const link = (at: number): string => `${baseUrl}/${type}?${new URLSearchParams([...kept, ['_count', String(n)], ['_offset', String(at)]]).toString()}`;
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: matches.length,
    link: [{ relation: 'self', url: link(from) }, ...(summary !== 'count' && from + n < matches.length ? [{ relation: 'next', url: link(from + n) }] : [])],
    entry: [
      ...shown.map((r) => ({ fullUrl: `${baseUrl}/${type}/${r.id}`, resource: r as Resource, search: { mode: 'match' as const } })),
      ...(unknown.length > 0 ? [{ resource: outcome('not-supported', `Ignored unknown search parameters: ${unknown.join(', ')}`, unknown, 'warning') as Resource, search: { mode: 'outcome' as const } }] : []),
    ],
  };
}

function filter(resources: Conformance[], query: FhirRequest['query']): Conformance[] {
  const url = query.url?.[0];
  const name = query.name?.[0]?.toLowerCase();
  const ids = query._id?.[0]?.split(',');
  return resources.filter((r) => (!url || r.url === url) && (!name || (r.name ?? '').toLowerCase().startsWith(name)) && (!ids || ids.includes(r.id ?? '')));
}

/**
 * The gateway's own code systems and concept maps (mappings/terminology/), served read-only with
 * `$translate`: the same resources the mapping engine translates with.
 */
export function registerTerminologyRoutes(router: FhirRouter, baseUrl: string, terminology: Terminology): CapabilityContribution {
  const byType: Record<string, Conformance[]> = { CodeSystem: terminology.codeSystems, ConceptMap: terminology.conceptMaps };
  for (const type of ['CodeSystem', 'ConceptMap']) {
    router.add('GET', type, { interaction: 'search-type', type, access: BY_SCOPE }, async (req) => {
      return { status: 200, body: searchset(baseUrl, type, filter(byType[type], req.query), req) };
    });
    router.add('GET', `${type}/:id`, { interaction: 'read', type, access: BY_SCOPE }, async (req, { params: { id } }) => {
      const found = byType[type].find((r) => r.id === id);
      if (!found) throw notFound(`${type}/${id} is not known`);
      return { status: 200, body: found as Resource };
    });
  }
  const translate = async (req: FhirRequest, id?: string) => {
    const q = (name: string): string | undefined => req.query[name]?.[0];
    let url = q('url');
    if (id) {
      const map = terminology.conceptMaps.find((m) => m.id === id);
      if (!map) throw notFound(`ConceptMap/${id} is not known`);
      url = map.url;
    }
    const system = q('system');
    const code = q('code');
    if (!system || !code) throw badRequest('$translate needs system and code', ['system', 'code']);
    return {
      status: 200,
      body: terminology.translate({ url, system, code, source: q('source'), target: q('target'), targetsystem: q('targetsystem'), reverse: q('reverse') === 'true' }),
    };
  };
  // By GET or POST (a Parameters body; its `coding` stands for system and code).
  const translateMeta = { interaction: 'operation', type: 'ConceptMap', access: { any: ['r'] } } as const;
  router.operation('ConceptMap/$translate', translateMeta, (req) => translate(req));
  router.operation('ConceptMap/:id/$translate', translateMeta, (req, { params: { id } }) => translate(req, id));

  const readOnly = (type: string) => ({
    type: type as 'CodeSystem',
    interaction: [{ code: 'read' as const }, { code: 'search-type' as const }],
    searchParam: [
      { name: 'url', type: 'uri' as const },
      { name: 'name', type: 'string' as const },
    ],
  });
  return {
    resources: [readOnly('CodeSystem'), { ...readOnly('ConceptMap'), operation: [{ name: 'translate', definition: 'http://hl7.org/fhir/OperationDefinition/ConceptMap-translate' }] }],
  };
}
