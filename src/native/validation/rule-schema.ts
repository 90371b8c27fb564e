// What a rules file may name: the member names and field paths the format's JSON Schema defines.
/** Member names a FHIRPath expression may navigate: every property name the format's schema defines. */
export function schemaPropertyNames(schema: unknown, names = new Set<string>()): Set<string> {
  if (Array.isArray(schema)) {
    for (const item of schema) schemaPropertyNames(item, names);
  } else if (schema !== null && typeof schema === 'object') {
    for (const [key, value] of Object.entries(schema)) {
      if (key === 'properties' && value !== null && typeof value === 'object') {
        for (const name of Object.keys(value)) names.add(name);
      }
      schemaPropertyNames(value, names);
    }
  }
  return names;
}

/** Whether the schema defines the field at these member names (following local `$ref`s). */
export function schemaDefinesPath(root: Record<string, unknown>, segments: readonly string[]): boolean {
  let node: unknown = root;
  for (const segment of segments) {
    node = resolveRef(root, node);
    const properties = (node as { properties?: Record<string, unknown> } | undefined)?.properties;
    if (!properties || !Object.hasOwn(properties, segment)) return false;
    node = properties[segment];
  }
  return true;
}

function resolveRef(root: Record<string, unknown>, node: unknown): unknown {
  for (let hops = 0; hops < 16; hops++) {
    const ref = (node as { $ref?: unknown } | undefined)?.$ref;
    if (typeof ref !== 'string' || !ref.startsWith('#/')) return node;
    node = ref
      .slice(2)
      .split('/')
      .reduce<unknown>((n, key) => (n as Record<string, unknown> | undefined)?.[key.replace(/~1/g, '/').replace(/~0/g, '~')], root);
  }
  return node;
}
