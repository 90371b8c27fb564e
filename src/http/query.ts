import { badRequest } from '../fhir/outcomes.ts';
import type { Query } from '../fhir/search/parse.ts';
import { assertSafeKey } from './json-body.ts';

export const MAX_QUERY_PARAMETERS = 100;

/** The query string as name → values, built without touching Object.prototype. */
export function parseQuery(url: string): Query {
  const q = url.indexOf('?');
  const query: Query = Object.create(null) as Query;
  if (q < 0) return query;
  const params = new URLSearchParams(url.slice(q + 1));
  let n = 0;
  for (const [k, v] of params) {
    if (++n > MAX_QUERY_PARAMETERS) throw badRequest(`At most ${MAX_QUERY_PARAMETERS} query parameters are accepted`);
    assertSafeKey(k, 'the query string');
    if (v.includes('\u0000')) throw badRequest(`Query parameter '${k}' contains a NUL character`, [k]);
    (query[k] ??= []).push(v);
  }
  return query;
}
