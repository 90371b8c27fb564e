import type { CapabilityStatement, CapabilityStatementRestResource, CapabilityStatementRestResourceOperation } from '@medplum/fhirtypes';
import { WRITABLE_TYPES } from './resource-types.ts';
import { SERVER_OWNED_TYPES } from '../access/policy.ts';

const ALL_INTERACTIONS = ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'create', 'search-type'];
const READ_INTERACTIONS = ['read', 'vread', 'history-instance', 'history-type', 'search-type'];
import type { SearchParameterRegistry } from './search/parameters.ts';
import { SUPPORTED_INCLUDES, SUPPORTED_REVINCLUDES } from './search/parse.ts';

/** Something another part of the gateway adds to the CapabilityStatement (a read-only type, an operation, an extension). */
export interface CapabilityContribution {
  resources?: CapabilityStatementRestResource[];
  operations?: { type?: string; operation: CapabilityStatementRestResourceOperation }[];
  extension?: CapabilityStatement['extension'];
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
}): CapabilityStatement {
  const { baseUrl, registry, contributions } = args;
  const resources: CapabilityStatementRestResource[] = WRITABLE_TYPES.map((type) => ({
    type,
    // Provenance is the gateway's own record of what a native record changed: clients read it, never write it.
    interaction: (SERVER_OWNED_TYPES.includes(type) ? READ_INTERACTIONS : ALL_INTERACTIONS).map((code) => ({ code: code as 'read' })),
    versioning: 'versioned-update',
    readHistory: true,
    updateCreate: false,
    conditionalCreate: !SERVER_OWNED_TYPES.includes(type),
    conditionalUpdate: false,
    conditionalDelete: 'not-supported',
    searchInclude: SUPPORTED_INCLUDES.filter((i) => i.startsWith(`${type}:`)),
    searchRevInclude: SUPPORTED_REVINCLUDES.filter((i) => i.startsWith(`${type}:`) || type === 'Task'),
    searchParam: [
      { name: '_id', type: 'token', definition: 'http://hl7.org/fhir/SearchParameter/Resource-id' },
      { name: '_lastUpdated', type: 'date', definition: 'http://hl7.org/fhir/SearchParameter/Resource-lastUpdated' },
      ...registry.forType(type).map((sp) => ({ name: sp.code, type: sp.type, definition: sp.definition.url, documentation: sp.definition.description })),
    ],
  }));
  for (const c of contributions) {
    for (const r of c.resources ?? []) resources.push(r);
    for (const { type, operation } of c.operations ?? []) {
      const target = type ? resources.find((r) => r.type === type) : undefined;
      if (target) (target.operation ??= []).push(operation);
    }
  }
  const systemOps = contributions.flatMap((c) => (c.operations ?? []).filter((o) => !o.type).map((o) => o.operation));
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    software: { name: 'handover-gateway', version: args.version },
    implementation: { description: 'Handover gateway of the acute-care region', url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    patchFormat: ['application/json-patch+json'],
    extension: contributions.flatMap((c) => c.extension ?? []),
    rest: [
      {
        mode: 'server',
        security: {
          cors: false,
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
