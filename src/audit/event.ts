import type { AuditEvent, AuditEventAgent, AuditEventEntity, Coding, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { uuidV7 } from '../store/time-ordered-id.ts';
import type { RequestContext } from '../context.ts';
import { CLIENT_SYSTEM, URA_SYSTEM } from '../fhir/identifier-systems.ts';

export type AuditAction = 'C' | 'R' | 'U' | 'D' | 'E';
/** FHIR AuditEvent.outcome: 0 success, 4 minor failure (the request was refused), 8 serious failure (the server failed). */
export type AuditOutcome = '0' | '4' | '8' | '12';

export const REST_TYPE: Coding = { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'Restful Operation' };
export const LOGIN_TYPE: Coding = { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110114', display: 'User Authentication' };
const RESTFUL_INTERACTION = 'http://hl7.org/fhir/restful-interaction';
/** The gateway's own subtypes, for what is not a FHIR interaction (native records, tokens, notifications). */
const GATEWAY_SUBTYPE = 'https://handover-gateway.nl/fhir/CodeSystem/audit-subtype';

export function restSubtype(code: string): Coding {
  return { system: RESTFUL_INTERACTION, code };
}
export function gatewaySubtype(code: string): Coding {
  return { system: GATEWAY_SUBTYPE, code };
}

/** What happened, in plain terms; `toAuditRow` turns it into a BALP AuditEvent and the NEN 7513 columns. */
export interface AuditFacts {
  type: Coding;
  subtype: Coding;
  action: AuditAction;
  outcome: AuditOutcome;
  status?: number;
  organizationUra: string;
  clientId: string;
  /** The person on whose behalf the client acts (native record's triagist, crew or nurse; a token claim). */
  onBehalfOf?: string;
  requestId: string;
  /** `Patient/<id>` the event is about. */
  patient?: string;
  resource?: { type: string; id?: string; version?: string };
  /** Everything the event is about, `Type/id` or `Type/id/_history/n`. */
  entities: string[];
  /** The query as received (search parameters), kept base64 in the AuditEvent as BALP says. */
  query?: string;
  failure?: OperationOutcome;
  /** What was asked, e.g. `POST /native/nts` or the endpoint of a notification. */
  description?: string;
  /** More entities the caller names itself (a native record's identity, a notification's event number). */
  detail?: AuditEventEntity[];
}

/** One row of `audit_events`: the NEN 7513 columns and the AuditEvent beside them. */
export interface AuditRow {
  event_id: string;
  recorded: string;
  organization_ura: string;
  client_id: string;
  on_behalf_of: string | null;
  patient: string | null;
  action: AuditAction;
  type_code: string;
  subtype: string;
  resource_type: string | null;
  resource_id: string | null;
  resource_version: string | null;
  entities: string[];
  outcome: AuditOutcome;
  status: number | null;
  request_id: string;
  content: AuditEvent;
}

export function outcomeOfStatus(status: number): AuditOutcome {
  if (status < 400) return '0';
  if (status < 500) return '4';
  return '8';
}

/** `Task/1/_history/2` → `Task/1`. */
function unversioned(ref: string): string {
  const i = ref.indexOf('/_history/');
  return i < 0 ? ref : ref.slice(0, i);
}

/** Who acted, as the audit columns need it. */
export function actorOf(ctx: Pick<RequestContext, 'organizationUra' | 'clientId' | 'onBehalfOf' | 'requestId'>): Pick<AuditFacts, 'organizationUra' | 'clientId' | 'onBehalfOf' | 'requestId'> {
  return { organizationUra: ctx.organizationUra, clientId: ctx.clientId, onBehalfOf: ctx.onBehalfOf, requestId: ctx.requestId };
}

/** The patient a resource is about: the Patient itself, or its subject / for / patient reference. */
export function patientOf(resource: Resource): string | undefined {
  if (resource.resourceType === 'Patient') return resource.id ? `Patient/${resource.id}` : undefined;
  const r = resource as { subject?: { reference?: string }; for?: { reference?: string }; patient?: { reference?: string }; target?: { reference?: string }[] };
  for (const ref of [r.subject?.reference, r.for?.reference, r.patient?.reference, ...(r.target ?? []).map((t) => t.reference)]) {
    if (ref?.startsWith('Patient/')) return unversioned(ref);
  }
  return undefined;
}

// The parts of an AuditEvent that are the same in every event, made once (an event is made for every request) and
// frozen: an event is only ever serialised into its row, and a change to a shared part would throw, not spread.
function frozen<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) frozen(v);
    Object.freeze(value);
  }
  return value;
}
const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';
const SOURCE_ROLE = frozen({ coding: [{ system: DCM, code: '110153', display: 'Source Role ID' }] });
const GATEWAY_AGENT: AuditEventAgent = frozen({ type: { coding: [{ system: DCM, code: '110152', display: 'Destination Role ID' }] }, who: { display: 'handover-gateway' }, requestor: false });
const PROVIDER_ROLE = frozen({ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleClass', code: 'PROV', display: 'healthcare provider' }] });
const HUMAN_USER_ROLE = frozen({ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/extra-security-role-type', code: 'humanuser', display: 'human user' }] });
const REQUEST_ID_TYPE = frozen({ system: 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType', code: 'XrequestId' });
const PERSON_TYPE = frozen({ system: ENTITY_TYPE, code: '1', display: 'Person' });
const SYSTEM_OBJECT_TYPE = frozen({ system: ENTITY_TYPE, code: '2', display: 'System Object' });
const PATIENT_ROLE = frozen({ system: OBJECT_ROLE, code: '1', display: 'Patient' });
const DOMAIN_RESOURCE_ROLE = frozen({ system: OBJECT_ROLE, code: '4', display: 'Domain Resource' });
const QUERY_ROLE = frozen({ system: OBJECT_ROLE, code: '24', display: 'Query' });
const OUTCOME_ENTITY: AuditEventEntity = frozen({ what: { reference: '#outcome' }, type: SYSTEM_OBJECT_TYPE, description: 'OperationOutcome of the refused or failed request' });
const SOURCE: AuditEvent['source'] = frozen({
  observer: { display: 'handover-gateway' },
  type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4', display: 'Application Server' }],
});

function agents(f: AuditFacts): AuditEventAgent[] {
  const list: AuditEventAgent[] = [
    { type: SOURCE_ROLE, who: { identifier: { system: CLIENT_SYSTEM, value: f.clientId }, display: f.clientId }, requestor: !f.onBehalfOf },
    GATEWAY_AGENT,
    { type: PROVIDER_ROLE, who: { identifier: { system: URA_SYSTEM, value: f.organizationUra } }, requestor: false },
  ];
  if (f.onBehalfOf) list.push({ type: HUMAN_USER_ROLE, who: { display: f.onBehalfOf }, requestor: true });
  return list;
}

function entities(f: AuditFacts): AuditEventEntity[] {
  const list: AuditEventEntity[] = [{ what: { identifier: { value: f.requestId } }, type: REQUEST_ID_TYPE }];
  if (f.patient) list.push({ what: { reference: f.patient }, type: PERSON_TYPE, role: PATIENT_ROLE });
  for (const ref of f.entities) {
    if (ref === f.patient) continue;
    list.push({ what: { reference: ref }, type: SYSTEM_OBJECT_TYPE, role: DOMAIN_RESOURCE_ROLE });
  }
  if (f.query !== undefined) list.push({ type: SYSTEM_OBJECT_TYPE, role: QUERY_ROLE, query: Buffer.from(f.query, 'utf8').toString('base64') });
  if (f.failure) list.push(OUTCOME_ENTITY);
  if (f.detail) for (const d of f.detail) list.push(d);
  return list;
}

export function toAuditRow(f: AuditFacts, recorded = new Date().toISOString()): AuditRow {
  // A time-ordered UUID (RFC 9562 version 7: Unix milliseconds, then 74 random bits): still unique and still a
  // UUID, but the unique index on event_id grows on its right edge instead of changing a random page of a large
  // index for every row (bench/audit-row-cost.ts: about half the buffers dirtied, full-page images and WAL per
  // row). Its time is the row's `recorded`, which the AuditEvent states anyway.
  const id = uuidV7();
  const event: AuditEvent = {
    resourceType: 'AuditEvent',
    id,
    meta: { versionId: '1', lastUpdated: recorded },
    ...(f.failure ? { contained: [{ ...f.failure, id: 'outcome' }] } : {}),
    type: f.type,
    subtype: [f.subtype],
    action: f.action,
    recorded,
    outcome: f.outcome,
    ...(f.failure || f.description ? { outcomeDesc: f.failure?.issue?.[0]?.diagnostics ?? f.description } : {}),
    agent: agents(f),
    source: SOURCE,
    entity: entities(f),
  };
  const refs = new Set<string>();
  if (f.patient) refs.add(f.patient);
  for (const e of f.entities) refs.add(unversioned(e));
  return {
    event_id: id,
    recorded,
    organization_ura: f.organizationUra,
    client_id: f.clientId,
    on_behalf_of: f.onBehalfOf ?? null,
    patient: f.patient ?? null,
    action: f.action,
    type_code: f.type.code ?? '',
    subtype: f.subtype.code ?? '',
    resource_type: f.resource?.type ?? null,
    resource_id: f.resource?.id ?? null,
    resource_version: f.resource?.version ?? null,
    entities: [...refs],
    outcome: f.outcome,
    status: f.status ?? null,
    request_id: f.requestId,
    content: event,
  };
}
