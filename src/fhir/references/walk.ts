/** A Reference found in a resource, with the path that names it in an OperationOutcome (`Task.input[0].valueReference`). */
export interface FoundReference {
  path: string;
  reference: { reference?: unknown; identifier?: unknown; type?: unknown; display?: unknown };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Every Reference in `resource`: any object (not a resource) carrying a `reference` string or a single
 * `identifier` object. Extensions, backbone elements and contained resources are walked too; the resource's
 * own (and each contained resource's own) `identifier` is data, not a Reference.
 */
export function findReferences(resource: { resourceType: string }): FoundReference[] {
  const out: FoundReference[] = [];
  const visit = (value: unknown, path: string, isResource: boolean): void => {
    if (Array.isArray(value)) {
      value.forEach((v, i) => visit(v, `${path}[${i}]`, false));
      return;
    }
    if (!isObject(value)) return;
    if (!isResource && (typeof value.reference === 'string' || isObject(value.identifier))) out.push({ path, reference: value });
    for (const [key, child] of Object.entries(value)) {
      if (key === 'reference' || (!isResource && key === 'identifier' && isObject(child))) continue;
      if (Array.isArray(child)) child.forEach((c, i) => visit(c, `${path}.${key}[${i}]`, key === 'contained'));
      else visit(child, `${path}.${key}`, false);
    }
  };
  visit(resource, resource.resourceType, true);
  return out;
}
