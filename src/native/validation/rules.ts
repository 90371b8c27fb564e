// Cross-field rules as data (mappings/<format>/rules.json). Two kinds of rule:
//   expression: { id, when?, assert, path, message }  — `when` and `assert` are FHIRPath on the native JSON
//   check:      { id, when?, check, args, message }   — a named check from checks.ts
// `when` selects the records a rule applies to and `assert` must then hold: each counts only when it
// evaluates to exactly `true`, so an empty result (a field that is absent) never passes an assert by accident.
// Messages may quote FHIRPath results as {{expression}} and a check's values as {name}.
// Everything is compiled and cross-checked at load so that a mistake in a rules file stops the gateway from
// starting instead of surfacing, or silently never firing, at request time.
import fhirpath from 'fhirpath';
import { evaluatorWithFastPath } from '../../fhirpath/fast-path.ts';
import type { NativeIssue } from '../types.ts';
import { CHECKS, type CheckArg, type CheckDefinition, type FieldRef } from './checks.ts';
import { parseFieldPath } from './json-path.ts';

type Evaluator = (record: unknown) => unknown[];

export interface CompiledRule {
  id: string;
  run(record: unknown): NativeIssue[];
}

const RULE_KEYS = new Set(['id', 'description', 'when', 'assert', 'path', 'check', 'args', 'message']);
const RULE_ID = /^[a-z0-9][a-z0-9-]*$/;

class RulesFileError extends Error {}

/** Member names a FHIRPath expression may navigate: every property name the format's schema defines. */
function schemaPropertyNames(schema: unknown, names = new Set<string>()): Set<string> {
  if (Array.isArray(schema)) {
    for (const item of schema) schemaPropertyNames(item, names);
  } else if (schema !== null && typeof schema === 'object') {
    for (const [key, value] of Object.entries(schema)) {
      if (key === 'properties' && value !== null && typeof value === 'object') {
        for (const name of Object.keys(value)) names.add(name);
      }
      schemaPropertyNames(value, names);
    }
  }
  return names;
}

/** Whether the schema defines the field at these member names (following local `$ref`s). */
function schemaDefinesPath(root: Record<string, unknown>, segments: readonly string[]): boolean {
  let node: unknown = root;
  for (const segment of segments) {
    node = resolveRef(root, node);
    const properties = (node as { properties?: Record<string, unknown> } | undefined)?.properties;
    if (!properties || !Object.hasOwn(properties, segment)) return false;
    node = properties[segment];
  }
  return true;
}

function resolveRef(root: Record<string, unknown>, node: unknown): unknown {
  for (let hops = 0; hops < 16; hops++) {
    const ref = (node as { $ref?: unknown } | undefined)?.$ref;
    if (typeof ref !== 'string' || !ref.startsWith('#/')) return node;
    node = ref
      .slice(2)
      .split('/')
      .reduce<unknown>((n, key) => (n as Record<string, unknown> | undefined)?.[key.replace(/~1/g, '/').replace(/~0/g, '~')], root);
  }
  return node;
}

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

function compileExpression(expression: unknown, what: string, members: Set<string>, verifyFastPath = false): Evaluator {
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


function compileFieldRef(path: unknown, what: string, schema: Record<string, unknown>): FieldRef {
  const segments = typeof path === 'string' ? parseFieldPath(path) : undefined;
  if (typeof path !== 'string' || !segments) throw new RulesFileError(`${what} must be a field path such as "$.patient.bsn"`);
  if (!schemaDefinesPath(schema, segments)) throw new RulesFileError(`${what} ${JSON.stringify(path)} is no field of this format's schema`);
  return { path, segments };
}

function compileArgs(check: CheckDefinition, args: unknown, what: string, schema: Record<string, unknown>): Record<string, CheckArg> {
  if (args === null || typeof args !== 'object' || Array.isArray(args)) throw new RulesFileError(`${what}.args must be an object`);
  const given = args as Record<string, unknown>;
  for (const name of Object.keys(given)) {
    if (!Object.hasOwn(check.args, name)) throw new RulesFileError(`${what}.args.${name} is not an argument of this check (it takes ${Object.keys(check.args).join(', ')})`);
  }
  const compiled: Record<string, CheckArg> = {};
  for (const [name, spec] of Object.entries(check.args)) {
    const value = given[name];
    const where = `${what}.args.${name}`;
    if (value === undefined) {
      if (spec.kind === 'field' && spec.optional) continue;
      throw new RulesFileError(`${where} is missing`);
    }
    if (spec.kind === 'field') {
      compiled[name] = compileFieldRef(value, where, schema);
    } else if (spec.kind === 'fields') {
      if (!Array.isArray(value) || value.length === 0) throw new RulesFileError(`${where} must be a non-empty array of field paths`);
      compiled[name] = value.map((v, i) => compileFieldRef(v, `${where}[${i}]`, schema));
    } else {
      if (typeof value !== 'string' || !spec.choices.includes(value)) throw new RulesFileError(`${where} must be one of ${spec.choices.join(', ')}`);
      compiled[name] = value;
    }
  }
  return compiled;
}

type MessagePart = string | { expression: Evaluator } | { variable: string };

function compileMessage(message: unknown, what: string, variables: readonly string[], members: Set<string>): MessagePart[] {
  if (typeof message !== 'string' || message.trim() === '') throw new RulesFileError(`${what} must be a non-empty string`);
  const parts: MessagePart[] = [];
  const placeholder = /\{\{(.+?)\}\}|\{([A-Za-z]+)\}/g;
  let last = 0;
  for (const m of message.matchAll(placeholder)) {
    parts.push(message.slice(last, m.index));
    if (m[1] !== undefined) {
      parts.push({ expression: compileExpression(m[1], `${what} placeholder {{${m[1]}}}:`, members) });
    } else {
      if (!variables.includes(m[2])) {
        throw new RulesFileError(`${what} uses {${m[2]}}, which this rule does not provide${variables.length ? ` (it provides ${variables.map((v) => `{${v}}`).join(', ')})` : ''}`);
      }
      parts.push({ variable: m[2] });
    }
    last = m.index + m[0].length;
  }
  parts.push(message.slice(last));
  return parts;
}

function renderValue(values: unknown[]): string {
  if (values.length === 0) return '(none)';
  return values.map((v) => (typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v))).join(', ');
}

