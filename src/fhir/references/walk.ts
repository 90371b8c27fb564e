/** A Reference found in a resource, with the path that names it in an OperationOutcome (`Task.input[0].valueReference`). */
export interface FoundReference {
  path: string;
  reference: { reference?: unknown; identifier?: unknown; type?: unknown; display?: unknown };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Calls `visit` with every object in `value` that carries a `reference` string, parents before their children, and
 * `context` (what the visit collects or needs): the walk of what only needs the references themselves (no paths, no
 * identifier-only References). `visit` may change the `reference` it is given. Own keys through for-in, not
 * Object.entries: an array per key was the largest allocation of a native handover's reference resolution (4.5 % of
 * all the ingest allocated); only objects and arrays can hold a Reference, so nothing else is descended into.
 * `visit` is best a function of its module, its state in `context`: a closure made at each call loses its optimised
 * code (and that of what it inlined) whenever no live closure holds it, and was compiled again several times a
 * minute under load (--trace-opt).
 */
export function forEachReference<C>(value: unknown, visit: (holder: { reference?: string }, context: C) => void, context: C): void {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (typeof v === 'object' && v !== null) forEachReference(v, visit, context);
    }
    return;
  }
  if (!isObject(value)) return;
  if (typeof value.reference === 'string') visit(value as { reference: string }, context);
  for (const key in value) {
    if (key === 'reference' || !Object.hasOwn(value, key)) continue;
    const child = value[key];
    if (typeof child === 'object' && child !== null) forEachReference(child, visit, context);
  }
}

/**
 * Every Reference in `resource`: any object (not a resource) carrying a `reference` string or a single
 * `identifier` object. Extensions, backbone elements and contained resources are walked too; the resource's
 * own (and each contained resource's own) `identifier` is data, not a Reference.
 */
export function findReferences(resource: { resourceType: string }): FoundReference[] {
  const out: FoundReference[] = [];
  visitValue(out, resource, resource.resourceType, true);
  return out;
}

// findReferences' walk as functions of this module, not closures made at each call: V8 keeps a function's optimised
// code only weakly where no live closure holds it, so closures made per call lost it at every major collection and
// were compiled again, twice (Maglev, then Turbofan), several times a minute under load (--trace-opt).
// A path is built only for an object or array it descends into: a primitive holds no Reference, and building the
// path of every string of a handover's resources was a fifth of what this walk allocated. Own keys through for-in,
// not Object.entries (an array per key): the same keys in the same order, nothing allocated to list them.
function visitValue(out: FoundReference[], value: unknown, path: string, isResource: boolean): void {
  if (Array.isArray(value)) {
    visitItems(out, value, path, false);
    return;
  }
  if (!isObject(value)) return;
  if (!isResource && (typeof value.reference === 'string' || isObject(value.identifier))) out.push({ path, reference: value });
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const child = value[key];
    if (typeof child !== 'object' || child === null || key === 'reference' || (!isResource && key === 'identifier' && isObject(child))) continue;
    if (Array.isArray(child)) visitItems(out, child, `${path}.${key}`, key === 'contained');
    else visitValue(out, child, `${path}.${key}`, false);
  }
}

function visitItems(out: FoundReference[], items: unknown[], path: string, areResources: boolean): void {
  for (let i = 0; i < items.length; i++) {
    const item: unknown = items[i];
    if (typeof item === 'object' && item !== null) visitValue(out, item, `${path}[${i}]`, areResources);
  }
}
