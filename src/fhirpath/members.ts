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
  const out: unknown[] = [];
  for (const item of items) {
    if (item === null || typeof item !== 'object') continue;
    if (item instanceof Prim) {
      if (name === 'extension' && item.sidecar?.extension) out.push(...item.sidecar.extension);
      continue;
    }
    const value = (item as Record<string, unknown>)[name];
    const sidecar = (item as Record<string, unknown>)[sidecarName];
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
