import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import { evaluatorWithFastPath } from '../../fhirpath/fast-path.ts';
import type { CompiledInvariant } from './compiled.ts';
import type { IssueSeverity } from './issues.ts';

/** The two FHIRPath evaluators disagree (tests only): not an invariant that fails, a fault to report. */
class FastPathMismatch extends Error {}

/**
 * Parses a FHIRPath invariant once. `basePath` is the element path the expression is written
 * for, so the R4 model can type the node it receives. Anything but a single `true` fails: the
 * spec asks constraints to evaluate to true, and an evaluation error must not pass silently.
 * Within the fast FHIRPath subset the invariant runs as compiled closures, fhirpath.js otherwise;
 * `verifyFastPath` (tests) runs both and throws where they differ.
 */
export function compileInvariant(key: string, human: string, expression: string, basePath: string, verifyFastPath = false, severity: IssueSeverity = 'error'): CompiledInvariant {
  const isRoot = !basePath.includes('.');
  const fn = fhirpath.compile(isRoot ? expression : { base: basePath, expression }, r4, { async: false });
  const evaluate = evaluatorWithFastPath(expression, true, (node, env) => fn(node, env) as unknown[], {
    verify: verifyFastPath ? `invariant ${key}` : undefined,
    mismatch: FastPathMismatch,
  });
  return {
    key,
    human,
    severity,
    test(node, resource) {
      try {
        const result = evaluate(node, { resource, rootResource: resource });
        return result.length === 1 && result[0] === true;
      } catch (err) {
        if (err instanceof FastPathMismatch) throw err;
        return false;
      }
    },
  };
}
