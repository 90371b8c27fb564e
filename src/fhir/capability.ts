import type { CapabilityStatement, CapabilityStatementRestResource, CapabilityStatementRestResourceOperation, OperationDefinition } from '@medplum/fhirtypes';
import { CONFORMANCE_SEARCH } from './conformance-routes.ts';
import { WRITABLE_TYPES } from './resource-types.ts';
import { SERVER_OWNED_TYPES } from '../access/policy.ts';

const ALL_INTERACTIONS = ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'create', 'search-type'];
const READ_INTERACTIONS = ['read', 'vread', 'history-instance', 'history-type', 'search-type'];
import type { CompiledSearchParameter, SearchParameterRegistry } from './search/parameters.ts';
import { supportedIncludes, supportedRevIncludes } from './search/parse.ts';

/** A parameter's description, and for a reference what else it takes: R4 lists no chains or modifiers of its own. */
function searchDocumentation(registry: SearchParameterRegistry, sp: CompiledSearchParameter): string | undefined {
  if (sp.type !== 'reference') return sp.definition.description;
  const chained = [...new Set(sp.targets.flatMap((t) => registry.forType(t).filter((c) => c.type !== 'reference').map((c) => c.code)))].sort();
  return [
    sp.definition.description,
    `Points at ${sp.targets.join(', ')}. Values Type/id, id, or an absolute URL of this server.`,
    `Modifiers: :not, :Type, :identifier (system|value: the Reference.identifier sent, or a referenced resource carrying that identifier).`,
    `Chains, one level: ${sp.code}.<${chained.join(' | ')}> (e.g. ${sp.code}.identifier=system|value), also ${sp.code}:Type.<parameter>.`,
  ].join(' ');
}

/**
 * `_has:Source:reference:parameter` on the types a reference parameter may point at. R4 has no SearchParameter
 * for `_has` (it is not a parameter of its own but a form, as chains are): the type's documentation says it.
 */
function hasDocumentation(registry: SearchParameterRegistry, type: string): string | undefined {
  const sources = supportedRevIncludes(registry, type, WRITABLE_TYPES);
  if (sources.length === 0) return undefined;
  return `Reverse chaining: _has:<Type>:<reference>:<parameter>=value, one level, through ${sources.join(', ')} (e.g. _has:Task:focus:status=requested on ServiceRequest); only resources the caller may read count.`;
}

/** Something another part of the gateway adds to the CapabilityStatement (a read-only type, an operation, an extension). */
export interface CapabilityContribution {
  resources?: CapabilityStatementRestResource[];
  operations?: { type?: string; operation: CapabilityStatementRestResourceOperation }[];
  extension?: CapabilityStatement['extension'];
  /** CapabilityStatements (canonical URLs) the server conforms to, such as the Backport IG's server statement. */
  instantiates?: string[];
}

/** What the gateway holds each type to and the operations it defines: all served under /fhir, so every URL here resolves there. */
export interface CapabilityConformance {
  /** The profile every resource of a type is validated against. */
  profiles: { type: string; url: string }[];
  operations: OperationDefinition[];
}

/**
 * The CapabilityStatement is built from the same tables the server runs on (types, search
 * parameters, includes, operations), so it cannot list what does not work.
 */
