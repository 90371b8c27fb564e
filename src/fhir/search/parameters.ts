import { readFileSync } from 'node:fs';
import type { Bundle, SearchParameter } from '@medplum/fhirtypes';
import fhirpath from 'fhirpath';
import r4model from 'fhirpath/fhir-context/r4/index.js';

export type SearchParamType = 'token' | 'reference' | 'string' | 'date';

export interface CompiledSearchParameter {
  code: string;
  resourceType: string;
  type: SearchParamType;
  definition: SearchParameter;
  /** The parameter's FHIRPath expression, compiled once. */
  evaluate: (resource: object) => unknown[];
}

/** The search parameters the gateway supports, by resource type and code. Loaded once from data. */
export class SearchParameterRegistry {
  private readonly byType = new Map<string, Map<string, CompiledSearchParameter>>();

  constructor(bundle: Bundle<SearchParameter>) {
    for (const entry of bundle.entry ?? []) {
      const sp = entry.resource;
      if (!sp?.code || !sp.expression || !sp.type) continue;
      if (!['token', 'reference', 'string', 'date'].includes(sp.type)) {
        throw new Error(`Search parameter ${sp.id}: type ${sp.type} is not supported`);
      }
      let compiled: (resource: object) => unknown[];
      try {
        compiled = fhirpath.compile(sp.expression, r4model) as (resource: object) => unknown[];
      } catch (err) {
        throw new Error(`Search parameter ${sp.id}: expression does not compile: ${(err as Error).message}`);
      }
      for (const base of sp.base ?? []) {
        let params = this.byType.get(base);
        if (!params) this.byType.set(base, (params = new Map()));
        params.set(sp.code, { code: sp.code, resourceType: base, type: sp.type as SearchParamType, definition: sp, evaluate: compiled });
      }
    }
  }

  static load(path: string): SearchParameterRegistry {
    return new SearchParameterRegistry(JSON.parse(readFileSync(path, 'utf8')) as Bundle<SearchParameter>);
  }

  get(resourceType: string, code: string): CompiledSearchParameter | undefined {
    return this.byType.get(resourceType)?.get(code);
  }

  forType(resourceType: string): CompiledSearchParameter[] {
    return [...(this.byType.get(resourceType)?.values() ?? [])];
  }
}
