// A closure compiler for the small FHIRPath subset that mapping files, native rules, profile invariants and search
// parameters use most (member paths, where/exists/first/extension/startsWith/matches/substring/toInteger, =, in,
// and/or/implies, union, iif, string concatenation, integer arithmetic), built from the
// fhirpath package's own parse tree. fhirpath.js evaluates these at 5-60 µs each (its equality tries date
// parsing on strings), which would make a record cost milliseconds; these closures cost well under a
// microsecond. Any expression outside the subset keeps the fhirpath.js evaluator; the mapping and search index
// tests run both and compare.
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';

type Env = Record<string, unknown>;
type Fn = (focus: unknown[], env: Env, root: unknown[]) => unknown[];

interface AstNode {
  type: string;
  text?: string;
  atRoot?: number;
  children?: AstNode[];
}

/** A primitive with its `_name` sidecar (extensions), so that `.extension(url)` works on it. */
class Prim {
  readonly value: unknown;
  readonly sidecar: { extension?: unknown[] } | null | undefined;

  constructor(value: unknown, sidecar: { extension?: unknown[] } | null | undefined) {
    this.value = value;
    this.sidecar = sidecar;
  }
}

const unwrap = (v: unknown): unknown => (v instanceof Prim ? v.value : v);

class Unsupported extends Error {}

/** Element names that are FHIR choice types ([x]): only fhirpath.js with the model resolves `value` to `valueString`. */
const CHOICE_BASES = new Set(
  Object.keys((r4 as unknown as { choiceTypePaths: Record<string, unknown> }).choiceTypePaths).map((p) => p.slice(p.lastIndexOf('.') + 1)),
);

/** A missing `value` next to `valueString` is a choice element: only fhirpath.js with the model resolves it. */
function isChoiceHere(item: object, name: string): boolean {
  for (const key in item) {
    if (key.length > name.length && key.startsWith(name) && key[name.length] >= 'A' && key[name.length] <= 'Z') return true;
  }
  return false;
}

function member(items: unknown[], name: string, choice = false): unknown[] {
  const out: unknown[] = [];
  for (const item of items) {
    if (item === null || typeof item !== 'object') continue;
    if (item instanceof Prim) {
      if (name === 'extension' && item.sidecar?.extension) out.push(...item.sidecar.extension);
      continue;
    }
    const value = (item as Record<string, unknown>)[name];
    const sidecar = (item as Record<string, unknown>)[`_${name}`];
    if (Array.isArray(value)) {
      const side = Array.isArray(sidecar) ? sidecar : undefined;
      value.forEach((v, i) => {
        if (v === null || v === undefined) return;
        out.push(side?.[i] && typeof v !== 'object' ? new Prim(v, side[i] as Prim['sidecar']) : v);
      });
    } else if (value !== undefined && value !== null) {
      out.push(sidecar && typeof value !== 'object' ? new Prim(value, sidecar as Prim['sidecar']) : value);
    } else if (sidecar && typeof sidecar === 'object' && !Array.isArray(sidecar)) {
      out.push(new Prim(undefined, sidecar as Prim['sidecar']));
    } else if (choice && isChoiceHere(item, name)) {
      throw new Unsupported('choice element');
    }
  }
  return out;
}

function singleton(items: unknown[]): unknown {
  if (items.length > 1) throw new Error('FHIRPath: expected a single item');
  return items.length === 0 ? undefined : unwrap(items[0]);
}

function equal(a: unknown[], b: unknown[]): unknown[] {
  if (a.length === 0 || b.length === 0) return [];
  if (a.length !== b.length) return [false];
  for (let i = 0; i < a.length; i++) {
    const x = unwrap(a[i]);
    const y = unwrap(b[i]);
    if (typeof x === 'object' || typeof y === 'object') throw new Unsupported('object equality');
    if (x !== y) return [false];
  }
  return [true];
}

