/**
 * A copy of a JSON value in which every string (keys too) is well-formed Unicode: lone UTF-16 surrogates
 * become U+FFFD. What a refusal quotes (a validation message naming the value, the path asked for) comes
 * from the request and may hold them; jsonb refuses them, and a refusal that cannot be audited turns into
 * a 500 with no audit row at all.
 */
export function wellFormed<T>(value: T): T {
  return clean(value) as T;
}

function clean(value: unknown): unknown {
  if (typeof value === 'string') return value.isWellFormed() ? value : value.toWellFormed();
  if (Array.isArray(value)) return value.map(clean);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[clean(k) as string] = clean(v);
    return out;
  }
  return value;
}
