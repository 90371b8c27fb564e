import type { AuditEventEntity, Bundle, Resource } from '@medplum/fhirtypes';
import type { MappedRecord } from '../native/types.ts';
import type { FhirRequest, FhirResponse } from '../fhir/rest-types.ts';
import type { Query } from '../fhir/search/parse.ts';
import { gatewaySubtype, REST_TYPE, restSubtype, type AuditAction } from './event.ts';
import type { RequestDescription } from './recorder.ts';
import { nativeRecordSystem } from '../fhir/identifier-systems.ts';

const TYPE = /^[A-Z][A-Za-z]{0,63}$/;

function queryString(query: Query): string {
  const params = new URLSearchParams();
  for (const [k, values] of Object.entries(query)) for (const v of values) params.append(k, v);
  return params.toString();
}

const describe = (code: string, action: AuditAction, extra: Partial<RequestDescription> = {}): RequestDescription => ({
  type: REST_TYPE,
  subtype: restSubtype(code),
  action,
  ...extra,
});

/** The BALP interaction of a FHIR request, from its method and path alone (also for requests refused before routing). */
export function describeFhirRequest(req: Pick<FhirRequest, 'method' | 'path' | 'query' | 'body'>): RequestDescription {
  const parts = req.path.split('/').filter(Boolean);
  const query = Object.keys(req.query).length ? queryString(req.query) : undefined;
  const op = parts.find((p) => p.startsWith('$'));
  const [type, id] = parts;
  const resource = type && TYPE.test(type) ? { type, id: id && !id.startsWith('$') && !id.startsWith('_') ? id : undefined } : undefined;
  if (op) {
    return { type: REST_TYPE, subtype: restSubtype('operation'), action: 'E', query, resource, description: `${req.method} ${op}` };
  }
  if (parts.length === 0) {
    if (req.method === 'POST') {
      const kind = (req.body as Bundle | undefined)?.type === 'batch' ? 'batch' : 'transaction';
      return describe(kind, 'E');
    }
    return describe('history-system', 'R', { query });
  }
  if (parts[0] === 'metadata') return describe('capabilities', 'R');
  if (parts[0] === '_history') return describe('history-system', 'R', { query });
  switch (req.method) {
    case 'POST':
      if (parts[1] === '_search') {
        const form = req.body && typeof req.body === 'object' && !Array.isArray(req.body) ? (req.body as Record<string, string | string[]>) : {};
        const all: Query = { ...req.query };
        for (const [k, v] of Object.entries(form)) all[k] = [...(all[k] ?? []), ...(Array.isArray(v) ? v : [v])];
        return describe('search-type', 'E', { query: queryString(all), resource: resource && { type: resource.type } });
      }
      return describe('create', 'C', { resource });
    case 'PUT':
      return describe('update', 'U', { resource });
    case 'PATCH':
      return describe('patch', 'U', { resource });
    case 'DELETE':
      return describe('delete', 'D', { resource });
    default:
      break;
  }
  if (parts.length === 1) return describe('search-type', 'E', { query: query ?? '', resource });
  if (parts[1] === '_history') return describe('history-type', 'R', { query, resource: resource && { type: resource.type } });
  if (parts[2] === '_history' && parts[3]) return describe('vread', 'R', { resource: resource && { ...resource, version: parts[3] } });
  if (parts[2] === '_history') return describe('history-instance', 'R', { query, resource });
  return describe('read', 'R', { resource });
}

/** A native record in or a handover rendered out (`/native/{format}[/{id}]`). */
export function describeNativeRequest(method: string, path: string): RequestDescription {
  const [format, id] = path.split('/').filter(Boolean);
  if (method === 'POST') return { type: REST_TYPE, subtype: gatewaySubtype('native-record'), action: 'C', description: `POST /native/${format ?? ''}` };
  return { type: REST_TYPE, subtype: gatewaySubtype('native-render'), action: 'R', resource: id ? { type: 'Task', id } : undefined, description: `GET /native/${format ?? ''}` };
}

/** The resources an answer carries: a read's resource, a Bundle's entries (nested transaction answers too). */
export function resourcesOf(res: FhirResponse): Resource[] {
  const body = res.body;
  if (!body) return [];
  if (body.resourceType !== 'Bundle') return body.id ? [body] : [];
  const out: Resource[] = [];
  for (const e of (body as Bundle).entry ?? []) if (e.resource?.id) out.push(e.resource);
  return out;
}

/** The native record's identity (sender, record id, sequence number) as an AuditEvent entity. */
export function nativeRecordEntity(format: string, mapped: Pick<MappedRecord, 'senderUra' | 'recordId' | 'sequence'>): AuditEventEntity {
  return {
    what: { identifier: { system: nativeRecordSystem(format, mapped.senderUra), value: `${mapped.recordId}#${mapped.sequence}` } },
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' },
    description: `${format} record ${mapped.recordId}, sequence ${mapped.sequence}`,
  };
}
