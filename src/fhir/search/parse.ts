import { badRequest } from '../outcomes.ts';
import type { CompiledSearchParameter, SearchParameterRegistry } from './parameters.ts';
import { normalizeString, stringDateRange } from './index-values.ts';

export type DatePrefix = 'eq' | 'ne' | 'lt' | 'gt' | 'le' | 'ge' | 'sa' | 'eb' | 'ap';

export type Filter =
  | { kind: 'id'; values: string[] }
  | { kind: 'lastUpdated'; prefix: DatePrefix; low: string; high: string }
  /** Index tokens (`param=value`), or tokens starting with one of `prefixes` (a `system|` search: tokenMatch). */
  | { kind: 'token'; param: string; values: string[]; prefixes?: string[]; not: boolean }
  | { kind: 'string'; param: string; values: string[]; exact: boolean }
  | { kind: 'date'; param: string; prefix: DatePrefix; low: string; high: string }
  /**
   * A reference to a resource of `targets` that matches `inner` (`owner.identifier=…`, `owner:identifier=…`), or
   * whose reference is indexed as one of `tokens` (a Reference.identifier the client sent). What the chained
   * resources are is decided with the caller's scope too: a chain never follows a reference the caller cannot read.
   */
  | { kind: 'chain'; param: string; targets: string[]; inner: Filter; tokens: string[]; prefixes?: string[] }
  /** `_has:Task:focus:status=requested`: a resource of `source` matching `inner` refers to it through `param`. */
  | { kind: 'has'; source: string; param: string; inner: Filter };

interface IncludeSpec {
  sourceType: string;
  param: string;
  parameter: CompiledSearchParameter;
  /** `_include=Task:owner:Organization`: only references to this type. */
  targetType?: string;
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
  /**
   * `page` (the default, and what `_total=estimate` gets): a total only where the page itself shows it (a page
   * that is not full ends the matches); `accurate` counts every match when the page does not show it; `none` never.
   * Counting 20,000 matches costs a thousand times the page of 20 (issue 19.1).
   */
  total: 'none' | 'page' | 'accurate';
  /** Parameters the server does not know: ignored, and reported (or refused under strict handling). */
  unknown: string[];
  /** The gateway's FHIR base: references to it given as absolute URLs are its own relative ones. */
  baseUrl?: string;
  /** Plan the statements for their values on every call instead of preparing them once (see runSearch). */
  planPerCall: boolean;
}

export interface SearchOptions {
  /** The gateway's FHIR base URL (`{PUBLIC_URL}/fhir`): `owner={base}/Organization/x` is `owner=Organization/x`. */
  baseUrl?: string;
  /**
   * A client's search, whose matches may be 20 rows or 20,000: planned for its values each time (about 0.1 ms)
   * rather than prepared. The gateway's own lookups (by reference, by identifier) are selective and stay prepared.
   */
  planPerCall?: boolean;
}

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 200;
const MAX_OFFSET = 100_000;

/** `_include=Type:param`: every reference parameter of a type can include what it points at. */
export function supportedIncludes(registry: SearchParameterRegistry, type: string): string[] {
  return registry
    .forType(type)
    .filter((sp) => sp.type === 'reference')
    .map((sp) => `${type}:${sp.code}`);
}

/** `_revinclude=Source:param` on `type`: every reference parameter of any type that may point at `type`. */
export function supportedRevIncludes(registry: SearchParameterRegistry, type: string, sourceTypes: readonly string[]): string[] {
  return sourceTypes.flatMap((source) =>
    registry
      .forType(source)
      .filter((sp) => sp.type === 'reference' && sp.targets.includes(type))
      .map((sp) => `${source}:${sp.code}`),
  );
}

/** The reference parameters of `type` a chain can follow, and the parameters of their targets it can end in. */
function chainTargets(registry: SearchParameterRegistry, sp: CompiledSearchParameter, chained: string, only?: string): string[] {
  return sp.targets.filter((t) => (only === undefined || t === only) && registry.get(t, chained) !== undefined && registry.get(t, chained)?.type !== 'reference');
}

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

const RESOURCE_TYPE = /^[A-Z][A-Za-z]{1,63}$/;

/** `id/_history/2`: a versioned reference without its type. */
const BARE_VERSIONED = /^[^/]+\/_history\/[^/]+$/;

