import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import type { CompiledInvariant } from './compiled.ts';

/**
 * Parses a FHIRPath invariant once. `basePath` is the element path the expression is written
 * for, so the R4 model can type the node it receives. Anything but a single `true` fails: the
 * spec asks constraints to evaluate to true, and an evaluation error must not pass silently.
 */
export function compileInvariant(key: string, human: string, expression: string, basePath: string): CompiledInvariant {
  const isRoot = !basePath.includes('.');
  const fn = fhirpath.compile(isRoot ? expression : { base: basePath, expression }, r4, { async: false });
  return {
    key,
    human,
    test(node, resource) {
      try {
        const result: unknown[] = fn(node, { resource, rootResource: resource });
        return result.length === 1 && result[0] === true;
      } catch {
        return false;
      }
    },
  };
}