function truth(items: unknown[]): boolean | undefined {
  if (items.length === 0) return undefined;
  const v = singleton(items);
  return typeof v === 'boolean' ? v : true;
}

function children(node: AstNode): AstNode[] {
  return node.children ?? [];
}

function literal(node: AstNode): unknown {
  const lit = children(node)[0];
  switch (lit?.type) {
    case 'StringLiteral': {
      const raw = lit.text ?? '';
      if (raw.includes('\\')) throw new Unsupported('escapes');
      return raw.slice(1, -1);
    }
    case 'BooleanLiteral':
      return lit.text === 'true';
    case 'NumberLiteral':
      return Number(lit.text);
    default:
      throw new Unsupported(`literal ${lit?.type}`);
  }
}

function paramList(fn: AstNode): AstNode[] {
  const functn = children(fn)[0];
  const params = children(functn).find((c) => c.type === 'ParamList');
  return params ? children(params) : [];
}

function functionName(fn: AstNode): string {
  return children(children(fn)[0])[0]?.text ?? '';
}

function literalArg(params: AstNode[], i: number): string {
  const p = params[i];
  const term = p?.type === 'TermExpression' ? children(p)[0] : undefined;
  if (term?.type !== 'LiteralTerm') throw new Unsupported('non-literal argument');
  return String(literal(term));
}

function typeArg(params: AstNode[]): string {
  const text = params[0]?.text ?? '';
  if (!/^[A-Za-z]+$/.test(text)) throw new Unsupported('type argument');
  return text;
}

/** Functions applied to an input collection (`x.first()`); `arg(i)` compiles parameter i against each item. */
function invoke(name: string, params: AstNode[], input: Fn, model: boolean): Fn {
  switch (name) {
    case 'where': {
      const criterion = compileNode(params[0], model);
      return (f, env, root) => input(f, env, root).filter((item) => truth(criterion([item], env, root)) === true);
    }
    case 'exists':
      if (params.length > 0) throw new Unsupported('exists(criteria)');
      return (f, env, root) => [input(f, env, root).length > 0];
    case 'empty':
      return (f, env, root) => [input(f, env, root).length === 0];
    case 'first':
      return (f, env, root) => input(f, env, root).slice(0, 1);
    case 'not':
      return (f, env, root) => {
        const t = truth(input(f, env, root));
        return t === undefined ? [] : [!t];
      };
    case 'extension': {
      const url = literalArg(params, 0);
      return (f, env, root) => member(input(f, env, root), 'extension').filter((e) => (e as { url?: string })?.url === url);
    }
    case 'ofType': {
      const type = typeArg(params);
      return (f, env, root) => input(f, env, root).filter((r) => (r as { resourceType?: string })?.resourceType === type);
    }
    case 'startsWith': {
      const prefix = literalArg(params, 0);
      return (f, env, root) => {
        const v = singleton(input(f, env, root));
        return v === undefined ? [] : [String(v).startsWith(prefix)];
      };
    }
    case 'matches': {
      if (params.length !== 1) throw new Unsupported('matches with flags');
      // As fhirpath.js: Unicode, dot matches newlines, found anywhere in the string.
      const pattern = new RegExp(literalArg(params, 0), 'us');
      return (f, env, root) => {
        const v = singleton(input(f, env, root));
        if (v === undefined) return [];
        if (typeof v !== 'string') throw new Unsupported('matches on a non-string');
        return [pattern.test(v)];
      };
    }
    case 'substring': {
      const [start, length] = [0, 1].map((i) => (params[i] ? Number(literalArg(params, i)) : undefined));
      if (!Number.isInteger(start) || (length !== undefined && !Number.isInteger(length))) throw new Unsupported('substring arguments');
      return (f, env, root) => {
        const v = singleton(input(f, env, root));
        if (v === undefined) return [];
        if (typeof v !== 'string') throw new Unsupported('substring of a non-string');
        const from = start as number;
        if (from < 0 || from >= v.length) return [];
        return [length === undefined ? v.substring(from) : v.substring(from, from + length)];
      };
    }
    case 'toInteger':
      return (f, env, root) => {
        const v = singleton(input(f, env, root));
        if (v === undefined) return [];
        if (typeof v === 'boolean') return [v ? 1 : 0];
        if (typeof v === 'number') return Number.isInteger(v) ? [v] : [];
        if (typeof v === 'string') return /^[+-]?\d+$/.test(v) && Number.isSafeInteger(Number(v)) ? [Number.parseInt(v, 10)] : [];
        throw new Unsupported('toInteger of an object');
      };
    case 'split': {
      const sep = literalArg(params, 0);
      return (f, env, root) => {
        const v = singleton(input(f, env, root));
        return v === undefined ? [] : String(v).split(sep);
      };
    }
    case 'join': {
      const sep = literalArg(params, 0);
      return (f, env, root) => {
        const items = input(f, env, root);
        return [items.map((x) => String(unwrap(x))).join(sep)];
      };
    }
    default:
      throw new Unsupported(`function ${name}`);
  }
}

