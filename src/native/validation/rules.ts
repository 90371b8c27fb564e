// Cross-field rules as data (mappings/<format>/rules.json). Two kinds of rule:
//   expression: { id, when?, assert, path, message }  — `when` and `assert` are FHIRPath on the native JSON
//   check:      { id, when?, check, args, message }   — a named check from checks.ts
// `when` selects the records a rule applies to and `assert` must then hold: each counts only when it
// evaluates to exactly `true`, so an empty result (a field that is absent) never passes an assert by accident.
// Messages may quote FHIRPath results as {{expression}} and a check's values as {name}.
// Everything is compiled and cross-checked at load so that a mistake in a rules file stops the gateway from
// starting instead of surfacing, or silently never firing, at request time.
import type { NativeIssue } from '../types.ts';
import { CHECKS, type CheckArg, type CheckDefinition, type FieldRef } from './checks.ts';
import { parseFieldPath } from './json-path.ts';
import { compileExpression, evaluateOrThrow, RulesFileError } from './rule-expression.ts';
import { compileMessage, render } from './rule-message.ts';
import { schemaDefinesPath, schemaPropertyNames } from './rule-schema.ts';

export interface CompiledRule {
  id: string;
  run(record: unknown): NativeIssue[];
}

const RULE_KEYS = new Set(['id', 'description', 'when', 'assert', 'path', 'check', 'args', 'message']);
const RULE_ID = /^[a-z0-9][a-z0-9-]*$/;

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

