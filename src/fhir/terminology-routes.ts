import type { Bundle, CodeSystem, ConceptMap, Resource } from '@medplum/fhirtypes';
import type { Terminology } from '../native/mapping/index.ts';
import type { CapabilityContribution } from './capability.ts';
import { badRequest, notFound } from './outcomes.ts';
import type { FhirRequest } from './rest-types.ts';
import { BY_SCOPE, type FhirRouter } from './router.ts';

type Conformance = CodeSystem | ConceptMap;

function searchset(baseUrl: string, type: string, resources: Conformance[]): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: resources.length,
    entry: resources.map((r) => ({ fullUrl: `${baseUrl}/${type}/${r.id}`, resource: r as Resource, search: { mode: 'match' as const } })),
  };
}

function filter(resources: Conformance[], query: FhirRequest['query']): Conformance[] {
  const url = query.url?.[0];
  const name = query.name?.[0]?.toLowerCase();
  return resources.filter((r) => (!url || r.url === url) && (!name || (r.name ?? '').toLowerCase().startsWith(name)));
}

/**
 * The gateway's own code systems and concept maps (mappings/terminology/), served read-only with
 * `$translate`: the same resources the mapping engine translates with.
 */
export function registerTerminologyRoutes(router: FhirRouter, baseUrl: string, terminology: Terminology): CapabilityContribution {
  const byType: Record<string, Conformance[]> = { CodeSystem: terminology.codeSystems, ConceptMap: terminology.conceptMaps };
  for (const type of ['CodeSystem', 'ConceptMap']) {
    router.add('GET', type, { interaction: 'search-type', type, access: BY_SCOPE }, async (req) => {
      return { status: 200, body: searchset(baseUrl, type, filter(byType[type], req.query)) };
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
