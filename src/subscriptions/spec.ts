import { randomBytes } from 'node:crypto';
import type { Extension, Subscription } from '@medplum/fhirtypes';
import { badRequest, HttpError, outcome } from '../fhir/outcomes.ts';
import { parseQuery } from '../http/query.ts';
import { URA_SYSTEM } from '../fhir/identifier-systems.ts';
import { FHIR_ID } from '../fhir/resource-types.ts';
import type { Queryable } from '../store/database.ts';
import { BACKPORT, TOPIC_FILTERS, type TopicNames } from './topic.ts';

/** Where a subscriber supplies its own signing secret (otherwise the gateway makes one and returns it once). */
export const SECRET_EXTENSION = 'https://handover-gateway.nl/fhir/StructureDefinition/subscription-signing-secret';

const FHIR_PAYLOADS = ['empty', 'id-only', 'full-resource'] as const;
/** Payloads rendered by the gateway per handover: the native formats, and the AZ-IG referral message (issue 17; sent as application/fhir+json). */
export const NATIVE_PAYLOADS = { 'application/x-nts+json': 'nts', 'application/x-ambulance+json': 'ambulance', 'application/x-vvt+json': 'vvt', 'application/x-az-ig+json': 'az-ig' } as const;
export type Payload = (typeof FHIR_PAYLOADS)[number] | keyof typeof NATIVE_PAYLOADS;
export type Filters = [string, string[]][];

const SUBSCRIPTION_STATUSES = ['requested', 'active', 'error', 'off'] as const;
export type SubscriptionStatus = (typeof SUBSCRIPTION_STATUSES)[number];

/** What the gateway keeps of a Subscription to deliver it. */
export interface SubscriptionSpec {
  status: SubscriptionStatus;
  filters: Filters;
  endpoint: string;
  payload: Payload;
  heartbeatPeriod?: number;
  timeoutSeconds: number;
  maxCount: number;
  /** Supplied by the subscriber, when it did. */
  secret?: string;
  /** The MIME type a FHIR subscriber asked for, when not plain `application/fhir+json` (sent back as Content-Type). */
  contentType?: string;
  /** Subscription.end: nothing is sent after it. */
  end?: string;
  headers: string[];
  /** The resource to store: the secret taken out. */
  resource: Subscription;
}

const invalid = (message: string, expression: string): HttpError => new HttpError(422, outcome('invalid', message, [expression]));

function ext(list: Extension[] | undefined, name: string): Extension[] {
  return (list ?? []).filter((e) => e.url === `${BACKPORT}/${name}`);
}

function whole(e: Extension | undefined, min: number, max: number, expression: string): number | undefined {
  if (!e) return undefined;
  const v = e.valueUnsignedInt ?? e.valuePositiveInt ?? e.valueInteger;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalid(`${expression} must be a whole number from ${min} to ${max}`, expression);
  return v;
}

const TASK_STATUSES = ['draft', 'requested', 'received', 'accepted', 'rejected', 'ready', 'cancelled', 'in-progress', 'on-hold', 'failed', 'completed', 'entered-in-error'];
const PRIORITIES = ['routine', 'urgent', 'asap', 'stat'];
/**
 * What Task.owner and Task.requester may point at (the Task-owner/Task-requester targets the gateway serves), but
 * Patient: the check that a filter's reference exists must not tell anyone which patients exist.
 */
const PARTY_TYPES = ['Organization', 'HealthcareService', 'Practitioner', 'PractitionerRole'];
/** A party filter's value once made relative: `Type/id` or a bare id, [1] the type, [2] the id. */
const PARTY_REFERENCE = new RegExp(`^(?:([A-Za-z]+)/)?(${FHIR_ID})$`);
const FILTER = 'Subscription.criteria.extension';

