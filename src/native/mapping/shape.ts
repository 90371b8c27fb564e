import type { Shape } from './scopes.ts';

/**
 * A format's record shape (the fields from-fhir.json may write) read off its JSON Schema: objects name their
 * fields, arrays hold one element shape, leaves name their JSON type. The schema is the one list of a format's
 * fields; a field added there can be rendered without being listed a second time.
 */
export function shapeOfSchema(schema: unknown, file: string): Shape {
  const root = asObject(schema, file, '(root)');
  const resolve = (node: Record<string, unknown>, at: string, seen: Set<string>): Record<string, unknown> => {
    const ref = node.$ref;
    if (typeof ref !== 'string') return node;
    if (!ref.startsWith('#/$defs/') || seen.has(ref)) throw new Error(`${file}: ${at}: $ref ${ref} is not a definition of this schema the shape can follow`);
    const defs = asObject(root.$defs, file, '$defs');
    return resolve(asObject(defs[ref.slice('#/$defs/'.length)], file, ref), at, new Set([...seen, ref]));
  };
  const shapeOf = (value: unknown, at: string): Shape => {
    const node = resolve(asObject(value, file, at), at, new Set());
    if (node.properties !== undefined) {
      const properties = asObject(node.properties, file, `${at}.properties`);
      return Object.fromEntries(Object.entries(properties).map(([key, child]) => [key, shapeOf(child, `${at}.${key}`)]));
    }
    if (node.type === 'array') return [shapeOf(node.items, `${at}[]`)];
    if (typeof node.type !== 'string') throw new Error(`${file}: ${at}: a field needs one JSON type for the record shape`);
    return node.type;
  };
  return shapeOf(root, '(root)');
}

function asObject(value: unknown, file: string, at: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${file}: ${at}: expected a schema object`);
  return value as Record<string, unknown>;
}
