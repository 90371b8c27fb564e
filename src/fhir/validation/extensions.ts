import type { CompiledElement } from './compiled.ts';
import { isObject } from './json.ts';
import { checkItem } from './run.ts';
import type { RunState } from './run.ts';

export type ExtensionLookup = (url: string) => CompiledElement | undefined;

/**
 * Checks every extension in a resource whose definition is known against that definition,
 * wherever it sits (on the resource, an element, or a primitive's `_x`): a profile that does not
 * mention an extension must not make a wrongly typed one acceptable.
 */
export function checkExtensionInstances(value: unknown, expr: string, lookup: ExtensionLookup, state: RunState): void {
  walk(value, [expr], lookup, state);
}

/**
 * The path as written in an issue: `expr`, then `[i]` for an index and `.name` for a key (a primitive's `_name` as
 * `name`). Kept as the keys and indices themselves, and written only when an extension is found: most walks find
 * none, and a string per step of every walk was 2 % of all a native handover allocated.
 */
function written(path: (string | number)[]): string {
  let out = String(path[0]);
  for (let i = 1; i < path.length; i++) {
    const step = path[i];
    out += typeof step === 'number' ? `[${step}]` : `.${step.charCodeAt(0) === 95 ? step.slice(1) : step}`;
  }
  return out;
}

function walk(value: unknown, path: (string | number)[], lookup: ExtensionLookup, state: RunState): void {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item !== 'object' || item === null) continue;
      path.push(i);
      walk(item, path, lookup, state);
      path.pop();
    }
    return;
  }
  if (!isObject(value)) return;
  for (const key in value) {
    const child = value[key];
    if (typeof child !== 'object' || child === null) continue;
    if ((key === 'extension' || key === 'modifierExtension') && Array.isArray(child)) {
      // A loop, not forEach with a callback made for each extension array: that closure lost its optimised code
      // (and the checks inlined into it) whenever no live one held it, and was compiled again (--trace-opt).
      for (let i = 0; i < child.length; i++) {
        const ext: unknown = child[i];
        const definition = isObject(ext) && typeof ext.url === 'string' ? lookup(ext.url) : undefined;
        if (definition) checkItem(definition, ext, undefined, `${written(path)}.${key}[${i}]`, state);
      }
    }
    path.push(key);
    walk(child, path, lookup, state);
    path.pop();
  }
}
