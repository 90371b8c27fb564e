// Turns ajv's errors into messages a vendor's developer can act on without reading JSON Schema.
import type { ErrorObject } from 'ajv';
import type { NativeIssue } from '../types.ts';
import { fieldLabel, pointerToPath } from './json-path.ts';

const MAX_ECHO = 60;

/** The sender's own value, quoted and shortened: enough to find it, never a whole free-text field. */
function quote(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  const short = text.length > MAX_ECHO ? `${text.slice(0, MAX_ECHO)}…` : text;
  return `'${short}'`;
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
  object: 'an object',
  array: 'an array',
  null: 'null',
};

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'a whole number' : 'a number';
  return TYPE_NAMES[typeof value] ?? typeof value;
}

function describeTypes(type: unknown): string {
  const types = Array.isArray(type) ? type : [type];
  return types.map((t) => TYPE_NAMES[String(t)] ?? String(t)).join(' or ');
}

function issueFor(error: ErrorObject, format: string): NativeIssue {
  const path = pointerToPath(error.instancePath);
  const label = fieldLabel(path);
  const params = error.params as Record<string, unknown>;
  const parentSchema = (error.parentSchema ?? {}) as Record<string, unknown>;
  switch (error.keyword) {
    case 'additionalProperties':
    case 'unevaluatedProperties': {
      const name = String(params.additionalProperty ?? params.unevaluatedProperty);
      const where = path === '$' ? '' : ` in ${label}`;
      return { path: pointerToPath(error.instancePath, name), message: `unknown field '${name}'${where} is not part of the ${format} format` };
    }
    case 'required': {
      const missing = pointerToPath(error.instancePath, String(params.missingProperty));
      return { path: missing, message: `required field '${fieldLabel(missing)}' is missing` };
    }
    case 'type':
      return { path, message: `${label} must be ${describeTypes(params.type)}, not ${typeOf(error.data)}` };
    case 'enum':
      return { path, message: `${label} ${quote(error.data)} is not allowed: must be one of ${(params.allowedValues as unknown[]).join(', ')}` };
    case 'const':
      return { path, message: `${label} must be '${String(params.allowedValue)}', not ${quote(error.data)}` };
    case 'pattern': {
      const expected = typeof parentSchema['x-expected'] === 'string' ? parentSchema['x-expected'] : `text matching ${String(params.pattern)}`;
      return { path, message: `${label} ${quote(error.data)} is not valid: expected ${expected}` };
    }
    case 'minLength':
      return { path, message: `${label} must not be empty (leave an optional field out instead)` };
    case 'minItems':
      return { path, message: `${label} must hold at least ${String(params.limit)} item${params.limit === 1 ? '' : 's'}` };
    case 'maxItems':
      return { path, message: `${label} must hold at most ${String(params.limit)} items, not ${Array.isArray(error.data) ? error.data.length : '?'}: each becomes work (a resource or an element) of its own` };
    case 'minimum':
      return { path, message: `${label} must be at least ${String(params.limit)}, not ${String(error.data)}` };
    case 'maximum':
      return { path, message: `${label} must be at most ${String(params.limit)}, not ${String(error.data)}` };
    default:
      return { path, message: `${label} ${error.message ?? 'is not valid'}` };
  }
}

export function schemaIssues(errors: readonly ErrorObject[], format: string): NativeIssue[] {
  const seen = new Set<string>();
  const issues: NativeIssue[] = [];
  for (const error of errors) {
    const issue = issueFor(error, format);
    const key = `${issue.path}\u0000${issue.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      issues.push(issue);
    }
  }
  return issues;
}
