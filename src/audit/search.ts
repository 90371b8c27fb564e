import type { AuditEvent, Bundle } from '@medplum/fhirtypes';
import { searchsetBundle } from '../fhir/bundles.ts';
import { badRequest, notFound } from '../fhir/outcomes.ts';
import type { Query } from '../fhir/search/parse.ts';
import { DEFAULT_COUNT, MAX_COUNT } from '../fhir/search/parse.ts';
import type { Queryable } from '../store/database.ts';
import type { AuditorReach } from '../access/auditor.ts';
import { AUDIT_CONTENT, servedEvent } from './store.ts';
import { REFERENCE_PATTERN } from '../fhir/resource-types.ts';

export const AUDIT_SEARCH_PARAMETERS = ['entity', 'patient', 'agent', 'date', 'type', 'subtype', 'outcome', 'action', '_count', '_offset', '_sort', '_summary', '_total'];
const DATE = /^(eq|ne|lt|gt|le|ge)?(\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?)$/;
const REF = REFERENCE_PATTERN;

function tokenCode(v: string): string {
  // `system|code` or `code`: the columns hold the code.
  return v.includes('|') ? v.slice(v.indexOf('|') + 1) : v;
}

/** A date value as the period it names (2025 is the whole year). */
function period(value: string): { low: string; high: string } {
  const len = value.length;
  const start = new Date(len === 4 ? `${value}-01-01T00:00:00Z` : len === 7 ? `${value}-01T00:00:00Z` : len === 10 ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(start.getTime())) throw badRequest(`Not a date: '${value}'`, ['date']);
  const end = new Date(start);
  if (len === 4) end.setUTCFullYear(end.getUTCFullYear() + 1);
  else if (len === 7) end.setUTCMonth(end.getUTCMonth() + 1);
  else if (len === 10) end.setUTCDate(end.getUTCDate() + 1);
  else end.setTime(end.getTime() + 1);
  return { low: start.toISOString(), high: end.toISOString() };
}