/**
 * A reference value as the index holds it: `{base}/Type/id` is `Type/id`; with `:Type`, a bare id is `Type/id`;
 * a bare id alone is `Type/id` of each type the parameter may point at, or the id itself (which the index holds
 * only for a reference to another type: index-values.ts).
 */
function referenceValue(value: string, baseUrl: string | undefined, type: string | undefined, targets: readonly string[]): string[] {
  if (baseUrl && value.startsWith(`${baseUrl}/`)) return [value.slice(baseUrl.length + 1), value];
  const bare = !value.includes('/') || BARE_VERSIONED.test(value);
  if (!bare) return [value];
  if (type) return [`${type}/${value}`];
  return [...targets.map((t) => `${t}/${value}`), value];
}

/**
 * Token values as the index holds them (index-values.ts), for `param`: `system|` (any code of that system) is a
 * prefix of the indexed `param=system|code`, since the index holds no `param=system|` of its own; with the
 * parameter's implicit system (Task.status), `system|code` is the code alone and `system|` any code.
 */
function tokenMatch(param: string, values: readonly string[], implicitSystem?: string): { values: string[]; prefixes?: string[] } {
  const exact: string[] = [];
  const prefixes: string[] = [];
  for (const v of values) {
    const bar = v.indexOf('|');
    const system = bar > 0 ? v.slice(0, bar) : undefined;
    const code = v.slice(bar + 1);
    if (system !== undefined && system === implicitSystem) {
      if (code === '') prefixes.push(`${param}=`);
      else exact.push(`${param}=${code}`);
    } else if (system !== undefined && code === '' && implicitSystem === undefined) prefixes.push(`${param}=${v}`);
    else exact.push(`${param}=${v}`);
  }
  return prefixes.length > 0 ? { values: exact, prefixes } : { values: exact };
}

/**
 * One parameter with its modifier and value, on `type`: a filter, or undefined when the gateway does not support
 * it (ignored with a warning, or refused under strict handling). Chains and `_has` are parsed by the caller; this
 * is also what their inner parameter is parsed by.
 */
function parseParameter(registry: SearchParameterRegistry, type: string, name: string, modifier: string | undefined, value: string, options: SearchOptions): Filter | undefined | null {
  switch (name) {
    case '_id':
      return modifier ? undefined : { kind: 'id', values: value.split(',') };
    case '_lastUpdated':
      return modifier ? undefined : { kind: 'lastUpdated', ...parseDate(value, name) };
  }
  const sp = registry.get(type, name);
  if (!sp) return undefined;
  const values = value.split(',').filter((v) => v !== '');
  // An empty value filters nothing (FHIR: a parameter without a value is ignored).
  if (values.length === 0) return null;
  switch (sp.type) {
    case 'token':
      if (modifier && modifier !== 'not') return undefined;
      return { kind: 'token', param: name, ...tokenMatch(name, values, sp.implicitSystem), not: modifier === 'not' };
    case 'reference': {
      if (modifier === 'identifier') {
        const targets = chainTargets(registry, sp, 'identifier');
        if (targets.length === 0) return undefined;
        // Reference.identifier as the client sent it, or a reference to a resource carrying that identifier.
        const inner: Filter = { kind: 'token', param: 'identifier', ...tokenMatch('identifier', values), not: false };
        const own = tokenMatch(`${name}:identifier`, values);
        return { kind: 'chain', param: name, targets, inner, tokens: own.values, ...(own.prefixes ? { prefixes: own.prefixes } : {}) };
      }
      const typed = modifier !== undefined && modifier !== 'not' ? modifier : undefined;
      if (modifier !== undefined && modifier !== 'not' && !(RESOURCE_TYPE.test(modifier) && sp.targets.includes(modifier))) return undefined;
      return { kind: 'token', param: name, values: values.flatMap((v) => referenceValue(v, options.baseUrl, typed, sp.targets)).map((v) => `${name}=${v}`), not: modifier === 'not' };
    }
    case 'string':
      if (modifier && modifier !== 'exact') return undefined;
      return { kind: 'string', param: name, values: values.map(normalizeString), exact: modifier === 'exact' };
    case 'date':
      if (modifier) return undefined;
      return { kind: 'date', param: name, ...parseDate(value, name) };
  }
}

