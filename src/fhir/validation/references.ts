import { isObject } from './json.ts';
import type { JsonObject } from './json.ts';

/**
 * What resource type a Reference points to, as far as the reference itself tells:
 * `Patient/1`, an absolute URL ending in `/Patient/1[/_history/2]`, a conditional reference
 * `Organization?identifier=...` (resolved later in a transaction), `#id` into `contained`, or the
 * `type` element. `undefined` means the reference does not say (a `urn:uuid:` without `type`, or
 * a logical reference by identifier alone), which the caller accepts because the target is not
 * known until it is resolved.
 */
export function referencedTypes(reference: JsonObject, resource: JsonObject): { types: string[]; unknowable: boolean } {
  const types: string[] = [];
  if (typeof reference.type === 'string') types.push(reference.type);
  const literal = reference.reference;
  if (typeof literal === 'string') {
    if (literal.startsWith('#')) {
      const contained = Array.isArray(resource.contained) ? resource.contained : [];
      const target = contained.find((c): c is JsonObject => isObject(c) && c.id === literal.slice(1));
      if (target && typeof target.resourceType === 'string') types.push(target.resourceType);
    } else if (!literal.startsWith('urn:')) {
      const query = literal.indexOf('?');
      if (query >= 0) {
        const before = literal.slice(0, query);
        types.push(before.slice(before.lastIndexOf('/') + 1));
      } else {
        const parts = literal.split('/');
        const history = parts.lastIndexOf('_history');
        const typeIndex = (history >= 0 ? history : parts.length) - 2;
        if (typeIndex >= 0) types.push(parts[typeIndex]);
      }
    }
  }
  const unknowable = types.length === 0 && (typeof literal === 'string' || isObject(reference.identifier));
  return { types, unknowable };
}
