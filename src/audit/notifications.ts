import type { Queryable } from '../store/database.ts';
import { gatewaySubtype, REST_TYPE, toAuditRow, type AuditOutcome } from './event.ts';
import { auditRowsStatement, insertAuditRows } from './store.ts';

/** One delivery attempt of a subscription notification (rest-hook), as the delivery worker saw it. */
export interface NotificationAttempt {
  subscriptionId: string;
  /** URA of the subscriber, whose system received (or should have received) the notification. */
  organizationUra: string;
  /** The subscriber's client, when known. */
  clientId?: string;
  endpoint: string;
  eventNumber: number | string;
  /** HTTP status the endpoint answered; absent when it could not be reached. */
  status?: number;
  latencyMs: number;
  /** Why the attempt failed (timeout, connection refused), without patient data. */
  error?: string;
  /** `Task/<id>` (optionally `/_history/<n>`) the notification was about. */
  focus?: string;
  /** `Patient/<id>` of that handover. */
  patient?: string;
  /** The request id of the delivery (one per attempt), for logs. */
  requestId?: string;
}

/**
 * Audits notification attempts (NEN 7513: data disclosed to another organisation), one row each, in one statement.
 * Call it for every attempt, successful or not; inside the transaction that records its outcome (`q` = its tx):
 * the delivery worker records the attempts that ended since its last cycle together.
 */
export async function auditNotificationAttempts(q: Queryable, attempts: readonly NotificationAttempt[]): Promise<void> {
  if (attempts.length) await insertAuditRows(q, attempts.map(attemptRow));
}

/** The statement of `auditNotificationAttempts` (at least one attempt), to go ahead of the claim that marks them delivered. */
export function notificationAttemptsStatement(attempts: readonly NotificationAttempt[]): { sql: string; params: unknown[] } {
  return auditRowsStatement(attempts.map(attemptRow));
}

function attemptRow(a: NotificationAttempt): ReturnType<typeof toAuditRow> {
  const ok = a.status !== undefined && a.status >= 200 && a.status < 300;
  const outcome: AuditOutcome = ok ? '0' : a.status === undefined ? '8' : '4';
  const detail = [
    { type: 'endpoint', valueString: a.endpoint },
    { type: 'event-number', valueString: String(a.eventNumber) },
    { type: 'http-status', valueString: a.status === undefined ? 'none' : String(a.status) },
    { type: 'latency-ms', valueString: String(Math.round(a.latencyMs)) },
    ...(a.error ? [{ type: 'error', valueString: a.error }] : []),
  ];
  return toAuditRow({
    type: REST_TYPE,
    subtype: gatewaySubtype('notification'),
    action: 'E',
    outcome,
    status: a.status,
    organizationUra: a.organizationUra,
    clientId: a.clientId ?? `subscription:${a.subscriptionId}`,
    requestId: a.requestId ?? `notification:${a.subscriptionId}:${a.eventNumber}`,
    patient: a.patient,
    resource: { type: 'Subscription', id: a.subscriptionId },
    entities: [`Subscription/${a.subscriptionId}`, ...(a.focus ? [a.focus] : [])],
    description: `notification ${a.eventNumber} to ${a.endpoint}: ${a.status ?? a.error ?? 'no answer'}`,
    detail: [{ what: { reference: `Subscription/${a.subscriptionId}` }, type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2' }, detail }],
  });
}
