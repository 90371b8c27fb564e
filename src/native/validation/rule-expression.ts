// A rule's FHIRPath expression, compiled and checked at load: it parses, names only fields of the format's schema,
// calls only FHIRPath functions with their number of arguments, and runs on an empty record.
import fhirpath from 'fhirpath';
import { evaluatorWithFastPath } from '../../fhirpath/fast-path.ts';

export type Evaluator = (record: unknown) => unknown[];

/** A mistake in a rules file, found at load (the caller adds the file name). */
export class RulesFileError extends Error {}

interface AstNode {
  type: string;
  text?: string;
  children?: AstNode[];
}

function walk(node: AstNode, visit: (node: AstNode) => void): void {
  visit(node);
  for (const child of node.children ?? []) walk(child, visit);
}

function identifierOf(node: AstNode): string | undefined {
  const identifier = node.children?.find((c) => c.type === 'Identifier');
  return identifier?.text?.replace(/^`|`$/g, '');
}

/** Member names the expression navigates, and the functions it calls with their number of arguments. */
function namesIn(ast: AstNode): { members: string[]; functions: { name: string; arity: number }[] } {
  const members: string[] = [];
  const functions: { name: string; arity: number }[] = [];
  walk(ast, (node) => {
    if (node.type === 'MemberInvocation') {
      const name = identifierOf(node);
      if (name !== undefined) members.push(name);
    } else if (node.type === 'Functn') {
      const name = identifierOf(node);
      const params = node.children?.find((c) => c.type === 'ParamList')?.children?.length ?? 0;
      if (name !== undefined) functions.push({ name, arity: params });
    }
  });
  return { members, functions };
}

const functionProblems = new Map<string, string | undefined>();

// fhirpath.js reports an unknown function only when evaluation reaches it, and a wrong number of arguments
// only as a console warning and an empty result: a rule with such a typo would silently never fire. Asking
// it once per name and arity at load finds both in every branch of every expression.
function functionProblem(name: string, arity: number): string | undefined {
  const key = `${name}/${arity}`;
  if (functionProblems.has(key)) return functionProblems.get(key);
  let problem: string | undefined;
  const warn = console.warn;
  console.warn = () => {
    problem = `${name}() does not take ${arity} argument${arity === 1 ? '' : 's'}`;
  };
  try {
    // Without the `async` option evaluation is synchronous; only what it throws or warns matters here.
    void fhirpath.evaluate({}, `{}.${name}(${Array.from({ length: arity }, () => '{}').join(', ')})`, undefined, undefined);
  } catch (err) {
    const message = String((err as Error).message);
    if (message.startsWith('Not implemented')) problem = `${name}() is no FHIRPath function`;
    else if (message.includes('expects no params')) problem = `${name}() takes no arguments`;
  } finally {
    console.warn = warn;
  }
  functionProblems.set(key, problem);
  return problem;
}

export function compileExpression(expression: unknown, what: string, members: Set<string>, verifyFastPath = false): Evaluator {
  if (typeof expression !== 'string' || expression.trim() === '') throw new RulesFileError(`${what} must be a FHIRPath expression (a non-empty string)`);
  let evaluate: Evaluator;
  let ast: AstNode;
  try {
    ast = fhirpath.parse(expression) as AstNode;
    // Without a model fhirpath reads the record as plain JSON, which is what a native record is.
    evaluate = fhirpath.compile(expression, undefined) as Evaluator;
  } catch (err) {
    throw new RulesFileError(`${what} ${JSON.stringify(expression)} is not valid FHIRPath: ${(err as Error).message}`);
  }
  const names = namesIn(ast);
  for (const fn of names.functions) {
    const problem = functionProblem(fn.name, fn.arity);
    if (problem) throw new RulesFileError(`${what} ${JSON.stringify(expression)}: ${problem}`);
  }
  for (const member of names.members) {
    if (!members.has(member)) {
      throw new RulesFileError(`${what} ${JSON.stringify(expression)} names '${member}', which is no field of this format's schema`);
    }
  }
  try {
    evaluate({});
  } catch (err) {
    throw new RulesFileError(`${what} ${JSON.stringify(expression)} fails on an empty record: ${(err as Error).message}`);
  }
  // Every record runs every rule: the fast FHIRPath subset where the expression lies within it (fhirpath.js took half
  // a millisecond a record), fhirpath.js where not.
  const both = evaluatorWithFastPath(expression, false, (record) => evaluate(record), { verify: verifyFastPath ? what : undefined });
  return (record) => both(record, {});
}

export function evaluateOrThrow(evaluate: Evaluator, record: unknown, what: string, file: string): unknown[] {
  try {
    return evaluate(record);
  } catch (err) {
    // A rule that cannot be evaluated on a record the schema accepted is a fault in the rules file.
    throw new Error(`${file}: ${what} failed: ${(err as Error).message}`, { cause: err });
  }
}
