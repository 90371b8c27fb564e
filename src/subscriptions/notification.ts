import type { Bundle, BundleEntry, Parameters, ParametersParameter, Resource } from '@medplum/fhirtypes';
import type { Payload } from './spec.ts';

export type NotificationType = 'handshake' | 'heartbeat' | 'event-notification' | 'query-status' | 'query-event';

/** One stored event, as a notification or `$events` tells it. */
export interface EventInfo {
  number: string;
  occurred: string;
  handoverId: string;
  focusVersion: string;
  /** The Task at that version, for full-resource payloads. */
  resource?: Resource;
}

export interface StatusArgs {
  fhirBaseUrl: string;
  topic: string;
  subscriptionId: string;
  status: string;
  type: NotificationType;
  eventsSinceStart: string;
  events: EventInfo[];
  errors?: string[];
  /** The payload content: with `empty`, notification events SHALL NOT name their focus (Backport IG). */
  content?: Payload;
}

/** The SubscriptionStatus of Backport IG 1.1.0 in R4: a Parameters resource. */
export function subscriptionStatus(a: StatusArgs): Parameters {
  const parameter: ParametersParameter[] = [
    { name: 'subscription', valueReference: { reference: `${a.fhirBaseUrl}/Subscription/${a.subscriptionId}` } },
    { name: 'topic', valueCanonical: a.topic },
    { name: 'status', valueCode: a.status },
    { name: 'type', valueCode: a.type },
    // String() because PGlite hands bigint columns over as numbers, where pg gives strings.
    { name: 'events-since-subscription-start', valueString: String(a.eventsSinceStart) },
  ];
  for (const e of a.events) {
    const part: ParametersParameter[] = [
      { name: 'event-number', valueString: e.number },
      { name: 'timestamp', valueInstant: e.occurred },
    ];
    if (a.content !== 'empty') part.push({ name: 'focus', valueReference: { reference: `${a.fhirBaseUrl}/Task/${e.handoverId}/_history/${e.focusVersion}` } });
    parameter.push({ name: 'notification-event', part });
  }
  for (const text of a.errors ?? []) parameter.push({ name: 'error', valueCodeableConcept: { text } });
  return { resourceType: 'Parameters', id: `${a.subscriptionId}-${a.type}-${a.eventsSinceStart}`, meta: { profile: ['http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4'] }, parameter };
}

/** A `history` Bundle: the status first, then per event what the payload content allows. */
export function notificationBundle(a: StatusArgs, payload: Payload): Bundle {
  const status = subscriptionStatus({ ...a, content: payload });
  const entry: BundleEntry[] = [{ fullUrl: `urn:uuid:${crypto.randomUUID()}`, resource: status, request: { method: 'GET', url: `Subscription/${a.subscriptionId}/$status` }, response: { status: '200' } }];
  if (payload !== 'empty') {
    for (const e of a.events) {
      const fullUrl = `${a.fhirBaseUrl}/Task/${e.handoverId}`;
      const request = { method: e.focusVersion === '1' ? 'POST' : 'PUT', url: e.focusVersion === '1' ? 'Task' : `Task/${e.handoverId}` } as const;
      const response = { status: e.focusVersion === '1' ? '201' : '200' };
      entry.push(payload === 'id-only' || !e.resource ? { fullUrl, request, response } : { fullUrl, resource: e.resource, request, response });
    }
  }
  return { resourceType: 'Bundle', id: crypto.randomUUID(), type: 'history', timestamp: new Date().toISOString(), entry };
}
