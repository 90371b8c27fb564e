import type { PartyScope } from '../../store/resource-store.ts';
import type { DatePrefix, Filter, SearchRequest } from './parse.ts';

/**
 * Parameterised SQL for a search: every value the client sent travels as a bind parameter,
 * never inside the SQL text.
 */
export interface SqlQuery {
  where: string;
  params: unknown[];
}

/**
 * Condition on a stored [low, high] range for a searched [sLow, sHigh] range (FHIR date prefixes).
 * The searched bounds are bound only when used: PostgreSQL refuses a parameter the SQL never mentions
 * ("could not determine data type of parameter").
 */
function rangeCondition(prefix: DatePrefix, low: string, high: string, sLow: () => string, sHigh: () => string): string {
  switch (prefix) {
    case 'eq':
    case 'ap':
      return `(${low} >= ${sLow()} AND ${high} <= ${sHigh()})`;
    case 'ne':
      return `NOT (${low} >= ${sLow()} AND ${high} <= ${sHigh()})`;
    case 'lt':
      return `${low} < ${sLow()}`;
    case 'gt':
      return `${high} > ${sHigh()}`;
    case 'le':
      return `${low} <= ${sHigh()}`;
    case 'ge':
      return `${high} >= ${sLow()}`;
    case 'sa':
      return `${low} > ${sHigh()}`;
    case 'eb':
      return `${high} < ${sLow()}`;
  }
}

export function buildWhere(req: SearchRequest, scope: PartyScope = {}): SqlQuery {
  const params: unknown[] = [req.resourceType];
  const conditions = ['r.resource_type = $1', 'NOT r.deleted'];
  const p = (value: unknown): string => `$${params.push(value)}`;
  if (scope.parties && !(scope.open ?? []).includes(req.resourceType)) conditions.push(`r.parties && ${p(scope.parties)}::text[]`);
  if (scope.ownerOnly?.types.includes(req.resourceType)) conditions.push(`r.parties && ${p(scope.ownerOnly.parties)}::text[]`);
  for (const f of req.filters) conditions.push(filterCondition(f, p));
  return { where: conditions.join(' AND '), params };
}

function filterCondition(f: Filter, p: (v: unknown) => string): string {
  switch (f.kind) {
    case 'id':
      return `r.id = ANY(${p(f.values)}::text[])`;
    case 'lastUpdated':
      return rangeCondition(f.prefix, 'r.last_updated', 'r.last_updated', () => `${p(f.low)}::timestamptz`, () => `${p(f.high)}::timestamptz`);
    case 'token':
      return f.not ? `NOT (r.tokens && ${p(f.values)}::text[])` : `r.tokens && ${p(f.values)}::text[]`;
    case 'string': {
      const match = f.exact ? `s.value = ANY(${p(f.values)}::text[])` : `s.value LIKE ANY(${p(f.values.map((v) => `${v.replace(/[\\%_]/g, '\\$&')}%`))}::text[])`;
      return `EXISTS (SELECT 1 FROM search_string s WHERE s.resource_type = r.resource_type AND s.id = r.id AND s.param = ${p(f.param)} AND ${match})`;
    }
    case 'date':
      return `EXISTS (SELECT 1 FROM search_date d WHERE d.resource_type = r.resource_type AND d.id = r.id AND d.param = ${p(f.param)} AND ${rangeCondition(f.prefix, 'd.low', 'd.high', () => `${p(f.low)}::timestamptz`, () => `${p(f.high)}::timestamptz`)})`;
  }
}
