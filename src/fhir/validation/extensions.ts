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
  if (Array.isArray(value)) {
    value.forEach((item, i) => checkExtensionInstances(item, `${expr}[${i}]`, lookup, state));
    return;
  }
  if (!isObject(value)) return;
  for (const [key, child] of Object.entries(value)) {
    if (typeof child !== 'object' || child === null) continue;
    const label = key.charCodeAt(0) === 95 ? key.slice(1) : key;
    if ((key === 'extension' || key === 'modifierExtension') && Array.isArray(child)) {
      child.forEach((ext, i) => {
        const definition = isObject(ext) && typeof ext.url === 'string' ? lookup(ext.url) : undefined;
        if (definition) checkItem(definition, ext, undefined, `${expr}.${key}[${i}]`, state);
      });
    }
    checkExtensionInstances(child, `${expr}.${label}`, lookup, state);
  }
}
