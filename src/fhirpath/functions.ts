// The FHIRPath functions of the subset (where, exists, first, extension, startsWith, matches, substring, ...).
import { literalArg, typeArg } from './ast.ts';
import { CHOICE_BASES, memberStep } from './members.ts';
import { type AstNode, type Fn, Prim, singleton, truth, Unsupported, unwrap } from './values.ts';

/** The compiler, passed in so that `where(criteria)` compiles its argument without an import cycle. */
export type CompileNode = (node: AstNode | undefined, model: boolean) => Fn;

/** Functions applied to an input collection (`x.first()`); `arg(i)` compiles parameter i against each item. */
export function invoke(name: string, params: AstNode[], input: Fn, model: boolean, compileNode: CompileNode): Fn {
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
    case 'children':
      return (f, env, root) => children(input(f, env, root), model);
    case 'descendants':
      // As fhirpath.js: the children, then theirs, level by level (a Twiin rule looks for a masking extension
      // anywhere in a ServiceRequest's subject: one evaluation of fhirpath.js there cost a handover about 50 µs).
      return (f, env, root) => {
        const out: unknown[] = [];
        for (let level = children(input(f, env, root), model); level.length > 0; level = children(level, model)) for (const item of level) out.push(item);
        return out;
      };
    case 'first':
      return (f, env, root) => input(f, env, root).slice(0, 1);
    case 'not':
      return (f, env, root) => {
        const t = truth(input(f, env, root));
        return t === undefined ? [] : [!t];
      };
    case 'extension': {
      const url = literalArg(params, 0);
      const extensions = memberStep('extension', false);
      return (f, env, root) => extensions(input(f, env, root)).filter((e) => (e as { url?: string })?.url === url);
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

/**
 * Every child of every item, as fhirpath.js's `children()` gives them: each property but `resourceType` in its order,
 * an array's items in theirs. Left to fhirpath.js: a primitive's `_name` sidecar and a primitive carrying one (it
 * makes nodes of a sidecar's own properties), a null (it makes a node of it), and, with the model, a property named
 * as a choice element somewhere (`value`: with the model fhirpath.js reads `valueString` there, and drops a bare
 * `value` where the element is a choice; without knowing the type, it cannot be told here).
 */
function children(items: unknown[], model: boolean): unknown[] {
  const out: unknown[] = [];
  for (const item of items) {
    if (item instanceof Prim) throw new Unsupported('children of a primitive with extensions');
    if (item === null || typeof item !== 'object') continue;
    for (const key in item) {
      if (key === 'resourceType') continue;
      if (key.charCodeAt(0) === 95 /* _ */) throw new Unsupported('primitive extensions');
      if (model && CHOICE_BASES.has(key)) throw new Unsupported('a choice element');
      const value = (item as Record<string, unknown>)[key];
      if (Array.isArray(value)) {
        for (const v of value) {
          if (v === null || v === undefined) throw new Unsupported('null in an array');
          out.push(v);
        }
      } else if (value === null) throw new Unsupported('null value');
      else if (value !== undefined) out.push(value);
    }
  }
  return out;
}
