// Compiles the JSON template language of mappings/<format>/*.json into a node tree, once, at load:
// every FHIRPath expression is compiled here, every transform and target path is checked here, so a bad
// mapping file fails at start-up with its file and entry named, never halfway through a record.
import fhirpath from 'fhirpath';
import type { Model } from 'fhirpath';
import { evaluatorWithFastPath } from '../../fhirpath/fast-path.ts';
import type { Scope } from './scopes.ts';
import { ANY } from './scopes.ts';
import type { Transform } from './transforms/index.ts';
import { TRANSFORMS } from './transforms/index.ts';

export type Env = Record<string, unknown>;
export type Evaluator = (focus: unknown, env: Env) => unknown[];

export type Node = LitNode | ValNode | InputNode | FirstNode | ObjNode | ArrNode;
interface LitNode {
  t: 'lit';
  value: string | number | boolean | null;
}
interface ValNode {
  t: 'val';
  expr: Evaluator;
  many: boolean;
  transform?: Transform;
  args: readonly unknown[];
}
interface InputNode {
  t: 'input';
  input: ObjNode;
  transform: Transform;
  args: readonly unknown[];
}
interface FirstNode {
  t: 'first';
  alts: Node[];
}
export interface ObjNode {
  t: 'obj';
  when?: Evaluator;
  each?: Evaluator;
  /** Evaluate the fields with the first item of this expression as focus; absent when it is empty. */
  in?: Evaluator;
  require: string[];
  lets: [string, Evaluator][];
  fields: { key: string; node: Node; dynamic: boolean }[];
  /** Drop the object when none of its data-driven fields produced a value (no `$when`/`$each` given). */
  prune: boolean;
}
export interface ArrNode {
  t: 'arr';
  items: Node[];
}

export interface CompileOptions {
  file: string;
  /** FHIR model for expressions over FHIR resources; none for plain native JSON. */
  model?: Model;
  /** Environment variables (`%name`) the engine provides. */
  env: readonly string[];
  fragments?: Readonly<Record<string, unknown>>;
  /** Evaluate every expression with both the fast path and fhirpath.js, and fail on any difference (tests). */
  verifyFastPath?: boolean;
}

const VALUE_KEYS = new Set(['$value', '$fn', '$args', '$many', '$input', '$first', '$comment']);
const OBJECT_DIRECTIVES = new Set(['$when', '$each', '$in', '$require', '$let', '$use', '$comment']);
const FHIRPATH_BUILTIN_VARS = new Set(['context', 'resource', 'rootResource', 'ucum', 'sct', 'loinc', 'factory']);

function isDynamic(node: Node): boolean {
  switch (node.t) {
    case 'lit':
      return false;
    case 'obj':
      return node.when !== undefined || node.each !== undefined || node.in !== undefined || node.fields.some((f) => f.dynamic);
    case 'arr':
      return node.items.some(isDynamic);
    default:
      return true;
  }
}

export class Compiler {
  private readonly opts: CompileOptions;

  constructor(opts: CompileOptions) {
    this.opts = opts;
  }

  fail(at: string, message: string): never {
    throw new Error(`${this.opts.file}: ${at}: ${message}`);
  }

