// Member navigation (`a.b`) over JSON items, lifting primitives with their `_b` sidecar so that `.extension(url)`
// works on them, and refusing choice elements (`value` for `valueString`) that only fhirpath.js with the model resolves.
import r4 from 'fhirpath/fhir-context/r4';
import { Prim, Unsupported } from './values.ts';

/** Element names that are FHIR choice types ([x]): only fhirpath.js with the model resolves `value` to `valueString`. */
export const CHOICE_BASES = new Set(
  Object.keys((r4 as unknown as { choiceTypePaths: Record<string, unknown> }).choiceTypePaths).map((p) => p.slice(p.lastIndexOf('.') + 1)),
);

/** A missing `value` next to `valueString` is a choice element: only fhirpath.js with the model resolves it. */
function isChoiceHere(item: object, name: string): boolean {
  for (const key in item) {
    if (key.length > name.length && key.startsWith(name) && key[name.length] >= 'A' && key[name.length] <= 'Z') return true;
  }
  return false;
}

/**
 * `sidecar`: `_${name}`, made once where the path is compiled: a key built per item is a new string each time,
 * which V8 must look up in its string table before it can read the property (such lookups were 2 % of the ingest's
 * CPU samples under `perf`).
 */
export function member(items: unknown[], name: string, choice = false, sidecarName = `_${name}`): unknown[] {
  // Made at the first value: most steps give one, and an array literal of one takes a third of the memory of an empty
  // array grown by push (room for 17). Member steps were 5 % of all a native handover allocated.
  let out: unknown[] | undefined;
  for (const item of items) {
    if (item === null || typeof item !== 'object') continue;
    if (item instanceof Prim) {
      if (name === 'extension' && item.sidecar?.extension) for (const e of item.sidecar.extension) out = append(out, e);
      continue;
    }
    const value = (item as Record<string, unknown>)[name];
    const sidecar = (item as Record<string, unknown>)[sidecarName];
    if (Array.isArray(value)) {
      const side = Array.isArray(sidecar) ? sidecar : undefined;
      for (let i = 0; i < value.length; i++) {
        const v: unknown = value[i];
        if (v === null || v === undefined) continue;
        out = append(out, side?.[i] && typeof v !== 'object' ? new Prim(v, side[i] as Prim['sidecar']) : v);
      }
    } else if (value !== undefined && value !== null) {
      out = append(out, sidecar && typeof value !== 'object' ? new Prim(value, sidecar as Prim['sidecar']) : value);
    } else if (sidecar && typeof sidecar === 'object' && !Array.isArray(sidecar)) {
      out = append(out, new Prim(undefined, sidecar as Prim['sidecar']));
    } else if (choice && isChoiceHere(item, name)) {
      throw new Unsupported('choice element');
    }
  }
  return out ?? [];
}

function append(out: unknown[] | undefined, value: unknown): unknown[] {
  if (out === undefined) return [value];
  out.push(value);
  return out;
}

/** A member step for one name: `member(items, name, choice)` with the name's loads written into the function. */
export type MemberStep = (items: unknown[]) => unknown[];

const steps = new Map<string, MemberStep>();

/**
 * `member(items, name, choice)` as a function of its own per name, generated once: `item.status` where the shared
 * function reads `item[name]`, a load that saw every name and every shape of every expression (V8's megamorphic
 * keyed loads, 2 % of the ingest's on-CPU samples under `perf`). A name that is not a plain identifier keeps the
 * shared function.
 */
export function memberStep(name: string, choice: boolean): MemberStep {
  const key = `${choice ? '1' : '0'}${name}`;
  let step = steps.get(key);
  if (!step) {
    step = /^[A-Za-z][A-Za-z0-9]*$/.test(name) ? generateStep(name, choice) : (items) => member(items, name, choice);
    steps.set(key, step);
  }
  return step;
}

function generateStep(name: string, choice: boolean): MemberStep {
  const source = `'use strict';
return function member_${name}(items) {
  let out;
  for (let k = 0; k < items.length; k++) {
    const item = items[k];
    if (item === null || typeof item !== 'object') continue;
    if (item instanceof Prim) {
      ${name === 'extension' ? 'if (item.sidecar?.extension) for (const e of item.sidecar.extension) out = append(out, e);' : ''}
      continue;
    }
    const value = item.${name};
    const sidecar = item._${name};
    if (Array.isArray(value)) {
      const side = Array.isArray(sidecar) ? sidecar : undefined;
      for (let i = 0; i < value.length; i++) {
        const v = value[i];
        if (v === null || v === undefined) continue;
        out = append(out, side?.[i] && typeof v !== 'object' ? new Prim(v, side[i]) : v);
      }
    } else if (value !== undefined && value !== null) {
      out = append(out, sidecar && typeof value !== 'object' ? new Prim(value, sidecar) : value);
    } else if (sidecar && typeof sidecar === 'object' && !Array.isArray(sidecar)) {
      out = append(out, new Prim(undefined, sidecar));
    }${choice ? ` else if (isChoiceHere(item, ${JSON.stringify(name)})) {
      throw new Unsupported('choice element');
    }` : ''}
  }
  return out ?? [];
};`;
  return new Function('Prim', 'Unsupported', 'append', 'isChoiceHere', source)(Prim, Unsupported, append, isChoiceHere) as MemberStep;
}
