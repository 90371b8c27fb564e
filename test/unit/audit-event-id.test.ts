import { REST_TYPE, restSubtype, toAuditRow, type AuditFacts } from '../../src/audit/event.ts';
import { newResourceId, uuidV7 } from '../../src/store/time-ordered-id.ts';

const facts: AuditFacts = {
  type: REST_TYPE, subtype: restSubtype('read'), action: 'R', outcome: '0', organizationUra: '90001234', clientId: 'hap-vechtdal',
  requestId: 'r1', resource: { type: 'Task', id: 't1' }, entities: ['Task/t1/_history/1'],
};

// The audit row's id is a time-ordered UUID so that the unique index on audit_events.event_id grows on its right
// edge (bench/audit-row-cost.ts); the AuditEvent serves the same id.
describe('the id of an audit row', () => {
  it('is an RFC 9562 version 7 UUID, the AuditEvent id', () => {
    const row = toAuditRow(facts);
    expect(row.event_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(row.content.id).toBe(row.event_id);
  });

  it('carries the time it was made, so rows made later sort after', async () => {
    const first = toAuditRow(facts);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const later = toAuditRow(facts);
    const millis = (id: string): number => parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    expect(Math.abs(millis(first.event_id) - Date.parse(first.recorded))).toBeLessThan(1000);
    expect(later.event_id > first.event_id).toBe(true);
    expect(new Set(Array.from({ length: 1000 }, () => toAuditRow(facts).event_id)).size).toBe(1000);
  });

  it('puts the whole 48-bit millisecond time first, big-endian, and random bits after it', () => {
    const at = Date.UTC(2026, 11, 5, 10, 0, 0, 123);
    const id = uuidV7(at);
    expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(at);
    expect(uuidV7(2 ** 48 - 1).startsWith('ffffffff-ffff-7')).toBe(true);
    expect(uuidV7(0).startsWith('00000000-0000-7')).toBe(true);
    // 74 random bits: two ids of the same millisecond differ, past the pool's refill too.
    expect(new Set(Array.from({ length: 1000 }, () => uuidV7(at))).size).toBe(1000);
  });
});

// A new resource's id is time-ordered too, so that its references (search tokens) and its primary key land on the
// right edge of their indexes instead of a random page of each (src/store/time-ordered-id.ts).
describe('the id of a new resource', () => {
  it('is a version 7 UUID, a later one sorting after', async () => {
    const first = newResourceId();
    await new Promise((resolve) => setTimeout(resolve, 2));
    const later = newResourceId();
    expect(first).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(later > first).toBe(true);
  });
});