/** A code of a required binding, bare or with its system; anything else can never match and is refused. */
function code(param: string, value: string, system: string, codes: string[]): string {
  const bare = value.startsWith(`${system}|`) ? value.slice(system.length + 1) : value;
  if (!codes.includes(bare)) throw invalid(`The filter ${param}=${value} can never match: ${param} is one of ${codes.join(', ')} (system ${system})`, FILTER);
  return bare;
}

/**
 * An organisation as a filter value: `Organization/<id>`, `<id>`, `{base}/Organization/<id>` (the gateway's own
 * URL), or `<URA system>|<URA>` (also what `owner:identifier=` takes). Which organisation it is, and whether it
 * exists, is decided against the directory by `resolveFilterParties`; here only forms that can never match are refused.
 */
function party(param: string, identifier: boolean, value: string, fhirBaseUrl: string): string {
  if (identifier) {
    // A bare value is a URA (8 digits); anything else is a HealthcareService named without its system.
    if (!value.includes('|') && /^\d{8}$/.test(value)) return `${URA_SYSTEM}|${value}`;
    if (!value.includes('|')) throw invalid(`The filter ${param}:identifier=${value} can never match: a bare value is a URA (8 digits); a HealthcareService is named with its system, ${param}:identifier=<system>|<value> (twiin-wsub-1)`, FILTER);
    if (value.startsWith(`${URA_SYSTEM}|`) && value.length > URA_SYSTEM.length + 1) return value;
    // Twiin TA Workflow: a HealthcareService by its identifier (owner:identifier=<system>|<value>), checked against the directory later.
    if (param === 'owner' && /^[^|\s]+\|[^|\s]+$/.test(value)) return value;
    throw invalid(`The filter ${param}:identifier=${value} can never match: the gateway knows organisations by URA (${URA_SYSTEM}|<URA>) and owners' HealthcareServices by <system>|<value>`, FILTER);
  }
  if (value.includes('|')) {
    if (value.startsWith(`${URA_SYSTEM}|`) && value.length > URA_SYSTEM.length + 1) return value;
    throw invalid(`The filter ${param}=${value} can never match: name the organisation as Organization/<id> or ${param}:identifier=${URA_SYSTEM}|<URA>, a HealthcareService as owner:identifier=<system>|<value> (twiin-wsub-1)`, FILTER);
  }
  const relative = value.startsWith(`${fhirBaseUrl}/`) ? value.slice(fhirBaseUrl.length + 1) : value;
  const m = PARTY_REFERENCE.exec(relative);
  if (!m || (m[1] !== undefined && !PARTY_TYPES.includes(m[1]))) {
    throw invalid(`The filter ${param}=${value} can never match: a Task's ${param} is a reference to this server (${PARTY_TYPES.join(', ')}), e.g. Organization/<id> or ${fhirBaseUrl}/Organization/<id>`, FILTER);
  }
  return relative;
}

/**
 * Parses `Task?owner=Organization/1&status=requested` into filters the topic offers, in the forms the outbox
 * matches. A filter the gateway cannot honour (another parameter or modifier, a value that can never match) is
 * refused (Backport IG: a server SHALL reject a filter it cannot honour), never accepted and silent.
 */
export function parseFilterCriteria(criteria: string[], fhirBaseUrl: string): Filters {
  const filters: Filters = [];
  for (const c of criteria) {
    // The Backport IG's `Task?owner=…`, or Twiin TA Workflow's bare `owner:identifier=<system>|<value>` (twiin-wsub-1).
    const m = /^Task\?(.*)$/.exec(c.trim()) ?? /^((?:owner|requester|status|priority|group-identifier)(?::identifier)?=.*)$/.exec(c.trim());
    if (!m) throw invalid(`A filter of the handover topic reads like Task?owner=Organization/123, got '${c}'`, FILTER);
    const query = parseQuery(`?${m[1]}`);
    for (const [raw, values] of Object.entries(query)) {
      const [param, modifier, ...more] = raw.split(':') as [string, string | undefined, ...string[]];
      const identifier = modifier === 'identifier' && more.length === 0 && (param === 'owner' || param === 'requester');
      if (!(TOPIC_FILTERS as readonly string[]).includes(param) || (modifier !== undefined && !identifier)) {
        throw invalid(`The handover topic cannot filter by '${raw}'; it offers ${TOPIC_FILTERS.join(', ')} (and owner:identifier, requester:identifier)`, FILTER);
      }
      for (const v of values) {
        const list = v.split(',').filter(Boolean);
        if (list.length === 0) throw invalid(`The filter '${raw}' needs a value`, FILTER);
        filters.push([
          param,
          list.map((value) => {
            switch (param) {
              case 'owner':
              case 'requester':
                return party(param, identifier, value, fhirBaseUrl);
              case 'status':
                return code(param, value, 'http://hl7.org/fhir/task-status', TASK_STATUSES);
              case 'priority':
                return code(param, value, 'http://hl7.org/fhir/request-priority', PRIORITIES);
              default:
                return value;
            }
          }),
        ]);
      }
    }
  }
  return filters;
}

