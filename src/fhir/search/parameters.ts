import { readFileSync } from 'node:fs';
import type { Bundle, SearchParameter } from '@medplum/fhirtypes';
import fhirpath from 'fhirpath';
import r4model from 'fhirpath/fhir-context/r4/index.js';
import { compileFastPath, FALLBACK } from '../../fhirpath/fast-path.ts';
import { baseDefinitions, type BaseDefinitions } from '../validation/definitions.ts';

type SearchParamType = 'token' | 'reference' | 'string' | 'date';

export interface CompiledSearchParameter {
  code: string;
  resourceType: string;
  type: SearchParamType;
  definition: SearchParameter;
  /** For a reference: the types it may point at (`target`, the R4 list narrowed to the types the gateway serves). */
  targets: string[];
  /** The parameter's FHIRPath expression, compiled once (the fast path where it covers the expression). */
  evaluate: (resource: object) => unknown[];
  /** The same by fhirpath.js alone, which the tests compare the fast path with. */
  evaluateWithFhirpathJs: (resource: object) => unknown[];
  /**
   * For a token on a plain `code` element (Task.status, Patient.gender): the code system its required binding
   * takes every code from, so that `status=http://hl7.org/fhir/task-status|requested` finds it as `requested` does.
   */
  implicitSystem?: string;
}

/** The one code system of a `code` element's required value set, if the element is `Type.element` and has one. */
function implicitSystemOf(definitions: BaseDefinitions, base: string, expression: string): string | undefined {
  const path = expression.trim();
  const m = /^([A-Z][A-Za-z]+)\.([a-z][A-Za-z]*)$/.exec(path);
  if (!m || m[1] !== base) return undefined;
  const element = definitions.elementAt(path);
  if (element?.type?.length !== 1 || element.type[0]?.code !== 'code') return undefined;
  if (element.binding?.strength !== 'required' || !element.binding.valueSet) return undefined;
  const include = definitions.valueSet(element.binding.valueSet)?.compose?.include ?? [];
  return include.length === 1 && include[0]?.system && !include[0].valueSet?.length ? include[0].system : undefined;
}

/**
 * Every write indexes its resource by all its type's parameters; fhirpath.js made that a third of the
 * gateway's FHIRPath time. The expressions start at the resource's type (`Task.owner`), which the fast path
 * reads as a member: it is given the resource under that name.
 */
function withFastPath(base: string, fast: (focus: unknown, env: Record<string, unknown>) => unknown[], slow: (resource: object) => unknown[]): (resource: object) => unknown[] {
  return (resource) => {
    const found = fast({ [base]: resource }, {});
    return found === FALLBACK ? slow(resource) : found;
  };
}

/** The search parameters the gateway supports, by resource type and code. Loaded once from data. */
export class SearchParameterRegistry {
  private readonly byType = new Map<string, Map<string, CompiledSearchParameter>>();

  constructor(bundle: Bundle<SearchParameter>, definitions: BaseDefinitions = baseDefinitions()) {
    for (const entry of bundle.entry ?? []) {
      const sp = entry.resource;
      if (!sp?.code || !sp.expression || !sp.type) continue;
      if (!['token', 'reference', 'string', 'date'].includes(sp.type)) {
        throw new Error(`Search parameter ${sp.id}: type ${sp.type} is not supported`);
      }
      // Chains, _has and _revinclude follow a reference only to the types it names.
      if (sp.type === 'reference' && !sp.target?.length) throw new Error(`Search parameter ${sp.id}: a reference needs its target types`);
      let compiled: (resource: object) => unknown[];
      try {
        compiled = fhirpath.compile(sp.expression, r4model) as (resource: object) => unknown[];
      } catch (err) {
        throw new Error(`Search parameter ${sp.id}: expression does not compile: ${(err as Error).message}`);
      }
      const fast = compileFastPath(sp.expression, true);
      for (const base of sp.base ?? []) {
        let params = this.byType.get(base);
        if (!params) this.byType.set(base, (params = new Map()));
        const evaluate = fast ? withFastPath(base, fast, compiled) : compiled;
        const implicitSystem = sp.type === 'token' ? implicitSystemOf(definitions, base, sp.expression) : undefined;
        params.set(sp.code, { code: sp.code, resourceType: base, type: sp.type as SearchParamType, definition: sp, targets: sp.target ?? [], evaluate, evaluateWithFhirpathJs: compiled, implicitSystem });
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