  expression(source: unknown, at: string, env: ReadonlySet<string>): Evaluator {
    if (typeof source !== 'string' || source.trim() === '') this.fail(at, 'expected a FHIRPath expression');
    // Undefined %variables only fail when evaluated in fhirpath.js; catch them at load instead.
    const unquoted = source.replace(/'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`/g, "''");
    for (const m of unquoted.matchAll(/%([A-Za-z_][A-Za-z0-9_]*)/g)) {
      if (!env.has(m[1]) && !FHIRPATH_BUILTIN_VARS.has(m[1])) this.fail(at, `unknown variable %${m[1]} in FHIRPath "${source}"`);
    }
    let slow: Evaluator;
    try {
      const compiled = fhirpath.compile(source, this.opts.model);
      slow = (focus, vars) => compiled(focus, vars) as unknown[];
    } catch (err) {
      return this.fail(at, `FHIRPath does not compile: "${source}": ${(err as Error).message}`);
    }
    return evaluatorWithFastPath(source, this.opts.model !== undefined, slow, { verify: this.opts.verifyFastPath ? `${this.opts.file}: ${at}` : undefined });
  }

  private transform(name: unknown, args: unknown, at: string): [Transform, unknown[]] {
    if (typeof name !== 'string' || !Object.hasOwn(TRANSFORMS, name)) this.fail(at, `unknown transform ${JSON.stringify(name)}`);
    const transform = TRANSFORMS[name];
    const list = args === undefined ? [] : args;
    if (!Array.isArray(list)) this.fail(at, '$args must be an array');
    const [min, max] = transform.args ?? [0, 0];
    if (list.length < min || list.length > max) this.fail(at, `transform ${name} takes ${min}..${max} arguments, got ${list.length}`);
    return [transform, list];
  }

  /** Compiles a template; `scope` says which keys exist where it writes. */
  node(template: unknown, scope: Scope, at: string, env: ReadonlySet<string>): Node {
    if (typeof template === 'string') {
      if (template.startsWith('=')) return { t: 'val', expr: this.expression(template.slice(1), at, env), many: false, args: [] };
      return { t: 'lit', value: template };
    }
    if (template === null || typeof template === 'number' || typeof template === 'boolean') return { t: 'lit', value: template };
    if (Array.isArray(template)) {
      return { t: 'arr', items: template.map((item, i) => this.node(item, scope, `${at}[${i}]`, env)) };
    }
    if (typeof template !== 'object') this.fail(at, `unsupported template value ${String(template)}`);
    const obj = template as Record<string, unknown>;
    if ('$value' in obj || '$fn' in obj || '$first' in obj || '$input' in obj) return this.valueNode(obj, scope, at, env);
    return this.objectNode(obj, scope, at, env);
  }

  private valueNode(obj: Record<string, unknown>, scope: Scope, at: string, env: ReadonlySet<string>): Node {
    for (const key of Object.keys(obj)) if (!VALUE_KEYS.has(key)) this.fail(at, `unexpected key ${key} in a value`);
    if ('$first' in obj) {
      if (!Array.isArray(obj.$first) || Object.keys(obj).some((k) => k !== '$first' && k !== '$comment')) {
        this.fail(at, '$first takes an array of alternatives and nothing else');
      }
      return { t: 'first', alts: obj.$first.map((alt, i) => this.node(alt, scope, `${at}.$first[${i}]`, env)) };
    }
    if ('$input' in obj) {
      if ('$value' in obj) this.fail(at, 'give $value or $input, not both');
      const [transform, args] = this.transform(obj.$fn, obj.$args, at);
      const input = this.node(obj.$input, ANY, `${at}.$input`, env);
      if (input.t !== 'obj') this.fail(at, '$input must be an object template');
      return { t: 'input', input, transform, args };
    }
    const expr = this.expression(obj.$value, `${at}.$value`, env);
    const [transform, args] = obj.$fn === undefined ? [undefined, []] : this.transform(obj.$fn, obj.$args, at);
    return { t: 'val', expr, many: obj.$many === true, transform, args };
  }

  private objectNode(raw: Record<string, unknown>, scope: Scope, at: string, env: ReadonlySet<string>): ObjNode {
    const obj = this.inline(raw, at, new Set());
    let here = scope;
    if (typeof obj.resourceType === 'string' && here.resource) {
      const resourceScope = here.resource(obj.resourceType);
      if (!resourceScope) this.fail(at, `unknown resource type ${obj.resourceType}`);
      here = resourceScope;
    }
    const node: ObjNode = { t: 'obj', require: [], lets: [], fields: [], prune: true };
    let inner = env;
    if (obj.$let !== undefined) {
      if (typeof obj.$let !== 'object' || obj.$let === null) this.fail(at, '$let must map names to expressions');
      const names = new Set(env);
      for (const [name, expr] of Object.entries(obj.$let as Record<string, unknown>)) {
        node.lets.push([name, this.expression(expr, `${at}.$let.${name}`, names)]);
        names.add(name);
      }
      inner = names;
    }
    if (obj.$when !== undefined) node.when = this.expression(obj.$when, `${at}.$when`, env);
    if (obj.$each !== undefined) node.each = this.expression(obj.$each, `${at}.$each`, env);
    if (obj.$in !== undefined) node.in = this.expression(obj.$in, `${at}.$in`, env);
    if (node.each && node.in) this.fail(at, 'give $each or $in, not both');
    if (obj.$require !== undefined) {
      if (!Array.isArray(obj.$require) || !obj.$require.every((k) => typeof k === 'string')) this.fail(at, '$require must list field names');
      node.require = obj.$require as string[];
    }
    node.prune = node.when === undefined && node.each === undefined;
    for (const [key, value] of Object.entries(obj)) {
      if (key.startsWith('$')) {
        if (!OBJECT_DIRECTIVES.has(key)) this.fail(at, `unknown directive ${key}`);
        continue;
      }
      const child = here.child(key);
      if (!child) this.fail(`${at}.${key}`, `unknown target path ${key} in ${here.describe}`);
      const compiled = this.node(value, child, `${at}.${key}`, inner);
      node.fields.push({ key, node: compiled, dynamic: isDynamic(compiled) });
    }
    for (const key of node.require) if (!node.fields.some((f) => f.key === key)) this.fail(at, `$require names ${key}, which is not a field here`);
    return node;
  }

  /** `$use` puts the fields of named fragments of the file where it stands; the object's own keys win. */
  private inline(obj: Record<string, unknown>, at: string, seen: Set<string>): Record<string, unknown> {
    if (obj.$use === undefined) return obj;
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(obj)) {
      if (key !== '$use') {
        out[key] = value;
        continue;
      }
      for (const name of Array.isArray(value) ? value : [value]) {
        if (typeof name !== 'string' || !this.opts.fragments || !Object.hasOwn(this.opts.fragments, name)) {
          this.fail(at, `unknown fragment ${JSON.stringify(name)}`);
        }
        if (seen.has(name)) this.fail(at, `fragment ${name} uses itself`);
        const fragment = this.opts.fragments[name];
        if (typeof fragment !== 'object' || fragment === null || Array.isArray(fragment)) this.fail(at, `fragment ${name} is not an object`);
        const expanded = this.inline(fragment as Record<string, unknown>, `${at}.$use(${name})`, new Set([...seen, name]));
        for (const [k, v] of Object.entries(expanded)) if (!Object.hasOwn(obj, k)) out[k] = v;
      }
    }
    return out;
  }
}
