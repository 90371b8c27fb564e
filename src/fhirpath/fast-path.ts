// A closure compiler for the small FHIRPath subset that mapping files, native rules, profile invariants and search
// parameters use most (member paths, where/exists/first/extension/startsWith/matches/substring/toInteger, =, in,
// and/or/implies, union, iif, string concatenation, integer arithmetic), built from the
// fhirpath package's own parse tree. fhirpath.js evaluates these at 5-60 µs each (its equality tries date
// parsing on strings), which would make a record cost milliseconds; these closures cost well under a
// microsecond. Any expression outside the subset keeps the fhirpath.js evaluator; the mapping and search index
// tests run both and compare.
import fhirpath from 'fhirpath';
import { compileNode } from './compile.ts';
import { type AstNode, type Env, type Fn, Prim, Unsupported, unwrap } from './values.ts';

/** A fast evaluator for `expression`, or undefined when it uses FHIRPath outside the subset. */
export function compileFastPath(expression: string, model: boolean): ((focus: unknown, env: Env) => unknown[]) | undefined {
  let fn: Fn;
  try {
    fn = compileNode(fhirpath.parse(expression) as AstNode, model);
  } catch (err) {
    if (err instanceof Unsupported) return undefined;
    throw err;
  }
  return (focus, env) => {
    const input = focus === undefined || focus === null ? [] : Array.isArray(focus) ? focus : [focus];
    try {
      return unwrapped(fn(input, env, input));
    } catch (err) {
      if (err instanceof Unsupported) return FALLBACK;
      throw err;
    }
  };
}

/**
 * The items of a result as fhirpath.js gives them (`map(unwrap)`, then without the undefined ones), as a new array:
 * a copy as it is where nothing needs unwrapping or dropping (nearly every result), else one array for each step.
 * Every evaluation passed through this; the filter's callback (a closure made per call) and a second array for
 * each were almost half of what mapping a native record allocated.
 */
function unwrapped(result: unknown[]): unknown[] {
  for (let i = 0; i < result.length; i++) {
    const item = result[i];
    if (item === undefined || item instanceof Prim) return result.map(unwrap).filter(isDefined);
  }
  return result.slice();
}

const isDefined = (v: unknown): boolean => v !== undefined;

/** Returned when an evaluation meets something the subset does not do: the caller uses fhirpath.js. */
export const FALLBACK: unknown[] = [];

export type Evaluator = (focus: unknown, env: Env) => unknown[];

export interface FastPathOptions {
  /** Tests: run both evaluators every time and throw where they differ; names the place in the error. */
  verify?: string;
  /** The error thrown for a difference (a caller may need to tell it from its own failures). */
  mismatch?: new (message: string) => Error;
}

/**
 * `slow` (fhirpath.js, compiled by the caller) behind the fast subset: the closures where the expression and the
 * value at hand lie within the subset, `slow` where not.
 */
export function evaluatorWithFastPath(expression: string, model: boolean, slow: Evaluator, options: FastPathOptions = {}): Evaluator {
  const fast = compileFastPath(expression, model);
  if (!fast) return slow;
  const where = options.verify;
  if (where !== undefined) {
    const Mismatch = options.mismatch ?? Error;
    return (focus, env) => {
      const expected = slow(focus, env);
      const got = fast(focus, env);
      if (got !== FALLBACK && JSON.stringify(got) !== JSON.stringify(expected)) {
        throw new Mismatch(`${where}: fast path gives ${JSON.stringify(got)}, fhirpath.js ${JSON.stringify(expected)} for "${expression}"`);
      }
      return expected;
    };
  }
  return (focus, env) => {
    const result = fast(focus, env);
    return result === FALLBACK ? slow(focus, env) : result;
  };
}