/** `GET AuditEvent?…`: the NEN 7513 columns make every parameter an indexed comparison. */
export async function searchAuditEvents(q: Queryable, baseUrl: string, query: Query, reach: AuditorReach): Promise<Bundle> {
  const where: string[] = [];
  const params: unknown[] = [];
  const p = (v: unknown): string => `$${params.push(v)}`;
  for (const [name, values] of Object.entries(query)) {
    if (!AUDIT_SEARCH_PARAMETERS.includes(name)) throw badRequest(`Unknown AuditEvent search parameter '${name}'; supported: ${AUDIT_SEARCH_PARAMETERS.join(', ')}`, [name]);
    for (const value of values) {
      const list = value.split(',').filter((v) => v.length > 0);
      if (list.length === 0) throw badRequest(`Search parameter '${name}' has no value`, [name]);
      switch (name) {
        case 'entity':
          for (const ref of list) if (!REF.test(ref.replace(/^.*\/fhir\//, ''))) throw badRequest(`entity takes a reference like Task/123, got '${ref}'`, ['entity']);
          where.push(`entities && ${p(list.map((r) => r.replace(/^.*\/fhir\//, '')))}::text[]`);
          break;
        case 'patient': {
          // A row's patient is among its entities (migration 029): found through their GIN index, then compared.
          const ph = p(list.map((r) => (r.startsWith('Patient/') ? r : `Patient/${r}`)));
          where.push(`entities && ${ph}::text[] AND patient = ANY(${ph}::text[])`);
          break;
        }
        case 'agent': {
          // A client id, an organisation's URA (or `system|URA`) or the person on whose behalf.
          const codes = list.map(tokenCode);
          const ph = p(codes);
          where.push(`(client_id = ANY(${ph}::text[]) OR organization_ura = ANY(${ph}::text[]) OR on_behalf_of = ANY(${ph}::text[]))`);
          break;
        }
        case 'type':
          where.push(`type_code = ANY(${p(list.map(tokenCode))}::text[])`);
          break;
        case 'subtype':
          where.push(`subtype = ANY(${p(list.map(tokenCode))}::text[])`);
          break;
        case 'outcome':
          where.push(`outcome = ANY(${p(list.map(tokenCode))}::text[])`);
          break;
        case 'action':
          where.push(`action = ANY(${p(list)}::text[])`);
          break;
        case 'date': {
          if (list.length > 1) throw badRequest('date takes one value per parameter (repeat the parameter for a range)', ['date']);
          const m = DATE.exec(list[0]);
          if (!m) throw badRequest(`date must be like ge2025-01-01 or 2025-01-01T10:00:00Z, got '${list[0]}'`, ['date']);
          const { low, high } = period(m[2]);
          const prefix = m[1] ?? 'eq';
          const clauses: Record<string, () => string> = {
            eq: () => `recorded >= ${p(low)} AND recorded < ${p(high)}`,
            ne: () => `(recorded < ${p(low)} OR recorded >= ${p(high)})`,
            lt: () => `recorded < ${p(low)}`,
            le: () => `recorded < ${p(high)}`,
            gt: () => `recorded >= ${p(high)}`,
            ge: () => `recorded >= ${p(low)}`,
          };
          where.push(clauses[prefix]?.() ?? 'false');
          break;
        }
        case '_sort':
          if (!['_lastUpdated', '-_lastUpdated', 'date', '-date'].includes(value)) throw badRequest('_sort takes _lastUpdated or -_lastUpdated', ['_sort']);
          break;
        case '_summary':
          if (value !== 'count') throw badRequest('_summary takes count', ['_summary']);
          break;
        case '_total':
          if (!['none', 'estimate', 'accurate'].includes(value)) throw badRequest('_total takes none, estimate or accurate', ['_total']);
          break;
        default:
          break;
      }
    }
  }
  const descending = query._sort?.[0]?.startsWith('-') ?? false;
  const onlyCount = query._summary?.[0] === 'count';
  const count = query._count?.[0];
  const offset = query._offset?.[0];
  if (count !== undefined && !/^\d{1,6}$/.test(count)) throw badRequest('_count must be a whole number', ['_count']);
  if (offset !== undefined && !/^\d{1,9}$/.test(offset)) throw badRequest('_offset must be a whole number', ['_offset']);
  const n = Math.min(Number(count ?? DEFAULT_COUNT), MAX_COUNT);
  const skip = Number(offset ?? 0);
  if (!reach.all) where.push(`organization_ura = ${p(reach.ura)}`);
  const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
  const total = await q.query<{ n: string }>(`SELECT count(*)::text AS n FROM audit_events ${clause}`, params);
  const rows = onlyCount
    ? { rows: [] }
    : await q.query<{ content: AuditEvent }>(`SELECT ${AUDIT_CONTENT('audit_events')} AS content FROM audit_events ${clause} ORDER BY id ${descending ? 'DESC' : 'ASC'} LIMIT ${p(n)} OFFSET ${p(skip)}`, params);
  const matches = rows.rows.map((r) => {
    const e = servedEvent(r.content);
    return { resourceType: 'AuditEvent', id: e.id ?? '', versionId: '1', lastUpdated: e.recorded, deleted: false, content: e };
  });
  return searchsetBundle({ baseUrl, path: 'AuditEvent', query, matches, included: [], total: Number(total.rows[0]?.n ?? 0), count: n, offset: skip });
}

export async function readAuditEvent(q: Queryable, id: string, reach: AuditorReach): Promise<AuditEvent> {
  const valid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id);
  const r = valid ? await q.query<{ content: AuditEvent; organization_ura: string }>(`SELECT ${AUDIT_CONTENT('audit_events')} AS content, organization_ura FROM audit_events WHERE event_id = $1`, [id]) : undefined;
  const row = r?.rows[0];
  if (!row || (!reach.all && row.organization_ura !== reach.ura)) throw notFound(`AuditEvent/${id} is not known`);
  return servedEvent(row.content);
}