const CHANNEL_TYPES = 'http://terminology.hl7.org/CodeSystem/subscription-channel-type';

/**
 * Backport IG: a server SHALL reject a subscription asking for a channel it does not support, whether by
 * `channel.type` or by a custom type in the `backport-channel-type` extension on it.
 */
function checkChannelType(type: unknown, typeExtensions: Extension[]): void {
  for (const e of ext(typeExtensions, 'backport-channel-type')) {
    const c = e.valueCoding;
    if (!c || c.code !== 'rest-hook' || (c.system !== undefined && c.system !== CHANNEL_TYPES)) {
      throw invalid(`The channel type ${c?.system ? `${c.system}|` : ''}${c?.code ?? '?'} is not supported: this server sends rest-hook only`, 'Subscription.channel.type');
    }
  }
  if (type !== 'rest-hook') throw invalid('Subscription.channel.type must be rest-hook', 'Subscription.channel.type');
}

/**
 * A FHIR JSON payload MIME type, with its parameters: `application/fhir+json`, `application/json`, optionally
 * `; fhirVersion=4.0` (FHIR R4 §http.html#version-parameter). Returns the type to send back, or undefined when
 * it is not FHIR JSON.
 */
export function fhirJsonMime(mime: string): { contentType: string } | undefined {
  const [type = '', ...params] = mime.split(';').map((p) => p.trim());
  if (!['application/fhir+json', 'application/json'].includes(type.toLowerCase())) return undefined;
  for (const p of params) {
    const [name = '', value = ''] = p.split('=').map((x) => x.trim());
    if (name.toLowerCase() !== 'fhirversion' && name.toLowerCase() !== 'charset') throw invalid(`Subscription.channel.payload parameter '${name}' is not supported (fhirVersion or charset)`, 'Subscription.channel.payload');
    if (name.toLowerCase() === 'fhirversion' && !['4.0', '4.0.1'].includes(value)) throw invalid(`This server speaks FHIR 4.0 (R4): Subscription.channel.payload fhirVersion=${value} cannot be served`, 'Subscription.channel.payload');
    if (name.toLowerCase() === 'charset' && value.toLowerCase() !== 'utf-8') throw invalid('Notifications are sent in UTF-8', 'Subscription.channel.payload');
  }
  return { contentType: mime.trim() };
}

/**
 * The organisations of owner and requester filters looked up: a reference must point at a resource that exists
 * and a URA must be an Organization's, or the filter could never fire (422 naming it). A bare value is an id (FHIR),
 * or else a URA (what the gateway took before). An Organization named by reference is matched by its URA as well,
 * so a Task that names it by URA, or by an absolute URL of this server, fires the filter too.
 */