/** `owner.identifier=…`, `subject:Patient.identifier=…`: one level, ending in a parameter that is not a reference. */
function parseChain(registry: SearchParameterRegistry, type: string, rawName: string, value: string, options: SearchOptions): Filter | undefined | null {
  const dot = rawName.indexOf('.');
  const [param, only] = rawName.slice(0, dot).split(':') as [string, string | undefined];
  const [chained, modifier, ...rest] = rawName.slice(dot + 1).split(':') as [string, string | undefined, ...string[]];
  const sp = registry.get(type, param);
  if (!sp || sp.type !== 'reference' || chained.includes('.') || rest.length > 0 || modifier === 'not' || modifier === 'identifier') return undefined;
  const targets = chainTargets(registry, sp, chained, only);
  if (targets.length === 0) return undefined;
  // The chained parameter must mean the same on every target (token, string or date alike).
  const inners = targets.map((t) => parseParameter(registry, t, chained, modifier, value, options));
  const inner = inners[0];
  if (!inner || inners.some((i) => i === undefined || JSON.stringify(i) !== JSON.stringify(inner))) return inner === null ? null : undefined;
  return { kind: 'chain', param, targets, inner, tokens: [] };
}

/** `_has:Task:focus:status=requested` on ServiceRequest. */
function parseHas(registry: SearchParameterRegistry, type: string, rawName: string, value: string, options: SearchOptions): Filter | undefined | null {
  const [, source, param, name, modifier, ...rest] = rawName.split(':') as [string, string | undefined, string | undefined, string | undefined, string | undefined, ...string[]];
  if (!source || !param || !name || rest.length > 0 || name.includes('.') || name === '_has') return undefined;
  const sp = registry.get(source, param);
  if (!sp || sp.type !== 'reference' || !sp.targets.includes(type)) return undefined;
  const inner = parseParameter(registry, source, name, modifier, value, options);
  return inner ? { kind: 'has', source, param, inner } : inner;
}

export function parseSearch(registry: SearchParameterRegistry, resourceType: string, query: Query, options: SearchOptions = {}): SearchRequest {
  const req: SearchRequest = {
    resourceType,
    filters: [],
    count: DEFAULT_COUNT,
    offset: 0,
    sort: 'desc',
    includes: [],
    revIncludes: [],
    summaryCount: false,
    total: 'page',
    unknown: [],
    baseUrl: options.baseUrl,
    planPerCall: options.planPerCall ?? false,
  };
  for (const [rawName, values] of Object.entries(query)) {
    for (const value of values) {
      const [name] = rawName.split(':', 1) as [string];
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
          else if (value === 'accurate') req.total = 'accurate';
          else if (value === 'estimate') req.total = 'page';
          else throw badRequest(`_total must be none, estimate or accurate`, ['_total']);
          continue;
        }
        case '_include':
        case '_revinclude': {
          req[name === '_include' ? 'includes' : 'revIncludes'].push(parseInclude(registry, resourceType, name, rawName, value));
          continue;
        }
        case '_format':
        case '_pretty':
          continue;
      }
      const modifier = rawName.includes(':') && !rawName.includes('.') ? rawName.slice(rawName.indexOf(':') + 1) : undefined;
      const filter =
        name === '_has'
          ? parseHas(registry, resourceType, rawName, value, options)
          : rawName.includes('.')
            ? parseChain(registry, resourceType, rawName, value, options)
            : parseParameter(registry, resourceType, rawName.split(':', 1)[0] ?? rawName, modifier, value, options);
      if (filter === undefined) req.unknown.push(rawName);
      else if (filter !== null) req.filters.push(filter);
    }
  }
  return req;
}

function parseInclude(registry: SearchParameterRegistry, resourceType: string, name: '_include' | '_revinclude', rawName: string, value: string): IncludeSpec {
  const [sourceType, param, targetType, ...rest] = value.split(':');
  const sp = sourceType && param ? registry.get(sourceType, param) : undefined;
  const fits = name === '_include' ? sourceType === resourceType : sp?.targets.includes(resourceType);
  if (rawName !== name || !sp || sp.type !== 'reference' || !sourceType || !param || rest.length > 0 || (targetType !== undefined && !sp.targets.includes(targetType)) || !fits) {
    const what = name === '_include' ? `${resourceType}:<reference parameter of ${resourceType}>` : `<type>:<reference parameter that may point at ${resourceType}>`;
    throw badRequest(`${rawName}=${value} is not supported on ${resourceType}; supported: ${what} (see the CapabilityStatement's searchInclude/searchRevInclude)`, [rawName]);
  }
  return { sourceType, param, parameter: sp, targetType };
}
