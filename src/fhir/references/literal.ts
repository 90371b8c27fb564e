/**
 * What a literal `Reference.reference` says, by the forms FHIR R4 gives it (references.html#literal):
 * `#id` into `contained`, a `urn:uuid:`/`urn:oid:` (only meaningful inside a Bundle), a conditional
 * `Type?query` (only inside a transaction), `Type/id[/_history/v]` relative to the server's base, or the
 * same absolute (`<base>/Type/id`). Anything else is `other`: not something this server can resolve.
 */
export type Literal =
  | { kind: 'contained'; id: string }
  | { kind: 'urn'; value: string }
  | { kind: 'conditional'; type: string; query: string }
  | { kind: 'relative'; type: string; id: string; version?: string }
  | { kind: 'absolute'; base: string; type: string; id: string; version?: string }
  | { kind: 'other' };

const TAIL = '([A-Z][A-Za-z]+)\\/([A-Za-z0-9\\-.]{1,64})(?:\\/_history\\/([A-Za-z0-9\\-.]{1,64}))?';
const RELATIVE = new RegExp(`^${TAIL}$`);
// The base is greedy so that the shortest tail matching `Type/id[/_history/v]` is taken.
const ABSOLUTE = new RegExp(`^(https?:\\/\\/.+)\\/${TAIL}$`);
const CONDITIONAL = /^([A-Z][A-Za-z]+)\?(.+)$/;

export function parseLiteral(reference: string): Literal {
  if (reference.startsWith('#')) return { kind: 'contained', id: reference.slice(1) };
  if (reference.startsWith('urn:uuid:') || reference.startsWith('urn:oid:')) return { kind: 'urn', value: reference };
  const conditional = CONDITIONAL.exec(reference);
  if (conditional) return { kind: 'conditional', type: conditional[1], query: conditional[2] };
  const relative = RELATIVE.exec(reference);
  if (relative) return relative[3] ? { kind: 'relative', type: relative[1], id: relative[2], version: relative[3] } : { kind: 'relative', type: relative[1], id: relative[2] };
  const absolute = ABSOLUTE.exec(reference);
  if (absolute) {
    const [, base, type, id, version] = absolute;
    return version ? { kind: 'absolute', base, type, id, version } : { kind: 'absolute', base, type, id };
  }
  return { kind: 'other' };
}

/** `Type/id[/_history/v]` of a relative or absolute literal. */
export function relativeOf(literal: Extract<Literal, { kind: 'relative' | 'absolute' }>): string {
  return `${literal.type}/${literal.id}${literal.version ? `/_history/${literal.version}` : ''}`;
}

/** Two bases are the same server when they differ only in a trailing slash or the case of scheme and host. */
export function sameBase(a: string, b: string): boolean {
  const norm = (base: string): string => {
    const trimmed = base.replace(/\/+$/, '');
    const m = /^(https?:\/\/[^/]+)(.*)$/i.exec(trimmed);
    return m ? `${m[1].toLowerCase()}${m[2]}` : trimmed;
  };
  return norm(a) === norm(b);
}
