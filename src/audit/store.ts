import type { AuditEvent } from '@medplum/fhirtypes';
import type { Queryable } from '../store/database.ts';
import type { AuditRow } from './event.ts';

const COLUMNS = `event_id uuid, recorded timestamptz, organization_ura text, client_id text, on_behalf_of text, patient text,
  action text, type_code text, subtype text, resource_type text, resource_id text, resource_version text, entities text[],
  outcome text, status integer, request_id text, content json`;
const NAMES = COLUMNS.split(',').map((c) => c.trim().split(/\s+/)[0]).join(', ');

/**
 * The statement writing `$n` (a JSON array of rows) into audit_events: alone, or as a part of a write's commit batch.
 * `json`, not `jsonb` (migration 027): the rows are split without building a tree of the whole array, and each
 * AuditEvent is stored as the very text of its part of `$n` (JSON.stringify's, without spaces): the text the chain
 * linker's digest covers and every read of it returns.
 */
export function auditInsertSql(n: string): string {
  return `INSERT INTO audit_events (${NAMES}) SELECT ${NAMES} FROM json_to_recordset(${n}::json) AS r(${COLUMNS})`;
}

/**
 * A row's AuditEvent as json, whichever column holds it: `content` (json, rows written since migration 027) or
 * `content_jsonb` (the rows before, left as they were so that the migration rewrote nothing). For an old row the
 * cast gives jsonb's text, which its chain link hashed; for a new one the stored text as sent.
 */
export const AUDIT_CONTENT = (alias: string): string => `coalesce(${alias}.content, ${alias}.content_jsonb::json)`;

// One text for any number of rows: prepared once per connection, and made once here rather than on every call
// (a new string would be hashed again to find its prepared statement).
const INSERT_ROWS = auditInsertSql('$1');

/** Writes audit rows in one statement, however many (a native record writes several resources). */
export async function insertAuditRows(q: Queryable, rows: AuditRow[]): Promise<void> {
  if (rows.length === 0) return;
  await q.query(INSERT_ROWS, [JSON.stringify(rows)]);
}

/** The statement of `insertAuditRows` (it returns no rows), for a caller that sends it ahead of another (QueryOptions.ahead). */
export function auditRowsStatement(rows: AuditRow[]): { sql: string; params: unknown[] } {
  return { sql: INSERT_ROWS, params: [JSON.stringify(rows)] };
}

/** The AuditEvent as served: the stored JSON, resourceType, id and meta first. */
export function servedEvent(content: AuditEvent): AuditEvent {
  const { resourceType, id, meta, ...rest } = content;
  return { resourceType, id, meta, ...rest };
}