export async function resolveFilterParties(q: Queryable, filters: Filters): Promise<Filters> {
  const resolved: Filters = [];
  for (const [param, values] of filters) {
    if (param !== 'owner' && param !== 'requester') {
      resolved.push([param, values]);
      continue;
    }
    const out = new Set<string>();
    for (const value of values) {
      if (value.startsWith(`${URA_SYSTEM}|`)) {
        if (!(await organizationWithUra(q, value.slice(URA_SYSTEM.length + 1)))) throw invalid(`The filter ${param}=${value} can never match: no organisation has URA ${value.slice(URA_SYSTEM.length + 1)}`, FILTER);
        out.add(value);
        continue;
      }
      if (value.includes('|')) {
        const service = await q.query(`SELECT 1 FROM resources WHERE resource_type = 'HealthcareService' AND NOT deleted AND tokens && $1::text[] LIMIT 1`, [[`identifier=${value}`]]);
        if (service.rows.length === 0) throw invalid(`The filter ${param}:identifier=${value} can never match: no HealthcareService of the directory has that identifier (organisations are named by URA, ${URA_SYSTEM}|<URA>)`, FILTER);
        out.add(value);
        continue;
      }
      const [type, id] = value.includes('/') ? (value.split('/') as [string, string]) : ['Organization', value];
      const found = await q.query<{ ura: string | null }>(
        `SELECT (SELECT i->>'value' FROM jsonb_array_elements(content->'identifier') i WHERE i->>'system' = $3 LIMIT 1) AS ura
         FROM resources WHERE resource_type = $1 AND id = $2 AND NOT deleted`,
        [type, id, URA_SYSTEM],
      );
      const row = found.rows[0];
      if (row) {
        out.add(`${type}/${id}`);
        if (type === 'Organization' && row.ura) out.add(`${URA_SYSTEM}|${row.ura}`);
      } else if (!value.includes('/') && (await organizationWithUra(q, value))) {
        out.add(`${URA_SYSTEM}|${value}`);
      } else {
        throw invalid(`The filter ${param}=${value} can never match: there is no ${type}/${id}`, FILTER);
      }
    }
    resolved.push([param, [...out]]);
  }
  return resolved;
}

async function organizationWithUra(q: Queryable, ura: string): Promise<boolean> {
  const r = await q.query(`SELECT 1 FROM resources WHERE resource_type = 'Organization' AND NOT deleted AND tokens && $1::text[] LIMIT 1`, [[`identifier=${URA_SYSTEM}|${ura}`]]);
  return r.rows.length > 0;
}

/**
 * Checks a Subscription against what the gateway supports (Backport IG 1.1.0 R4 shape), and its filters against
 * the directory (`q`): a filter naming an organisation that does not exist is refused.
 */
export async function parseSubscription(body: unknown, topic: TopicNames, fhirBaseUrl: string, q: Queryable): Promise<SubscriptionSpec> {
  const spec = subscriptionShape(body, topic, fhirBaseUrl);
  return { ...spec, filters: await resolveFilterParties(q, spec.filters) };
}

