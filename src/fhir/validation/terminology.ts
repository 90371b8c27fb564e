import type { CodeSystem, CodeSystemConcept, ValueSet } from '@medplum/fhirtypes';
import { stripVersion } from './definitions.ts';

/** The codes a value set allows, as `system|code`, plus the bare codes for `code`-typed elements. */
export interface Expansion {
  readonly url: string;
  readonly systemCodes: ReadonlySet<string>;
  readonly codes: ReadonlySet<string>;
}

export interface TerminologySource {
  valueSet(url: string): ValueSet | undefined;
  codeSystem(url: string): CodeSystem | undefined;
}

function flatten(concepts: CodeSystemConcept[] | undefined, out: string[]): void {
  for (const concept of concepts ?? []) {
    if (concept.code) out.push(concept.code);
    flatten(concept.concept, out);
  }
}

/**
 * Expands value sets from local definitions only. Anything that needs a terminology server
 * (filters, code systems that are not shipped or only partly shipped) yields undefined, so the
 * caller can decide whether an unenforceable binding is acceptable.
 */
export class LocalTerminology {
  private readonly cache = new Map<string, Expansion | undefined>();
  private readonly sources: TerminologySource[];

  constructor(sources: TerminologySource[]) {
    this.sources = sources;
  }

  expand(valueSetUrl: string): Expansion | undefined {
    const url = stripVersion(valueSetUrl);
    if (this.cache.has(url)) return this.cache.get(url);
    // Guards against value sets that import each other.
    this.cache.set(url, undefined);
    const pairs = this.expandPairs(url);
    const expansion = pairs && {
      url,
      systemCodes: new Set(pairs.map(([system, code]) => `${system}|${code}`)),
      codes: new Set(pairs.map(([, code]) => code)),
    };
    this.cache.set(url, expansion);
    return expansion;
  }

  private find<T>(get: (source: TerminologySource) => T | undefined): T | undefined {
    for (const source of this.sources) {
      const found = get(source);
      if (found) return found;
    }
    return undefined;
  }

  private expandPairs(url: string): [string, string][] | undefined {
    const vs = this.find((s) => s.valueSet(url));
    if (!vs) return undefined;
    if (vs.expansion?.contains && !vs.compose) {
      return vs.expansion.contains.filter((c) => c.system && c.code).map((c) => [c.system as string, c.code as string]);
    }
    const included = this.includes(vs.compose?.include);
    const excluded = vs.compose?.exclude ? this.includes(vs.compose.exclude) : [];
    if (!included || !excluded) return undefined;
    const drop = new Set(excluded.map(([s, c]) => `${s}|${c}`));
    return included.filter(([s, c]) => !drop.has(`${s}|${c}`));
  }

  private includes(includes: NonNullable<ValueSet['compose']>['include'] | undefined): [string, string][] | undefined {
    if (!includes?.length) return undefined;
    const out: [string, string][] = [];
    for (const include of includes) {
      if (include.filter?.length) return undefined;
      let pairs: [string, string][] | undefined;
      if (include.system && include.concept) {
        pairs = include.concept.map((c) => [include.system as string, c.code]);
      } else if (include.system) {
        const cs = this.find((s) => s.codeSystem(include.system as string));
        if (!cs || (cs.content && cs.content !== 'complete')) return undefined;
        const codes: string[] = [];
        flatten(cs.concept, codes);
        pairs = codes.map((code) => [include.system as string, code]);
      } else {
        pairs = [];
      }
      for (const imported of include.valueSet ?? []) {
        const expansion = this.expand(imported);
        if (!expansion) return undefined;
        const importedPairs = [...expansion.systemCodes].map((sc): [string, string] => {
          const bar = sc.lastIndexOf('|');
          return [sc.slice(0, bar), sc.slice(bar + 1)];
        });
        // Several imported value sets intersect; a system plus value sets restricts to both.
        if (include.system) {
          const keep = new Set(importedPairs.map(([s, c]) => `${s}|${c}`));
          pairs = pairs.filter(([s, c]) => keep.has(`${s}|${c}`));
        } else if (pairs.length === 0 && imported === include.valueSet?.[0]) {
          pairs = importedPairs;
        } else {
          const keep = new Set(importedPairs.map(([s, c]) => `${s}|${c}`));
          pairs = pairs.filter(([s, c]) => keep.has(`${s}|${c}`));
        }
      }
      out.push(...pairs);
    }
    return out;
  }
}
