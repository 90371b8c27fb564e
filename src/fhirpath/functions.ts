// The FHIRPath functions of the subset (where, exists, first, extension, startsWith, matches, substring, ...).
import { literalArg, typeArg } from './ast.ts';
import { member } from './members.ts';
import { type AstNode, type Fn, singleton, truth, Unsupported, unwrap } from './values.ts';

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
    case 'first':
      return (f, env, root) => input(f, env, root).slice(0, 1);
    case 'not':
      return (f, env, root) => {
        const t = truth(input(f, env, root));
        return t === undefined ? [] : [!t];
      };
    case 'extension': {
      const url = literalArg(params, 0);
      return (f, env, root) => member(input(f, env, root), 'extension', false, '_extension').filter((e) => (e as { url?: string })?.url === url);
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
