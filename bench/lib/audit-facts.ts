import { restSubtype, REST_TYPE, type AuditFacts } from '../../src/audit/event.ts';

const ORG = '00000001';
// How many patients the rows are about (BENCH_PATIENTS): 500 as before; a production trail has far more, and the rows
// of consecutive requests are then about patients far apart in any index by patient (the stride scatters them).
const PATIENTS = Number(process.env.BENCH_PATIENTS ?? 500);

/**
 * The facts of the i-th audit row of a Task read (one entity and its patient) or of a search page of 20 (20 entities
 * and the query), as the gateway records them: the rows whose cost bench/audit-row-cost.ts and audit-link-cost.ts measure.
 */
export function benchAuditFacts(kind: 'read' | 'search', i: number): AuditFacts {
  const patient = `Patient/${((i * 7919) % PATIENTS).toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`;
  const task = (n: number): string => `Task/${(i * 20 + n).toString(16).padStart(8, '0')}-1111-4000-8000-000000000000`;
  const base = { type: REST_TYPE, organizationUra: ORG, clientId: 'demo-ambulance', requestId: `req-${i}-${kind}`, outcome: '0' as const, status: 200 };
  return kind === 'read'
    ? { ...base, subtype: restSubtype('read'), action: 'R', patient, resource: { type: 'Task', id: task(0).slice(5) }, entities: [`${task(0)}/_history/3`] }
    : { ...base, subtype: restSubtype('search-type'), action: 'E', resource: { type: 'Task' }, query: `status=requested&owner=Organization/${ORG}&_count=20`, entities: Array.from({ length: 20 }, (_, n) => `${task(n)}/_history/2`) };
}
