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

function append(out: unknown[] | undefined, value: unknown): unknown[] {
  if (out === undefined) return [value];
  out.push(value);
  return out;
}

/** A member step for one name (`items.status`): the items' values of that name, primitives lifted with their sidecar. */
export type MemberStep = (items: unknown[]) => unknown[];

const steps = new Map<string, MemberStep>();

/**
 * The step for `name`, generated once per name: `item["status"]` and `item["_status"]` are written into its source,
 * where one shared function read `item[name]`, a load that saw every name and every shape of every expression (V8's
 * megamorphic keyed loads, 2 % of the ingest's on-CPU samples under `perf`), and a sidecar key built per item was a
 * new string to look up each time. `choice`: a missing `value` beside `valueString` is refused (Unsupported), as only
 * fhirpath.js with the model resolves it. The result array is made at the first value: most steps give one, and an
 * array literal of one takes a third of the memory of an empty array grown by push (member steps were 5 % of all a
 * native handover allocated).
 */
export function memberStep(name: string, choice: boolean): MemberStep {
  const key = `${choice ? '1' : '0'}${name}`;
  let step = steps.get(key);
  if (!step) steps.set(key, (step = generateStep(name, choice)));
  return step;
}

function generateStep(name: string, choice: boolean): MemberStep {
  const [value, sidecar] = [JSON.stringify(name), JSON.stringify(`_${name}`)];
  const source = `'use strict';
return function member(items) {
  let out;
  for (let k = 0; k < items.length; k++) {
    const item = items[k];
    if (item === null || typeof item !== 'object') continue;
    if (item instanceof Prim) {
      ${name === 'extension' ? 'if (item.sidecar?.extension) for (const e of item.sidecar.extension) out = append(out, e);' : ''}
      continue;
    }
    const value = item[${value}];
    const sidecar = item[${sidecar}];
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
    }${choice ? ` else if (isChoiceHere(item, ${value})) {
      throw new Unsupported('choice element');
    }` : ''}
  }
  return out ?? [];
};`;
  return new Function('Prim', 'Unsupported', 'append', 'isChoiceHere', source)(Prim, Unsupported, append, isChoiceHere) as MemberStep;
}
