// Issues name fields the way a vendor's developer reads them in their own JSON: `$.patient.bsn`,
// `$.bemanning[0].big`. Rules address fields with the same notation, restricted to plain member names.

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `$.a.b` → ['a', 'b']; `$` → []; anything else (brackets, wildcards) → undefined. */
export function parseFieldPath(path: string): string[] | undefined {
  if (path === '$') return [];
  if (!path.startsWith('$.')) return undefined;
  const segments = path.slice(2).split('.');
  return segments.every((s) => IDENTIFIER.test(s)) ? segments : undefined;
}

export function valueAt(record: unknown, segments: readonly string[]): unknown {
  let node: unknown = record;
  for (const segment of segments) {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[segment];
  }
  return node;
}

function appendMember(path: string, name: string): string {
  return IDENTIFIER.test(name) ? `${path}.${name}` : `${path}[${JSON.stringify(name)}]`;
}

/** An ajv instancePath (JSON Pointer, `/bemanning/0/big`) as a JSON path, optionally one member deeper. */
export function pointerToPath(pointer: string, member?: string): string {
  let path = '$';
  if (pointer !== '') {
    for (const raw of pointer.slice(1).split('/')) {
      const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      path = /^(0|[1-9]\d*)$/.test(segment) ? `${path}[${segment}]` : appendMember(path, segment);
    }
  }
  return member === undefined ? path : appendMember(path, member);
}

/** How a message names a field: the path without `$.`; the whole record for `$`. */
export function fieldLabel(path: string): string {
  if (path === '$') return 'the record';
  return path.startsWith('$.') ? path.slice(2) : path.slice(1);
}
