import type { Bundle, BundleEntry, BundleLink, OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { StoredVersion } from '../store/resource-store.ts';
import type { Query } from './search/parse.ts';

/** What a searchset entry is made of. */
type Entry = Pick<StoredVersion, 'resourceType' | 'id' | 'content'>;

export function etag(versionId: string): string {
  return `W/"${versionId}"`;
}

export function httpDate(instant: string): string {
  return new Date(instant).toUTCString();
}

export function fullUrl(baseUrl: string, v: { resourceType: string; id: string }): string {
  return `${baseUrl}/${v.resourceType}/${v.id}`;
}

/** The query without `_count` and `_offset`, encoded once: the page links differ only in those two. */
function queryWithoutPaging(query: Query): string {
  const params = new URLSearchParams();
  for (const [k, values] of Object.entries(query)) {
    if (k === '_count' || k === '_offset') continue;
    for (const v of values) params.append(k, v);
  }
  return params.toString();
}

export function searchsetBundle(args: {
  baseUrl: string;
  path: string;
  query: Query;
  matches: Entry[];
  included: Entry[];
  total?: number;
  /** Whether matches follow this page, when the caller knows it without a total. */
  more?: boolean;
  count: number;
  offset: number;
  outcome?: OperationOutcome;
}): Bundle {
  const { baseUrl, path, query, matches, included, total, count, offset } = args;
  const rest = queryWithoutPaging(query);
  const page = (at: number): string => `${baseUrl}/${path}?${rest}${rest ? '&' : ''}_count=${count}&_offset=${at}`;
  const link: BundleLink[] = [
    { relation: 'self', url: page(offset) },
    { relation: 'first', url: page(0) },
  ];
  const hasNext = args.more ?? (total !== undefined ? offset + matches.length < total : matches.length === count);
  if (hasNext && count > 0) link.push({ relation: 'next', url: page(offset + count) });
  if (offset > 0) link.push({ relation: 'previous', url: page(Math.max(0, offset - count)) });
  const entry: BundleEntry[] = [
    ...matches.map((m) => ({ fullUrl: fullUrl(baseUrl, m), resource: m.content, search: { mode: 'match' as const } })),
    ...included.map((m) => ({ fullUrl: fullUrl(baseUrl, m), resource: m.content, search: { mode: 'include' as const } })),
  ];
  if (args.outcome) entry.push({ resource: args.outcome, search: { mode: 'outcome' } });
  const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset', link, entry };
  if (total !== undefined) bundle.total = total;
  return bundle;
}

export function historyBundle(baseUrl: string, path: string, versions: StoredVersion[], total: number, count: number, offset: number): Bundle {
  const link: BundleLink[] = [{ relation: 'self', url: `${baseUrl}/${path}?_count=${count}&_offset=${offset}` }];
  if (offset + versions.length < total) link.push({ relation: 'next', url: `${baseUrl}/${path}?_count=${count}&_offset=${offset + count}` });
  return {
    resourceType: 'Bundle',
    type: 'history',
    total,
    link,
    entry: versions.map((v) => {
      const url = `${v.resourceType}/${v.id}`;
      const base: BundleEntry = {
        fullUrl: fullUrl(baseUrl, v),
        request: { method: v.deleted ? 'DELETE' : v.versionId === '1' ? 'POST' : 'PUT', url: v.versionId === '1' ? v.resourceType : url },
        response: { status: v.deleted ? '410' : v.versionId === '1' ? '201' : '200', etag: etag(v.versionId), lastModified: v.lastUpdated },
      };
      if (!v.deleted) base.resource = v.content as Resource;
      return base;
    }),
  };
}