const isTrue = (result: unknown[]): boolean => result.length === 1 && result[0] === true;

/**
 * Compiles a rules file. `schema` is the format's JSON Schema: rules may only name fields it defines.
 * Throws with the file name and the rule at fault.
 */
export function compileRules(file: string, content: unknown, format: string, schema: Record<string, unknown>, verifyFastPath = false): CompiledRule[] {
  try {
    return compileRulesUnchecked(content, format, schema, file, verifyFastPath);
  } catch (err) {
    if (err instanceof RulesFileError) throw new Error(`${file}: ${err.message}`, { cause: err });
    throw err;
  }
}

function compileRulesUnchecked(content: unknown, format: string, schema: Record<string, unknown>, file: string, verifyFastPath: boolean): CompiledRule[] {
  if (content === null || typeof content !== 'object' || Array.isArray(content)) throw new RulesFileError('must hold a JSON object { "format", "rules" }');
  const { format: declared, rules, ...rest } = content as Record<string, unknown>;
  for (const key of Object.keys(rest)) {
    if (key !== 'description' && key !== '$comment') throw new RulesFileError(`unknown top-level key '${key}'`);
  }
  if (declared !== format) throw new RulesFileError(`"format" is ${JSON.stringify(declared)}, expected "${format}"`);
  if (!Array.isArray(rules)) throw new RulesFileError('"rules" must be an array');

  const members = schemaPropertyNames(schema);
  const ids = new Set<string>();
  return rules.map((raw, index): CompiledRule => {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new RulesFileError(`rules[${index}] must be an object`);
    const rule = raw as Record<string, unknown>;
    const id = rule.id;
    if (typeof id !== 'string' || !RULE_ID.test(id)) throw new RulesFileError(`rules[${index}].id must be lower-case letters, digits and '-'`);
    const what = `rule '${id}'`;
    if (ids.has(id)) throw new RulesFileError(`${what} is defined twice`);
    ids.add(id);
    for (const key of Object.keys(rule)) {
      if (!RULE_KEYS.has(key)) throw new RulesFileError(`${what} has unknown key '${key}'`);
    }
    if (rule.description !== undefined && typeof rule.description !== 'string') throw new RulesFileError(`${what}.description must be a string`);
    const when = rule.when === undefined ? undefined : compileExpression(rule.when, `${what}.when`, members, verifyFastPath);
    const applies = (record: unknown): boolean => when === undefined || isTrue(evaluateOrThrow(when, record, `${what}.when`, file));

    if ((rule.assert === undefined) === (rule.check === undefined)) throw new RulesFileError(`${what} needs either "assert" (FHIRPath) or "check" (a named check), not both or neither`);

    if (rule.assert !== undefined) {
      if (rule.args !== undefined) throw new RulesFileError(`${what} has "args", which only check rules take`);
      const assert = compileExpression(rule.assert, `${what}.assert`, members, verifyFastPath);
      const path = compileFieldRef(rule.path, `${what}.path`, schema).path;
      const message = compileMessage(rule.message, `${what}.message`, [], members);
      return {
        id,
        run(record) {
          if (!applies(record) || isTrue(evaluateOrThrow(assert, record, `${what}.assert`, file))) return [];
          return [{ path, message: render(message, record, {}, what, file) }];
        },
      };
    }

    if (rule.path !== undefined) throw new RulesFileError(`${what} has "path"; a check names the offending field itself`);
    if (typeof rule.check !== 'string' || !Object.hasOwn(CHECKS, rule.check)) {
      throw new RulesFileError(`${what}.check ${JSON.stringify(rule.check)} is not a known check (known: ${Object.keys(CHECKS).join(', ')})`);
    }
    const check = CHECKS[rule.check];
    const args = compileArgs(check, rule.args, what, schema);
    const message = compileMessage(rule.message, `${what}.message`, check.vars, members);
    return {
      id,
      run(record) {
        if (!applies(record)) return [];
        return check.run(record, args).map((failure) => ({ path: failure.path, message: render(message, record, failure.vars, what, file) }));
      },
    };
  });
}

function evaluateOrThrow(evaluate: Evaluator, record: unknown, what: string, file: string): unknown[] {
  try {
    return evaluate(record);
  } catch (err) {
    // A rule that cannot be evaluated on a record the schema accepted is a fault in the rules file.
    throw new Error(`${file}: ${what} failed: ${(err as Error).message}`, { cause: err });
  }
}

function render(parts: MessagePart[], record: unknown, vars: Record<string, string>, what: string, file: string): string {
  return parts
    .map((part) => {
      if (typeof part === 'string') return part;
      if ('variable' in part) return vars[part.variable] ?? '';
      return renderValue(evaluateOrThrow(part.expression, record, `${what}.message`, file));
    })
    .join('');
}