/** The checks that need nothing but the body. */
function subscriptionShape(body: unknown, topic: TopicNames, fhirBaseUrl: string): SubscriptionSpec {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('The request body must be a Subscription');
  const sub = structuredClone(body) as Subscription & { _criteria?: { extension?: Extension[] }; channel?: Subscription['channel'] & { _payload?: { extension?: Extension[] } } };
  if (sub.resourceType !== 'Subscription') throw badRequest(`resourceType must be Subscription, got '${String(sub.resourceType)}'`, ['resourceType']);
  if (!sub.criteria || !topic.accepted.includes(sub.criteria)) throw invalid(`Subscription.criteria must be the topic ${topic.canonical}`, 'Subscription.criteria');
  const filters = parseFilterCriteria(
    ext(sub._criteria?.extension, 'backport-filter-criteria').map((e) => String(e.valueString ?? '')),
    fhirBaseUrl,
  );
  const channel = sub.channel as ((typeof sub)['channel'] & { _type?: { extension?: Extension[] } }) | undefined;
  if (!channel) throw invalid('Subscription.channel.type must be rest-hook', 'Subscription.channel.type');
  checkChannelType(channel.type, channel._type?.extension ?? []);
  if (typeof channel.endpoint !== 'string' || !channel.endpoint) throw invalid('A rest-hook needs Subscription.channel.endpoint', 'Subscription.channel.endpoint');
  let payload: Payload;
  let contentType: string | undefined;
  const mime = channel.payload ?? 'application/fhir+json';
  const fhirJson = fhirJsonMime(mime);
  if (mime in NATIVE_PAYLOADS) {
    payload = mime as Payload;
  } else if (fhirJson) {
    // Backport IG: notifications SHALL be sent in the MIME type the subscriber asked for.
    if (fhirJson.contentType !== 'application/fhir+json') contentType = fhirJson.contentType;
    const content = ext(channel._payload?.extension, 'backport-payload-content')[0]?.valueCode ?? 'id-only';
    if (!(FHIR_PAYLOADS as readonly string[]).includes(content)) throw invalid(`payload content must be one of ${FHIR_PAYLOADS.join(', ')}`, 'Subscription.channel.payload.extension');
    payload = content as Payload;
  } else {
    throw invalid(`Subscription.channel.payload must be application/fhir+json, application/json or ${Object.keys(NATIVE_PAYLOADS).join(', ')}`, 'Subscription.channel.payload');
  }
  const end = parseEnd(sub.end);
  const heartbeatPeriod = whole(ext(channel.extension, 'backport-heartbeat-period')[0], 1, 86_400, 'Subscription.channel.extension(heartbeat-period)');
  const timeoutSeconds = whole(ext(channel.extension, 'backport-timeout')[0], 1, 120, 'Subscription.channel.extension(timeout)') ?? 10;
  const maxCount = whole(ext(channel.extension, 'backport-max-count')[0], 1, 1000, 'Subscription.channel.extension(max-count)') ?? 1;
  const headers = channel.header ?? [];
  for (const h of headers) {
    if (!/^[A-Za-z0-9-]{1,64}: ?[^\r\n]{0,1024}$/.test(h)) throw invalid(`Subscription.channel.header '${h}' is not 'Name: value'`, 'Subscription.channel.header');
  }
  const secretExt = (sub.extension ?? []).filter((e) => e.url === SECRET_EXTENSION);
  const secret = secretExt[0]?.valueString;
  if (secretExt.length > 0 && (typeof secret !== 'string' || secret.length < 32 || secret.length > 256)) {
    throw invalid('The signing secret must be a string of 32 to 256 characters', 'Subscription.extension(signing-secret)');
  }
  const status = (sub.status ?? 'requested') as SubscriptionStatus;
  if (!(SUBSCRIPTION_STATUSES as readonly string[]).includes(status)) throw invalid(`Subscription.status must be one of ${SUBSCRIPTION_STATUSES.join(', ')}`, 'Subscription.status');
  const extensions = (sub.extension ?? []).filter((e) => e.url !== SECRET_EXTENSION);
  // status and error are the gateway's to say: what a client sends there is not stored.
  const { extension: _e, error: _error, ...rest } = sub;
  const resource = (extensions.length ? { ...rest, extension: extensions } : rest) as Subscription;
  return { status, filters, endpoint: channel.endpoint, payload, contentType, end, heartbeatPeriod, timeoutSeconds, maxCount, secret, headers, resource };
}

/**
 * Subscription.end (an instant): the server turns the subscription off then. One that has already ended is
 * refused: it would never be activated or delivered (an ended one is off already; DELETE removes it).
 */
function parseEnd(end: unknown): string | undefined {
  if (end === undefined) return undefined;
  const at = typeof end === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(end) ? Date.parse(end) : Number.NaN;
  if (Number.isNaN(at)) throw invalid('Subscription.end must be an instant with a time zone, such as 2026-12-31T23:59:59Z', 'Subscription.end');
  if (at <= Date.now()) throw invalid(`Subscription.end (${end}) has passed: a subscription that has ended is not activated; send a later end, or none`, 'Subscription.end');
  return new Date(at).toISOString();
}

export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}