function compileNode(node: AstNode | undefined, model: boolean): Fn {
  if (!node) throw new Unsupported('missing node');
  const kids = children(node);
  switch (node.type) {
    case 'EntireExpression':
    case 'TermExpression':
    case 'InvocationTerm':
    case 'ParenthesizedTerm':
      if (kids.length !== 1) throw new Unsupported(node.type);
      return compileNode(kids[0], model);
    case 'ThisInvocation':
      return (f) => f;
    case 'LiteralTerm': {
      const value = literal(node);
      return () => [value];
    }
    case 'ExternalConstantTerm': {
      const name = children(kids[0])[0]?.text;
      if (!name || name.startsWith('`') || name.startsWith("'")) throw new Unsupported('delimited variable');
      return (_f, env) => {
        const v = env[name];
        if (v === undefined || v === null) return [];
        return Array.isArray(v) ? v : [v];
      };
    }
    case 'MemberInvocation': {
      const name = node.text ?? '';
      const choice = model && CHOICE_BASES.has(name);
      return (f) => member(f, name, choice);
    }
    case 'FunctionInvocation': {
      const name = functionName(node);
      const params = paramList(node);
      if (name === 'iif') {
        const [c, a, b] = params.map((p) => compileNode(p, model));
        return (f, env, root) => {
          const t = truth(c(f, env, root));
          if (t === true) return a(f, env, root);
          return b ? b(f, env, root) : [];
        };
      }
      return invoke(name, params, (f) => f, model);
    }
    case 'InvocationExpression': {
      const base = compileNode(kids[0], model);
      const step = kids[1];
      if (step.type === 'MemberInvocation') {
        const name = step.text ?? '';
        const choice = model && CHOICE_BASES.has(name);
        return (f, env, root) => member(base(f, env, root), name, choice);
      }
      if (step.type === 'FunctionInvocation') {
        if (functionName(step) === 'iif') throw new Unsupported('iif on a collection');
        return invoke(functionName(step), paramList(step), base, model);
      }
      throw new Unsupported(step.type);
    }
    case 'EqualityExpression': {
      if (node.text !== '=' && node.text !== '!=') throw new Unsupported(`operator ${node.text}`);
      const [a, b] = kids.map((k) => compileNode(k, model));
      const negate = node.text === '!=';
      return (f, env, root) => {
        const r = equal(a(f, env, root), b(f, env, root));
        return negate && r.length > 0 ? [!r[0]] : r;
      };
    }
    case 'AndExpression':
    case 'OrExpression': {
      if (node.text !== 'and' && node.text !== 'or') throw new Unsupported(`operator ${node.text}`);
      const [a, b] = kids.map((k) => compileNode(k, model));
      const isAnd = node.text === 'and';
      return (f, env, root) => {
        const x = truth(a(f, env, root));
        const y = truth(b(f, env, root));
        if (isAnd) {
          if (x === false || y === false) return [false];
          return x === true && y === true ? [true] : [];
        }
        if (x === true || y === true) return [true];
        return x === false && y === false ? [false] : [];
      };
    }
    case 'UnionExpression': {
      const [a, b] = kids.map((k) => compileNode(k, model));
      return (f, env, root) => {
        const out: unknown[] = [];
        for (const item of [...a(f, env, root), ...b(f, env, root)]) {
          const v = unwrap(item);
          if (typeof v === 'object') throw new Unsupported('union of objects');
          if (!out.includes(v)) out.push(v);
        }
        return out;
      };
    }
    case 'MembershipExpression': {
      if (node.text !== 'in') throw new Unsupported(`operator ${node.text}`);
      const [a, b] = kids.map((k) => compileNode(k, model));
      return (f, env, root) => {
        const x = a(f, env, root);
        if (x.length === 0) return [];
        const v = singleton(x);
        return [b(f, env, root).some((y) => unwrap(y) === v)];
      };
    }
    case 'AdditiveExpression': {
      const [a, b] = kids.map((k) => compileNode(k, model));
      if (node.text === '&') {
        return (f, env, root) => [String(singleton(a(f, env, root)) ?? '') + String(singleton(b(f, env, root)) ?? '')];
      }
      if (node.text === '-') {
        return (f, env, root) => {
          const xy = integers(a(f, env, root), b(f, env, root));
          return xy ? [safe(xy[0] - xy[1])] : [];
        };
      }
      if (node.text !== '+') throw new Unsupported(`operator ${node.text}`);
      return (f, env, root) => {
        const x = singleton(a(f, env, root));
        const y = singleton(b(f, env, root));
        if (x === undefined || y === undefined) return [];
        if (typeof x === 'string' && typeof y === 'string') return [x + y];
        if (Number.isSafeInteger(x) && Number.isSafeInteger(y)) return [safe((x as number) + (y as number))];
        throw new Unsupported('mixed +');
      };
    }
    case 'MultiplicativeExpression': {
      if (node.text !== '*' && node.text !== 'mod') throw new Unsupported(`operator ${node.text}`);
      const [a, b] = kids.map((k) => compileNode(k, model));
      const times = node.text === '*';
      return (f, env, root) => {
        const xy = integers(a(f, env, root), b(f, env, root));
        if (!xy) return [];
        const [x, y] = xy;
        if (times) return [safe(x * y)];
        // Remainders of negative numbers and by zero: left to fhirpath.js and its decimals.
        if (x < 0 || y <= 0) throw new Unsupported('mod of negatives');
        return [x % y];
      };
    }
    case 'ImpliesExpression': {
      const [a, b] = kids.map((k) => compileNode(k, model));
      return (f, env, root) => {
        const x = truth(a(f, env, root));
        if (x === false) return [true];
        const y = truth(b(f, env, root));
        if (x === true) return y === undefined ? [] : [y];
        return y === true ? [true] : [];
      };
    }
    default:
      throw new Unsupported(node.type);
  }
}

/** Two integer operands, undefined when either is empty; anything else is fhirpath.js's (decimals, quantities). */
function integers(xs: unknown[], ys: unknown[]): [number, number] | undefined {
  const x = singleton(xs);
  const y = singleton(ys);
  if (x === undefined || y === undefined) return undefined;
  if (!Number.isSafeInteger(x) || !Number.isSafeInteger(y)) throw new Unsupported('arithmetic on non-integers');
  return [x as number, y as number];
}

function safe(n: number): number {
  if (!Number.isSafeInteger(n)) throw new Unsupported('integer overflow');
  return n;
}

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
      return fn(input, env, input).map(unwrap).filter((v) => v !== undefined);
    } catch (err) {
      if (err instanceof Unsupported) return FALLBACK;
      throw err;
    }
  };
}

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
