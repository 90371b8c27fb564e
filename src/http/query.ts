import { badRequest } from '../fhir/outcomes.ts';
import type { Query } from '../fhir/search/parse.ts';
import { assertSafeKey } from './json-body.ts';

const MAX_QUERY_PARAMETERS = 100;

/** The query string as name → values, built without touching Object.prototype. */
export function parseQuery(url: string): Query {
  const q = url.indexOf('?');
  const query: Query = Object.create(null) as Query;
  if (q < 0) return query;
  const raw = url.slice(q + 1);
  // URLSearchParams turns bytes that are not UTF-8 into U+FFFD without a word: refused here instead.
  for (const part of raw.split('&')) {
    try {
      decodeURIComponent(part.replace(/\+/g, ' '));
    } catch {
      throw badRequest('The query string is not valid percent-encoded UTF-8');
    }
  }
  const params = new URLSearchParams(raw);
  let n = 0;
  for (const [k, v] of params) {
    if (++n > MAX_QUERY_PARAMETERS) throw badRequest(`At most ${MAX_QUERY_PARAMETERS} query parameters are accepted`);
    assertSafeKey(k, 'the query string');
    if (v.includes('\u0000')) throw badRequest(`Query parameter '${k}' contains a NUL character`, [k]);
    (query[k] ??= []).push(v);
  }
  return query;
}
