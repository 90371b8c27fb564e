import type { Bundle, BundleEntry, BundleLink, OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { StoredVersion } from '../store/resource-store.ts';
import type { Query } from './search/parse.ts';

export function etag(versionId: string): string {
  return `W/"${versionId}"`;
}

export function httpDate(instant: string): string {
  return new Date(instant).toUTCString();
}

export function fullUrl(baseUrl: string, v: { resourceType: string; id: string }): string {
  return `${baseUrl}/${v.resourceType}/${v.id}`;
}

function queryString(query: Query, overrides: Record<string, string>): string {
  const params = new URLSearchParams();
  for (const [k, values] of Object.entries(query)) {
    if (k in overrides) continue;
    for (const v of values) params.append(k, v);
  }
  for (const [k, v] of Object.entries(overrides)) params.append(k, v);
  return params.toString();
}

export function searchsetBundle(args: {
  baseUrl: string;
  path: string;
  query: Query;
  matches: StoredVersion[];
  included: StoredVersion[];
  total?: number;
  /** Whether matches follow this page, when the caller knows it without a total. */
  more?: boolean;
  count: number;
  offset: number;
  outcome?: OperationOutcome;
}): Bundle {
  const { baseUrl, path, query, matches, included, total, count, offset } = args;
  const link: BundleLink[] = [
    { relation: 'self', url: `${baseUrl}/${path}?${queryString(query, { _count: String(count), _offset: String(offset) })}` },
    { relation: 'first', url: `${baseUrl}/${path}?${queryString(query, { _count: String(count), _offset: '0' })}` },
  ];
  const hasNext = args.more ?? (total !== undefined ? offset + matches.length < total : matches.length === count);
  if (hasNext && count > 0) link.push({ relation: 'next', url: `${baseUrl}/${path}?${queryString(query, { _count: String(count), _offset: String(offset + count) })}` });
  if (offset > 0) link.push({ relation: 'previous', url: `${baseUrl}/${path}?${queryString(query, { _count: String(count), _offset: String(Math.max(0, offset - count)) })}` });
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
