import type { Bundle } from '@medplum/fhirtypes';
import { searchsetBundle } from '../fhir/bundles.ts';
import { badRequest, outcome } from '../fhir/outcomes.ts';
import type { Query } from '../fhir/search/parse.ts';
import type { StoredVersion } from '../store/resource-store.ts';
import type { SubscriptionRow } from './store.ts';

/** A subscription as a search sees it: its delivery state (the truth for `status`) and the resource a read shows. */
export interface Candidate {
  row: SubscriptionRow;
  version: StoredVersion;
}

const MAX_PAGE = 1000;
/** The Backport IG's Subscription searches (url, status), `_id`, and the common parameters every type takes. */
const PARAMETERS = new Set(['status', 'url', '_id', '_count', '_offset', '_sort', '_summary', '_total']);
const PAGING = new Set(['_count', '_offset']);

/** Comma-separated alternatives of each repeat of a parameter: every repeat must hold (AND of ORs). */
export function alternatives(query: Query, name: string): string[][] {
  return (Object.hasOwn(query, name) ? query[name] : []).map((v) => v.split(',').filter((x) => x !== ''));
}

/** A token's code: `system|code` and `code` alike (the status codes have one system). */
const code = (token: string): string => token.slice(token.indexOf('|') + 1);

function one(query: Query, name: string): string | undefined {
  return Object.hasOwn(query, name) ? query[name][0] : undefined;
}

/**
 * Searches the caller's subscriptions (all of them in `owned`) the way the generic search does a type: filters,
 * `_sort` by `_lastUpdated`, `_summary=count`, `_total`, paged by `_count`/`_offset` with `next`/`previous` links.
 * An unknown parameter is ignored with a warning, or refused with `Prefer: handling=strict`.
 */
export function searchSubscriptions(args: { baseUrl: string; query: Query; strict: boolean; owned: Candidate[] }): Bundle {
  const { query } = args;
  const unknown = Object.keys(query).filter((k) => !PARAMETERS.has(k));
  if (unknown.length > 0 && args.strict) throw badRequest(`Unknown search parameters: ${unknown.join(', ')}`, unknown);
  const count = one(query, '_count');
  const offset = one(query, '_offset');
  if (count !== undefined && !/^\d{1,6}$/.test(count)) throw badRequest('_count must be a whole number', ['_count']);
  if (offset !== undefined && !/^\d{1,9}$/.test(offset)) throw badRequest('_offset must be a whole number', ['_offset']);
  const sort = one(query, '_sort');
  if (sort !== undefined && sort !== '_lastUpdated' && sort !== '-_lastUpdated') throw badRequest(`_sort supports only _lastUpdated and -_lastUpdated, got '${sort}'`, ['_sort']);
  const summary = one(query, '_summary');
  if (summary !== undefined && summary !== 'count' && summary !== 'false') throw badRequest(`_summary supports only 'count' and 'false'`, ['_summary']);
  const total = one(query, '_total');
  if (total !== undefined && !['none', 'estimate', 'accurate'].includes(total)) throw badRequest('_total must be none, estimate or accurate', ['_total']);

  const statuses = alternatives(query, 'status').map((alt) => alt.map(code));
  const urls = alternatives(query, 'url');
  const ids = alternatives(query, '_id');
  const matches = args.owned.filter(
    ({ row }) => ids.every((alt) => alt.includes(row.id)) && statuses.every((alt) => alt.includes(row.status)) && urls.every((alt) => alt.includes(row.endpoint)),
  );
  if (sort) {
    const sign = sort.startsWith('-') ? -1 : 1;
    matches.sort((a, b) => sign * (Date.parse(a.version.lastUpdated) - Date.parse(b.version.lastUpdated)));
  }
  const size = summary === 'count' ? 0 : Math.min(Number(count ?? MAX_PAGE), MAX_PAGE);
  const from = Number(offset ?? 0);
  const warning = unknown.length > 0 ? outcome('not-supported', `Ignored unknown search parameters: ${unknown.join(', ')}`, unknown, 'warning') : undefined;
  const known = Object.fromEntries(Object.entries(query).filter(([k]) => PARAMETERS.has(k) && !PAGING.has(k)));
  return searchsetBundle({
    baseUrl: args.baseUrl,
    path: 'Subscription',
    query: known,
    matches: matches.slice(from, from + size).map((m) => m.version),
    included: [],
    total: total === 'none' && summary !== 'count' ? undefined : matches.length,
    count: size,
    offset: from,
    outcome: warning,
  });
}
