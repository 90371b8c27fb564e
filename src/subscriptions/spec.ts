import { randomBytes } from 'node:crypto';
import type { Extension, Subscription } from '@medplum/fhirtypes';
import { badRequest, HttpError, outcome } from '../fhir/outcomes.ts';
import { parseQuery } from '../http/query.ts';
import { BACKPORT, TOPIC_FILTERS, topicUrl } from './topic.ts';

/** Where a subscriber supplies its own signing secret (otherwise the gateway makes one and returns it once). */
export const SECRET_EXTENSION = 'https://handover-gateway.nl/fhir/StructureDefinition/subscription-signing-secret';

export const FHIR_PAYLOADS = ['empty', 'id-only', 'full-resource'] as const;
/** Payloads rendered by the gateway per handover: the native formats, and the AZ-IG referral message (issue 17; sent as application/fhir+json). */
export const NATIVE_PAYLOADS = { 'application/x-nts+json': 'nts', 'application/x-ambulance+json': 'ambulance', 'application/x-vvt+json': 'vvt', 'application/x-az-ig+json': 'az-ig' } as const;
export type Payload = (typeof FHIR_PAYLOADS)[number] | keyof typeof NATIVE_PAYLOADS;
export type Filters = [string, string[]][];

export const SUBSCRIPTION_STATUSES = ['requested', 'active', 'error', 'off'] as const;
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

/** Parses `Task?owner=Organization/1&status=requested` into filters the topic offers; refuses any other. */
export function parseFilterCriteria(criteria: string[]): Filters {
  const filters: Filters = [];
  for (const c of criteria) {
    const m = /^Task\?(.*)$/.exec(c.trim());
    if (!m) throw invalid(`A filter of the handover topic reads like Task?owner=Organization/123, got '${c}'`, 'Subscription.criteria.extension');
    const query = parseQuery(`?${m[1]}`);
    for (const [param, values] of Object.entries(query)) {
      if (!(TOPIC_FILTERS as readonly string[]).includes(param)) {
        throw invalid(`The handover topic cannot filter by '${param}'; it offers ${TOPIC_FILTERS.join(', ')}`, 'Subscription.criteria.extension');
      }
      for (const v of values) {
        const list = v.split(',').filter(Boolean);
        if (list.length === 0) throw invalid(`The filter '${param}' needs a value`, 'Subscription.criteria.extension');
        filters.push([param, list]);
      }
    }
  }
  return filters;
}

/** Checks a Subscription against what the gateway supports (Backport IG 1.1.0 R4 shape). */
export function parseSubscription(body: unknown, fhirBaseUrl: string): SubscriptionSpec {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('The request body must be a Subscription');
  const sub = structuredClone(body) as Subscription & { _criteria?: { extension?: Extension[] }; channel?: Subscription['channel'] & { _payload?: { extension?: Extension[] } } };
  if (sub.resourceType !== 'Subscription') throw badRequest(`resourceType must be Subscription, got '${String(sub.resourceType)}'`, ['resourceType']);
  if (sub.criteria !== topicUrl(fhirBaseUrl)) throw invalid(`Subscription.criteria must be the topic ${topicUrl(fhirBaseUrl)}`, 'Subscription.criteria');
  const filters = parseFilterCriteria(ext(sub._criteria?.extension, 'backport-filter-criteria').map((e) => String(e.valueString ?? '')));
  const channel = sub.channel as (typeof sub)['channel'] | undefined;
  if (!channel || channel.type !== 'rest-hook') throw invalid('Subscription.channel.type must be rest-hook', 'Subscription.channel.type');
  if (typeof channel.endpoint !== 'string' || !channel.endpoint) throw invalid('A rest-hook needs Subscription.channel.endpoint', 'Subscription.channel.endpoint');
  let payload: Payload;
  const mime = channel.payload ?? 'application/fhir+json';
  if (mime in NATIVE_PAYLOADS) {
    payload = mime as Payload;
  } else if (mime === 'application/fhir+json' || mime === 'application/json') {
    const content = ext(channel._payload?.extension, 'backport-payload-content')[0]?.valueCode ?? 'id-only';
    if (!(FHIR_PAYLOADS as readonly string[]).includes(content)) throw invalid(`payload content must be one of ${FHIR_PAYLOADS.join(', ')}`, 'Subscription.channel.payload.extension');
    payload = content as Payload;
  } else {
    throw invalid(`Subscription.channel.payload must be application/fhir+json or ${Object.keys(NATIVE_PAYLOADS).join(', ')}`, 'Subscription.channel.payload');
  }
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
  return { status, filters, endpoint: channel.endpoint, payload, heartbeatPeriod, timeoutSeconds, maxCount, secret, headers, resource };
}

export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}
