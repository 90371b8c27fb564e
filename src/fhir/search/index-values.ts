import type { Resource } from '@medplum/fhirtypes';
import type { SearchParameterRegistry } from './parameters.ts';
import { FHIR_ID } from '../resource-types.ts';

/** `Type/id/_history/vid`: [1] `Type/id`. */
const VERSIONED_REFERENCE = new RegExp(`^([A-Z][A-Za-z]+/${FHIR_ID})/_history/\\d+$`);

/** What a resource contributes to the search index. */
export interface IndexValues {
  /**
   * 'param=code' and 'param=system|code' (or 'param=|code'), 'param=Type/id': each value once. What a search asks
   * beside these is expanded when it is parsed (parse.ts `tokenMatch`, `referenceValue`): `system|` by prefix, a bare
   * id to `Type/id` of each target type, a code of a parameter's implicit system to the code alone.
   */
  tokens: string[];
  strings: { param: string; value: string }[];
  dates: { param: string; low: string; high: string }[];
}

/** Lower case with accents folded, so `Çelik` is found by `celik`. */
export function normalizeString(value: string): string {
  return value.normalize('NFD').replace(/\p{Diacritic}/gu, '').toLowerCase();
}

type Coded = { system?: string; code?: string; value?: string; coding?: Coded[]; reference?: string };

// A plain code of a parameter with an implicit system (Task.status) is indexed as the code alone: every value has
// that system, so `status=<system>|requested` is searched as `status=requested` (parse.ts).
function tokenValues(param: string, value: unknown, out: Set<string>): void {
  if (value === null || value === undefined) return;
  if (typeof value === 'string' || typeof value === 'boolean' || typeof value === 'number') {
    out.add(`${param}=${String(value)}`);
    return;
  }
  const v = value as Coded;
  if (Array.isArray(v.coding)) {
    for (const c of v.coding) tokenValues(param, c, out);
    return;
  }
  const code = v.code ?? v.value;
  if (code === undefined) return;
  out.add(`${param}=${code}`);
  // No `param=system|` beside it: a search by system alone matches these by prefix (sql.ts).
  if (v.system) {
    out.add(`${param}=${v.system}|${code}`);
  } else {
    out.add(`${param}=|${code}`);
  }
}

function referenceValues(param: string, targets: readonly string[], value: unknown, out: Set<string>): void {
  // A logical reference (Reference.identifier, the Dutch way of naming an organisation by URA) is found by
  // `param:identifier=system|value`, whether or not a literal reference stands beside it.
  const identifier = (value as { identifier?: Coded } | undefined)?.identifier;
  if (identifier) tokenValues(`${param}:identifier`, identifier, out);
  const ref = (value as Coded | undefined)?.reference;
  if (!ref) return;
  out.add(`${param}=${ref}`);
  // A search by bare id (`id`, `id/_history/2`) asks for `Type/id` of each type the parameter may point at
  // (parse.ts): only a reference to another type needs the id beside it.
  const slash = ref.indexOf('/');
  if (slash > 0 && !ref.includes('?') && !targets.includes(ref.slice(0, slash))) out.add(`${param}=${ref.slice(slash + 1)}`);
  // A versioned reference (Provenance.target) is also found by its resource: `target=Task/1` finds `Task/1/_history/2`.
  const versioned = VERSIONED_REFERENCE.exec(ref);
  if (versioned) out.add(`${param}=${versioned[1]}`);
}

function stringValues(value: unknown, out: string[]): void {
  if (typeof value === 'string') {
    out.push(normalizeString(value));
    return;
  }
  if (value && typeof value === 'object') {
    const name = value as { family?: string; given?: string[]; prefix?: string[]; suffix?: string[]; text?: string };
    for (const part of [name.family, name.text, ...(name.given ?? []), ...(name.prefix ?? []), ...(name.suffix ?? [])]) {
      if (part) out.push(normalizeString(part));
    }
  }
}

/** The instant range a FHIR date, dateTime, instant or Period covers. */
function dateRange(value: unknown): { low: string; high: string } | undefined {
  if (typeof value === 'string') return stringDateRange(value);
  if (value && typeof value === 'object') {
    const period = value as { start?: string; end?: string };
    const start = period.start ? stringDateRange(period.start) : undefined;
    const end = period.end ? stringDateRange(period.end) : undefined;
    if (!start && !end) return undefined;
    return { low: start?.low ?? '-infinity', high: end?.high ?? 'infinity' };
  }
  return undefined;
}

export function stringDateRange(value: string): { low: string; high: string } | undefined {
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(T.*)?)?)?$/.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, time] = m;
  const year = Number(y);
  const month = mo ? Number(mo) - 1 : 0;
  const day = d ? Number(d) : 1;
  const low = new Date(Date.UTC(year, month, day));
  // Date.UTC and Date.parse roll over (2025-02-30 is 2 March; year 50 is 1950): a date that does not exist is no date.
  if (low.getUTCFullYear() !== year || low.getUTCMonth() !== month || low.getUTCDate() !== day) return undefined;
  if (time) {
    const t = Date.parse(value);
    if (Number.isNaN(t)) return undefined;
    // A dateTime without seconds' fraction covers its whole second.
    const iso = new Date(t).toISOString();
    return { low: iso, high: new Date(t + (/\.\d+/.test(time) ? 0 : 999)).toISOString() };
  }
  const high = d ? new Date(Date.UTC(year, month, day + 1) - 1) : mo ? new Date(Date.UTC(year, month + 1, 1) - 1) : new Date(Date.UTC(year + 1, 0, 1) - 1);
  return { low: low.toISOString(), high: high.toISOString() };
}

export function extractIndexValues(registry: SearchParameterRegistry, resource: Resource): IndexValues {
  const tokens = new Set<string>();
  const strings: IndexValues['strings'] = [];
  const dates: IndexValues['dates'] = [];
  for (const sp of registry.forType(resource.resourceType)) {
    const values = sp.evaluate(resource);
    for (const value of values) {
      switch (sp.type) {
        case 'token':
          tokenValues(sp.code, value, tokens);
          break;
        case 'reference':
          referenceValues(sp.code, sp.targets, value, tokens);
          break;
        case 'string': {
          const out: string[] = [];
          stringValues(value, out);
          for (const s of out) strings.push({ param: sp.code, value: s });
          break;
        }
        case 'date': {
          const range = dateRange(value);
          if (range) dates.push({ param: sp.code, ...range });
          break;
        }
      }
    }
  }
  return { tokens: [...tokens], strings, dates };
}