export function buildCapabilityStatement(args: {
  baseUrl: string;
  version: string;
  registry: SearchParameterRegistry;
  contributions: CapabilityContribution[];
  conformance?: CapabilityConformance;
}): CapabilityStatement {
  const { baseUrl, registry, contributions } = args;
  const profileOf = (type: string): string | undefined => args.conformance?.profiles.find((p) => p.type === type)?.url;
  const resources: CapabilityStatementRestResource[] = WRITABLE_TYPES.map((type) => ({
    type,
    // Every write of the type is validated against its profile: it is the system-wide profile, and a supported one.
    ...(profileOf(type) ? { profile: profileOf(type), supportedProfile: [profileOf(type) as string] } : {}),
    // Provenance is the gateway's own record of what a native record changed: clients read it, never write it.
    interaction: (SERVER_OWNED_TYPES.includes(type) ? READ_INTERACTIONS : ALL_INTERACTIONS).map((code) => ({ code: code as 'read' })),
    versioning: 'versioned-update',
    readHistory: true,
    updateCreate: false,
    // A read or vread naming its version's ETag (If-None-Match) or a time not before it (If-Modified-Since) is 304.
    conditionalRead: 'full-support',
    conditionalCreate: !SERVER_OWNED_TYPES.includes(type),
    conditionalUpdate: false,
    conditionalDelete: 'not-supported',
    documentation: hasDocumentation(registry, type),
    searchInclude: supportedIncludes(registry, type),
    searchRevInclude: supportedRevIncludes(registry, type, WRITABLE_TYPES),
    searchParam: [
      { name: '_id', type: 'token', definition: 'http://hl7.org/fhir/SearchParameter/Resource-id' },
      { name: '_lastUpdated', type: 'date', definition: 'http://hl7.org/fhir/SearchParameter/Resource-lastUpdated' },
      ...registry.forType(type).map((sp) => ({ name: sp.code, type: sp.type, definition: sp.definition.url, documentation: searchDocumentation(registry, sp) })),
    ],
  }));
  for (const c of contributions) {
    for (const r of c.resources ?? []) resources.push(r);
    for (const { type, operation } of c.operations ?? []) {
      const target = type ? resources.find((r) => r.type === type) : undefined;
      if (target) (target.operation ??= []).push(operation);
    }
  }
  // Conformance resources served read-only (src/fhir/conformance-routes.ts).
  for (const [type, params] of Object.entries(CONFORMANCE_SEARCH)) {
    resources.push({
      type: type as 'StructureDefinition',
      interaction: [{ code: 'read' }, { code: 'search-type' }],
      searchParam: params.map((p) => ({ name: p.name, type: p.type, definition: `http://hl7.org/fhir/SearchParameter/${type}-${p.name}` })),
    });
  }
  // The gateway's own OperationDefinitions name each operation: their URLs resolve here, where the core or IG ones do not say what we do.
  for (const od of args.conformance?.operations ?? []) {
    for (const type of od.resource ?? []) {
      const target = resources.find((r) => r.type === type);
      if (!target) continue;
      const listed = target.operation?.find((o) => o.name === od.code);
      if (listed) listed.definition = od.url as string;
      else (target.operation ??= []).push({ name: od.code as string, definition: od.url as string });
    }
  }
  const systemOps = contributions.flatMap((c) => (c.operations ?? []).filter((o) => !o.type).map((o) => o.operation));
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    ...(contributions.some((c) => c.instantiates?.length) ? { instantiates: contributions.flatMap((c) => c.instantiates ?? []) } : {}),
    software: { name: 'handover-gateway', version: args.version },
    implementation: { description: 'Handover gateway of the acute-care region', url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    patchFormat: ['application/json-patch+json'],
    ...(contributions.some((c) => c.extension?.length) ? { extension: contributions.flatMap((c) => c.extension ?? []) } : {}),
    rest: [
      {
        mode: 'server',
        documentation:
          "Every write is validated against its type's profile. An error refuses it (422, the rule's key in the OperationOutcome); " +
          'a warning (a SHOULD of the profile, such as the Twiin IG\'s twiin-task-1) is reported, not refused: $validate lists it with severity warning, ' +
          'a write that breaks it is stored and says so in its OperationOutcome (Prefer: return=OperationOutcome; in a transaction or batch, entry.response.outcome).',
        security: {
          cors: false,
          description:
            'SMART Backend Services (client credentials, private_key_jwt or client_secret_basic). An organisation reads and changes only the handovers it is party to. ' +
            'Security labels (meta.security) are stored and returned as sent, and carried to every later version; they are not interpreted: access is decided by party, not by label.',
          service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }] }],
          extension: [
            {
              url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
              extension: [{ url: 'token', valueUri: `${baseUrl.replace(/\/fhir$/, '')}/oauth2/token` }],
            },
          ],
        },
        resource: resources,
        interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'history-system' }],
        searchParam: [
          { name: '_count', type: 'number', documentation: `Page size, at most 200` },
          { name: '_sort', type: 'string', documentation: '_lastUpdated or -_lastUpdated' },
          { name: '_summary', type: 'token', documentation: 'count' },
          {
            name: '_total',
            type: 'token',
            documentation:
              'none | estimate | accurate. Default (and estimate): Bundle.total only where the page shows it, i.e. a page that is not full; accurate counts every match. _summary=count is always exact. Paging needs no total: a next link is given exactly when more matches follow.',
          },
        ],
        operation: systemOps.length ? systemOps : undefined,
      },
    ],
  };
}
