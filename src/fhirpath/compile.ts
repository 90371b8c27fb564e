// Compiles fhirpath.js's parse tree into closures: terms, member paths, function calls and the operators of the
// subset. Throws `Unsupported` for anything else.
import { children, functionName, literal, paramList } from './ast.ts';
import { invoke } from './functions.ts';
import { CHOICE_BASES, memberStep } from './members.ts';
import { type AstNode, equal, type Fn, integers, safe, singleton, truth, Unsupported, unwrap } from './values.ts';

export function compileNode(node: AstNode | undefined, model: boolean): Fn {
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
      return memberStep(name, model && CHOICE_BASES.has(name));
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
      return invoke(name, params, (f) => f, model, compileNode);
    }
    case 'InvocationExpression': {
      const base = compileNode(kids[0], model);
      const step = kids[1];
      if (step.type === 'MemberInvocation') {
        const name = step.text ?? '';
        const next = memberStep(name, model && CHOICE_BASES.has(name));
        return (f, env, root) => next(base(f, env, root));
      }
      if (step.type === 'FunctionInvocation') {
        if (functionName(step) === 'iif') throw new Unsupported('iif on a collection');
        return invoke(functionName(step), paramList(step), base, model, compileNode);
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
