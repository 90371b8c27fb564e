// A compiled template as JavaScript: one function per object, array, value and `$first` of the template, generated
// once (`new Function`) and calling each other directly, doing what evaluate.ts's interpreter does for the same node.
// Interpreted, a native record's mapping spent a third of its time on walking the node tree itself: a `switch` per
// node, a loop over the fields, and every field stored by a computed key (`out[field.key]`), one store site seeing the
// shapes of every object of every template. Here each field is a store of its own name, and what the tree says
// (whether a field is data-driven, whether an empty object is dropped, whether a number may keep its text) is decided
// when the function is made, not at every record. The source holds only names and literals of the mapping files
// (JSON-quoted); expressions, transforms and their arguments are passed in, not written into it.
import type { Env, Node, ObjNode } from './compile.ts';
import type { TransformContext } from './transforms/index.ts';
import { keepNumberText } from '../../fhir/number-text.ts';

export type ObjectFn = (focus: unknown, env: Env, ctx: TransformContext, skipWhen: boolean) => Record<string, unknown> | undefined;
export type NodeFn = (focus: unknown, env: Env, ctx: TransformContext) => unknown;

/** What the generated code calls: the interpreter's own tests of a value, shared so both read values alike. */
export interface Helpers {
  present(value: unknown): boolean;
  isEmptyObject(value: unknown): boolean;
  truthy(result: unknown[]): boolean;
}

/** The function of an object template: what `evaluateObject(node, …)` returns, made once per node. */
export function generateObject(node: ObjNode, helpers: Helpers): ObjectFn {
  return generate(node, helpers) as ObjectFn;
}

/** The function of any template node: what `evaluateNode(node, …)` returns. */
export function generateNode(node: Node, helpers: Helpers): NodeFn {
  return generate(node, helpers) as NodeFn;
}

function generate(root: Node, helpers: Helpers): unknown {
  const constants: unknown[] = [];
  const functions: string[] = [];
  const names = new Map<Node, string>();
  const constant = (value: unknown): string => `K[${constants.push(value) - 1}]`;

  /** The name of the function that evaluates `node`, generated the first time. */
  const functionOf = (node: Node): string => {
    let name = names.get(node);
    if (name === undefined) {
      name = `n${names.size}`;
      names.set(node, name);
      functions.push(`function ${name}(focus, env, ctx${node.t === 'obj' ? ', skipWhen' : ''}) {\n${body(node).join('\n')}\n}`);
    }
    return name;
  };

  /** An expression giving `node`'s value at `focus`/`env`: a literal inline, anything else by its function. */
  const valueOf = (node: Node, focus: string, env: string): string => {
    if (node.t === 'lit') return literal(node.value);
    return node.t === 'obj' ? `${functionOf(node)}(${focus}, ${env}, ctx, false)` : `${functionOf(node)}(${focus}, ${env}, ctx)`;
  };

  const body = (node: Node): string[] => {
    switch (node.t) {
      case 'lit':
        return [`return ${literal(node.value)};`];
      case 'val': {
        const lines = [`const result = ${constant(node.expr)}(focus, env);`];
        const { transform } = node;
        if (!transform) {
          lines.push(node.many ? 'return result.length > 0 ? result.filter(H.present) : undefined;' : 'return result[0];');
          return lines;
        }
        const [fn, args] = [constant(transform), constant(node.args)];
        if (transform.collection) lines.push(`return ${fn}.fn(result, ${args}, ctx);`);
        else if (node.many) lines.push(`return result.map((v) => ${fn}.fn(v, ${args}, ctx)).filter(H.present);`);
        else lines.push(`return result.length > 0 ? ${fn}.fn(result[0], ${args}, ctx) : undefined;`);
        return lines;
      }
      case 'input':
        return [
          `const input = ${valueOf(node.input, 'focus', 'env')};`,
          `return input === undefined ? undefined : ${constant(node.transform)}.fn(input, ${constant(node.args)}, ctx);`,
        ];
      case 'first': {
        const lines = ['let value;'];
        for (const alt of node.alts) lines.push(`value = ${valueOf(alt, 'focus', 'env')};`, 'if (H.present(value)) return value;');
        lines.push('return undefined;');
        return lines;
      }
      case 'arr': {
        const lines = ['const out = [];'];
        for (const item of node.items) {
          if (item.t === 'obj' && item.each) {
            lines.push(
              `for (const member of ${constant(item.each)}(focus, env)) {`,
              `  const value = ${valueOf(item, 'member', 'env')};`,
              '  if (H.present(value)) out.push(value);',
              '}',
            );
            continue;
          }
          lines.push('{', `  const value = ${valueOf(item, 'focus', 'env')};`);
          // An array from an item that is not an array template is spread into this one, as the interpreter does.
          lines.push(item.t === 'arr' ? '  if (H.present(value)) out.push(value);' : '  if (Array.isArray(value)) out.push(...value);\n  else if (H.present(value)) out.push(value);');
          lines.push('}');
        }
        lines.push('return out.length > 0 ? out : undefined;');
        return lines;
      }
      case 'obj':
        return objectBody(node);
    }
  };

  const objectBody = (node: ObjNode): string[] => {
    const lines: string[] = [];
    if (node.when) lines.push(`if (!skipWhen && !H.truthy(${constant(node.when)}(focus, env))) return undefined;`);
    if (node.in) lines.push(`{ const inner = ${constant(node.in)}(focus, env); if (inner.length === 0) return undefined; focus = inner[0]; }`);
    lines.push('let scope = env;');
    if (node.lets.length > 0) {
      lines.push('scope = { ...env };');
      for (const [name, expr] of node.lets) lines.push(`scope[${JSON.stringify(name)}] = ${constant(expr)}(focus, scope);`);
    }
    lines.push('const out = {};', 'let anyData = false;', 'let value;');
    for (const field of node.fields) {
      const key = JSON.stringify(field.key);
      // A literal the interpreter would leave out ('' or null) is left out here once and for all.
      if (field.node.t === 'lit' && !helpers.present(field.node.value)) continue;
      lines.push(`value = ${valueOf(field.node, 'focus', 'scope')};`);
      // An empty object exists only when its own `$when` said so (e.g. `cancelled: {}` without a reason).
      const dropEmpty = field.node.t !== 'lit' && (field.node.t !== 'obj' || field.node.prune);
      lines.push(`if (H.present(value)${dropEmpty ? ' && !H.isEmptyObject(value)' : ''}) {`, `  out[${key}] = value;`);
      // A number copied from the input as it is (no transform) keeps the text the input wrote it with: 37.0 stays 37.0.
      if (field.node.t === 'val' && !field.node.transform) {
        lines.push(`  if (typeof value === 'number' && ctx.numberTexts) { const text = ctx.numberTexts.get(value); if (text !== undefined) H.keepNumberText(out, ${key}, text); }`);
      }
      if (field.dynamic) lines.push('  anyData = true;');
      lines.push('}');
    }
    if (node.prune && node.fields.some((f) => f.dynamic)) lines.push('if (!anyData) return undefined;');
    for (const key of node.require) lines.push(`if (!(${JSON.stringify(key)} in out)) return undefined;`);
    lines.push('return out;');
    return lines;
  };

  const rootName = functionOf(root);
  const source = `'use strict';\n${functions.join('\n')}\nreturn ${rootName};`;
  return new Function('K', 'H', source)(constants, { ...helpers, keepNumberText });
}

/** A literal of a template (a string, number, boolean or null) as JavaScript source. */
function literal(value: string | number | boolean | null): string {
  return JSON.stringify(value);
}
