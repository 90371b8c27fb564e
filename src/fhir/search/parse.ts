import { badRequest } from '../outcomes.ts';
import type { CompiledSearchParameter, SearchParameterRegistry } from './parameters.ts';
import { normalizeString, stringDateRange } from './index-values.ts';

export type DatePrefix = 'eq' | 'ne' | 'lt' | 'gt' | 'le' | 'ge' | 'sa' | 'eb' | 'ap';

export type Filter =
  | { kind: 'id'; values: string[] }
  | { kind: 'lastUpdated'; prefix: DatePrefix; low: string; high: string }
  | { kind: 'token'; param: string; values: string[]; not: boolean }
  | { kind: 'string'; param: string; values: string[]; exact: boolean }
  | { kind: 'date'; param: string; prefix: DatePrefix; low: string; high: string };

interface IncludeSpec {
  sourceType: string;
  param: string;
  parameter: CompiledSearchParameter;
}

export interface SearchRequest {
  resourceType: string;
  filters: Filter[];
  count: number;
  offset: number;
  sort: 'asc' | 'desc';
  includes: IncludeSpec[];
  revIncludes: IncludeSpec[];
  summaryCount: boolean;
  total: 'none' | 'accurate';
  /** Parameters the server does not know: ignored, and reported (or refused under strict handling). */
  unknown: string[];
}

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 200;
const MAX_OFFSET = 100_000;

/** The only _include / _revinclude targets the gateway supports (listed in the CapabilityStatement). */
export const SUPPORTED_INCLUDES = ['Task:focus', 'Task:patient', 'Task:owner', 'Task:encounter'];
export const SUPPORTED_REVINCLUDES = ['Provenance:target'];

const DATE_PREFIXES = new Set(['eq', 'ne', 'lt', 'gt', 'le', 'ge', 'sa', 'eb', 'ap']);

function parseDate(raw: string, name: string): { prefix: DatePrefix; low: string; high: string } {
  let prefix: DatePrefix = 'eq';
  let value = raw;
  const p = raw.slice(0, 2);
  if (DATE_PREFIXES.has(p) && /^\d/.test(raw.slice(2))) {
    prefix = p as DatePrefix;
    value = raw.slice(2);
  }
  const range = stringDateRange(value);
  if (!range) throw badRequest(`Search parameter '${name}': '${raw}' is not a valid date (use e.g. 2026-11-22 or ge2026-11-22T10:00:00+01:00)`, [name]);
  return { prefix, ...range };
}

/** Query values as arrays of strings, whatever the HTTP layer made of them. */
export type Query = Record<string, string[]>;

export function parseSearch(registry: SearchParameterRegistry, resourceType: string, query: Query): SearchRequest {
  const req: SearchRequest = {
    resourceType,
    filters: [],
    count: DEFAULT_COUNT,
    offset: 0,
    sort: 'desc',
    includes: [],
    revIncludes: [],
    summaryCount: false,
    total: 'accurate',
    unknown: [],
  };
  for (const [rawName, values] of Object.entries(query)) {
    for (const value of values) {
      const [name, modifier] = rawName.split(':', 2) as [string, string | undefined];
      switch (name) {
        case '_count': {
          if (!/^\d{1,6}$/.test(value)) throw badRequest(`_count must be a whole number, got '${value}'`, ['_count']);
          req.count = Math.min(Number(value), MAX_COUNT);
          continue;
        }
        case '_offset': {
          if (!/^\d{1,9}$/.test(value) || Number(value) > MAX_OFFSET) throw badRequest(`_offset must be a whole number up to ${MAX_OFFSET}`, ['_offset']);
          req.offset = Number(value);
          continue;
        }
        case '_sort': {
          if (value === '_lastUpdated') req.sort = 'asc';
          else if (value === '-_lastUpdated') req.sort = 'desc';
          else throw badRequest(`_sort supports only _lastUpdated and -_lastUpdated, got '${value}'`, ['_sort']);
          continue;
        }
        case '_summary': {
          if (value === 'count') req.summaryCount = true;
          else if (value !== 'false') throw badRequest(`_summary supports only 'count' and 'false'`, ['_summary']);
          continue;
        }
        case '_total': {
          if (value === 'none') req.total = 'none';
          else if (value === 'accurate' || value === 'estimate') req.total = 'accurate';
          else throw badRequest(`_total must be none, estimate or accurate`, ['_total']);
          continue;
        }
        case '_include':
        case '_revinclude': {
          const list = name === '_include' ? SUPPORTED_INCLUDES : SUPPORTED_REVINCLUDES;
          const [sourceType, param] = value.split(':');
          const sp = sourceType && param ? registry.get(sourceType, param) : undefined;
          if (!list.includes(value) || !sp || !sourceType || !param) {
            throw badRequest(`${name}=${value} is not supported; supported: ${list.join(', ')}`, [name]);
          }
          if (name === '_include' && sourceType !== resourceType) {
            throw badRequest(`_include=${value} does not apply to ${resourceType}`, [name]);
          }
          (name === '_include' ? req.includes : req.revIncludes).push({ sourceType, param, parameter: sp });
          continue;
        }
        case '_id': {
          req.filters.push({ kind: 'id', values: value.split(',') });
          continue;
        }
        case '_lastUpdated': {
          req.filters.push({ kind: 'lastUpdated', ...parseDate(value, name) });
          continue;
        }
        case '_format':
        case '_pretty':
          continue;
      }
      const sp = registry.get(resourceType, name);
      if (!sp) {
        req.unknown.push(rawName);
        continue;
      }
      const values = value.split(',').filter((v) => v !== '');
      if (values.length === 0) continue;
      switch (sp.type) {
        case 'token':
        case 'reference': {
          if (modifier && modifier !== 'not') {
            req.unknown.push(rawName);
            continue;
          }
          req.filters.push({ kind: 'token', param: name, values: values.map((v) => `${name}=${v}`), not: modifier === 'not' });
          break;
        }
        case 'string': {
          if (modifier && modifier !== 'exact') {
            req.unknown.push(rawName);
            continue;
          }
          req.filters.push({ kind: 'string', param: name, values: values.map(normalizeString), exact: modifier === 'exact' });
          break;
        }
        case 'date': {
          req.filters.push({ kind: 'date', param: name, ...parseDate(value, name) });
          break;
        }
      }
    }
  }
  return req;
}
