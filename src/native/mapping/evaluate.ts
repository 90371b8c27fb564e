// Evaluates a compiled template against one input. Absent values (empty collections, empty strings)
// leave their field out, so templates say what exists only where data decides it.
import type { Env, Node, ObjNode } from './compile.ts';
import type { TransformContext } from './transforms/index.ts';
import { keepNumberText } from '../../fhir/number-text.ts';

function present(value: unknown): boolean {
  return value !== undefined && value !== null && value !== '' && !(Array.isArray(value) && value.length === 0);
}

function isEmptyObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  for (const key in value) if (Object.hasOwn(value, key)) return false;
  return true;
}

export function truthy(result: unknown[]): boolean {
  return result.length > 0 && result[0] !== false;
}

export function evaluateNode(node: Node, focus: unknown, env: Env, ctx: TransformContext): unknown {
  switch (node.t) {
    case 'lit':
      return node.value;
    case 'val': {
      const result = node.expr(focus, env);
      const { transform } = node;
      if (!transform) {
        if (node.many) return result.length > 0 ? result.filter(present) : undefined;
        return result[0];
      }
      if (transform.collection) return transform.fn(result, node.args, ctx);
      if (node.many) return result.map((v) => transform.fn(v, node.args, ctx)).filter(present);
      return result.length > 0 ? transform.fn(result[0], node.args, ctx) : undefined;
    }
    case 'input': {
      const input = evaluateObject(node.input, focus, env, ctx, false);
      return input === undefined ? undefined : node.transform.fn(input, node.args, ctx);
    }
    case 'first':
      for (const alt of node.alts) {
        const value = evaluateNode(alt, focus, env, ctx);
        if (present(value)) return value;
      }
      return undefined;
    case 'obj':
      return evaluateObject(node, focus, env, ctx, false);
    case 'arr': {
      const out: unknown[] = [];
      for (const item of node.items) {
        if (item.t === 'obj' && item.each) {
          for (const member of item.each(focus, env)) {
            const value = evaluateObject(item, member, env, ctx, false);
            if (present(value)) out.push(value);
          }
          continue;
        }
        const value = evaluateNode(item, focus, env, ctx);
        if (Array.isArray(value) && item.t !== 'arr') out.push(...value);
        else if (present(value)) out.push(value);
      }
      return out.length > 0 ? out : undefined;
    }
  }
}

/** `skipWhen`: the caller already decided the object exists (resources whose fullUrls were handed out). */
export function evaluateObject(node: ObjNode, focus: unknown, env: Env, ctx: TransformContext, skipWhen: boolean): Record<string, unknown> | undefined {
  if (node.when && !skipWhen && !truthy(node.when(focus, env))) return undefined;
  if (node.in) {
    const inner = node.in(focus, env);
    if (inner.length === 0) return undefined;
    focus = inner[0];
  }
  let scope = env;
  if (node.lets.length > 0) {
    scope = { ...env };
    for (const [name, expr] of node.lets) scope[name] = expr(focus, scope);
  }
  const out: Record<string, unknown> = {};
  let anyData = false;
  let anyDynamic = false;
  for (const field of node.fields) {
    const value = evaluateNode(field.node, focus, scope, ctx);
    if (field.dynamic) anyDynamic = true;
    if (!present(value)) continue;
    // An empty object exists only when its own `$when` said so (e.g. `cancelled: {}` without a reason).
    if (isEmptyObject(value) && (field.node.t !== 'obj' || field.node.prune)) continue;
    out[field.key] = value;
    // A number copied from the input as it is (no transform) keeps the text the input wrote it with: 37.0 stays 37.0.
    if (typeof value === 'number' && ctx.numberTexts && field.node.t === 'val' && !field.node.transform) {
      const text = ctx.numberTexts.get(value);
      if (text !== undefined) keepNumberText(out, field.key, text);
    }
    if (field.dynamic) anyData = true;
  }
  if (node.prune && anyDynamic && !anyData) return undefined;
  for (const key of node.require) if (!(key in out)) return undefined;
  return out;
}
